/* Counted allocations: a 16-byte header before each block holds its size. */
#include "leaktop/mem.h"

#include <stdlib.h>
#include <string.h>

#define HDR 16u

static uint64_t in_use;   /* atomic: bytes held, headers included */
static long fail_countdown; /* atomic: 0 disabled; otherwise fail when it reaches 1 */

static int
should_fail(void)
{
    long n = __atomic_load_n(&fail_countdown, __ATOMIC_RELAXED);
    if (n <= 0)
        return 0;
    return __atomic_sub_fetch(&fail_countdown, 1, __ATOMIC_RELAXED) == 0;
}

void *
lt_malloc(size_t n)
{
    if (n > SIZE_MAX - HDR || should_fail())
        return NULL;
    unsigned char *p = malloc(n + HDR);
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof n);
    __atomic_add_fetch(&in_use, n + HDR, __ATOMIC_RELAXED);
    return p + HDR;
}

void *
lt_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    void *p = lt_malloc(count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

void *
lt_realloc(void *old, size_t n)
{
    if (old == NULL)
        return lt_malloc(n);
    if (n > SIZE_MAX - HDR || should_fail())
        return NULL;
    unsigned char *base = (unsigned char *)old - HDR;
    size_t oldn;
    memcpy(&oldn, base, sizeof oldn);
    unsigned char *p = realloc(base, n + HDR);
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof n);
    __atomic_add_fetch(&in_use, n, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&in_use, oldn, __ATOMIC_RELAXED);
    return p + HDR;
}

void
lt_free(void *p)
{
    if (p == NULL)
        return;
    unsigned char *base = (unsigned char *)p - HDR;
    size_t n;
    memcpy(&n, base, sizeof n);
    __atomic_sub_fetch(&in_use, n + HDR, __ATOMIC_RELAXED);
    free(base);
}

char *
lt_strndup(const char *s, size_t n)
{
    char *d = lt_malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *
lt_strdup(const char *s)
{
    return lt_strndup(s, strlen(s));
}

uint64_t
lt_mem_in_use(void)
{
    return __atomic_load_n(&in_use, __ATOMIC_RELAXED);
}

void
lt_mem_fail_after(long n)
{
    __atomic_store_n(&fail_countdown, n, __ATOMIC_RELAXED);
}

void
lt_mem_reset_after_fork(void)
{
    __atomic_store_n(&in_use, 0, __ATOMIC_RELAXED);
}
