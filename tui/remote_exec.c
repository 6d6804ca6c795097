/*
 * PEP 768 requests from outside the process (remote_exec.h). The protocol, as CPython 3.14's
 * Python/remote_debugging.c (send_exec_to_proc_handle) and the remote debugging howto describe
 * it, and docs/attach.md explains:
 *
 *   1. _PyRuntime is the `.PyRuntime` section of the first mapped file whose name contains
 *      "python" and has that section (the executable when it is linked statically, else
 *      libpython); _Py_DebugOffsets is its first member.
 *   2. The table starts with the cookie "xdebugpy", PY_VERSION_HEX and a free-threaded flag; the
 *      rest is uint64_t offsets, in groups whose layout is fixed within a minor version.
 *   3. interp = *(runtime + interpreters_head); *(int *)(interp + remote_debugging_enabled) must
 *      be 1; tstate = *(interp + threads_main), or any state on the threads_head list.
 *   4. Write the path (NUL-terminated) at tstate + remote_debugger_support +
 *      debugger_script_path, then int32 1 at ... + debugger_pending_call, then set
 *      _PY_EVAL_PLEASE_STOP_BIT in the word at tstate + eval_breaker.
 */
#define _GNU_SOURCE
#include "remote_exec.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

#define EVAL_PLEASE_STOP_BIT (1u << 5) /* _PY_EVAL_PLEASE_STOP_BIT, Include/internal/pycore_ceval.h */

/* Where the fields this file uses sit in _Py_DebugOffsets (Include/internal/
 * pycore_debug_offsets.h), per minor version: offsetof() of each, compiled against Debian sid's
 * python3.14-dev 3.14.10 and python3.15-dev 3.15.2 headers. CPython promises the layout is
 * stable between patch releases of one minor version; open() checks that what it reads fits
 * together before anything is written. */
typedef struct layout {
    unsigned minor;
    unsigned runtime_size, finalizing, interpreters_head;
    unsigned interp_size, threads_head, threads_main;
    unsigned tstate_size, tstate_next, native_thread_id;
    unsigned eval_breaker, support, enabled, pending, script_path, script_path_size;
    unsigned total; /* sizeof(_Py_DebugOffsets) */
} layout;

static const layout layouts[] = {
    {14, 24, 32, 40, 48, 72, 80, 176, 192, 224, 712, 720, 728, 736, 744, 752, 760},
    {15, 24, 32, 40, 48, 72, 80, 176, 192, 248, 840, 848, 856, 864, 872, 880, 888},
};

#if UINTPTR_MAX == 0xffffffffffffffffu
typedef Elf64_Ehdr elf_ehdr;
typedef Elf64_Shdr elf_shdr;
typedef Elf64_Phdr elf_phdr;
#define ELF_CLASS ELFCLASS64
#else
typedef Elf32_Ehdr elf_ehdr;
typedef Elf32_Shdr elf_shdr;
typedef Elf32_Phdr elf_phdr;
#define ELF_CLASS ELFCLASS32
#endif

uint64_t
lt_rexec_elf_section(const char *path, uint64_t map_start, const char *name)
{
    uint64_t result = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(elf_ehdr)) {
        close(fd);
        return 0;
    }
    size_t size = (size_t)st.st_size;
    const unsigned char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return 0;
    const elf_ehdr *eh = (const elf_ehdr *)m;
    /* Everything below is file data: every table and string is bounds-checked. */
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELF_CLASS ||
        eh->e_shentsize != sizeof(elf_shdr) || eh->e_phentsize != sizeof(elf_phdr) ||
        eh->e_shoff > size || (size - eh->e_shoff) / sizeof(elf_shdr) < eh->e_shnum ||
        eh->e_phoff > size || (size - eh->e_phoff) / sizeof(elf_phdr) < eh->e_phnum ||
        eh->e_shstrndx >= eh->e_shnum)
        goto out;
    const elf_shdr *sh = (const elf_shdr *)(m + eh->e_shoff);
    const elf_shdr *strs = &sh[eh->e_shstrndx];
    if (strs->sh_offset > size || strs->sh_size > size - strs->sh_offset)
        goto out;
    const char *names = (const char *)m + strs->sh_offset;
    size_t nlen = strlen(name);
    const elf_shdr *found = NULL;
    for (unsigned i = 0; i < eh->e_shnum && found == NULL; i++)
        if (sh[i].sh_name < strs->sh_size && strs->sh_size - sh[i].sh_name > nlen &&
            memcmp(names + sh[i].sh_name, name, nlen + 1) == 0)
            found = &sh[i];
    if (found == NULL || found->sh_addr == 0)
        goto out;
    const elf_phdr *ph = (const elf_phdr *)(m + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        uint64_t align = ph[i].p_align ? ph[i].p_align : 1;
        uint64_t load = ph[i].p_vaddr - ph[i].p_vaddr % align;
        result = map_start + found->sh_addr - load;
        break;
    }
