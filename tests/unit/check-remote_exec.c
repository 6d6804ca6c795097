/* tui/remote_exec.c: finding a section of a mapped ELF file, and the PEP 768 request written
 * through process_vm_readv/process_vm_writev, against a _PyRuntime of our own (this process is
 * the target: the same system calls, the same checks, no Python needed). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/remote_exec.h"

/* A fake runtime with the 3.14 table (offsets as Include/internal/pycore_debug_offsets.h
 * places them), and an interpreter and two thread states of made-up layouts, which the table
 * describes. */
#define T_SIZE 4096
typedef struct fake_tstate {
    uint64_t pad0;
    uint64_t next;       /* 8 */
    uint64_t native_tid; /* 16 */
    uint64_t eval_breaker; /* 24 */
    unsigned char pad1[272];
    int32_t pending;     /* 304 + 0 */
    char path[512];      /* 304 + 4 */
    unsigned char pad2[200];
} fake_tstate;

typedef struct fake_interp {
    uint64_t pad0, pad1;
    uint64_t threads_head; /* 16 */
    uint64_t threads_main; /* 24 */
    unsigned char pad2[68];
    int32_t enabled;       /* 100 */
    unsigned char pad3[256];
} fake_interp;

__attribute__((section(".PyRuntime"), used, aligned(64))) static unsigned char runtime[T_SIZE];
static fake_interp interp;
static fake_tstate ts_main, ts_other;

static void
put(unsigned at, uint64_t v)
{
    memcpy(runtime + at, &v, 8);
}

static void
setup_runtime(void)
{
    memset(runtime, 0, sizeof runtime);
    memset(&interp, 0, sizeof interp);
    memset(&ts_main, 0, sizeof ts_main);
    memset(&ts_other, 0, sizeof ts_other);
    memcpy(runtime, "xdebugpy", 8);
    put(8, 0x030e0af0);  /* 3.14.10 final */
    put(16, 0);          /* not free-threaded */
    put(24, T_SIZE);     /* runtime_state.size */
    put(32, 2000);       /* .finalizing */
    put(40, 2008);       /* .interpreters_head */
    put(48, sizeof(fake_interp));
    put(72, offsetof(fake_interp, threads_head));
    put(80, offsetof(fake_interp, threads_main));
    put(176, sizeof(fake_tstate));
    put(192, offsetof(fake_tstate, next));
    put(224, offsetof(fake_tstate, native_tid));
    put(712, offsetof(fake_tstate, eval_breaker));
    put(720, offsetof(fake_tstate, pending));
    put(728, offsetof(fake_interp, enabled));
    put(736, 0);
    put(744, offsetof(fake_tstate, path) - offsetof(fake_tstate, pending));
    put(752, sizeof ts_main.path);
    put(2008, (uint64_t)(uintptr_t)&interp);
    interp.enabled = 1;
    interp.threads_head = (uint64_t)(uintptr_t)&ts_other; /* newest first, as CPython links */
    interp.threads_main = (uint64_t)(uintptr_t)&ts_main;
    ts_other.next = (uint64_t)(uintptr_t)&ts_main;
    ts_other.native_tid = 4242;
    ts_main.native_tid = (uint64_t)getpid();
    ts_main.eval_breaker = 0x100 | 1; /* a version above the event bits, and one event bit */
}

static int
open_self(lt_rexec *r, int *kind, char **cause)
{
    return lt_rexec_open_at(r, getpid(), (uint64_t)(uintptr_t)runtime, kind, cause);
}

START_TEST(test_section_of_our_own_executable)
{
    /* The first mapping of our executable (offset 0), as /proc/self/maps shows it. */
    char exe[4096], line[8192];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = '\0';
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    unsigned long long start = 0;
    while (start == 0 && fgets(line, sizeof line, f)) {
        unsigned long long lo, off;
        int pos = 0;
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%llx-%*x %*s %llx %*s %*s %n", &lo, &off, &pos) >= 2 && pos > 0 &&
            off == 0 && strcmp(line + pos, exe) == 0)
            start = lo;
    }
    fclose(f);
    ck_assert_msg(start != 0, "no mapping of %s", exe);
    ck_assert_uint_eq(lt_rexec_elf_section(exe, start, ".PyRuntime"), (uintptr_t)runtime);
    ck_assert_uint_eq(lt_rexec_elf_section(exe, start, ".NoSuchSection"), 0);
    ck_assert_uint_eq(lt_rexec_elf_section("/proc/self/status", start, ".PyRuntime"), 0);
    ck_assert_uint_eq(lt_rexec_elf_section("/nonexistent", start, ".PyRuntime"), 0);
}
END_TEST

