/*
 * The recording file of `leaktop record` and `leaktop replay`: a 16-byte header, then the
 * protocol's frames exactly as the agent sent them (see proto.h), so a recording replays through
 * the same decoder as a live stream and old recordings stay readable as long as the protocol is.
 *
 *     "LEAKTOP-REC\n"  12 bytes
 *     u32 version      LT_REC_VERSION, little-endian
 *     frames...
 *
 * A recording cut short (disk full, recorder killed) ends with a partial frame, which readers
 * report and ignore.
 */
#ifndef LEAKTOP_RECORDING_H
#define LEAKTOP_RECORDING_H

#define LT_REC_MAGIC "LEAKTOP-REC\n"
#define LT_REC_MAGIC_LEN 12u
#define LT_REC_VERSION 1u
#define LT_REC_HEADER 16u

#endif
