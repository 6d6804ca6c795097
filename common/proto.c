/* The wire protocol's encoder, framer and decoder (see include/leaktop/proto.h). */
#include "leaktop/proto.h"

#include <string.h>

#include "leaktop/mem.h"

/* ---- buffer ----------------------------------------------------------------------------- */

void
lt_buf_init(lt_buf *b)
{
    memset(b, 0, sizeof *b);
}

void
lt_buf_free(lt_buf *b)
{
    lt_free(b->data);
    lt_buf_init(b);
}

int
lt_buf_reserve(lt_buf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n <= b->cap - b->len)
        return 0;
    size_t want = b->cap ? b->cap : 256;
    while (want - b->len < n) {
        if (want > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        want *= 2;
    }
    uint8_t *p = lt_realloc(b->data, want);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = want;
    return 0;
}

void
lt_buf_put(lt_buf *b, const void *p, size_t n)
{
    if (n == 0 || lt_buf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void
lt_put_u8(lt_buf *b, uint8_t v)
{
    lt_buf_put(b, &v, 1);
}

void
lt_put_u16(lt_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    lt_buf_put(b, x, 2);
}

void
lt_put_u32(lt_buf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    lt_buf_put(b, x, 4);
}

void
lt_put_u64(lt_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    lt_buf_put(b, x, 8);
}

void
lt_put_strn(lt_buf *b, const char *s, size_t n)
{
    if (s == NULL)
        n = 0;
    if (n > LT_STRING_MAX)
        n = LT_STRING_MAX;
    lt_put_u32(b, (uint32_t)n);
    lt_buf_put(b, s, n);
}

void
lt_put_str(lt_buf *b, const char *s)
{
    lt_put_strn(b, s, s ? strlen(s) : 0);
}

static void
poke_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

size_t
lt_frame_begin(lt_buf *b, uint16_t type, uint16_t flags)
{
    size_t off = b->len;
    lt_put_u32(b, 0);
    lt_put_u16(b, type);
    lt_put_u16(b, flags);
    return off;
}

int
lt_frame_end(lt_buf *b, size_t off)
{
    if (b->failed || b->len < off + LT_FRAME_HEADER ||
        b->len - off - LT_FRAME_HEADER > LT_FRAME_MAX) {
        if (b->len > off)
            b->len = off;
        return -1;
    }
    poke_u32(b->data + off, (uint32_t)(b->len - off - LT_FRAME_HEADER));
    return 0;
}

/* The frame encoders. Each appends a whole frame or nothing. */

static void
put_magic(lt_buf *b, uint16_t major, uint16_t minor)
{
    lt_buf_put(b, LT_PROTO_MAGIC, 4);
    lt_put_u16(b, major);
    lt_put_u16(b, minor);
}

int
lt_encode_hello(lt_buf *b, const lt_hello *h)
{
    size_t off = lt_frame_begin(b, LT_FRAME_HELLO, 0);
    put_magic(b, h->major, h->minor);
    lt_put_u32(b, h->pid);
    lt_put_u32(b, h->interval_ms);
    lt_put_u64(b, h->start_wall_ns);
    lt_put_u32(b, h->history_capacity);
    lt_put_str(b, h->python_version);
    lt_put_str(b, h->agent_version);
    lt_put_str(b, h->executable);
    lt_put_u32(b, h->argc);
    for (uint32_t i = 0; i < h->argc; i++)
        lt_put_str(b, h->argv[i]);
    lt_put_u32(b, h->nlib);
    for (uint32_t i = 0; i < h->nlib; i++)
        lt_put_str(b, h->lib_paths[i]);
    return lt_frame_end(b, off);
}

int
lt_encode_client_hello(lt_buf *b, const lt_client_hello *h)
{
    size_t off = lt_frame_begin(b, LT_FRAME_CLIENT_HELLO, 0);
    put_magic(b, h->major, h->minor);
    lt_put_str(b, h->client);
    return lt_frame_end(b, off);
}

int
lt_encode_string(lt_buf *b, uint32_t id, const char *text, size_t len)
{
    size_t off = lt_frame_begin(b, LT_FRAME_STRING, 0);
    lt_put_u32(b, id);
    lt_put_strn(b, text, len);
    return lt_frame_end(b, off);
}

int
lt_encode_sample(lt_buf *b, const lt_sample *s, uint16_t flags, uint32_t max_rows)
{
    uint32_t n = s->ntypes;
    uint8_t complete = s->types_complete;
    if (max_rows != 0 && n > max_rows) {
        n = max_rows;
        complete = 0;
    }
    size_t off = lt_frame_begin(b, LT_FRAME_SAMPLE, flags);
    lt_put_u32(b, s->seq);
    lt_put_u64(b, s->wall_ns);
    lt_put_u64(b, s->mono_ns);
    lt_put_u64(b, s->rss_bytes);
    lt_put_u64(b, s->rss_peak_bytes);
    lt_put_u64(b, s->heap_bytes);
    lt_put_u64(b, s->census_ns);
    lt_put_u64(b, s->tracked_objects);
    lt_put_u64(b, s->agent_bytes);
    lt_put_u8(b, s->gc_enabled);
    for (int g = 0; g < LT_GENERATIONS; g++) {
        lt_put_u64(b, s->gc_collections[g]);
        lt_put_u64(b, s->gc_collected[g]);
        lt_put_u64(b, s->gc_uncollectable[g]);
    }
    lt_put_u64(b, s->gc_garbage);
    lt_put_u32(b, s->types_total);
    lt_put_u8(b, complete);
    lt_put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        lt_put_u32(b, s->types[i].name_id);
        lt_put_u64(b, s->types[i].count);
        lt_put_u64(b, s->types[i].bytes);
    }
    lt_put_u64(b, s->counts_wall_ns);
    lt_put_u64(b, s->counts_mono_ns);
    lt_put_u8(b, s->counts_exact);
    lt_put_u64(b, s->census_cpu_ns);
    lt_put_u64(b, s->census_span_ns);
    lt_put_u64(b, s->census_max_hold_ns);
    lt_put_u32(b, s->census_slices);
    lt_put_u32(b, s->census_restarts);
    lt_put_u32(b, s->budget_ppm);
    uint32_t nest = s->nest > LT_EST_MAX_WIRE ? LT_EST_MAX_WIRE : s->nest;
    lt_put_u32(b, nest);
    for (uint32_t i = 0; i < nest; i++) {
        lt_put_u32(b, s->est[i].name_id);
        lt_put_u64(b, (uint64_t)s->est[i].count_delta);
        lt_put_u64(b, (uint64_t)s->est[i].bytes_delta);
        lt_put_u64(b, s->est[i].count_sd);
        lt_put_u64(b, s->est[i].unsampled);
    }
    return lt_frame_end(b, off);
}

int
lt_encode_drops(lt_buf *b, uint64_t drops)
{
    size_t off = lt_frame_begin(b, LT_FRAME_DROPS, 0);
    lt_put_u64(b, drops);
    return lt_frame_end(b, off);
}

int
lt_encode_command(lt_buf *b, uint16_t code, uint32_t arg)
{
    size_t off = lt_frame_begin(b, LT_FRAME_COMMAND, 0);
    lt_put_u16(b, code);
    lt_put_u32(b, arg);
    return lt_frame_end(b, off);
}

int
lt_encode_reply(lt_buf *b, const lt_reply *r)
{
    size_t off = lt_frame_begin(b, LT_FRAME_REPLY, 0);
    lt_put_u16(b, r->code);
    lt_put_u32(b, (uint32_t)r->status);
    lt_put_u64(b, (uint64_t)r->value);
    lt_put_str(b, r->message);
    return lt_frame_end(b, off);
}

int
lt_encode_bye(lt_buf *b, uint8_t reason, const char *message)
{
    size_t off = lt_frame_begin(b, LT_FRAME_BYE, 0);
    lt_put_u8(b, reason);
    lt_put_str(b, message);
    return lt_frame_end(b, off);
}

int
lt_encode_empty(lt_buf *b, uint16_t type)
{
    return lt_frame_end(b, lt_frame_begin(b, type, 0));
}

int
lt_encode_trace(lt_buf *b, const lt_trace *t)
{
    uint32_t n = t->nframes > LT_TRACE_MAX_FRAMES ? LT_TRACE_MAX_FRAMES : t->nframes;
    size_t off = lt_frame_begin(b, LT_FRAME_TRACE, 0);
    lt_put_u32(b, t->id);
    lt_put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        lt_put_u32(b, t->frames[i].file_id);
        lt_put_u32(b, t->frames[i].func_id);
        lt_put_u32(b, t->frames[i].line);
    }
    lt_put_u8(b, (uint8_t)(t->truncated || n < t->nframes));
    return lt_frame_end(b, off);
}

