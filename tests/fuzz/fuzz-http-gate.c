/*
 * What stays ours in `leaktop metrics`' HTTP server (libmicrohttpd parses HTTP): the first look
 * at a connection's bytes (tui/http_gate.c) and the credentials of basic authentication
 * (tui/http_auth.c, lt_http_parse_credentials).
 *
 * Input: byte 0 picks the target (even: the gate, odd: the credentials); the rest is the bytes.
 * Each call gets an exact-size copy, so ASan sees any read past the end. Beyond crashes:
 *   - the gate: every prefix is judged; once a prefix is rejected or passes, every longer one
 *     is judged the same (a verdict never changes as more bytes come, which the server relies
 *     on when it peeks again), and a head that passes starts with "TOKEN SP /" and holds
 *     " HTTP/1." in its first line;
 *   - the credentials: what parses joins back to the input (user ":" password, the line end
 *     dropped), the user has no colon, neither part is empty or holds a control character, and
 *     every allocation is freed.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_gate.h"
#include "http_auth.h"
#include "leaktop/mem.h"

#define MAX_TARGET 64
#define MAX_HEAD 512

static void
check_gate(const uint8_t *data, size_t size)
{
    int verdict = LT_HTTP_GATE_MORE;
    for (size_t n = 0; n <= size && n <= MAX_HEAD + 8; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, data, n);
        int v = lt_http_gate(copy, n, MAX_TARGET, MAX_HEAD);
        if (verdict != LT_HTTP_GATE_MORE && v != verdict) {
            fprintf(stderr, "verdict %d became %d at %zu bytes\n", verdict, v, n);
            abort();
        }
        if (v == LT_HTTP_GATE_PASS && verdict == LT_HTTP_GATE_MORE) {
            const char *nl = memchr(copy, '\n', n);
            const char *sp = memchr(copy, ' ', n);
            if (nl == NULL || sp == NULL || sp > nl || sp[1] != '/' ||
                memmem(copy, (size_t)(nl - copy), " HTTP/1.", 8) == NULL) {
                fprintf(stderr, "passed a bad request line\n");
                abort();
            }
        }
        verdict = v;
        free(copy);
    }
}

static void
check_credentials(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    uint64_t before = lt_mem_in_use();
    char *user = NULL, *password = NULL, *cause = NULL;
    if (lt_http_parse_credentials(copy, size, &user, &password, &cause) == 0) {
        size_t len = size;
        if (len > 0 && copy[len - 1] == '\n')
            len--;
        if (len > 0 && copy[len - 1] == '\r')
            len--;
        size_t ul = strlen(user), pl = strlen(password);
        if (ul == 0 || pl == 0 || strchr(user, ':') != NULL || ul + 1 + pl != len ||
            memcmp(copy, user, ul) != 0 || copy[ul] != ':' ||
            memcmp(copy + ul + 1, password, pl) != 0) {
            fprintf(stderr, "credentials do not join back to the input\n");
            abort();
        }
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)copy[i] < 0x20 || copy[i] == 0x7f)
                abort();
        lt_free(user);
        lt_free(password);
    } else {
        if (cause == NULL || user != NULL || password != NULL)
            abort();
        lt_free(cause);
    }
    if (lt_mem_in_use() != before)
        abort();
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        check_credentials(data + 1, size - 1);
    else
        check_gate(data + 1, size - 1);
    return 0;
}
