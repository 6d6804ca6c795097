/*
 * Counted memory: every allocation the agent makes goes through these, so it can report its own
 * footprint ("agent_bytes") and tests can prove it stays bounded. Clients use them too.
 * They never call Python's allocators, so they are safe inside allocator hooks and while the
 * census walks the heap (no garbage collection can be triggered).
 */
#ifndef LEAKTOP_MEM_H
#define LEAKTOP_MEM_H

#include <stddef.h>
#include <stdint.h>

/* malloc/calloc/realloc/free with a byte count. They return NULL when memory runs out (never
 * abort); lt_free(NULL) is a no-op. */
void *lt_malloc(size_t n);
void *lt_calloc(size_t count, size_t size);
void *lt_realloc(void *p, size_t n);
void lt_free(void *p);
/* A counted copy of s, or NULL when out of memory. */
char *lt_strdup(const char *s);
char *lt_strndup(const char *s, size_t n);

/* Bytes currently held through the functions above, all threads together. */
uint64_t lt_mem_in_use(void);

/* In a forked child: start counting from zero. What the parent held is abandoned, never freed
 * by the child, so it no longer counts as the child agent's memory. */
void lt_mem_reset_after_fork(void);

/* Test hook: make the n-th allocation from now fail (0 disables). Lets tests prove every
 * out-of-memory path is handled. */
void lt_mem_fail_after(long n);

#endif
