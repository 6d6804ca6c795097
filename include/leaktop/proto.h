/*
 * leaktop wire protocol: the one definition both the agent and every client use.
 *
 * A connection carries frames in both directions. Every frame is an 8-byte header followed by
 * its payload, all integers little-endian:
 *
 *     u32 length   payload bytes after the header, at most LT_FRAME_MAX
 *     u16 type     enum lt_frame_type; a reader skips types it does not know
 *     u16 flags    LT_FLAG_*; unknown bits are ignored
 *
 * Payloads are sequences of fixed-size integers and strings (u32 length + bytes, no NUL).
 * A newer sender may append fields at the end of a payload; a reader ignores trailing bytes it
 * does not understand. Removing or reordering fields needs a new LT_PROTO_MAJOR.
 * docs/protocol.md describes every frame; keep the two in step.
 */
#ifndef LEAKTOP_PROTO_H
#define LEAKTOP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define LT_PROTO_MAGIC "LKTP"
#define LT_PROTO_MAJOR 1
#define LT_PROTO_MINOR 2

#define LT_FRAME_HEADER 8u
#define LT_FRAME_MAX (8u * 1024u * 1024u) /* payload bytes; larger frames are a protocol error */
#define LT_STRING_MAX 65535u              /* bytes in one string field */
#define LT_GENERATIONS 3
#define LT_STRTAB_LIMIT (1u << 20) /* string ids are below this */

enum lt_frame_type {
    LT_FRAME_HELLO = 1,        /* agent -> client, first frame of a connection */
    LT_FRAME_CLIENT_HELLO = 2, /* client -> agent, first frame the client sends */
    LT_FRAME_STRING = 3,       /* agent -> client: interned string id -> text, before any use */
    LT_FRAME_SAMPLE = 4,       /* agent -> client: one census sample */
    LT_FRAME_DROPS = 5,        /* agent -> client: frames dropped for this client so far */
    LT_FRAME_COMMAND = 6,      /* client -> agent: a fixed command */
    LT_FRAME_REPLY = 7,        /* agent -> client: result of a command */
    LT_FRAME_BYE = 8,          /* agent -> client: the agent stops; the connection closes next */
    LT_FRAME_HISTORY_END = 9,  /* agent -> client: every history sample has been sent */
    LT_FRAME_TRACE = 10,       /* agent -> client: interned traceback id -> frames, before use */
    LT_FRAME_SITES = 11,       /* agent -> client: live allocation sites, after its SAMPLE */
    LT_FRAME_WHY = 12,         /* agent -> client: why a type's objects are alive (a reply) */
    LT_FRAME_MARKER = 13,      /* agent -> client: a marker on the timeline, for every viewer */
    LT_FRAME_MEMORY = 14,      /* agent -> client: where the memory goes, after its SAMPLE */
    LT_FRAME_TYPE_SITES = 15,  /* agent -> client: where a type's live instances were allocated */
    LT_FRAME_REC_PROCESS = 16, /* recordings only (v2): the frames after it come from process pid */
};

enum lt_frame_flag {
    LT_FLAG_HISTORY = 1u << 0, /* a SAMPLE taken before this client connected */
};

enum lt_command_code {
    LT_CMD_PING = 1,       /* reply only; proves the agent answers */
    LT_CMD_GC_COLLECT = 2, /* run gc.collect() in the host; reply carries objects collected */
    LT_CMD_STOP = 3,       /* stop the agent; the host goes on */
    LT_CMD_GET_TRACE = 4,  /* arg: trace id; the agent sends that TRACE frame again */
    LT_CMD_WHY_ALIVE = 5,  /* arg: STRING id of a type name; the agent answers with WHY */
    LT_CMD_MARKER = 6,     /* drop a marker at the current sample; every viewer gets MARKER */
    LT_CMD_TYPE_SITES = 7, /* arg: STRING id of a type name; the agent answers with TYPE_SITES */
};

enum lt_bye_reason {
    LT_BYE_STOPPED = 1, /* leaktop.stop() or LT_CMD_STOP */
    LT_BYE_EXITING = 2, /* the interpreter is exiting */
};