int
lt_encode_sites(lt_buf *b, const lt_sites *s, uint16_t flags, uint32_t max_sites,
                uint32_t max_lines)
{
    uint32_t ns = max_sites && s->nsites > max_sites ? max_sites : s->nsites;
    uint32_t nl = max_lines && s->nlines > max_lines ? max_lines : s->nlines;
    size_t off = lt_frame_begin(b, LT_FRAME_SITES, flags);
    lt_put_u32(b, s->seq);
    lt_put_u64(b, s->sample_interval_bytes);
    lt_put_u64(b, s->heap_live_bytes);
    lt_put_u64(b, s->heap_live_count);
    lt_put_u64(b, s->live_samples);
    lt_put_u64(b, s->dropped_samples);
    lt_put_u64(b, s->evicted_traces);
    lt_put_u32(b, s->traces_total);
    lt_put_u32(b, ns);
    for (uint32_t i = 0; i < ns; i++) {
        lt_put_u32(b, s->sites[i].trace_id);
        lt_put_u64(b, s->sites[i].live_bytes);
        lt_put_u64(b, s->sites[i].live_count);
    }
    lt_put_u32(b, nl);
    for (uint32_t i = 0; i < nl; i++) {
        lt_put_u32(b, s->lines[i].file_id);
        lt_put_u32(b, s->lines[i].func_id);
        lt_put_u32(b, s->lines[i].line);
        lt_put_u32(b, s->lines[i].trace_id);
        lt_put_u64(b, s->lines[i].live_bytes);
        lt_put_u64(b, s->lines[i].live_count);
    }
    return lt_frame_end(b, off);
}

