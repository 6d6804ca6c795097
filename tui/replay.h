/*
 * A recording as a source for the UI: the file is read once and indexed by sample; moving to
 * sample k applies the frames before the (k+1)-th SAMPLE (so its SITES come along). Moving back
 * rebuilds the model from the start. A truncated or corrupted recording shows what it can and
 * says where it stops. A recording of a program's processes keeps each process's model; the
 * timeline is the root's samples, and the others are shown as far as the frames before them.
 */
#ifndef LEAKTOP_REPLAY_H
#define LEAKTOP_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "tree.h"

typedef struct lt_replay {
    uint8_t *data;
    size_t len, usable;   /* file bytes; bytes of whole, decodable frames */
    size_t *sample_at;    /* offset of each SAMPLE frame */
    uint32_t nsamples;
    uint32_t shown;       /* samples applied to the model */
    size_t pos;           /* next frame to apply */
    char *stop_reason;    /* why the usable part ends early, or NULL */
    lt_model *model;      /* the root's stream (the only one of a version 1 recording) */
    /* A recording of several processes (version 2): the others, each in its own model, as far
     * as the root's samples shown. */
    lt_tree tree;
    uint32_t root_pid, root_ppid; /* from the first REC_PROCESS; 0: none */
    lt_member *cur;       /* whose stream the next frame is; NULL: the root's */
    int cur_ignored;      /* the next frames belong to a process not kept (tree full) */
    int scan_in_root, scan_seen_frame; /* indexing state */
} lt_replay;

/* Read and index path. Returns 0, or -1 with *cause when it cannot be read or is not a leaktop
 * recording. A damaged tail is not an error: see r->stop_reason. */
int lt_replay_open(lt_replay *r, const char *path, lt_model *m, char **cause);
/* The same over a recording already in memory (copied). */
int lt_replay_open_mem(lt_replay *r, const uint8_t *data, size_t len, lt_model *m,
                       char **cause);
void lt_replay_close(lt_replay *r);
/* Show the first k samples (clamped to [1, nsamples]). Returns 0, or -1 with *cause when the
 * model refuses a frame. */
int lt_replay_seek(lt_replay *r, uint32_t k, char **cause);
/* Wall-clock gap in seconds between sample k-1 and k as recorded (0 when unknown). */
double lt_replay_gap(const lt_replay *r, uint32_t k);

#endif
