/*
 * Where an agent's socket lives and who may use it (docs/security.md, "Who can connect"):
 * $XDG_RUNTIME_DIR/leaktop/<pid>.sock, or /tmp/leaktop-<uid>/<pid>.sock when XDG_RUNTIME_DIR is
 * unset. The directory is 0700 and owned by the user, the socket 0600, and both sides verify
 * ownership before trusting anything.
 *
 * Errors follow tmux's convention: -1 is returned and *cause gets a message the caller frees with
 * lt_free().
 */
#ifndef LEAKTOP_SOCKPATH_H
#define LEAKTOP_SOCKPATH_H

#include <stddef.h>
#include <sys/types.h>

/* The socket directory for the current user into out. Returns 0, or -1 with *cause when the path
 * does not fit. Reads XDG_RUNTIME_DIR; an empty value counts as unset. */
int lt_sock_dir(char *out, size_t outlen, char **cause);

/* The socket path of pid into out. Returns 0, or -1 with *cause when the path would not fit in
 * a sockaddr_un (the kernel's limit is 107 bytes). */
int lt_sock_path(pid_t pid, char *out, size_t outlen, char **cause);

/* Create the socket directory if missing, then verify it: a real directory (not a symlink),
 * owned by this user, no access for group or others; its parent is not a symlink and not
 * writable by others unless sticky. Returns 0, or -1 with *cause (nothing is chmod-ed to "fix"
 * a directory someone else prepared). */
int lt_sock_dir_prepare(const char *dir, char **cause);

/* Bind and listen on path (a stale file there is removed first), mode 0600, non-blocking,
 * close-on-exec. Returns the listening fd, or -1 with *cause. */
int lt_sock_listen(const char *path, char **cause);

/* Is the peer of a connected socket allowed? Same effective uid, or root. Returns 1 allowed,
 * 0 refused, -1 when SO_PEERCRED fails. *peer_uid gets the peer's uid when known. */
int lt_sock_peer_allowed(int fd, uid_t *peer_uid);

/* Connect to the agent of pid as a client: the socket must exist, be a socket, and be owned by
 * this user (or this user is root). Returns a blocking, close-on-exec fd, or -1 with *cause, and
 * *err_kind set to one of LT_SOCK_E*. */
enum { LT_SOCK_ENOENT = 1, LT_SOCK_EPERM = 2, LT_SOCK_ESTALE = 3, LT_SOCK_EOTHER = 4 };
int lt_sock_connect(pid_t pid, int *err_kind, char **cause);
/* The same checks and connect for a socket at path (a forwarded one: `ssh -L`). A symlink is
 * refused like anything that is not a socket. */
int lt_sock_connect_path(const char *path, int *err_kind, char **cause);

/* Is the agent socket at path stale? 1 when it is a socket owned by this effective uid, its pid
 * (the "<pid>" of its name "<pid>.sock") is gone (kill(pid, 0) fails with ESRCH), and connect()
 * to it fails with ECONNREFUSED: nobody listens on it, in this or any other pid namespace.
 * 0 otherwise: live, another user's, not ours to judge, or it could not be checked. When
 * st_out is not NULL it gets the lstat of what was judged (common/sock_sweep.c). */
struct stat;
int lt_sock_is_stale(const char *path, pid_t pid, struct stat *st_out);

/* Remove the stale agent sockets of dir (lt_sock_is_stale), except self's own path: at most
 * max_entries names are looked at. An entry is renamed aside first and removed only if it is
 * still the very file that was judged (same inode), so that an agent binding the same path
 * meanwhile (a new process with the recycled pid) keeps its socket. Returns how many were
 * removed; nothing fails (what cannot be checked is left alone). */
int lt_sock_sweep_stale(const char *dir, pid_t self, int max_entries);

/* malloc'ed printf, counted by lt_mem; NULL when out of memory. */
char *lt_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
