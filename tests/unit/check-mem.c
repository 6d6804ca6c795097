/* common/mem.c: counted allocations and the out-of-memory test hook. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "leaktop/proto.h"

START_TEST(test_in_use_up_and_back)
{
    uint64_t base = lt_mem_in_use();
    char *a = lt_malloc(100);
    ck_assert_ptr_nonnull(a);
    uint64_t after_a = lt_mem_in_use();
    ck_assert_uint_ge(after_a, base + 100);
    memset(a, 'a', 100); /* the whole block is usable (ASan would object otherwise) */

    char *b = lt_calloc(10, 30);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 300; i++)
        ck_assert_int_eq(b[i], 0);
    ck_assert_uint_ge(lt_mem_in_use(), after_a + 300);

    /* realloc counts the difference and keeps the contents. */
    uint64_t before_grow = lt_mem_in_use();
    a = lt_realloc(a, 5000);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(lt_mem_in_use(), before_grow + 4900);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(a[i], 'a');
    a = lt_realloc(a, 10);
    ck_assert_uint_eq(lt_mem_in_use(), before_grow - 90);

    char *c = lt_strdup("leaktop");
    ck_assert_str_eq(c, "leaktop");
    char *d = lt_strndup("leaktop", 4);
    ck_assert_str_eq(d, "leak");
    char *e = lt_realloc(NULL, 64); /* realloc of NULL is malloc */
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_gt(lt_mem_in_use(), base);

    lt_free(a);
    lt_free(b);
    lt_free(c);
    lt_free(d);
    lt_free(e);
    lt_free(NULL);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_zero_size)
{
    uint64_t base = lt_mem_in_use();
    void *p = lt_malloc(0);
    ck_assert_ptr_nonnull(p);
    lt_free(p);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_impossible_sizes)
{
    uint64_t base = lt_mem_in_use();
    ck_assert_ptr_null(lt_malloc(SIZE_MAX));
    ck_assert_ptr_null(lt_malloc(SIZE_MAX - 8));
    ck_assert_ptr_null(lt_calloc(SIZE_MAX / 2, 3)); /* count * size overflows */
    void *p = lt_malloc(8);
    ck_assert_ptr_nonnull(p);
    uint64_t held = lt_mem_in_use();
    ck_assert_ptr_null(lt_realloc(p, SIZE_MAX));
    ck_assert_uint_eq(lt_mem_in_use(), held); /* the old block is still there, still counted */
    lt_free(p);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_fail_after_nth)
{
    uint64_t base = lt_mem_in_use();
    lt_mem_fail_after(3);
    void *a = lt_malloc(10);
    void *b = lt_calloc(1, 10);
    void *c = lt_malloc(10); /* the third: fails */
    void *d = lt_malloc(10); /* the hook fires once, then is off */
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(d);
    lt_free(a);
    lt_free(b);
    lt_free(d);
    ck_assert_uint_eq(lt_mem_in_use(), base);

    /* realloc and strdup go through the hook as well; a failed realloc keeps the old block. */
    char *s = lt_strdup("abc");
    lt_mem_fail_after(1);
    ck_assert_ptr_null(lt_realloc(s, 1000));
    ck_assert_str_eq(s, "abc");
    lt_mem_fail_after(1);
    ck_assert_ptr_null(lt_strdup("x"));
    lt_mem_fail_after(1);
    ck_assert_ptr_null(lt_strndup("xyz", 2));
    lt_free(s);

    /* 0 disables a pending failure. */
    lt_mem_fail_after(1);
    lt_mem_fail_after(0);
    void *e = lt_malloc(1);
    ck_assert_ptr_nonnull(e);
    lt_free(e);
    ck_assert_uint_eq(lt_mem_in_use(), base);
}
END_TEST

START_TEST(test_buf_failed_flag)
{
    lt_buf b;
    lt_buf_init(&b);
    lt_put_u32(&b, 7);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_int_eq(b.failed, 0);

    /* The buffer holds 256 bytes: growing past it needs the allocation that fails. */
    static uint8_t big[1000];
    lt_mem_fail_after(1);
    lt_buf_put(&b, big, sizeof big);
    ck_assert_int_eq(b.failed, 1);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_uint_eq(b.data[0], 7); /* what was there is kept */

    /* Sticky: later puts are ignored, even small ones that would fit and with memory back. */
    lt_put_u8(&b, 1);
    lt_buf_put(&b, big, 10);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_int_eq(lt_buf_reserve(&b, 1), -1);
    lt_buf_free(&b);
    ck_assert_int_eq(b.failed, 0);
    ck_assert_ptr_null(b.data);

    /* A fresh buffer whose very first allocation fails. */
    lt_buf_init(&b);
    lt_mem_fail_after(1);
    ck_assert_int_eq(lt_buf_reserve(&b, 1), -1);
    ck_assert_int_eq(b.failed, 1);
    ck_assert_ptr_null(b.data);
    lt_buf_free(&b);

    /* An impossible reservation fails without allocating. */
    lt_buf_init(&b);
    lt_put_u8(&b, 1);
    ck_assert_int_eq(lt_buf_reserve(&b, SIZE_MAX), -1);
    ck_assert_int_eq(b.failed, 1);
    lt_buf_free(&b);
}
END_TEST

/* In a forked child the count starts again from zero and frees from then on balance. */
START_TEST(test_reset_after_fork)
{
    void *held = lt_malloc(1000);
    ck_assert_uint_gt(lt_mem_in_use(), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        lt_mem_reset_after_fork();
        int ok = lt_mem_in_use() == 0;
        void *p = lt_malloc(10);
        ok = ok && lt_mem_in_use() > 0;
        lt_free(p);
        ok = ok && lt_mem_in_use() == 0;
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    ck_assert_uint_gt(lt_mem_in_use(), 0); /* the parent's count is its own */
    lt_free(held);
}
END_TEST

static Suite *
mem_suite(void)
{
    Suite *s = suite_create("mem");
    TCase *tc = lt_test_tcase(s, "mem");
    tcase_add_test(tc, test_in_use_up_and_back);
    tcase_add_test(tc, test_zero_size);
    tcase_add_test(tc, test_impossible_sizes);
    tcase_add_test(tc, test_fail_after_nth);
    tcase_add_test(tc, test_buf_failed_flag);
    tcase_add_test(tc, test_reset_after_fork);
    return s;
}

int
main(void)
{
    return lt_test_run(mem_suite());
}
