/*
 * Shared parts of the leaktop fuzz targets: the viewer's read path (framer -> decoder -> model,
 * as tui/conn.c drives it) and the checks that turn a silent wrong answer into an abort() the
 * fuzzer reports. Everything here allocates through lt_mem, so a target can also prove that
 * nothing counted is left over after an input.
 */
#ifndef LEAKTOP_FUZZ_COMMON_H
#define LEAKTOP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "leaktop/proto.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* An assertion that NDEBUG does not remove: prints what failed, then abort(). */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* A malloc'ed copy of a payload with no spare bytes after it (free() it), so that ASan sees a
 * decoder reading past the end of a frame. An empty payload gets a 1-byte block, never read. */
uint8_t *fuzz_exact_copy(const uint8_t *p, uint32_t len);

/* Read every string and array of a message lt_decode() accepted (so ASan sees a bad pointer or
 * a missing NUL) and check what proto.h promises about it. */
void fuzz_check_msg(const lt_msg *m);

/* Encode an accepted message again: the encoder must accept it, and its payload must be a
 * prefix of the payload it was decoded from (the rest being fields a newer sender appended). */
void fuzz_check_roundtrip(const lt_msg *m, const uint8_t *payload, uint32_t len);

/* The model's invariants, and a read of every point, series slot and string it holds. oom:
 * allocations may have failed (lt_mem_fail_after), so copied strings may be missing. */
void fuzz_check_model(const lt_model *m, int oom);

/* A mutator that knows frames: the input is `prefix` bytes of target options, then frames. Most
 * of the time one frame is picked and its payload mutated (its length field follows), its
 * header mutated, or the frame duplicated or dropped; otherwise the bytes are mutated as they
 * are. Without it nearly every change to a payload breaks the frame's length and with it the
 * rest of the stream. For LLVMFuzzerCustomMutator. */
size_t fuzz_mutate_frames(uint8_t *data, size_t size, size_t max_size, unsigned int seed,
                          size_t prefix);

/* What the viewer reads: one connection's framer, its reused message, and the model. */
typedef struct fuzz_stream {
    lt_framer framer;
    lt_msg msg;
    lt_model model;
    int lenient;      /* keep going after a frame the client would disconnect on */
    int oom;          /* an allocation will fail: check for crashes and leaks only */
    int closed;       /* the client would have closed the connection */
    uint64_t frames;  /* frames taken out of the framer */
    uint64_t applied; /* frames the model accepted */
} fuzz_stream;

/* cap: samples the model keeps. Returns 0, or -1 when the model could not be allocated (only
 * when oom; then there is nothing to free). */
int fuzz_stream_init(fuzz_stream *s, uint32_t cap, int lenient, int oom);
/* Bytes as they arrived from the socket or file. Returns 0 while the connection stays open,
 * -1 once the client would close it (framer error, malformed frame, or a frame the model
 * refuses, unless lenient). */
int fuzz_stream_feed(fuzz_stream *s, const uint8_t *p, size_t n);
void fuzz_stream_free(fuzz_stream *s);

#endif
