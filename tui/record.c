/* `leaktop record`: the stream, frame by frame, into a file. */
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "leaktop/mem.h"
#include "leaktop/recording.h"
#include "proc_tree.h"
#include "watch.h"

typedef struct recorder {
    FILE *f;
    lt_watch *w; /* told to stop at the first failed write */
    const char *path;
    int err; /* errno of the first failed write */
    uint64_t frames;
    pid_t current; /* whose stream the last frame written was; 0 before the first */
    int others; /* frames of other processes than the root were written */
} recorder;

static void write_frame(recorder *r, const uint8_t *frame, size_t len);

/* Before a frame of another process than the last one: a REC_PROCESS frame naming it. */
static void
switch_to(recorder *r, pid_t pid, pid_t ppid, const char *role)
{
    if (r->current == pid || r->err)
        return;
    lt_buf b;
    lt_buf_init(&b);
    lt_rec_process_msg p = {.pid = (uint32_t)pid, .ppid = (uint32_t)ppid, .role = role};
    if (lt_encode_rec_process(&b, &p) == 0 && !b.failed) {
        r->current = pid;
        write_frame(r, b.data, b.len);
    }
    lt_buf_free(&b);
}

/* The root's frames. They come first, unlabelled (a recording of one process holds no
 * REC_PROCESS at all); after another process's frames, a REC_PROCESS names the root again. */
static void
tap(void *ctx, const uint8_t *frame, size_t len)
{
    recorder *r = ctx;
    if (r->current == 0)
        r->current = r->w->pid;
    switch_to(r, r->w->pid, lt_proc_tree_parent("/proc", r->w->pid), "main");
    write_frame(r, frame, len);
}

/* A descendant's frames (the watch follows the tree). */
static void
tree_tap(void *ctx, const lt_member *m, const uint8_t *frame, size_t len)
{
    recorder *r = ctx;
    r->others = 1;
    switch_to(r, m->pid, m->ppid, m->role);
    write_frame(r, frame, len);
}

static void
write_frame(recorder *r, const uint8_t *frame, size_t len)
{
    if (r->err)
        return;
    if (fwrite(frame, 1, len, r->f) != len) {
        r->err = errno ? errno : EIO;
        r->w->stop = 1; /* a full disk stays full: stop now, not at --duration */
        return;
    }
    r->frames++;
    /* Samples come once an interval: flushing each keeps a killed recorder's file useful. */
    if (len > 6 && (frame[4] | frame[5] << 8) == LT_FRAME_SAMPLE && fflush(r->f) != 0) {
        r->err = errno ? errno : EIO;
        r->w->stop = 1;
    }
}

/* Open path for writing, truncated. A new file is 0600 whatever the umask: a recording holds
 * what the stream holds (the command line, file and type names). An existing file keeps
 * its mode and owner, and a device (/dev/null) works as ever. NULL with errno on failure. */
static FILE *
open_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "wb");
    if (f == NULL) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

int
lt_record_main(const lt_cli *cli)
{
    recorder rec = {.path = cli->output};
    rec.f = open_private(cli->output);
    if (rec.f == NULL) {
        fprintf(stderr, "leaktop: cannot write %s: %s\n", cli->output, strerror(errno));
        return 2;
    }
    uint8_t header[LT_REC_HEADER];
    lt_rec_header(header);
    if (fwrite(header, 1, sizeof header, rec.f) != sizeof header || fflush(rec.f) != 0) {
        fprintf(stderr, "leaktop: cannot write %s: %s\n", cli->output, strerror(errno));
        fclose(rec.f);
        return 2;
    }

    lt_watch_signals();
    /* ulimit -f must be a write error we report, not a silent death (a started program gets
     * the default back in launch.c). */
    signal(SIGXFSZ, SIG_IGN);
    lt_watch w;
    rec.w = &w;
    lt_watch_opts o = {.cmd = cli->cmd, .pid = cli->pid, .socket_path = cli->socket,
                       .interval_s = cli->interval,
                       .budget_pct = cli->budget,
                       .keep = cli->keep, .client = "leaktop record " LEAKTOP_VERSION,
                       .tap = tap, .tap_ctx = &rec,
                       .follow_tree = cli->socket == NULL, .tree_tap = tree_tap,
                       .tree_tap_ctx = &rec};
    char *cause = NULL;
    int status = 0;
    if (lt_watch_open(&w, &o, &cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause ? cause : "cannot start");
        lt_free(cause);
        fclose(rec.f);
        return 2;
    }
    if (lt_watch_run(&w, cli->duration, &cause) < 0) {
        fprintf(stderr, "leaktop: %s\n", cause);
        lt_free(cause);
        status = 2;
    }
    lt_watch_close(&w);
    if (fclose(rec.f) != 0 && !rec.err)
        rec.err = errno ? errno : EIO;
    if (rec.err) {
        fprintf(stderr, "leaktop: writing %s: %s; what was written before stays replayable\n",
                cli->output, strerror(rec.err));
        return 2;
    }
    if (!cli->quiet)
        fprintf(stderr, "leaktop: recorded %llu frames of pid %ld%s to %s (%s)\n",
                (unsigned long long)rec.frames, (long)w.pid,
                rec.others ? " and its other processes" : "", cli->output,
                w.end_reason ? w.end_reason : "done");
    return status;
}