int
lt_encode_why(lt_buf *b, const lt_why_msg *w)
{
    uint32_t n = w->nhops > LT_WHY_MAX_HOPS_WIRE ? LT_WHY_MAX_HOPS_WIRE : w->nhops;
    size_t off = lt_frame_begin(b, LT_FRAME_WHY, 0);
    lt_put_u32(b, w->name_id);
    lt_put_u8(b, w->found);
    lt_put_u32(b, w->levels);
    lt_put_u32(b, w->max_pause_us);
    lt_put_u32(b, w->total_us);
    lt_put_u64(b, w->instances);
    lt_put_str(b, w->note);
    lt_put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        lt_put_str(b, w->hop_text[i]);
        lt_put_str(b, w->hop_type[i]);
    }
    return lt_frame_end(b, off);
}

int
lt_encode_marker(lt_buf *b, const lt_marker_msg *mk)
{
    size_t off = lt_frame_begin(b, LT_FRAME_MARKER, 0);
    lt_put_u32(b, mk->id);
    lt_put_u32(b, mk->seq);
    lt_put_u64(b, mk->wall_ns);
    lt_put_str(b, mk->label);
    return lt_frame_end(b, off);
}

int
lt_encode_rec_process(lt_buf *b, const lt_rec_process_msg *p)
{
    size_t off = lt_frame_begin(b, LT_FRAME_REC_PROCESS, 0);
    lt_put_u32(b, p->pid);
    lt_put_u32(b, p->ppid);
    lt_put_str(b, p->role ? p->role : "");
    return lt_frame_end(b, off);
}

int
lt_encode_memory(lt_buf *b, const lt_memory *mem, uint16_t flags)
{
    size_t off = lt_frame_begin(b, LT_FRAME_MEMORY, flags);
    lt_put_u32(b, mem->seq);
    lt_put_u32(b, mem->have);
    lt_put_u64(b, mem->py_arenas);
    lt_put_u64(b, mem->py_arena_bytes);
    lt_put_u64(b, mem->py_used_bytes);
    lt_put_u64(b, mem->py_free_block_bytes);
    lt_put_u64(b, mem->py_free_pool_bytes);
    lt_put_u64(b, mem->py_overhead_bytes);
    lt_put_u64(b, mem->py_read_ns);
    lt_put_u32(b, mem->py_age);
    lt_put_u64(b, mem->heap_arena_bytes);
    lt_put_u64(b, mem->heap_mmap_bytes);
    lt_put_u64(b, mem->heap_used_bytes);
    lt_put_u64(b, mem->heap_free_bytes);
    lt_put_u64(b, mem->heap_releasable_bytes);
    lt_put_u64(b, mem->heap_read_ns);
    lt_put_u64(b, mem->vm_size);
    lt_put_u64(b, mem->vm_data);
    lt_put_u64(b, mem->rss_anon);
    lt_put_u64(b, mem->rss_file);
    lt_put_u64(b, mem->rss_shmem);
    lt_put_u64(b, mem->vm_swap);
    return lt_frame_end(b, off);
}

