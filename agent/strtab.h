/*
 * Interned strings (type names now; file and function names later). Each distinct string gets a
 * dense id, sent to clients once in a STRING frame before any frame uses it. Bounded: past
 * LT_STRTAB_MAX_BYTES or LT_STRTAB_MAX_IDS every new string maps to LT_STRTAB_OVERFLOW_ID, and
 * the refusals are counted. Not thread-safe: only the agent thread touches it.
 */
#ifndef LEAKTOP_STRTAB_H
#define LEAKTOP_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#define LT_STRTAB_MAX_IDS (1u << 18)
#define LT_STRTAB_MAX_BYTES (8u << 20)
#define LT_STRTAB_OVERFLOW_ID 0u /* id 0 is always "(string table full)" */

typedef struct lt_strtab {
    char **text;       /* id -> NUL-terminated text */
    uint32_t *len;     /* id -> length */
    uint32_t n, cap;   /* ids in use, capacity of text[] */
    uint32_t *slots;   /* open addressing: id+1, 0 empty */
    uint32_t nslots;   /* power of two */
    size_t bytes;      /* text bytes held */
    uint64_t refused;  /* strings refused because the table was full */
} lt_strtab;

/* Returns 0, or -1 when out of memory. */
int lt_strtab_init(lt_strtab *t);
void lt_strtab_free(lt_strtab *t);
/* The id of s[0..n), adding it if new. *added is set to 1 when it was added (the caller then
 * announces it to clients). Never fails: when full or out of memory it returns
 * LT_STRTAB_OVERFLOW_ID. */
uint32_t lt_strtab_intern(lt_strtab *t, const char *s, size_t n, int *added);

#endif