/* HELLO: who is on the other end of the socket. */
typedef struct lt_hello {
    uint16_t major, minor;
    uint32_t pid;
    uint32_t interval_ms;       /* census period */
    uint64_t start_wall_ns;     /* agent start, CLOCK_REALTIME */
    uint32_t history_capacity;  /* samples the agent keeps for late joiners */
    const char *python_version; /* "3.11.7" */
    const char *agent_version;
    const char *executable;
    uint32_t argc;
    const char **argv; /* argc strings */
    /* Added in 1.1 (absent from older agents: 0): path prefixes of the interpreter's own
     * library (the standard library and where packages install), as the host names them, so a
     * viewer on another machine can tell the program's own frames from the library's. */
    uint32_t nlib;
    const char **lib_paths;
} lt_hello;

/* CLIENT_HELLO */
typedef struct lt_client_hello {
    uint16_t major, minor;
    const char *client; /* "leaktop check 0.1.0" */
} lt_client_hello;

/* One row of a census: the objects of one type name. */
typedef struct lt_type_row {
    uint32_t name_id; /* STRING id of "module.QualName" or the bare builtin name */
    uint64_t count;   /* live GC-tracked objects */
    uint64_t bytes;   /* their shallow size */
} lt_type_row;

/* One type's estimate between censuses (1.2): what the allocation sampler's live samples of
 * that type add to (or take from) the last census's count and bytes since it completed. */
typedef struct lt_est_row {
    uint32_t name_id;
    int64_t count_delta, bytes_delta;
    uint64_t count_sd; /* one standard deviation of count_delta (sampling noise) */
    uint64_t unsampled; /* objects that census counted beyond what the sampler held of the type
                         * then (allocated before it started): their deaths are invisible, so
                         * the true count may be lower by up to this much */
} lt_est_row;

#define LT_EST_MAX_WIRE 4096u /* estimate rows in one SAMPLE */

/* SAMPLE: one census. types[] is every type when types_complete, otherwise the top rows only
 * (history samples are trimmed to keep the agent's memory bounded). */
typedef struct lt_sample {
    uint32_t seq;
    uint64_t wall_ns, mono_ns;
    uint64_t rss_bytes, rss_peak_bytes;
    uint64_t heap_bytes;      /* Python heap estimate */
    uint64_t census_ns;       /* time the census held the GIL */
    uint64_t tracked_objects; /* objects the census saw */
    uint64_t agent_bytes;     /* memory the agent itself holds */
    uint8_t gc_enabled;
    uint64_t gc_collections[LT_GENERATIONS];
    uint64_t gc_collected[LT_GENERATIONS];
    uint64_t gc_uncollectable[LT_GENERATIONS];
    uint64_t gc_garbage; /* len(gc.garbage) */
    uint32_t types_total; /* distinct type names in the census */
    uint8_t types_complete;
    uint32_t ntypes;
    lt_type_row *types;
    /* Since 1.1 (after the rows): the census behind types[] and what it cost. A census is done
     * in slices within a CPU budget, so on a big heap its counts are older than the sample. A
     * 1.0 sender's samples decode as counts taken at the sample itself, exact. */
    uint64_t counts_wall_ns, counts_mono_ns; /* when that census ended */
    uint8_t counts_exact;       /* 1: a whole census; 0: a part of it was skipped */
    uint64_t census_cpu_ns;     /* the agent thread's CPU time for it */
    uint64_t census_span_ns;    /* from its first slice to its last */
    uint64_t census_max_hold_ns; /* the longest single hold of the GIL in it */
    uint32_t census_slices, census_restarts;
    uint32_t budget_ppm;        /* the agent's CPU budget, of one core (10000: 1%); 0: unknown */
    /* Since 1.2 (after budget_ppm; none from older senders): estimates since that census from
     * the allocation sampler, for the types whose sampled blocks changed, largest |delta|
     * first. The figure to show is count + count_delta, marked as an estimate. */
    uint32_t nest;
    lt_est_row *est;
} lt_sample;

/* One frame of a traceback: where Python code was when it allocated. */
typedef struct lt_trace_frame {
    uint32_t file_id, func_id; /* STRING ids */
    uint32_t line;
} lt_trace_frame;

#define LT_TRACE_MAX_FRAMES 256u

/* TRACE: an interned traceback, newest frame first. */
typedef struct lt_trace {
    uint32_t id;
    uint32_t nframes;
    lt_trace_frame *frames;
    uint8_t truncated; /* the stack was deeper than the agent's frame limit */
} lt_trace;

/* A live allocation site aggregated by whole traceback. Estimates are unbiased: each sampled
 * block stands for the bytes and blocks the sampling interval implies. */
