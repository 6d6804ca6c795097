/* Replaying a recording into the model. */
#include "replay.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "leaktop/mem.h"
#include "leaktop/recording.h"
#include "leaktop/sockpath.h"

#define MAX_FILE (4ull << 30)

static uint32_t
le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
index_frame(void *ctx, size_t off, uint16_t type, uint16_t flags, const uint8_t *payload,
            uint32_t plen)
{
    lt_replay *r = ctx;
    if (type == LT_FRAME_REC_PROCESS && plen >= 8) {
        /* Whose stream follows; one before any other frame names the root. */
        uint32_t pid = le32(payload);
        if (!r->scan_seen_frame && r->root_pid == 0) {
            r->root_pid = pid;
            r->root_ppid = le32(payload + 4);
        } else if (r->root_pid != 0 && pid == r->root_pid && r->root_ppid == 0) {
            r->root_ppid = le32(payload + 4);
        }
        r->scan_in_root = r->root_pid != 0 && pid == r->root_pid;
        r->scan_seen_frame = 1;
        return;
    }
    if (type == LT_FRAME_HELLO && r->scan_in_root && r->root_pid == 0) {
        /* The root's frames came first, unlabelled: its HELLO says who it is. */
        lt_msg m;
        memset(&m, 0, sizeof m);
        if (lt_decode(&m, type, flags, payload, plen) == 0 && m.u.hello.pid != 0)
            r->root_pid = m.u.hello.pid;
        lt_msg_clear(&m);
    }
    r->scan_seen_frame = 1;
    if (type != LT_FRAME_SAMPLE || !r->scan_in_root)
        return;
    size_t *a = lt_realloc(r->sample_at, (r->nsamples + 1) * sizeof *a);
    if (a == NULL)
        return;
    r->sample_at = a;
    r->sample_at[r->nsamples++] = off;
}

/* Check r->data's header and index its samples; on failure r is closed. */
static int
index_data(lt_replay *r, const char *path, char **cause)
{
    if (lt_rec_check_header(r->data, r->len, cause) < 0) {
        char *inner = *cause;
        *cause = lt_asprintf("%s: %s", path, inner);
        lt_free(inner);
        lt_replay_close(r);
        return -1;
    }
    r->scan_in_root = 1;
    r->usable = lt_rec_scan(r->data, r->len, index_frame, r, &r->stop_reason);
    r->pos = LT_REC_HEADER;
    lt_tree_init(&r->tree, (pid_t)r->root_pid, NULL, 1);
    if (r->nsamples == 0) {
        *cause = lt_asprintf("%s holds no sample%s%s", path, r->stop_reason ? ": " : "",
                             r->stop_reason ? r->stop_reason : "");
        lt_replay_close(r);
        return -1;
    }
    return 0;
}

int
lt_replay_open(lt_replay *r, const char *path, lt_model *m, char **cause)
{
    memset(r, 0, sizeof *r);
    r->model = m;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) < 0) {
        *cause = lt_asprintf("cannot read %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if ((unsigned long long)st.st_size > MAX_FILE) {
        fclose(f);
        *cause = lt_asprintf("%s is larger than 4 GiB", path);
        return -1;
    }
    r->len = (size_t)st.st_size;
    r->data = lt_malloc(r->len ? r->len : 1);
    if (r->data == NULL || fread(r->data, 1, r->len, f) != r->len) {
        fclose(f);
        lt_replay_close(r);
        *cause = lt_asprintf("cannot read %s", path);
        return -1;
    }
    fclose(f);
    return index_data(r, path, cause);
}

int
lt_replay_open_mem(lt_replay *r, const uint8_t *data, size_t len, lt_model *m, char **cause)
{
    memset(r, 0, sizeof *r);
    r->model = m;
    r->len = len;
    r->data = lt_malloc(len ? len : 1);
    if (r->data == NULL) {
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    memcpy(r->data, data, len);
    return index_data(r, "the recording", cause);
}

void
lt_replay_close(lt_replay *r)
{
    lt_tree_free(&r->tree);
    r->cur = NULL;
    lt_free(r->data);
    lt_free(r->sample_at);
    lt_free(r->stop_reason);
    r->data = NULL;
    r->sample_at = NULL;
    r->stop_reason = NULL;
}

static int
apply_until(lt_replay *r, size_t end, char **cause)
{
    lt_msg m;
    memset(&m, 0, sizeof m);
    while (r->pos < end) {
        const uint8_t *h = r->data + r->pos;
        uint32_t n = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
                     (uint32_t)h[3] << 24;
        uint16_t type = (uint16_t)(h[4] | h[5] << 8), flags = (uint16_t)(h[6] | h[7] << 8);
        int d = lt_decode(&m, type, flags, h + LT_FRAME_HEADER, n);
        r->pos += LT_FRAME_HEADER + n;
        if (d == 0 && type == LT_FRAME_REC_PROCESS) {
            const lt_rec_process_msg *p = &m.u.rec_process;
            r->cur = NULL;
            r->cur_ignored = 0;
            if (p->pid != r->root_pid) {
                r->cur = lt_tree_find(&r->tree, (pid_t)p->pid);
                if (r->cur == NULL)
                    r->cur = lt_tree_adopt(&r->tree, (pid_t)p->pid, (pid_t)p->ppid, p->role);
                r->cur_ignored = r->cur == NULL;
            }
            continue;
        }
        if (d != 0 || r->cur_ignored)
            continue;
        if (r->cur != NULL) {
            /* Another process's stream: one that makes no sense ends that process only. */
            char *why = NULL;
            if (!r->cur->gone && lt_model_apply(&r->cur->model, &m, &why) < 0)
                r->cur->gone = 1;
            lt_free(why);
            if (r->cur->model.bye != 0)
                r->cur->gone = 1;
            continue;
        }
        if (lt_model_apply(r->model, &m, cause) < 0) {
            lt_msg_clear(&m);
            return -1;
        }
        if (type == LT_FRAME_SAMPLE)
            r->shown++;
    }
    lt_msg_clear(&m);
    return 0;
}

int
lt_replay_seek(lt_replay *r, uint32_t k, char **cause)
{
    if (k < 1)
        k = 1;
    if (k > r->nsamples)
        k = r->nsamples;
    if (k < r->shown) {
        uint32_t cap = r->model->cap;
        lt_model_free(r->model);
        if (lt_model_init(r->model, cap) < 0) {
            *cause = lt_asprintf("out of memory");
            return -1;
        }
        r->pos = LT_REC_HEADER;
        r->shown = 0;
        lt_tree_free(&r->tree);
        lt_tree_init(&r->tree, (pid_t)r->root_pid, NULL, 1);
        r->cur = NULL;
        r->cur_ignored = 0;
    }
    size_t end = k < r->nsamples ? r->sample_at[k] : r->usable;
    return apply_until(r, end, cause);
}

double
lt_replay_gap(const lt_replay *r, uint32_t k)
{
    if (k == 0 || k >= r->nsamples)
        return 0;
    /* wall_ns sits after seq in the SAMPLE payload: header 8 + seq 4. */
    const uint8_t *a = r->data + r->sample_at[k - 1] + LT_FRAME_HEADER + 4;
    const uint8_t *b = r->data + r->sample_at[k] + LT_FRAME_HEADER + 4;
    uint64_t x = 0, y = 0;
    for (int i = 7; i >= 0; i--) {
        x = x << 8 | a[i];
        y = y << 8 | b[i];
    }
    return y > x ? (double)(y - x) / 1e9 : 0;
}
