/*
 * The viewer's read path under hostile input: bytes from "the agent" go through lt_framer in
 * pieces of varying size, every complete frame through lt_decode, and every accepted frame into
 * an lt_model with lt_model_apply, as tui/conn.c does. Beyond crashes, leaks and out-of-bounds
 * reads, fuzz-common.c checks that accepted frames re-encode to the bytes they came from and
 * that the model keeps exactly what the frames said.
 *
 * Input:
 *     byte 0     bits 0-3: model capacity - 1 (1..16 samples, so the ring wraps)
 *                bit 4:    lenient: go on after a frame the client would disconnect on
 *     byte 1, 2  sizes of the pieces, used alternately; 0 means "everything left"
 *     byte 3     0, or n: the n-th counted allocation fails (lt_mem_fail_after), to prove the
 *                out-of-memory paths free what they hold; only crashes and leaks are checked
 *     rest       the stream
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz-common.h"
#include "leaktop/mem.h"

#define FUZZER_MAXLEN (1u << 20)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size > FUZZER_MAXLEN)
        return 0;
    uint64_t mem_before = lt_mem_in_use();

    uint32_t cap = (uint32_t)(data[0] & 0x0f) + 1;
    int lenient = (data[0] & 0x10) != 0;
    size_t piece[2] = {data[1], data[2]};
    int oom = data[3] != 0;
    lt_mem_fail_after(data[3]);
    data += 4;
    size -= 4;

    fuzz_stream s;
    if (fuzz_stream_init(&s, cap, lenient, oom) < 0) {
        lt_mem_fail_after(0);
        FUZZ_CHECK(lt_mem_in_use() == mem_before);
        return 0;
    }
    size_t off = 0;
    for (unsigned i = 0; off < size; i++) {
        size_t n = piece[i & 1];
        if (n == 0 || n > size - off)
            n = size - off;
        if (fuzz_stream_feed(&s, data + off, n) < 0)
            break;
        off += n;
    }
    fuzz_check_model(&s.model, oom);
    fuzz_stream_free(&s);
    lt_mem_fail_after(0); /* the countdown may not have run out */

    /* Everything counted was given back (LeakSanitizer sees uncounted leaks). */
    FUZZ_CHECK(lt_mem_in_use() == mem_before);
    return 0;
}

size_t
LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    return fuzz_mutate_frames(data, size, max_size, seed, 4);
}