typedef struct lt_site_row {
    uint32_t trace_id;
    uint64_t live_bytes, live_count;
} lt_site_row;

/* The same, aggregated by the top frame (file:line in function). trace_id names the traceback
 * holding the most live bytes at that line, for drill-down. */
typedef struct lt_line_row {
    uint32_t file_id, func_id, line;
    uint32_t trace_id;
    uint64_t live_bytes, live_count;
} lt_line_row;

/* SITES: the sampler's view at one census, sent right after the SAMPLE with the same seq. */
typedef struct lt_sites {
    uint32_t seq;
    uint64_t sample_interval_bytes; /* mean bytes between samples */
    uint64_t heap_live_bytes;       /* estimated live bytes of all sampled allocations */
    uint64_t heap_live_count;       /* estimated live blocks */
    uint64_t live_samples;          /* sampled blocks being tracked */
    uint64_t dropped_samples;       /* samples not tracked: table full (counted, not hidden) */
    uint64_t evicted_traces;        /* tracebacks evicted from the agent's bounded table */
    uint32_t traces_total;          /* distinct live tracebacks */
    uint32_t nsites;
    lt_site_row *sites;  /* top by live bytes */
    uint32_t nlines;
    lt_line_row *lines;  /* top by live bytes */
} lt_sites;

#define LT_WHY_MAX_HOPS_WIRE 64u
#define LT_HELLO_MAX_LIB 64u /* library path prefixes in a HELLO */

/* WHY: a chain of references from a root down to a live object of a type. hop_text joined is a
 * Python expression ("__main__.bus" ".handlers" "[12]" ".__self__"); hop_type names what each
 * hop reaches. */
typedef struct lt_why_msg {
    uint32_t name_id;       /* the type asked about */
    uint8_t found;          /* 1: the chain reaches a root */
    uint32_t levels;        /* levels searched */
    uint32_t max_pause_us;  /* the longest the host was held (one level's walk) */
    uint32_t total_us;      /* the whole search */
    uint64_t instances;     /* live instances when the search began */
    const char *note;       /* why nothing was found, or "" */
    uint32_t nhops;
    const char **hop_text, **hop_type;
} lt_why_msg;

/* MARKER: a point on the timeline a viewer asked every viewer to see. */
typedef struct lt_marker_msg {
    uint32_t id;      /* 1, 2, ... per agent */
    uint32_t seq;     /* the newest sample when it was dropped */
    uint64_t wall_ns;
    const char *label; /* "marker 2 from leaktop tui 0.1.0" */
} lt_marker_msg;

/* REC_PROCESS: written by `leaktop record` between the streams of a program's processes, never
 * sent by an agent. The frames after it, up to the next REC_PROCESS, are pid's own stream. */
typedef struct lt_rec_process_msg {
    uint32_t pid, ppid;
    const char *role; /* "main", "worker", "forkserver", "resource tracker" */
} lt_rec_process_msg;

/* MEMORY: the process's memory by who holds it, measured in the agent right after a census
 * (sent after the SAMPLE with the same seq, and its SITES). A part the agent could not measure
 * has its LT_MEM_HAVE_* bit clear and zeros. */
enum lt_memory_have {
    LT_MEM_HAVE_PYMALLOC = 1u << 0, /* Python's small-object allocator was read */
    LT_MEM_HAVE_MALLOC = 1u << 1,   /* glibc's mallinfo2() */
    LT_MEM_HAVE_STATUS = 1u << 2,   /* /proc/self/status */
};