int
lt_encode_type_sites(lt_buf *b, const lt_type_sites_msg *ts)
{
    uint32_t n = ts->nrows > LT_TYPE_SITES_MAX_WIRE ? LT_TYPE_SITES_MAX_WIRE : ts->nrows;
    size_t off = lt_frame_begin(b, LT_FRAME_TYPE_SITES, 0);
    lt_put_u32(b, ts->name_id);
    lt_put_u64(b, ts->instances);
    lt_put_u64(b, ts->sampled);
    lt_put_u64(b, ts->sample_interval_bytes);
    lt_put_u32(b, ts->walk_us);
    lt_put_str(b, ts->note);
    lt_put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        lt_put_u32(b, ts->rows[i].trace_id);
        lt_put_u64(b, ts->rows[i].live_bytes);
        lt_put_u64(b, ts->rows[i].live_count);
        lt_put_u32(b, ts->rows[i].samples);
    }
    lt_put_u32(b, ts->owned_sampled);
    lt_put_u64(b, ts->owned_extra_bytes);
    lt_put_u32(b, ts->owned_us);
    return lt_frame_end(b, off);
}

/* ---- framer ----------------------------------------------------------------------------- */

void
lt_framer_init(lt_framer *f)
{
    memset(f, 0, sizeof *f);
}

void
lt_framer_free(lt_framer *f)
{
    lt_buf_free(&f->in);
    lt_framer_init(f);
}

int
lt_framer_feed(lt_framer *f, const void *p, size_t n)
{
    if (f->error)
        return -1;
    /* Drop consumed bytes before growing, so the buffer holds at most one frame plus input. */
    if (f->off > 0) {
        memmove(f->in.data, f->in.data + f->off, f->in.len - f->off);
        f->in.len -= f->off;
        f->off = 0;
    }
    lt_buf_put(&f->in, p, n);
    if (f->in.failed) {
        f->error = LT_FRAMER_NOMEM;
        return -1;
    }
    return 0;
}

static uint32_t
get_u32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int
lt_framer_next(lt_framer *f, uint16_t *type, uint16_t *flags, const uint8_t **payload,
               uint32_t *len)
{
    if (f->error)
        return -1;
    size_t avail = f->in.len - f->off;
    if (avail < LT_FRAME_HEADER)
        return 0;
    const uint8_t *h = f->in.data + f->off;
    uint32_t n = get_u32_at(h);
    if (n > LT_FRAME_MAX) {
        f->error = LT_FRAMER_TOO_BIG;
        return -1;
    }
    if (avail - LT_FRAME_HEADER < n)
        return 0;
    *type = (uint16_t)(h[4] | h[5] << 8);
    *flags = (uint16_t)(h[6] | h[7] << 8);
    *payload = h + LT_FRAME_HEADER;
    *len = n;
    f->off += LT_FRAME_HEADER + n;
    return 1;
}

size_t
lt_framer_pending(const lt_framer *f)
{
    return f->in.len - f->off;
}

/* ---- decoder ---------------------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    uint32_t len, pos;
    int bad;
    lt_msg *m;
} reader;

/* Memory owned by a message: a chain of blocks freed by lt_msg_clear. */
typedef struct arena_block {
    struct arena_block *next;
} arena_block;

static void *
msg_alloc(lt_msg *m, size_t n)
{
    arena_block *blk = lt_malloc(sizeof(arena_block) + n);
    if (blk == NULL)
        return NULL;
    blk->next = m->arena;
    m->arena = blk;
    return blk + 1;
}

void
lt_msg_clear(lt_msg *m)
{
    arena_block *b = m->arena;
    while (b != NULL) {
        arena_block *next = b->next;
        lt_free(b);
        b = next;
    }
    memset(m, 0, sizeof *m);
}

static int
need(reader *r, uint32_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}

static uint8_t
get_u8(reader *r)
{
    if (!need(r, 1))
        return 0;
    return r->p[r->pos++];
}

static uint16_t
get_u16(reader *r)
{
    if (!need(r, 2))
        return 0;
    uint16_t v = (uint16_t)(r->p[r->pos] | r->p[r->pos + 1] << 8);
    r->pos += 2;
    return v;
}