START_TEST(test_request_written)
{
    lt_rexec r;
    int kind = -1;
    char *cause = NULL;
    ck_assert_int_eq(open_self(&r, &kind, &cause), 0);
    ck_assert_ptr_null(cause);
    ck_assert_uint_eq(r.version, 0x030e0af0);
    ck_assert_uint_eq(r.interp, (uintptr_t)&interp);
    lt_rexec_thread th[8];
    int n = lt_rexec_threads(&r, th, 8, &kind, &cause);
    ck_assert_int_eq(n, 2);
    ck_assert_uint_eq(th[0].tstate, (uintptr_t)&ts_main); /* the main thread first */
    ck_assert_int_eq(th[0].main, 1);
    ck_assert_int_eq(th[0].tid, getpid());
    ck_assert_uint_eq(th[1].tstate, (uintptr_t)&ts_other);
    ck_assert_int_eq(th[1].tid, 4242);
    ck_assert_int_eq(lt_rexec_pending(&r, th[0].tstate), 0);
    ck_assert_int_eq(lt_rexec_send(&r, th[0].tstate, "/run/x/loader.py", &kind, &cause), 0);
    ck_assert_str_eq(ts_main.path, "/run/x/loader.py");
    ck_assert_int_eq(ts_main.pending, 1);
    ck_assert_uint_eq(ts_main.eval_breaker, 0x100 | 1 | (1u << 5)); /* only bit 5 added */
    ck_assert_int_eq(ts_other.pending, 0);
    ck_assert_int_eq(lt_rexec_pending(&r, th[0].tstate), 1);
    /* The thread takes it: the flag goes back to 0, nothing to withdraw. */
    ts_main.pending = 0;
    ck_assert_int_eq(lt_rexec_withdraw(&r, th[0].tstate), 0);
    /* Not taken: withdrawn. */
    ck_assert_int_eq(lt_rexec_send(&r, th[1].tstate, "/run/x/loader.py", &kind, &cause), 0);
    ck_assert_int_eq(ts_other.pending, 1);
    ck_assert_int_eq(lt_rexec_withdraw(&r, th[1].tstate), 1);
    ck_assert_int_eq(ts_other.pending, 0);
}
END_TEST

START_TEST(test_path_too_long)
{
    lt_rexec r;
    int kind = -1;
    char *cause = NULL;
    ck_assert_int_eq(open_self(&r, &kind, &cause), 0);
    char path[600];
    memset(path, 'a', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    ck_assert_int_eq(lt_rexec_send(&r, (uintptr_t)&ts_main, path, &kind, &cause), -1);
    ck_assert_int_eq(kind, LT_REXEC_FAILED);
    ck_assert_ptr_nonnull(strstr(cause, "too long"));
    ck_assert_int_eq(ts_main.pending, 0);
    ck_assert_uint_eq(ts_main.eval_breaker, 0x101);
    lt_free(cause);
}
END_TEST

/* Each refusal: its kind, its words, and nothing written. */
static void
refused(int want_kind, const char *words)
{
    lt_rexec r;
    int kind = -1;
    char *cause = NULL;
    ck_assert_int_eq(open_self(&r, &kind, &cause), -1);
    ck_assert_int_eq(kind, want_kind);
    ck_assert_ptr_nonnull(cause);
    ck_assert_msg(strstr(cause, words) != NULL, "%s: no \"%s\"", cause, words);
    ck_assert_int_eq(ts_main.pending, 0);
    ck_assert_uint_eq(ts_main.eval_breaker, 0x101);
    lt_free(cause);
}

START_TEST(test_refusals)
{
    interp.enabled = 0;
    refused(LT_REXEC_DISABLED, "does not allow remote debugging (PEP 768)");
    interp.enabled = 1;
    put(2000, 0x1234); /* _finalizing set */
    refused(LT_REXEC_NOT_READY, "finalizing");
    put(2000, 0);
    put(2008, 0);
    refused(LT_REXEC_NOT_READY, "no Python interpreter");
    put(2008, (uint64_t)(uintptr_t)&interp);
    put(16, 1);
    refused(LT_REXEC_UNSUPPORTED, "free-threaded");
    put(16, 0);
    put(8, 0x031000f0); /* 3.16: a layout not known here */
    refused(LT_REXEC_UNSUPPORTED, "Python 3.16");
    put(8, 0x030e0af0);
    put(752, 1u << 20); /* a script path size that cannot be: another layout */
    refused(LT_REXEC_UNSUPPORTED, "do not have the layout");
    put(752, sizeof ts_main.path);
    put(744, sizeof(fake_tstate)); /* the path outside the thread state */
    refused(LT_REXEC_UNSUPPORTED, "do not have the layout");
    put(744, 4);
    memcpy(runtime, "nodebugs", 8);
    refused(LT_REXEC_UNSUPPORTED, "no _Py_DebugOffsets");
}
END_TEST

START_TEST(test_thread_list_loop_ends)
{
    lt_rexec r;
    int kind = -1;
    char *cause = NULL;
    ck_assert_int_eq(open_self(&r, &kind, &cause), 0);
    ts_main.next = (uint64_t)(uintptr_t)&ts_other; /* a cycle, read while the program runs */
    lt_rexec_thread th[8];
    ck_assert_int_eq(lt_rexec_threads(&r, th, 8, &kind, &cause), 2);
}
END_TEST

START_TEST(test_gone)
{
    /* A process that has exited: no maps to read. */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    ck_assert_int_gt(child, 0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    lt_rexec r;
    int kind = -1;
    char *cause = NULL;
    ck_assert_int_eq(lt_rexec_open(&r, child, &kind, &cause), -1);
    ck_assert_int_eq(kind, LT_REXEC_GONE);
    lt_free(cause);
    /* And our own process: no file with "python" in its name maps a .PyRuntime. */
    ck_assert_int_eq(lt_rexec_open(&r, getpid(), &kind, &cause), -1);
    ck_assert_int_eq(kind, LT_REXEC_UNSUPPORTED);
    lt_free(cause);
}
END_TEST

static Suite *
remote_exec_suite(void)
{
    Suite *s = suite_create("remote_exec");
    TCase *tc = lt_test_tcase(s, "remote_exec");
    tcase_add_checked_fixture(tc, setup_runtime, NULL);
    tcase_add_test(tc, test_section_of_our_own_executable);
    tcase_add_test(tc, test_request_written);
    tcase_add_test(tc, test_path_too_long);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_thread_list_loop_ends);
    tcase_add_test(tc, test_gone);
    return s;
}

int
main(void)
{
    return lt_test_run(remote_exec_suite());
}