typedef struct lt_memory {
    uint32_t seq;
    uint32_t have;                  /* LT_MEM_HAVE_* */
    /* pymalloc: objects of at most 512 bytes live in its arenas (mmap'd, outside malloc) */
    uint64_t py_arenas;             /* arenas allocated now */
    uint64_t py_arena_bytes;        /* their bytes */
    uint64_t py_used_bytes;         /* in allocated blocks: the small objects in use */
    uint64_t py_free_block_bytes;   /* free blocks in pools in use */
    uint64_t py_free_pool_bytes;    /* empty pools in the arenas */
    uint64_t py_overhead_bytes;     /* pool headers, size-class rounding, arena alignment */
    uint64_t py_read_ns;            /* what the last reading cost (the GIL held) */
    uint32_t py_age;                /* samples since that reading; 0: this one */
    /* glibc malloc: C code, and Python's blocks of more than 512 bytes */
    uint64_t heap_arena_bytes;      /* arena: obtained for its arenas (brk and mmap'd heaps) */
    uint64_t heap_mmap_bytes;       /* hblkhd: large blocks mmap'd one by one, all in use */
    uint64_t heap_used_bytes;       /* uordblks: in use in the arenas */
    uint64_t heap_free_bytes;       /* fordblks: free in the arenas */
    uint64_t heap_releasable_bytes; /* keepcost: free at the top, malloc_trim could return */
    uint64_t heap_read_ns;
    /* the kernel's view (/proc/self/status) */
    uint64_t vm_size, vm_data;      /* address space, and its data part (RLIMIT_AS, _DATA) */
    uint64_t rss_anon, rss_file, rss_shmem, vm_swap;
} lt_memory;

#define LT_TYPE_SITES_MAX_WIRE 64u

/* One allocation site of a type's live instances: the traceback (a TRACE id, as SITES uses)
 * and the sampler's estimate of the bytes and number of those instances allocated there. */
typedef struct lt_type_site_row {
    uint32_t trace_id;
    uint64_t live_bytes, live_count;
    uint32_t samples; /* sampled instances behind the estimate */
} lt_type_site_row;

/* TYPE_SITES: the answer to LT_CMD_TYPE_SITES. The agent walks the GC-tracked instances of the
 * type and looks each one's memory block up among the sampler's live samples. */
typedef struct lt_type_sites_msg {
    uint32_t name_id;               /* the type asked about */
    uint64_t instances;             /* live GC-tracked instances walked */
    uint64_t sampled;               /* of them, blocks the sampler holds */
    uint64_t sample_interval_bytes; /* the sampler's mean interval now; 0: it is off */
    uint32_t walk_us;               /* how long the host was held */
    const char *note;               /* why there are no rows, or "" */
    uint32_t nrows;
    lt_type_site_row *rows;         /* by live bytes, most first */
    /* Added in 1.1 (0 from older agents): what a bounded sample of the instances owns beyond
     * the census's shallow size, by their own __sizeof__ plus the pre-header (an ndarray's or
     * a bytearray's buffer; a list's item array is in the shallow size already). */
    uint32_t owned_sampled;         /* instances measured */
    uint64_t owned_extra_bytes;     /* what they own beyond their shallow size, in all */
    uint32_t owned_us;              /* how long measuring them held the host */
} lt_type_sites_msg;

typedef struct lt_command {
    uint16_t code;
    uint32_t arg;
} lt_command;

typedef struct lt_reply {
    uint16_t code;
    int32_t status; /* 0 ok, negative error */
    int64_t value;  /* command-specific result */
    const char *message;
} lt_reply;

typedef struct lt_bye {
    uint8_t reason;
    const char *message;
} lt_bye;

/* A decoded frame. Strings and arrays point into decoder-owned memory that stays valid until
 * the next lt_msg_clear() on the same message. */
typedef struct lt_msg {
    uint16_t type, flags;
    union {
        lt_hello hello;
        lt_client_hello client_hello;
        struct {
            uint32_t id;
            const char *text;
            uint32_t len;
        } string;
        lt_sample sample;
        uint64_t drops;
        lt_command command;
        lt_reply reply;
        lt_bye bye;
        lt_trace trace;
        lt_sites sites;
        lt_why_msg why;
        lt_marker_msg marker;
        lt_memory memory;
        lt_type_sites_msg type_sites;
        lt_rec_process_msg rec_process;
    } u;
    void *arena; /* owned allocations, freed by lt_msg_clear */
} lt_msg;

/* ---- writing ---------------------------------------------------------------------------- */

/* A growable byte buffer. alloc/free let the agent count its own memory. */
typedef struct lt_buf {
    uint8_t *data;
    size_t len, cap;
    int failed; /* set once an allocation failed; every later put is ignored */
} lt_buf;

void lt_buf_init(lt_buf *b);
void lt_buf_free(lt_buf *b);
/* Make room for n more bytes. Returns 0, or -1 (and sets b->failed) when memory runs out. */
int lt_buf_reserve(lt_buf *b, size_t n);
void lt_buf_put(lt_buf *b, const void *p, size_t n);
void lt_put_u8(lt_buf *b, uint8_t v);
void lt_put_u16(lt_buf *b, uint16_t v);
void lt_put_u32(lt_buf *b, uint32_t v);
void lt_put_u64(lt_buf *b, uint64_t v);
/* A string field; text longer than LT_STRING_MAX is cut there. NULL is sent as "". */
void lt_put_str(lt_buf *b, const char *s);
void lt_put_strn(lt_buf *b, const char *s, size_t n);