static uint32_t
get_u32(reader *r)
{
    if (!need(r, 4))
        return 0;
    uint32_t v = get_u32_at(r->p + r->pos);
    r->pos += 4;
    return v;
}

static uint64_t
get_u64(reader *r)
{
    uint64_t lo = get_u32(r);
    uint64_t hi = get_u32(r);
    return lo | hi << 32;
}

/* A string field, copied NUL-terminated into the message's arena. Embedded NULs are refused:
 * every string on the wire is a name, a path or a message. */
static const char *
get_str(reader *r, uint32_t *out_len)
{
    uint32_t n = get_u32(r);
    if (r->bad || n > LT_STRING_MAX || !need(r, n)) {
        r->bad = 1;
        return "";
    }
    if (memchr(r->p + r->pos, '\0', n) != NULL) {
        r->bad = 1;
        return "";
    }
    char *s = msg_alloc(r->m, (size_t)n + 1);
    if (s == NULL) {
        r->bad = 1;
        return "";
    }
    memcpy(s, r->p + r->pos, n);
    s[n] = '\0';
    r->pos += n;
    if (out_len)
        *out_len = n;
    return s;
}

static int
get_magic(reader *r, uint16_t *major, uint16_t *minor)
{
    if (!need(r, 4) || memcmp(r->p + r->pos, LT_PROTO_MAGIC, 4) != 0) {
        r->bad = 1;
        return -1;
    }
    r->pos += 4;
    *major = get_u16(r);
    *minor = get_u16(r);
    return r->bad ? -1 : 0;
}

static void
decode_hello(reader *r, lt_hello *h)
{
    if (get_magic(r, &h->major, &h->minor) < 0)
        return;
    h->pid = get_u32(r);
    h->interval_ms = get_u32(r);
    h->start_wall_ns = get_u64(r);
    h->history_capacity = get_u32(r);
    h->python_version = get_str(r, NULL);
    h->agent_version = get_str(r, NULL);
    h->executable = get_str(r, NULL);
    h->argc = get_u32(r);
    /* Every argument takes at least 4 bytes: a count beyond that is a lie, refuse before
     * allocating for it. */
    if (r->bad || h->argc > (r->len - r->pos) / 4) {
        r->bad = 1;
        h->argc = 0;
        return;
    }
    h->argv = msg_alloc(r->m, sizeof(char *) * (h->argc ? h->argc : 1));
    if (h->argv == NULL) {
        r->bad = 1;
        h->argc = 0;
        return;
    }
    for (uint32_t i = 0; i < h->argc; i++)
        h->argv[i] = get_str(r, NULL);
    /* 1.1: the library's path prefixes; an older agent's hello ends here. */
    if (r->bad || r->len - r->pos < 4)
        return;
    h->nlib = get_u32(r);
    if (r->bad || h->nlib > LT_HELLO_MAX_LIB || h->nlib > (r->len - r->pos) / 4) {
        r->bad = 1;
        h->nlib = 0;
        return;
    }
    h->lib_paths = msg_alloc(r->m, sizeof(char *) * (h->nlib ? h->nlib : 1));
    if (h->lib_paths == NULL) {
        r->bad = 1;
        h->nlib = 0;
        return;
    }
    for (uint32_t i = 0; i < h->nlib; i++)
        h->lib_paths[i] = get_str(r, NULL);
}

#define TYPE_ROW_WIRE 20u
#define EST_ROW_WIRE 36u
#define SAMPLE_1_1_WIRE (8u + 8u + 1u + 8u + 8u + 8u + 4u + 4u + 4u)

