/* The C heap, the kernel's view of the process, and pymalloc's report parsed. */
#define _GNU_SOURCE
#include "mem_stats.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
lt_mem_stats_malloc(lt_memory *mem)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    uint64_t t0 = mono_ns();
    struct mallinfo2 mi = mallinfo2();
    if (mi.arena == 0 && mi.hblkhd == 0)
        return -1; /* another malloc was preloaded (jemalloc, a sanitizer): glibc's is unused */
    mem->heap_read_ns = mono_ns() - t0;
    mem->heap_arena_bytes = mi.arena;
    mem->heap_mmap_bytes = mi.hblkhd;
    mem->heap_used_bytes = mi.uordblks;
    mem->heap_free_bytes = mi.fordblks;
    mem->heap_releasable_bytes = mi.keepcost;
    mem->have |= LT_MEM_HAVE_MALLOC;
    return 0;
#elif defined(__GLIBC__)
    /* The old interface counts in int: right below 2 GiB, wrapped above. Better than nothing on
     * an old system, and said so in docs/protocol.md. */
    uint64_t t0 = mono_ns();
    struct mallinfo mi = mallinfo();
    if (mi.arena == 0 && mi.hblkhd == 0)
        return -1;
    mem->heap_read_ns = mono_ns() - t0;
    mem->heap_arena_bytes = (uint32_t)mi.arena;
    mem->heap_mmap_bytes = (uint32_t)mi.hblkhd;
    mem->heap_used_bytes = (uint32_t)mi.uordblks;
    mem->heap_free_bytes = (uint32_t)mi.fordblks;
    mem->heap_releasable_bytes = (uint32_t)mi.keepcost;
    mem->have |= LT_MEM_HAVE_MALLOC;
    return 0;
#else
    (void)mem;
    return -1;
#endif
}

/* "Name:   1234 kB" in buf, in bytes; 0 when absent (kernels before 4.5 have no RssAnon). */
static uint64_t
kib_field(const char *buf, const char *name)
{
    const char *p = strstr(buf, name);
    if (p == NULL)
        return 0;
    return strtoull(p + strlen(name), NULL, 10) * 1024u;
}

int
lt_mem_stats_status(lt_memory *mem, const char *status_path)
{
    int fd = open(status_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[8192];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof buf - 1 && (got = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)got;
    close(fd);
    if (n == 0)
        return -1;
    buf[n] = '\0';
    mem->vm_size = kib_field(buf, "\nVmSize:");
    mem->vm_data = kib_field(buf, "\nVmData:");
    mem->rss_anon = kib_field(buf, "\nRssAnon:");
    mem->rss_file = kib_field(buf, "\nRssFile:");
    mem->rss_shmem = kib_field(buf, "\nRssShmem:");
    mem->vm_swap = kib_field(buf, "\nVmSwap:");
    mem->have |= LT_MEM_HAVE_STATUS;
    return 0;
}

/* ---- pymalloc's report -------------------------------------------------------------------- */

/* The number after the '=' of a line, commas skipped. Returns 0, or -1 when there is none. */
static int
value_after_equals(const char *line, const char *end, uint64_t *out)
{
    const char *eq = memchr(line, '=', (size_t)(end - line));
    if (eq == NULL)
        return -1;
    uint64_t v = 0;
    int digits = 0;
    for (const char *p = eq + 1; p < end; p++) {
        if (*p >= '0' && *p <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*p - '0');
            digits++;
        } else if (*p != ',' && *p != ' ') {
            return -1;
        }
    }
    if (digits == 0)
        return -1;
    *out = v;
    return 0;
}

/* Does line (up to end) contain s? */
static int
has(const char *line, const char *end, const char *s)
{
    return memmem(line, (size_t)(end - line), s, strlen(s)) != NULL;
}

int
lt_mem_stats_parse_pymalloc(const char *text, size_t len, lt_memory *mem)
{
    enum { ARENAS, ARENA_BYTES, USED, FREE_BLOCKS, FREE_POOLS, HEADERS, QUANT, ALIGN, TOTAL, N };
    static const char *const keys[N] = {
        "# arenas allocated current", "bytes/arena", "# bytes in allocated blocks",
        "# bytes in available blocks", "unused pools *", "# bytes lost to pool headers",
        "# bytes lost to quantization", "# bytes lost to arena alignment", "Total",
    };
    uint64_t v[N] = {0};
    int seen[N] = {0};
    const char *p = text, *stop = text + len;
    /* The first "Total" closes the pymalloc section; what follows (the arena map in 3.10+) is
     * the allocator's bookkeeping, not its arenas. */
    while (p < stop && !seen[TOTAL]) {
        const char *eol = memchr(p, '\n', (size_t)(stop - p));
        if (eol == NULL)
            eol = stop;
        for (int k = 0; k < N; k++) {
            if (seen[k] || !has(p, eol, keys[k]))
                continue;
            if (k == TOTAL && (eol - p < 5 || memcmp(p, "Total", 5) != 0))
                continue;
            if (value_after_equals(p, eol, &v[k]) == 0)
                seen[k] = 1;
            break;
        }
        p = eol + 1;
    }
    for (int k = 0; k < N; k++)
        if (!seen[k])
            return -1;
    /* pymalloc's own check: every byte of its arenas is in exactly one of the parts. */
    uint64_t parts = v[USED] + v[FREE_BLOCKS] + v[FREE_POOLS] + v[HEADERS] + v[QUANT] + v[ALIGN];
    if (parts != v[TOTAL] || v[TOTAL] != v[ARENA_BYTES])
        return -1;
    mem->py_arenas = v[ARENAS];
    mem->py_arena_bytes = v[ARENA_BYTES];
    mem->py_used_bytes = v[USED];
    mem->py_free_block_bytes = v[FREE_BLOCKS];
    mem->py_free_pool_bytes = v[FREE_POOLS];
    mem->py_overhead_bytes = v[HEADERS] + v[QUANT] + v[ALIGN];
    return 0;
}
