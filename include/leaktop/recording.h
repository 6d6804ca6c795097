/*
 * The recording file of `leaktop record` and `leaktop replay`: a 16-byte header, then the
 * protocol's frames exactly as the agent sent them (see proto.h), so a recording replays through
 * the same decoder as a live stream and old recordings stay readable as long as the protocol is.
 *
 *     "LEAKTOP-REC\n"  12 bytes
 *     u32 version      LT_REC_VERSION, little-endian
 *     frames...
 *
 * Version 2 holds the streams of a program's processes (a pre-fork master and its workers) in
 * one file: a REC_PROCESS frame (proto.h) says whose stream the frames after it are. The root's
 * frames come first, unlabelled (or after a REC_PROCESS naming it); a recording of one process
 * holds no REC_PROCESS. Version 1 (always one process) is read as ever.
 *
 * A recording cut short (disk full, recorder killed) ends with a partial frame, which readers
 * report and ignore.
 */
#ifndef LEAKTOP_RECORDING_H
#define LEAKTOP_RECORDING_H

#define LT_REC_MAGIC "LEAKTOP-REC\n"
#define LT_REC_MAGIC_LEN 12u
#define LT_REC_VERSION 2u
#define LT_REC_HEADER 16u

#include <stddef.h>
#include <stdint.h>

/* Is p[0..len) a recording header of a version this leaktop reads? Returns 0, or -1 with *cause
 * (lt_free it): not a leaktop recording, or a newer version. */
int lt_rec_check_header(const uint8_t *p, size_t len, char **cause);

/* Write the header into out[LT_REC_HEADER]. */
void lt_rec_header(uint8_t out[LT_REC_HEADER]);

/* How far the frames after the header are whole and decodable: scans data[0..len) (the whole
 * file) and returns the offset where the usable part ends; *cause (lt_free it) says why it
 * stops early (a truncated frame, an oversized length, a malformed payload), NULL when the whole
 * file is good. Calls on_frame for each whole frame, when not NULL. */
size_t lt_rec_scan(const uint8_t *data, size_t len,
                   void (*on_frame)(void *ctx, size_t off, uint16_t type, uint16_t flags,
                                    const uint8_t *payload, uint32_t plen),
                   void *ctx, char **cause);

#endif
