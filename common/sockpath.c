/* Socket path, directory checks, listen, peer check and client connect. */
#define _GNU_SOURCE
#include "leaktop/sockpath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "leaktop/mem.h"

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

char *
lt_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = lt_malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int
lt_sock_dir(char *out, size_t outlen, char **cause)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (xdg != NULL && xdg[0] != '\0')
        n = snprintf(out, outlen, "%s/leaktop", xdg);
    else
        n = snprintf(out, outlen, "/tmp/leaktop-%u", (unsigned)geteuid());
    if (n < 0 || (size_t)n >= outlen) {
        *cause = lt_asprintf("socket directory path too long (XDG_RUNTIME_DIR=%s)", xdg ? xdg : "");
        return -1;
    }
    return 0;
}

int
lt_sock_path(pid_t pid, char *out, size_t outlen, char **cause)
{
    char dir[4096];
    if (lt_sock_dir(dir, sizeof dir, cause) < 0)
        return -1;
    int n = snprintf(out, outlen, "%s/%ld.sock", dir, (long)pid);
    if (n < 0 || (size_t)n >= outlen || (size_t)n > SUN_PATH_MAX) {
        *cause = lt_asprintf("socket path %s/%ld.sock is longer than the %zu bytes a Unix socket "
                             "allows; set XDG_RUNTIME_DIR to a shorter directory",
                             dir, (long)pid, (size_t)SUN_PATH_MAX);
        return -1;
    }
    return 0;
}

/* Check the parent of dir: not a symlink; if others may write to it, it must be sticky. */
static int
check_parent(const char *dir, char **cause)
{
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
        return 0;
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    if (lstat(parent, &st) < 0) {
        *cause = lt_asprintf("%s: %s", parent, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        *cause = lt_asprintf("%s is a symlink; refusing to put a socket under it", parent);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        *cause = lt_asprintf("%s is not a directory", parent);
        return -1;
    }
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
        *cause = lt_asprintf("%s is writable by others and not sticky; refusing to use it", parent);
        return -1;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        *cause = lt_asprintf("%s belongs to uid %u, not to this user", parent, (unsigned)st.st_uid);
        return -1;
    }
    return 0;
}

int
lt_sock_dir_prepare(const char *dir, char **cause)
{
    if (check_parent(dir, cause) < 0)
        return -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        *cause = lt_asprintf("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(dir, &st) < 0) {
        *cause = lt_asprintf("%s: %s", dir, strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        *cause = lt_asprintf("%s is a symlink; refusing it", dir);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        *cause = lt_asprintf("%s is not a directory", dir);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        *cause = lt_asprintf("%s belongs to uid %u, not to this user (uid %u); refusing it", dir,
                             (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        *cause = lt_asprintf("%s has mode %03o; it must be 0700 (no access for group or others)",
                             dir, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

static int
fill_addr(struct sockaddr_un *sa, const char *path, char **cause)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) > SUN_PATH_MAX) {
        *cause = lt_asprintf("socket path %s is too long for a Unix socket", path);
        return -1;
    }
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

int
lt_sock_listen(const char *path, char **cause)
{
    struct sockaddr_un sa;
    if (fill_addr(&sa, path, cause) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *cause = lt_asprintf("socket: %s", strerror(errno));
        return -1;
    }
    /* A file left at our path is stale: our pid is ours alone, so no live agent can own it. */
    struct stat st;
    if (lstat(path, &st) == 0)
        unlink(path);
    /* umask is process-wide (and the host is multi-threaded), so rely on the 0700 directory while
     * the socket exists with the umask's mode, then chmod it to 0600. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        *cause = lt_asprintf("bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
        *cause = lt_asprintf("listen %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

int
lt_sock_peer_allowed(int fd, uid_t *peer_uid)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    if (peer_uid)
        *peer_uid = cred.uid;
    return cred.uid == geteuid() || cred.uid == 0;
}

int
lt_sock_connect(pid_t pid, int *err_kind, char **cause)
{
    char path[4096];
    *err_kind = LT_SOCK_EOTHER;
    if (lt_sock_path(pid, path, sizeof path, cause) < 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) < 0) {
        *err_kind = LT_SOCK_ENOENT;
        *cause = lt_asprintf("no leaktop agent socket for pid %ld (%s: %s)", (long)pid, path,
                             strerror(errno));
        return -1;
    }
    return lt_sock_connect_path(path, err_kind, cause);
}

int
lt_sock_connect_path(const char *path, int *err_kind, char **cause)
{
    struct stat st;
    *err_kind = LT_SOCK_EOTHER;
    if (lstat(path, &st) < 0) {
        *err_kind = LT_SOCK_ENOENT;
        *cause = lt_asprintf("%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        *cause = lt_asprintf("%s is not a socket", path);
        return -1;
    }
    if (st.st_uid != geteuid() && geteuid() != 0) {
        *err_kind = LT_SOCK_EPERM;
        *cause = lt_asprintf("%s belongs to uid %u, not to you (uid %u); refusing to connect",
                             path, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    struct sockaddr_un sa;
    if (fill_addr(&sa, path, cause) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *cause = lt_asprintf("socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        if (e == ECONNREFUSED) {
            *err_kind = LT_SOCK_ESTALE;
            *cause = lt_asprintf("the agent socket %s is stale: nobody listens on it", path);
        } else {
            if (e == EACCES)
                *err_kind = LT_SOCK_EPERM;
            *cause = lt_asprintf("connect %s: %s", path, strerror(e));
        }
        return -1;
    }
    return fd;
}