static void
decode_sample(reader *r, lt_sample *s)
{
    s->seq = get_u32(r);
    s->wall_ns = get_u64(r);
    s->mono_ns = get_u64(r);
    s->rss_bytes = get_u64(r);
    s->rss_peak_bytes = get_u64(r);
    s->heap_bytes = get_u64(r);
    s->census_ns = get_u64(r);
    s->tracked_objects = get_u64(r);
    s->agent_bytes = get_u64(r);
    s->gc_enabled = get_u8(r);
    for (int g = 0; g < LT_GENERATIONS; g++) {
        s->gc_collections[g] = get_u64(r);
        s->gc_collected[g] = get_u64(r);
        s->gc_uncollectable[g] = get_u64(r);
    }
    s->gc_garbage = get_u64(r);
    s->types_total = get_u32(r);
    s->types_complete = get_u8(r);
    s->ntypes = get_u32(r);
    if (r->bad || s->ntypes > (r->len - r->pos) / TYPE_ROW_WIRE) {
        r->bad = 1;
        s->ntypes = 0;
        return;
    }
    s->types = msg_alloc(r->m, sizeof(lt_type_row) * (s->ntypes ? s->ntypes : 1));
    if (s->types == NULL) {
        r->bad = 1;
        s->ntypes = 0;
        return;
    }
    for (uint32_t i = 0; i < s->ntypes; i++) {
        s->types[i].name_id = get_u32(r);
        s->types[i].count = get_u64(r);
        s->types[i].bytes = get_u64(r);
    }
    /* 1.1: a 1.0 sender's counts were taken at the sample, a whole census. */
    s->counts_wall_ns = s->wall_ns;
    s->counts_mono_ns = s->mono_ns;
    s->counts_exact = 1;
    size_t left = r->len - r->pos;
    if (left > 0 && left < SAMPLE_1_1_WIRE) {
        r->bad = 1; /* a 1.1 sample cut short */
        return;
    }
    if (left >= SAMPLE_1_1_WIRE) {
        s->counts_wall_ns = get_u64(r);
        s->counts_mono_ns = get_u64(r);
        s->counts_exact = get_u8(r);
        s->census_cpu_ns = get_u64(r);
        s->census_span_ns = get_u64(r);
        s->census_max_hold_ns = get_u64(r);
        s->census_slices = get_u32(r);
        s->census_restarts = get_u32(r);
        s->budget_ppm = get_u32(r);
    }
    /* 1.2: estimates since that census; a 1.1 sample ends here. */
    if (r->bad || r->len == r->pos)
        return;
    s->nest = get_u32(r);
    if (r->bad || s->nest > LT_EST_MAX_WIRE || s->nest > (r->len - r->pos) / EST_ROW_WIRE) {
        r->bad = 1;
        s->nest = 0;
        return;
    }
    s->est = msg_alloc(r->m, sizeof(lt_est_row) * (s->nest ? s->nest : 1));
    if (s->est == NULL) {
        r->bad = 1;
        s->nest = 0;
        return;
    }
    for (uint32_t i = 0; i < s->nest; i++) {
        s->est[i].name_id = get_u32(r);
        s->est[i].count_delta = (int64_t)get_u64(r);
        s->est[i].bytes_delta = (int64_t)get_u64(r);
        s->est[i].count_sd = get_u64(r);
        s->est[i].unsampled = get_u64(r);
    }
}

#define TRACE_FRAME_WIRE 12u
#define SITE_ROW_WIRE 20u
#define LINE_ROW_WIRE 32u

static void
decode_trace(reader *r, lt_trace *t)
{
    t->id = get_u32(r);
    t->nframes = get_u32(r);
    if (r->bad || t->nframes > LT_TRACE_MAX_FRAMES ||
        t->nframes > (r->len - r->pos) / TRACE_FRAME_WIRE) {
        r->bad = 1;
        t->nframes = 0;
        return;
    }
    t->frames = msg_alloc(r->m, sizeof *t->frames * (t->nframes ? t->nframes : 1));
    if (t->frames == NULL) {
        r->bad = 1;
        t->nframes = 0;
        return;
    }
    for (uint32_t i = 0; i < t->nframes; i++) {
        t->frames[i].file_id = get_u32(r);
        t->frames[i].func_id = get_u32(r);
        t->frames[i].line = get_u32(r);
    }
    t->truncated = get_u8(r);
}

