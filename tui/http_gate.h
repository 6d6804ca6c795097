/*
 * The door of `leaktop metrics`' HTTP server: what a client sent first is judged here (peeked,
 * not consumed) before libmicrohttpd is handed the connection, so that what is not an HTTP/1.x
 * request at all (a TLS hello, random bytes, a head without end) is answered 400 at once
 * instead of holding a connection until its timeout. libmicrohttpd parses what passes.
 */
#ifndef LEAKTOP_HTTP_GATE_H
#define LEAKTOP_HTTP_GATE_H

#include <stddef.h>

enum { LT_HTTP_GATE_MORE = 0, LT_HTTP_GATE_PASS = 1, LT_HTTP_GATE_REJECT = -1 };

/* Judge the first len bytes of a connection. LT_HTTP_GATE_PASS when they start with a request
 * line "METHOD SP TARGET SP HTTP/1.0|1.1" (CRLF or LF; METHOD a token of 1-15 characters,
 * TARGET visible ASCII starting with '/' and shorter than max_target) and hold the blank line
 * that ends the head within max_head bytes, with no NUL before it; LT_HTTP_GATE_MORE when
 * nothing is wrong yet but the head is not complete; LT_HTTP_GATE_REJECT otherwise. Header
 * fields are libmicrohttpd's to judge. Never reads past len. */
int lt_http_gate(const char *buf, size_t len, size_t max_target, size_t max_head);

#endif