out:
    munmap((void *)m, size);
    return result;
}

/* ---- the target's memory ---------------------------------------------------------------- */

static int
kind_of(int err)
{
    return err == EPERM || err == EACCES ? LT_REXEC_FORBIDDEN
           : err == ESRCH                ? LT_REXEC_GONE
                                         : LT_REXEC_FAILED;
}

typedef ssize_t (*vm_copy_fn)(pid_t, const struct iovec *, unsigned long, const struct iovec *,
                              unsigned long, unsigned long);

/* Copy len bytes between buf and addr in pid with process_vm_readv or _writev (copy), retrying
 * short copies and EINTR. Returns 0, or -1 with errno (EFAULT for a copy that moved nothing). */
static int
vm_copy(vm_copy_fn copy, pid_t pid, uint64_t addr, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        struct iovec local = {(char *)buf + done, len - done};
        struct iovec remote = {(void *)(uintptr_t)(addr + done), len - done};
        ssize_t n = copy(pid, &local, 1, &remote, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EFAULT;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Read len bytes at addr in pid. Returns 0, or -1 with errno. */
static int
peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    return vm_copy(process_vm_readv, pid, addr, buf, len);
}

/* Write len bytes at addr in pid. Returns 0, or -1 with errno. */
static int
poke(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
    return vm_copy(process_vm_writev, pid, addr, (void *)buf, len);
}

static int
fail(int *kind, char **cause, int k, char *msg)
{
    *kind = k;
    *cause = msg;
    return -1;
}

static int
memory_error(const lt_rexec *r, const char *what, int *kind, char **cause)
{
    int err = errno;
    return fail(kind, cause, kind_of(err),
                err == ESRCH ? lt_asprintf("no process with pid %ld (it exited)", (long)r->pid)
                             : lt_asprintf("cannot %s in pid %ld: %s", what, (long)r->pid,
                                           strerror(err)));
}

/* ---- finding _PyRuntime ----------------------------------------------------------------- */

static int
find_runtime(lt_rexec *r, int *kind, char **cause)
{
    char path[64], line[PATH_MAX + 256];
    snprintf(path, sizeof path, "/proc/%ld/maps", (long)r->pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return fail(kind, cause, errno == ENOENT ? LT_REXEC_GONE : kind_of(errno),
                    lt_asprintf("cannot read %s: %s", path, strerror(errno)));
    r->runtime = 0;
    while (r->runtime == 0 && fgets(line, sizeof line, f)) {
        unsigned long long lo, off;
        int pos = 0;
        if (sscanf(line, "%llx-%*x %*s %llx %*s %*s %n", &lo, &off, &pos) < 2 || pos == 0 ||
            off != 0)
            continue;
        char *file = line + pos;
        file[strcspn(file, "\n")] = '\0';
        const char *base = strrchr(file, '/');
        if (file[0] != '/' || base == NULL || strstr(base + 1, "python") == NULL)
            continue;
        uint64_t at = lt_rexec_elf_section(file, lo, ".PyRuntime");
        if (at != 0) {
            r->runtime = at;
            snprintf(r->image, sizeof r->image, "%s", file);
        }
    }
    fclose(f);
    if (r->runtime == 0)
        return fail(kind, cause, LT_REXEC_UNSUPPORTED,
                    lt_asprintf("pid %ld maps no python image with a .PyRuntime section",
                                (long)r->pid));
    return 0;
}

static uint64_t
field(const unsigned char *table, unsigned at)
{
    uint64_t v;
    memcpy(&v, table + at, sizeof v);
    return v;
}

/* Does the target say how it disabled remote debugging? Into why. */
static void
disabled_why(pid_t pid, char *why, size_t len)
{
    char path[64];
    static char buf[65536];
    snprintf(why, len, "its interpreter has remote debugging turned off (built "
                       "--without-remote-debug, or an embedding program's PyConfig.remote_debug)");
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; n > 0 && i < n;) {
        const char *arg = buf + i;
        size_t alen = strnlen(arg, (size_t)(n - i));
        const char *next = arg + alen + 1;
        if ((strcmp(arg, "-X") == 0 && next < buf + n &&
             strncmp(next, "disable-remote-debug", 20) == 0) ||
            strncmp(arg, "-Xdisable-remote-debug", 22) == 0) {
            snprintf(why, len, "it was started with -X disable-remote-debug");
            return;
        }
        i += (ssize_t)alen + 1;
    }
    snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    static const char var[] = "PYTHON_DISABLE_REMOTE_DEBUG=";
    for (ssize_t i = 0; n > 0 && i < n;) {
        const char *e = buf + i;
        size_t elen = strnlen(e, (size_t)(n - i));
        if (elen > sizeof var - 1 && strncmp(e, var, sizeof var - 1) == 0) {
            snprintf(why, len, "PYTHON_DISABLE_REMOTE_DEBUG is set in its environment");
            return;
        }
        i += (ssize_t)elen + 1;
    }
}

int
lt_rexec_open(lt_rexec *r, pid_t pid, int *kind, char **cause)
{
    memset(r, 0, sizeof *r);
    r->pid = pid;
    *kind = LT_REXEC_OK;
    *cause = NULL;
    if (find_runtime(r, kind, cause) < 0)
        return -1;
    char image[sizeof r->image];
    memcpy(image, r->image, sizeof image);
    int rc = lt_rexec_open_at(r, pid, r->runtime, kind, cause);
    memcpy(r->image, image, sizeof image);
    return rc;
}

int
lt_rexec_open_at(lt_rexec *r, pid_t pid, uint64_t runtime, int *kind, char **cause)
{
    memset(r, 0, sizeof *r);
    r->pid = pid;
    r->runtime = runtime;
    *kind = LT_REXEC_OK;
    *cause = NULL;
    unsigned char head[24];
    if (peek(pid, r->runtime, head, sizeof head) < 0)
        return memory_error(r, "read _PyRuntime", kind, cause);
    if (memcmp(head, "xdebugpy", 8) != 0)
        return fail(kind, cause, LT_REXEC_UNSUPPORTED,
                    lt_asprintf("pid %ld has no _Py_DebugOffsets at _PyRuntime (Python older "
                                "than 3.13?)",
                                (long)pid));
    r->version = field(head, 8);
    unsigned major = (unsigned)(r->version >> 24) & 0xff, minor = (unsigned)(r->version >> 16) & 0xff;
    if (field(head, 16) != 0)
        return fail(kind, cause, LT_REXEC_UNSUPPORTED,
                    lt_asprintf("pid %ld runs a free-threaded Python %u.%u", (long)pid, major, minor));
    const layout *l = NULL;
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (major == 3 && layouts[i].minor == minor)
            l = &layouts[i];
    if (l == NULL)
        return fail(kind, cause, LT_REXEC_UNSUPPORTED,
                    lt_asprintf("pid %ld runs Python %u.%u, whose debug offsets leaktop does "
                                "not know",
                                (long)pid, major, minor));
    unsigned char table[1024];
    if (l->total > sizeof table || peek(pid, r->runtime, table, l->total) < 0)
        return memory_error(r, "read _Py_DebugOffsets", kind, cause);
    r->runtime_size = field(table, l->runtime_size);
    r->finalizing = field(table, l->finalizing);
    r->interpreters_head = field(table, l->interpreters_head);
    r->interp_size = field(table, l->interp_size);
    r->threads_head = field(table, l->threads_head);
    r->threads_main = field(table, l->threads_main);
    r->tstate_size = field(table, l->tstate_size);
    r->tstate_next = field(table, l->tstate_next);
    r->native_thread_id = field(table, l->native_thread_id);
    r->eval_breaker = field(table, l->eval_breaker);
    r->support = field(table, l->support);
    r->enabled = field(table, l->enabled);
    r->pending = field(table, l->pending);
    r->script_path = field(table, l->script_path);
    r->script_path_size = field(table, l->script_path_size);
    /* A table that does not fit together is not the layout we think: touch nothing. */
    const uint64_t big = 1u << 24;
    if (r->runtime_size > big || r->interp_size > big || r->tstate_size > big ||
        r->interpreters_head + 8 > r->runtime_size || r->finalizing + 8 > r->runtime_size ||
        r->threads_head + 8 > r->interp_size || r->threads_main + 8 > r->interp_size ||
        r->enabled + 4 > r->interp_size || r->tstate_next + 8 > r->tstate_size ||
        r->native_thread_id + 8 > r->tstate_size || r->eval_breaker + 8 > r->tstate_size ||
        r->script_path_size < 64 || r->script_path_size > 65536 ||
        r->pending + 4 > r->script_path ||
        r->support + r->script_path + r->script_path_size > r->tstate_size)
        return fail(kind, cause, LT_REXEC_UNSUPPORTED,
                    lt_asprintf("pid %ld's _Py_DebugOffsets (Python %u.%u, %#llx) do not have "
                                "the layout leaktop knows",
                                (long)pid, major, minor, (unsigned long long)r->version));
    uint64_t fin = 0;
    if (peek(pid, r->runtime + r->interpreters_head, &r->interp, 8) < 0 ||
        peek(pid, r->runtime + r->finalizing, &fin, 8) < 0)
        return memory_error(r, "read _PyRuntime", kind, cause);
    if (fin != 0)
        return fail(kind, cause, LT_REXEC_NOT_READY,
                    lt_asprintf("pid %ld is exiting (its interpreter is finalizing)", (long)pid));
    if (r->interp == 0)
        return fail(kind, cause, LT_REXEC_NOT_READY,
                    lt_asprintf("pid %ld has no Python interpreter running yet", (long)pid));
    int32_t on = 0;
    if (peek(pid, r->interp + r->enabled, &on, sizeof on) < 0)
        return memory_error(r, "read its interpreter state", kind, cause);
    if (on != 1) {
        char why[256];
        disabled_why(pid, why, sizeof why);
        return fail(kind, cause, LT_REXEC_DISABLED,
                    lt_asprintf("pid %ld does not allow remote debugging (PEP 768): %s; leaktop "
                                "leaves it alone",
                                (long)pid, why));
    }
    return 0;
}

int
lt_rexec_threads(const lt_rexec *r, lt_rexec_thread *out, int max, int *kind, char **cause)
{
    uint64_t main_ts = 0, ts = 0;
    if (peek(r->pid, r->interp + r->threads_main, &main_ts, 8) < 0 ||
        peek(r->pid, r->interp + r->threads_head, &ts, 8) < 0)
        return memory_error(r, "read its interpreter state", kind, cause);
    int n = 0;
    /* The list is read while the program runs: bounded, and a state seen twice ends it. */
    for (int steps = 0; ts != 0 && n < max && steps < LT_REXEC_MAX_THREADS; steps++) {
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= out[i].tstate == ts;
        if (seen)
            break;
        uint64_t tid = 0, next = 0;
        if (peek(r->pid, ts + r->native_thread_id, &tid, 8) < 0 ||
            peek(r->pid, ts + r->tstate_next, &next, 8) < 0)
            return memory_error(r, "read a thread state", kind, cause);
        out[n].tstate = ts;
        out[n].tid = (pid_t)tid;
        out[n].main = ts == main_ts;
        if (out[n].main && n > 0) { /* the main one first */
            lt_rexec_thread t = out[n];
            memmove(out + 1, out, (size_t)n * sizeof *out);
            out[0] = t;
        }
        n++;
        ts = next;
    }
    if (n == 0)
        return fail(kind, cause, LT_REXEC_NOT_READY,
                    lt_asprintf("pid %ld has no Python thread", (long)r->pid));
    return n;
}

int
lt_rexec_send(const lt_rexec *r, uint64_t tstate, const char *path, int *kind, char **cause)
{
    size_t len = strlen(path);
    if (len >= r->script_path_size)
        return fail(kind, cause, LT_REXEC_FAILED,
                    lt_asprintf("the script path %s is too long for PEP 768 (%zu bytes, at most "
                                "%llu)",
                                path, len, (unsigned long long)r->script_path_size - 1));
    uint64_t support = tstate + r->support;
    int32_t one = 1;
    if (poke(r->pid, support + r->script_path, path, len + 1) < 0 ||
        poke(r->pid, support + r->pending, &one, sizeof one) < 0)
        return memory_error(r, "write the request", kind, cause);
    /* Only the byte holding the bit is read and written back: the other event bits the target
     * sets atomically meanwhile are in it too, so the window is kept to two system calls. */
    uint64_t at = tstate + r->eval_breaker;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    at += sizeof(uintptr_t) - 1;
#endif
    unsigned char b;
    if (peek(r->pid, at, &b, 1) < 0)
        return memory_error(r, "read the eval breaker", kind, cause);
    b |= EVAL_PLEASE_STOP_BIT;
    if (poke(r->pid, at, &b, 1) < 0)
        return memory_error(r, "set the eval breaker", kind, cause);
    return 0;
}

int
lt_rexec_pending(const lt_rexec *r, uint64_t tstate)
{
    int32_t v = 0;
    if (peek(r->pid, tstate + r->support + r->pending, &v, sizeof v) < 0)
        return -1;
    return v == 1;
}

int
lt_rexec_withdraw(const lt_rexec *r, uint64_t tstate)
{
    int p = lt_rexec_pending(r, tstate);
    if (p != 1)
        return p;
    int32_t zero = 0;
    return poke(r->pid, tstate + r->support + r->pending, &zero, sizeof zero) < 0 ? -1 : 1;
}