static void
decode_sites(reader *r, lt_sites *s)
{
    s->seq = get_u32(r);
    s->sample_interval_bytes = get_u64(r);
    s->heap_live_bytes = get_u64(r);
    s->heap_live_count = get_u64(r);
    s->live_samples = get_u64(r);
    s->dropped_samples = get_u64(r);
    s->evicted_traces = get_u64(r);
    s->traces_total = get_u32(r);
    s->nsites = get_u32(r);
    if (r->bad || s->nsites > (r->len - r->pos) / SITE_ROW_WIRE) {
        r->bad = 1;
        s->nsites = 0;
        return;
    }
    s->sites = msg_alloc(r->m, sizeof *s->sites * (s->nsites ? s->nsites : 1));
    if (s->sites == NULL) {
        r->bad = 1;
        s->nsites = 0;
        return;
    }
    for (uint32_t i = 0; i < s->nsites; i++) {
        s->sites[i].trace_id = get_u32(r);
        s->sites[i].live_bytes = get_u64(r);
        s->sites[i].live_count = get_u64(r);
    }
    s->nlines = get_u32(r);
    if (r->bad || s->nlines > (r->len - r->pos) / LINE_ROW_WIRE) {
        r->bad = 1;
        s->nlines = 0;
        return;
    }
    s->lines = msg_alloc(r->m, sizeof *s->lines * (s->nlines ? s->nlines : 1));
    if (s->lines == NULL) {
        r->bad = 1;
        s->nlines = 0;
        return;
    }
    for (uint32_t i = 0; i < s->nlines; i++) {
        s->lines[i].file_id = get_u32(r);
        s->lines[i].func_id = get_u32(r);
        s->lines[i].line = get_u32(r);
        s->lines[i].trace_id = get_u32(r);
        s->lines[i].live_bytes = get_u64(r);
        s->lines[i].live_count = get_u64(r);
    }
}

static void
decode_why(reader *r, lt_why_msg *w)
{
    w->name_id = get_u32(r);
    w->found = get_u8(r);
    w->levels = get_u32(r);
    w->max_pause_us = get_u32(r);
    w->total_us = get_u32(r);
    w->instances = get_u64(r);
    w->note = get_str(r, NULL);
    w->nhops = get_u32(r);
    /* Each hop is two strings of at least 4 bytes each. */
    if (r->bad || w->nhops > LT_WHY_MAX_HOPS_WIRE || w->nhops > (r->len - r->pos) / 8) {
        r->bad = 1;
        w->nhops = 0;
        return;
    }
    w->hop_text = msg_alloc(r->m, sizeof(char *) * (w->nhops ? w->nhops : 1));
    w->hop_type = msg_alloc(r->m, sizeof(char *) * (w->nhops ? w->nhops : 1));
    if (w->hop_text == NULL || w->hop_type == NULL) {
        r->bad = 1;
        w->nhops = 0;
        return;
    }
    for (uint32_t i = 0; i < w->nhops; i++) {
        w->hop_text[i] = get_str(r, NULL);
        w->hop_type[i] = get_str(r, NULL);
    }
}

static void
decode_memory(reader *r, lt_memory *mem)
{
    mem->seq = get_u32(r);
    mem->have = get_u32(r);
    mem->py_arenas = get_u64(r);
    mem->py_arena_bytes = get_u64(r);
    mem->py_used_bytes = get_u64(r);
    mem->py_free_block_bytes = get_u64(r);
    mem->py_free_pool_bytes = get_u64(r);
    mem->py_overhead_bytes = get_u64(r);
    mem->py_read_ns = get_u64(r);
    mem->py_age = get_u32(r);
    mem->heap_arena_bytes = get_u64(r);
    mem->heap_mmap_bytes = get_u64(r);
    mem->heap_used_bytes = get_u64(r);
    mem->heap_free_bytes = get_u64(r);
    mem->heap_releasable_bytes = get_u64(r);
    mem->heap_read_ns = get_u64(r);
    mem->vm_size = get_u64(r);
    mem->vm_data = get_u64(r);
    mem->rss_anon = get_u64(r);
    mem->rss_file = get_u64(r);
    mem->rss_shmem = get_u64(r);
    mem->vm_swap = get_u64(r);
}

#define TYPE_SITE_ROW_WIRE 24u

static void
decode_type_sites(reader *r, lt_type_sites_msg *ts)
{
    ts->name_id = get_u32(r);
    ts->instances = get_u64(r);
    ts->sampled = get_u64(r);
    ts->sample_interval_bytes = get_u64(r);
    ts->walk_us = get_u32(r);
    ts->note = get_str(r, NULL);
    ts->nrows = get_u32(r);
    if (r->bad || ts->nrows > LT_TYPE_SITES_MAX_WIRE ||
        ts->nrows > (r->len - r->pos) / TYPE_SITE_ROW_WIRE) {
        r->bad = 1;
        ts->nrows = 0;
        return;
    }
    ts->rows = msg_alloc(r->m, sizeof *ts->rows * (ts->nrows ? ts->nrows : 1));
    if (ts->rows == NULL) {
        r->bad = 1;
        ts->nrows = 0;
        return;
    }
    for (uint32_t i = 0; i < ts->nrows; i++) {
        ts->rows[i].trace_id = get_u32(r);
        ts->rows[i].live_bytes = get_u64(r);
        ts->rows[i].live_count = get_u64(r);
        ts->rows[i].samples = get_u32(r);
    }
    /* 1.1: what a sample of the instances owns; an older agent's answer ends here. */
    if (r->bad || r->len - r->pos < 16)
        return;
    ts->owned_sampled = get_u32(r);
    ts->owned_extra_bytes = get_u64(r);
    ts->owned_us = get_u32(r);
}

