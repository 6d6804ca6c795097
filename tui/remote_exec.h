/*
 * Asking a CPython 3.14+ process to run a script, from outside, the way `sys.remote_exec` does
 * (PEP 768), without gdb and without stopping it: find `_PyRuntime` (the `.PyRuntime` ELF
 * section of the python executable or libpython mapped in the process), read the
 * `_Py_DebugOffsets` table at its start, and with process_vm_readv / process_vm_writev write a
 * script path and a "pending" flag into a thread state's `_PyRemoteDebuggerSupport` and set the
 * please-stop bit of its eval breaker. That thread runs the script (with the GIL, in a fresh
 * namespace) at its next bytecode boundary or PyErr_CheckSignals(). Every offset inside the
 * target comes from the target's own table; only the table's layout, one per minor version, is
 * known here (remote_exec.c).
 *
 * Errors are -1 with *cause (lt_free it), one line for the user, and *kind saying what kind of
 * failure it is: whether gdb could do better (LT_REXEC_UNSUPPORTED) or not.
 */
#ifndef LEAKTOP_REMOTE_EXEC_H
#define LEAKTOP_REMOTE_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    LT_REXEC_OK = 0,
    LT_REXEC_UNSUPPORTED, /* no .PyRuntime, no debug offsets, a layout not known here: use gdb */
    LT_REXEC_FORBIDDEN,   /* the kernel refuses access to its memory (ptrace rules) */
    LT_REXEC_DISABLED,    /* the target turned remote debugging off */
    LT_REXEC_NOT_READY,   /* no interpreter or thread yet, or it is finalizing */
    LT_REXEC_GONE,        /* the process exited */
    LT_REXEC_FAILED,      /* anything else (a read that faulted, a path too long) */
};

#define LT_REXEC_MAX_THREADS 1024

typedef struct lt_rexec_thread {
    uint64_t tstate;   /* PyThreadState address in the target */
    pid_t tid;         /* its native thread id (0 when not started yet) */
    int main;          /* the interpreter's main thread */
} lt_rexec_thread;

typedef struct lt_rexec {
    pid_t pid;
    uint64_t runtime;      /* &_PyRuntime in the target */
    uint64_t version;      /* its PY_VERSION_HEX */
    uint64_t interp;       /* the main interpreter */
    /* Offsets read from the target's _Py_DebugOffsets. */
    uint64_t runtime_size, finalizing, interpreters_head;
    uint64_t interp_size, threads_head, threads_main;
    uint64_t tstate_size, tstate_next, native_thread_id;
    uint64_t eval_breaker, support, enabled, pending, script_path, script_path_size;
    char image[4096];      /* the file .PyRuntime was found in */
} lt_rexec;

/* Where section `name` (".PyRuntime") of the ELF file path is in a process that mapped the
 * file's first page at map_start: map_start + sh_addr - (first PT_LOAD p_vaddr aligned down to
 * its p_align), as CPython's Python/remote_debug.h computes it. Returns 0 when the file is not
 * an ELF file of our word size or has no such section. */
uint64_t lt_rexec_elf_section(const char *path, uint64_t map_start, const char *name);

/* Find _PyRuntime in pid, read and check its debug offsets (cookie "xdebugpy", a 3.14 or 3.15
 * layout, not free-threaded, offsets that fit their structures) and find the main interpreter;
 * check it is not finalizing and has remote debugging enabled. Returns 0, or -1 with *kind and
 * *cause. Nothing is written to the target. */
int lt_rexec_open(lt_rexec *r, pid_t pid, int *kind, char **cause);

/* The same with _PyRuntime known to be at runtime (tests, and callers that found it). */
int lt_rexec_open_at(lt_rexec *r, pid_t pid, uint64_t runtime, int *kind, char **cause);

/* The interpreter's thread states, the main one first, at most max. Returns how many, or -1
 * with *kind and *cause. */
int lt_rexec_threads(const lt_rexec *r, lt_rexec_thread *out, int max, int *kind, char **cause);

/* Ask the thread with state tstate to run the script at path (absolute, shorter than the
 * target's script_path_size, 512): path, then the pending flag, then the eval breaker bit.
 * Returns 0, or -1 with *kind and *cause. */
int lt_rexec_send(const lt_rexec *r, uint64_t tstate, const char *path, int *kind, char **cause);

/* Is a request still pending on tstate? 1 yes, 0 no (consumed, or never made), -1 unreadable. */
int lt_rexec_pending(const lt_rexec *r, uint64_t tstate);

/* Withdraw a request that is still pending on tstate (its flag back to 0). Returns 1 when one
 * was withdrawn, 0 when none was pending (the thread took it), -1 unreadable. The thread may
 * take it between the read and the write; the caller keeps the script readable for a moment. */
int lt_rexec_withdraw(const lt_rexec *r, uint64_t tstate);

#endif
