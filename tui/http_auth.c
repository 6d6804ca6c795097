/* The credentials of `leaktop metrics --auth FILE`: reading the file, comparing secrets. */
#define _GNU_SOURCE
#include "http_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

int
lt_http_parse_credentials(const char *text, size_t len, char **user, char **password,
                          char **cause)
{
    *user = *password = NULL;
    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (len > 0 && text[len - 1] == '\r')
        len--;
    if (len > LT_HTTP_MAX_CREDENTIALS) {
        *cause = lt_asprintf("credentials longer than %d bytes", LT_HTTP_MAX_CREDENTIALS);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
            *cause = lt_asprintf("credentials must be one line \"user:password\" without control "
                                 "characters");
            return -1;
        }
    const char *colon = memchr(text, ':', len);
    if (colon == NULL || colon == text || colon + 1 == text + len) {
        *cause = lt_asprintf("credentials must read \"user:password\", both non-empty");
        return -1;
    }
    size_t ul = (size_t)(colon - text), pl = len - ul - 1;
    *user = lt_malloc(ul + 1);
    *password = lt_malloc(pl + 1);
    if (*user == NULL || *password == NULL) {
        lt_free(*user);
        lt_free(*password);
        *user = *password = NULL;
        *cause = lt_asprintf("out of memory");
        return -1;
    }
    memcpy(*user, text, ul);
    (*user)[ul] = '\0';
    memcpy(*password, colon + 1, pl);
    (*password)[pl] = '\0';
    return 0;
}

int
lt_http_read_credentials(const char *path, char **user, char **password, char **cause)
{
    *user = *password = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        *cause = lt_asprintf("--auth %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *cause = lt_asprintf("--auth %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        *cause = lt_asprintf("--auth %s: must belong to you and be readable by you only "
                             "(chmod 600), it is uid %u mode %03o",
                             path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
        close(fd);
        return -1;
    }
    char buf[LT_HTTP_MAX_CREDENTIALS + 3];
    ssize_t n = read(fd, buf, sizeof buf);
    int e = errno;
    close(fd);
    if (n < 0) {
        *cause = lt_asprintf("--auth %s: %s", path, strerror(e));
        return -1;
    }
    char *why = NULL;
    int rc = lt_http_parse_credentials(buf, (size_t)n, user, password, &why);
    if (rc < 0) {
        *cause = lt_asprintf("--auth %s: %s", path, why ? why : "unreadable");
        lt_free(why);
    }
    memset(buf, 0, sizeof buf);
    return rc;
}

int
lt_http_same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[lb ? i % lb : 0]);
    return diff == 0;
}
