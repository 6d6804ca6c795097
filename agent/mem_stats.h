/*
 * Where the host's memory goes, measured rather than guessed (the MEMORY frame of the protocol):
 * glibc's own accounting of the C heap (mallinfo2), the kernel's figures of the process
 * (/proc/self/status), and a parser for the text CPython's small-object allocator prints about
 * itself (_PyObject_DebugMallocStats). Plain C with no Python in it: the binding
 * (py_memstats.c) produces that text, the agent thread reads the rest.
 */
#ifndef LEAKTOP_MEM_STATS_H
#define LEAKTOP_MEM_STATS_H

#include <stddef.h>

#include "leaktop/proto.h"

/* Fill mem's heap_* fields from mallinfo2() (mallinfo() before glibc 2.33), with the time it
 * took in heap_read_ns, and set LT_MEM_HAVE_MALLOC. mallinfo2 takes each malloc arena's lock
 * in turn and walks its free lists: microseconds for a typical heap. Returns 0, or -1 without
 * glibc, or when glibc's malloc holds nothing at all because another one was preloaded
 * (jemalloc, tcmalloc, a sanitizer's): nothing set then. */
int lt_mem_stats_malloc(lt_memory *mem);

/* Fill vm_size, vm_data, rss_anon, rss_file, rss_shmem and vm_swap from status_path
 * (/proc/self/status; another path in tests) and set LT_MEM_HAVE_STATUS. Returns 0, or -1
 * when the file cannot be read (nothing set). No allocation. */
int lt_mem_stats_status(lt_memory *mem, const char *status_path);

/* Parse the pymalloc section of _PyObject_DebugMallocStats's text (CPython 3.8 to 3.13 print
 * it alike: "# arenas allocated current = 12", "12 arenas * 262144 bytes/arena = 3,145,728",
 * "# bytes in allocated blocks = ..."): fill py_arenas, py_arena_bytes, py_used_bytes,
 * py_free_block_bytes, py_free_pool_bytes and py_overhead_bytes. Returns 0, or -1 when a
 * figure is missing or the parts do not add up to the arenas' size (nothing set then). */
int lt_mem_stats_parse_pymalloc(const char *text, size_t len, lt_memory *mem);

#endif