/* Start a frame: writes a header whose length lt_frame_end() fills in. Returns the offset of the
 * frame within b, to pass to lt_frame_end. */
size_t lt_frame_begin(lt_buf *b, uint16_t type, uint16_t flags);
/* Finish the frame begun at off. Returns 0, or -1 when the payload exceeds LT_FRAME_MAX or an
 * allocation failed; the frame is then removed from b. */
int lt_frame_end(lt_buf *b, size_t off);

/* Whole-frame encoders: append one complete frame to b. Return 0 or -1 (frame not appended). */
int lt_encode_hello(lt_buf *b, const lt_hello *h);
int lt_encode_client_hello(lt_buf *b, const lt_client_hello *h);
int lt_encode_string(lt_buf *b, uint32_t id, const char *text, size_t len);
/* Encodes at most max_rows of s->types (all when max_rows is 0); types_complete is sent as given
 * unless rows are cut, then as 0. */
int lt_encode_sample(lt_buf *b, const lt_sample *s, uint16_t flags, uint32_t max_rows);
int lt_encode_drops(lt_buf *b, uint64_t drops);
int lt_encode_command(lt_buf *b, uint16_t code, uint32_t arg);
int lt_encode_reply(lt_buf *b, const lt_reply *r);
int lt_encode_bye(lt_buf *b, uint8_t reason, const char *message);
int lt_encode_empty(lt_buf *b, uint16_t type);
int lt_encode_trace(lt_buf *b, const lt_trace *t);
int lt_encode_why(lt_buf *b, const lt_why_msg *w);
int lt_encode_marker(lt_buf *b, const lt_marker_msg *mk);
int lt_encode_rec_process(lt_buf *b, const lt_rec_process_msg *p);
int lt_encode_memory(lt_buf *b, const lt_memory *mem, uint16_t flags);
/* At most LT_TYPE_SITES_MAX_WIRE rows. */
int lt_encode_type_sites(lt_buf *b, const lt_type_sites_msg *ts);
/* At most max_sites / max_lines rows of each list (all when 0). */
int lt_encode_sites(lt_buf *b, const lt_sites *s, uint16_t flags, uint32_t max_sites,
                    uint32_t max_lines);

/* ---- reading ---------------------------------------------------------------------------- */

/* Splits a byte stream into frames. Feed it whatever arrived; take frames out with
 * lt_framer_next. It never trusts a length it has not checked against LT_FRAME_MAX. */
typedef struct lt_framer {
    lt_buf in;
    size_t off; /* start of the unconsumed bytes in in.data */
    int error;  /* sticky: LT_FRAMER_* */
} lt_framer;

enum { LT_FRAMER_OK = 0, LT_FRAMER_TOO_BIG = 1, LT_FRAMER_NOMEM = 2 };

void lt_framer_init(lt_framer *f);
void lt_framer_free(lt_framer *f);
/* Append received bytes. Returns 0, or -1 when out of memory (f->error set). */
int lt_framer_feed(lt_framer *f, const void *p, size_t n);
/* Next complete frame: returns 1 and sets *type, *flags, *payload (valid until the next feed or
 * next call), *len; 0 when more bytes are needed; -1 on a fatal stream error (f->error says
 * which). */
int lt_framer_next(lt_framer *f, uint16_t *type, uint16_t *flags, const uint8_t **payload,
                   uint32_t *len);
/* Bytes held that do not yet form a complete frame. */
size_t lt_framer_pending(const lt_framer *f);

/* Decode one payload of a known type into m. Returns 0 on success; 1 when the type is unknown
 * (m->type set, nothing else: skip it); -1 when the payload is malformed (truncated, bad
 * magic, oversized counts). m must be lt_msg_clear()ed after any return. */
int lt_decode(lt_msg *m, uint16_t type, uint16_t flags, const uint8_t *payload, uint32_t len);
void lt_msg_clear(lt_msg *m);

/* Human name of a frame type, "unknown" for others. */
const char *lt_frame_name(uint16_t type);

#endif
