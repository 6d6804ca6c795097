/*
 * The figures of a set of watched processes in the Prometheus text exposition format (0.0.4)
 * or OpenMetrics 1.0, for `leaktop metrics`. Plain functions over models: no sockets, no clock.
 *
 * Every family is written once, its # HELP and # TYPE lines first, then its samples for every
 * process (families without samples are left out). Label values are escaped as the formats say
 * (backslash, double quote, newline), invalid UTF-8 becomes U+FFFD, and long values are cut on
 * a character boundary.
 */
#ifndef LEAKTOP_METRICS_TEXT_H
#define LEAKTOP_METRICS_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "leaktop/proto.h"
#include "model.h"

typedef enum lt_metrics_format {
    LT_METRICS_PROMETHEUS,  /* text/plain; version=0.0.4 */
    LT_METRICS_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 (ends with # EOF) */
} lt_metrics_format;

#define LT_METRICS_CONTENT_TYPE_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"
#define LT_METRICS_CONTENT_TYPE_OPENMETRICS \
    "application/openmetrics-text; version=1.0.0; charset=utf-8"

#define LT_METRICS_TOP_DEFAULT 20
#define LT_METRICS_CMD_MAX 256   /* bytes of the cmd label, before escaping */
#define LT_METRICS_TYPE_MAX 512  /* bytes of a type label */
#define LT_METRICS_MAX_SUSPECTS 100

/* One watched process. */
typedef struct lt_metrics_proc {
    uint32_t pid;
    int up;                /* connected to its agent, which said hello */
    const lt_model *model; /* its stream; only leaktop_up is written when NULL, down or empty */
    int suspects;          /* leak suspects (lt_metrics_suspects); < 0: not written */
    uint32_t ppid;         /* its parent (a pre-fork master, a pool's main), 0: unknown */
} lt_metrics_proc;

/* Append the exposition of n processes to out: their top `top` types by shallow bytes (0: the
 * default). Returns 0, or -1 when out of memory (out->failed). */
int lt_metrics_render(lt_buf *out, const lt_metrics_proc *procs, size_t n, unsigned top,
                      lt_metrics_format fmt);

/* Append s as the inside of a quoted label value, at most max bytes of s (cut before a UTF-8
 * sequence that would not fit, then "..."). */
void lt_metrics_put_label_value(lt_buf *out, const char *s, size_t max);

/* Is name a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)? Label names: colons excluded. */
int lt_metrics_name_valid(const char *name);
int lt_metrics_label_name_valid(const char *name);

/* The sample names lt_metrics_render may write, in order (for tests and docs). */
const char *lt_metrics_family_name(size_t i); /* NULL past the last */

/* The model's Python heap: the allocation sampler's live estimate at the newest point that has
 * one, else the GC census's shallow bytes of the newest point. 0 without points. */
uint64_t lt_metrics_heap(const lt_model *m, int *sampled);

/* Leak suspects in the model now (lt_suspects_find over every point), -1 out of memory. */
int lt_metrics_suspects(const lt_model *m);

/* Accept header value asking for OpenMetrics? (it names application/openmetrics-text with a
 * non-zero q). */
int lt_metrics_wants_openmetrics(const char *accept);

#endif
