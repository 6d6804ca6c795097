/* The first bytes of an HTTP connection: a request line of HTTP/1.x, a head of bounded size. */
#include "http_gate.h"

#include <string.h>

static int
is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Judge a request line of n bytes (without its line end): 1 good, 0 bad. */
static int
request_line_ok(const char *line, size_t n, size_t max_target)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i > 15 || i >= n || line[i] != ' ')
        return 0;
    size_t t = ++i;
    while (i < n && line[i] != ' ') {
        unsigned char c = (unsigned char)line[i];
        if (c <= 0x20 || c >= 0x7f)
            return 0;
        i++;
    }
    if (i == t || line[t] != '/' || i - t >= max_target || i >= n)
        return 0;
    const char *v = line + i + 1;
    size_t vl = n - i - 1;
    return vl == 8 && (memcmp(v, "HTTP/1.1", 8) == 0 || memcmp(v, "HTTP/1.0", 8) == 0);
}

int
lt_http_gate(const char *buf, size_t len, size_t max_target, size_t max_head)
{
    size_t look = len < max_head ? len : max_head;
    const char *nl = memchr(buf, '\n', look);
    /* The request line, as far as it has come: every byte must be possible in a good one. */
    size_t n = nl != NULL ? (size_t)(nl - buf) : look;
    if (nl != NULL && n > 0 && buf[n - 1] == '\r')
        n--;
    if (nl == NULL) {
        size_t i = 0;
        while (i < n && is_tchar((unsigned char)buf[i]))
            i++;
        if (i > 15 || (i < n && buf[i] != ' '))
            return LT_HTTP_GATE_REJECT;
        for (; i < n; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (c == '\r' && i + 1 == n)
                break;
            if (c < 0x20 || c >= 0x7f)
                return LT_HTTP_GATE_REJECT;
        }
        if (n > max_target + 32) /* method, spaces and version around the longest target */
            return LT_HTTP_GATE_REJECT;
        return look < max_head ? LT_HTTP_GATE_MORE : LT_HTTP_GATE_REJECT;
    }
    if (!request_line_ok(buf, n, max_target))
        return LT_HTTP_GATE_REJECT;
    /* The blank line that ends the head, and no NUL before it. */
    for (size_t i = (size_t)(nl - buf); i < look; i++) {
        if (buf[i] == '\0')
            return LT_HTTP_GATE_REJECT;
        if (buf[i] != '\n' || i + 1 >= look)
            continue;
        if (buf[i + 1] == '\n')
            return LT_HTTP_GATE_PASS;
        if (buf[i + 1] == '\r' && i + 2 < look && buf[i + 2] == '\n')
            return LT_HTTP_GATE_PASS;
    }
    return look < max_head ? LT_HTTP_GATE_MORE : LT_HTTP_GATE_REJECT;
}
