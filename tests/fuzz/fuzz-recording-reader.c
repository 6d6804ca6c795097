/*
 * `leaktop replay` under a hostile recording file: the 16-byte header of recording.h, then the
 * frames, through the same framer, decoder and model as a live stream (fuzz-common.c). A file
 * cut short ends with a partial frame, which the reader reports and ignores.
 *
 * The input is the file itself, so a crash input replays with `leaktop replay crash-...`.
 *
 * The header check and the scan that finds where the usable part of a damaged recording ends
 * are common/recording.c's, the code replay uses; the replay itself (tui/replay.c: every process
 * of a version 2 recording in its own model, seeking forth and back) runs on it too.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz-common.h"
#include "leaktop/mem.h"
#include "leaktop/recording.h"
#include "leaktop/sockpath.h" /* lt_asprintf */
#include "replay.h"

#define FUZZER_MAXLEN (1u << 20)
#define READ_BLOCK 1024u /* the reader's read() size: frames straddle blocks */
#define REPLAY_CAP 8u    /* samples the replay model keeps; small, so the ring wraps */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZER_MAXLEN)
        return 0;
    uint64_t mem_before = lt_mem_in_use();

    char *cause = NULL;
    if (lt_rec_check_header(data, size, &cause) != 0) {
        FUZZ_CHECK(cause != NULL);
        lt_free(cause);
        FUZZ_CHECK(lt_mem_in_use() == mem_before);
        return 0;
    }
    FUZZ_CHECK(cause == NULL);
    /* `leaktop replay` itself (tui/replay.c): every process of a version 2 recording in its
     * own model; to the end, back to the start (the models rebuilt), and to the end again. */
    {
        lt_model rm;
        lt_replay rep;
        FUZZ_CHECK(lt_model_init(&rm, REPLAY_CAP) == 0);
        if (lt_replay_open_mem(&rep, data, size, &rm, &cause) == 0) {
            FUZZ_CHECK(rep.nsamples > 0);
            uint32_t ks[3] = {rep.nsamples, 1, rep.nsamples};
            for (int i = 0; i < 3; i++) {
                if (lt_replay_seek(&rep, ks[i], &cause) < 0) {
                    FUZZ_CHECK(cause != NULL);
                    lt_free(cause);
                    cause = NULL;
                    break;
                }
                FUZZ_CHECK(rep.shown <= ks[i]);
                for (uint32_t k = 0; k < rep.tree.n; k++) {
                    FUZZ_CHECK(rep.tree.m[k]->pid != 0);
                    FUZZ_CHECK(rep.tree.m[k]->pid != (pid_t)rep.root_pid);
                    fuzz_check_model(&rep.tree.m[k]->model, 0);
                }
            }
            lt_replay_close(&rep);
        } else {
            FUZZ_CHECK(cause != NULL);
            lt_free(cause);
            cause = NULL;
        }
        lt_model_free(&rm);
    }
    /* Replay's index pass: it must stop inside the input, at a frame boundary, with a reason
     * exactly when it stops early. */
    size_t usable = lt_rec_scan(data, size, NULL, NULL, &cause);
    FUZZ_CHECK(usable >= LT_REC_HEADER && usable <= size);
    FUZZ_CHECK((usable < size) == (cause != NULL));
    lt_free(cause);
    cause = NULL;
    data += LT_REC_HEADER;
    size -= LT_REC_HEADER;

    /* Like a replay: stop at the first frame that makes no sense. */
    fuzz_stream s;
    FUZZ_CHECK(fuzz_stream_init(&s, REPLAY_CAP, 0, 0) == 0);
    for (size_t off = 0; off < size; off += READ_BLOCK) {
        size_t n = size - off < READ_BLOCK ? size - off : READ_BLOCK;
        if (fuzz_stream_feed(&s, data + off, n) < 0)
            break;
    }
    /* Whatever the framer still holds is a recording cut short: reported, not an error. */
    fuzz_check_model(&s.model, 0);
    fuzz_stream_free(&s);

    FUZZ_CHECK(lt_mem_in_use() == mem_before);
    return 0;
}

size_t
LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    return fuzz_mutate_frames(data, size, max_size, seed, 16);
}