int
lt_decode(lt_msg *m, uint16_t type, uint16_t flags, const uint8_t *payload, uint32_t len)
{
    lt_msg_clear(m);
    m->type = type;
    m->flags = flags;
    if (len > LT_FRAME_MAX)
        return -1;
    reader r = {.p = payload, .len = len, .pos = 0, .bad = 0, .m = m};
    switch (type) {
    case LT_FRAME_HELLO:
        decode_hello(&r, &m->u.hello);
        break;
    case LT_FRAME_CLIENT_HELLO:
        get_magic(&r, &m->u.client_hello.major, &m->u.client_hello.minor);
        m->u.client_hello.client = get_str(&r, NULL);
        break;
    case LT_FRAME_STRING:
        m->u.string.id = get_u32(&r);
        m->u.string.text = get_str(&r, &m->u.string.len);
        break;
    case LT_FRAME_SAMPLE:
        decode_sample(&r, &m->u.sample);
        break;
    case LT_FRAME_DROPS:
        m->u.drops = get_u64(&r);
        break;
    case LT_FRAME_COMMAND:
        m->u.command.code = get_u16(&r);
        m->u.command.arg = get_u32(&r);
        break;
    case LT_FRAME_REPLY:
        m->u.reply.code = get_u16(&r);
        m->u.reply.status = (int32_t)get_u32(&r);
        m->u.reply.value = (int64_t)get_u64(&r);
        m->u.reply.message = get_str(&r, NULL);
        break;
    case LT_FRAME_BYE:
        m->u.bye.reason = get_u8(&r);
        m->u.bye.message = get_str(&r, NULL);
        break;
    case LT_FRAME_HISTORY_END:
        break;
    case LT_FRAME_TRACE:
        decode_trace(&r, &m->u.trace);
        break;
    case LT_FRAME_SITES:
        decode_sites(&r, &m->u.sites);
        break;
    case LT_FRAME_WHY:
        decode_why(&r, &m->u.why);
        break;
    case LT_FRAME_MARKER:
        m->u.marker.id = get_u32(&r);
        m->u.marker.seq = get_u32(&r);
        m->u.marker.wall_ns = get_u64(&r);
        m->u.marker.label = get_str(&r, NULL);
        break;
    case LT_FRAME_MEMORY:
        decode_memory(&r, &m->u.memory);
        break;
    case LT_FRAME_TYPE_SITES:
        decode_type_sites(&r, &m->u.type_sites);
        break;
    case LT_FRAME_REC_PROCESS:
        m->u.rec_process.pid = get_u32(&r);
        m->u.rec_process.ppid = get_u32(&r);
        m->u.rec_process.role = get_str(&r, NULL);
        if (m->u.rec_process.pid == 0)
            r.bad = 1;
        break;
    default:
        return 1;
    }
    return r.bad ? -1 : 0;
}

const char *
lt_frame_name(uint16_t type)
{
    switch (type) {
    case LT_FRAME_HELLO: return "hello";
    case LT_FRAME_CLIENT_HELLO: return "client-hello";
    case LT_FRAME_STRING: return "string";
    case LT_FRAME_SAMPLE: return "sample";
    case LT_FRAME_DROPS: return "drops";
    case LT_FRAME_COMMAND: return "command";
    case LT_FRAME_REPLY: return "reply";
    case LT_FRAME_BYE: return "bye";
    case LT_FRAME_HISTORY_END: return "history-end";
    case LT_FRAME_TRACE: return "trace";
    case LT_FRAME_SITES: return "sites";
    case LT_FRAME_WHY: return "why";
    case LT_FRAME_MARKER: return "marker";
    case LT_FRAME_MEMORY: return "memory";
    case LT_FRAME_TYPE_SITES: return "type-sites";
    case LT_FRAME_REC_PROCESS: return "rec-process";
    default: return "unknown";
    }
}
