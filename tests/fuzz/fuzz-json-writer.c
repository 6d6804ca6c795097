/*
 * The JSON writer under arbitrary content: the input is a little program that builds one JSON
 * document with lt_json_* (keys and strings of arbitrary bytes, integers, doubles including
 * NaN, infinities, -0 and subnormals, nesting past the depth the writer tracks) into an
 * open_memstream. The output is then parsed by the strict validator below (RFC 8259 grammar,
 * and every string valid UTF-8 with no lone surrogate escapes) and compared, event by event,
 * with what was written: strings must come back with exactly the invalid UTF-8 sequences
 * replaced by U+FFFD, integers exactly, doubles to the writer's 10 significant digits (and 0
 * for non-finite ones). Anything else abort()s.
 *
 * Input:
 *     byte 0   bit 0: pretty
 *     rest     a value: one op byte (op % 11) and its operands, see gen_value(); a string is a
 *              length byte (>= 0xf0: (b - 0xf0) << 8 | next byte) and that many bytes.
 *              Running out of input reads zeros, which ends every open container.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "json_writer.h"

#define FUZZER_MAXLEN (1u << 16)
/* The writer tracks commas for LT_JSON_DEPTH - 1 nested containers and promises valid JSON
 * deeper than that too: go a few levels past. */
#define MAX_NEST (LT_JSON_DEPTH + 8)

/* ---- what was written ------------------------------------------------------------------- */

enum { EV_OBJ = 1, EV_END_OBJ, EV_ARR, EV_END_ARR, EV_KEY, EV_STR, EV_U64, EV_I64, EV_DBL,
       EV_BOOL, EV_NULL };

typedef struct event {
    int kind;
    uint64_t u;
    int64_t i;
    double d;
    char *s; /* EV_KEY, EV_STR: the text expected back, malloc'ed */
    size_t slen;
} event;

typedef struct events {
    event *v;
    size_t n, cap;
} events;

static event *
push(events *ev, int kind)
{
    if (ev->n == ev->cap) {
        ev->cap = ev->cap ? 2 * ev->cap : 64;
        ev->v = realloc(ev->v, ev->cap * sizeof *ev->v);
        FUZZ_CHECK(ev->v != NULL);
    }
    event *e = &ev->v[ev->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    return e;
}

static void
events_free(events *ev)
{
    for (size_t i = 0; i < ev->n; i++)
        free(ev->v[i].s);
    free(ev->v);
}

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), 0 when there is none. */
static size_t
utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* What a string should read back as: the bytes up to the first NUL, each byte that starts no
 * well-formed sequence replaced by U+FFFD. */
static char *
expected_text(const char *in, size_t *outlen)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t n = strlen(in);
    char *out = malloc(3 * n + 1);
    FUZZ_CHECK(out != NULL);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(s + i, n - i);
        if (k == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* ---- the document builder ---------------------------------------------------------------- */

typedef struct gen {
    const uint8_t *p;
    size_t n, pos;
    lt_json j;
    events ev;
} gen;

static uint8_t
take(gen *g)
{
    return g->pos < g->n ? g->p[g->pos++] : 0;
}

static uint64_t
take64(gen *g)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)take(g) << (8 * i);
    return v;
}

/* Arbitrary bytes, NUL-terminated (an embedded NUL ends the string for the writer). */
static char *
take_str(gen *g)
{
    size_t len = take(g);
    if (len >= 0xf0)
        len = (len - 0xf0) << 8 | take(g);
    if (len > g->n - g->pos)
        len = g->n - g->pos;
    char *s = malloc(len + 1);
    FUZZ_CHECK(s != NULL);
    memcpy(s, g->p + g->pos, len);
    s[len] = '\0';
    g->pos += len;
    return s;
}

static const double special[] = {
    NAN, -NAN, INFINITY, -INFINITY, 0.0, -0.0, DBL_MIN, -DBL_MIN, DBL_MAX, -DBL_MAX,
    DBL_TRUE_MIN, 4.9406564584124654e-324 * 7, 1e21, 1e-7, 0.1, 123456789012.0, 1e15, -1.5,
    9007199254740993.0, 0.30000000000000004,
};

static void
put_text(gen *g, int kind)
{
    char *s = take_str(g);
    event *e = push(&g->ev, kind);
    e->s = expected_text(s, &e->slen);
    if (kind == EV_KEY)
        lt_json_key(&g->j, s);
    else
        lt_json_str(&g->j, s);
    free(s);
}

static void
put_double(gen *g, double v)
{
    push(&g->ev, EV_DBL)->d = v;
    lt_json_double(&g->j, v);
}

static void
gen_value(gen *g, int depth)
{
    uint8_t op = take(g);
    switch (op % 11) {
    case 0:
    case 1: {
        if (depth >= MAX_NEST) { /* deep enough */
            push(&g->ev, EV_NULL);
            lt_json_null(&g->j);
            break;
        }
        int object = op % 11 == 0;
        push(&g->ev, object ? EV_OBJ : EV_ARR);
        if (object)
            lt_json_object(&g->j);
        else
            lt_json_array(&g->j);
        while (g->pos < g->n && take(g) % 4 != 0) {
            if (object)
                put_text(g, EV_KEY);
            gen_value(g, depth + 1);
        }
        push(&g->ev, object ? EV_END_OBJ : EV_END_ARR);
        if (object)
            lt_json_end_object(&g->j);
        else
            lt_json_end_array(&g->j);
        break;
    }
    case 2:
        put_text(g, EV_STR);
        break;
    case 3:
        push(&g->ev, EV_NULL);
        lt_json_str(&g->j, NULL);
        break;
    case 4: {
        uint64_t v = take64(g);
        push(&g->ev, EV_U64)->u = v;
        lt_json_u64(&g->j, v);
        break;
    }
    case 5: {
        int64_t v = (int64_t)take64(g);
        push(&g->ev, EV_I64)->i = v;
        lt_json_i64(&g->j, v);
        break;
    }
    case 6: { /* any bit pattern: NaNs with payloads, subnormals, infinities */
        uint64_t bits = take64(g);
        double v;
        memcpy(&v, &bits, sizeof v);
        put_double(g, v);
        break;
    }
    case 7:
        put_double(g, special[take(g) % (sizeof special / sizeof special[0])]);
        break;
    case 8: {
        int v = take(g) & 1;
        push(&g->ev, EV_BOOL)->u = (uint64_t)v;
        lt_json_bool(&g->j, v);
        break;
    }
    case 9:
        push(&g->ev, EV_NULL);
        lt_json_null(&g->j);
        break;
    case 10: /* a small whole number, written without a fraction by %g */
        put_double(g, (double)(int8_t)take(g));
        break;
    }
}

/* ---- the validator ----------------------------------------------------------------------- */

typedef struct parser {
    const unsigned char *p;
    size_t n, pos;
    const events *ev;
    size_t evi;
} parser;

#define INVALID(ps, why) invalid(ps, why, __LINE__)

static void __attribute__((noreturn))
invalid(const parser *ps, const char *why, int line)
{
    fprintf(stderr, "fuzz-json-writer: output is not what was written (%s, check at line %d) "
                    "at byte %zu of %zu:\n%.*s\n",
            why, line, ps->pos, ps->n, (int)ps->n, (const char *)ps->p);
    abort();
}

static const event *
next_event(parser *ps, int kind)
{
    if (ps->evi >= ps->ev->n || ps->ev->v[ps->evi].kind != kind)
        INVALID(ps, "unexpected value");
    return &ps->ev->v[ps->evi++];
}

static void
skip_ws(parser *ps)
{
    while (ps->pos < ps->n && (ps->p[ps->pos] == ' ' || ps->p[ps->pos] == '\t' ||
                               ps->p[ps->pos] == '\n' || ps->p[ps->pos] == '\r'))
        ps->pos++;
}

static int
peek(const parser *ps)
{
    return ps->pos < ps->n ? ps->p[ps->pos] : -1;
}

static int
hex4(parser *ps)
{
    if (ps->n - ps->pos < 4)
        INVALID(ps, "short \\u escape");
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = ps->p[ps->pos++], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            INVALID(ps, "bad hex digit");
        v = v << 4 | d;
    }
    return v;
}

static size_t
put_utf8(unsigned char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string literal at ps->pos; its decoded UTF-8 must be the text of the expected event. */
static void
parse_string(parser *ps, int kind)
{
    const event *e = next_event(ps, kind);
    ps->pos++; /* the opening quote */
    /* Decoded text is never longer than the literal. */
    unsigned char *out = malloc(ps->n - ps->pos + 1);
    FUZZ_CHECK(out != NULL);
    size_t o = 0;
    for (;;) {
        if (ps->pos >= ps->n)
            INVALID(ps, "unterminated string");
        unsigned char c = ps->p[ps->pos];
        if (c == '"') {
            ps->pos++;
            break;
        }
        if (c < 0x20)
            INVALID(ps, "raw control character in string");
        if (c == '\\') {
            ps->pos++;
            int x = peek(ps);
            ps->pos++;
            switch (x) {
            case '"': out[o++] = '"'; break;
            case '\\': out[o++] = '\\'; break;
            case '/': out[o++] = '/'; break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case 't': out[o++] = '\t'; break;
            case 'u': {
                uint32_t cp = (uint32_t)hex4(ps);
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    INVALID(ps, "lone low surrogate escape");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (ps->n - ps->pos < 2 || ps->p[ps->pos] != '\\' || ps->p[ps->pos + 1] != 'u')
                        INVALID(ps, "lone high surrogate escape");
                    ps->pos += 2;
                    uint32_t lo = (uint32_t)hex4(ps);
                    if (lo < 0xdc00 || lo > 0xdfff)
                        INVALID(ps, "high surrogate without low surrogate");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                /* "\uXXXX" is 6 bytes, its UTF-8 at most 3 (or 12 -> 4): room enough. */
                o += put_utf8(out + o, cp);
                break;
            }
            default:
                INVALID(ps, "bad escape");
            }
            continue;
        }
        size_t k = utf8_len(ps->p + ps->pos, ps->n - ps->pos);
        if (k == 0)
            INVALID(ps, "invalid UTF-8 in string");
        memcpy(out + o, ps->p + ps->pos, k);
        o += k;
        ps->pos += k;
    }
    if (o != e->slen || memcmp(out, e->s, o) != 0)
        INVALID(ps, "string differs from the one written");
    free(out);
}

static void
digits(parser *ps)
{
    if (peek(ps) < '0' || peek(ps) > '9')
        INVALID(ps, "digit expected");
    while (peek(ps) >= '0' && peek(ps) <= '9')
        ps->pos++;
}

static void
parse_number(parser *ps)
{
    size_t start = ps->pos;
    int neg = 0, frac = 0, exp = 0;
    if (peek(ps) == '-') {
        neg = 1;
        ps->pos++;
    }
    if (peek(ps) == '0') {
        ps->pos++;
        if (peek(ps) >= '0' && peek(ps) <= '9')
            INVALID(ps, "leading zero");
    } else {
        digits(ps);
    }
    if (peek(ps) == '.') {
        frac = 1;
        ps->pos++;
        digits(ps);
    }
    if (peek(ps) == 'e' || peek(ps) == 'E') {
        exp = 1;
        ps->pos++;
        if (peek(ps) == '+' || peek(ps) == '-')
            ps->pos++;
        digits(ps);
    }
    char tok[512];
    size_t len = ps->pos - start;
    if (len >= sizeof tok)
        INVALID(ps, "number too long");
    memcpy(tok, ps->p + start, len);
    tok[len] = '\0';

    if (ps->evi >= ps->ev->n)
        INVALID(ps, "more values than written");
    const event *e = &ps->ev->v[ps->evi];
    errno = 0;
    switch (e->kind) {
    case EV_U64:
        if (neg || frac || exp || strtoull(tok, NULL, 10) != e->u || errno != 0)
            INVALID(ps, "u64 differs");
        break;
    case EV_I64:
        if (frac || exp || strtoll(tok, NULL, 10) != e->i || errno != 0)
            INVALID(ps, "i64 differs");
        break;
    case EV_DBL: {
        double want = isfinite(e->d) ? e->d : 0.0;
        double got = strtod(tok, NULL);
        if (!frac && !exp)
            INVALID(ps, "double written like an integer");
        if (want == 0.0) {
            if (got != 0.0)
                INVALID(ps, "double differs");
        } else if (isinf(got)) {
            /* %.10g rounds the largest doubles up past DBL_MAX ("1.797693135e+308"). */
            if (fabs(want) < 1.797693134e308 || signbit(got) != signbit(want))
                INVALID(ps, "double overflowed");
        } else if (fabs(got - want) > fabs(want) * 1e-9) {
            INVALID(ps, "double differs");
        }
        break;
    }
    default:
        INVALID(ps, "number where something else was written");
    }
    ps->evi++;
}

static void
literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if (ps->n - ps->pos < n || memcmp(ps->p + ps->pos, word, n) != 0)
        INVALID(ps, "bad literal");
    ps->pos += n;
}

static void
parse_value(parser *ps, int depth)
{
    if (depth > MAX_NEST + 1)
        INVALID(ps, "nested deeper than written");
    skip_ws(ps);
    int c = peek(ps);
    if (c == '{' || c == '[') {
        int object = c == '{';
        next_event(ps, object ? EV_OBJ : EV_ARR);
        ps->pos++;
        skip_ws(ps);
        if (peek(ps) == (object ? '}' : ']')) {
            ps->pos++;
            next_event(ps, object ? EV_END_OBJ : EV_END_ARR);
            return;
        }
        for (;;) {
            if (object) {
                skip_ws(ps);
                if (peek(ps) != '"')
                    INVALID(ps, "key expected");
                parse_string(ps, EV_KEY);
                skip_ws(ps);
                if (peek(ps) != ':')
                    INVALID(ps, "colon expected");
                ps->pos++;
            }
            parse_value(ps, depth + 1);
            skip_ws(ps);
            if (peek(ps) == ',') {
                ps->pos++;
                continue;
            }
            if (peek(ps) != (object ? '}' : ']'))
                INVALID(ps, "comma or end of container expected");
            ps->pos++;
            next_event(ps, object ? EV_END_OBJ : EV_END_ARR);
            return;
        }
    }
    if (c == '"') {
        parse_string(ps, EV_STR);
    } else if (c == 't' || c == 'f') {
        const event *e = next_event(ps, EV_BOOL);
        literal(ps, e->u ? "true" : "false");
    } else if (c == 'n') {
        next_event(ps, EV_NULL);
        literal(ps, "null");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        parse_number(ps);
    } else {
        INVALID(ps, "value expected");
    }
}

/* ---- the target -------------------------------------------------------------------------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZER_MAXLEN)
        return 0;

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    FUZZ_CHECK(f != NULL);

    gen g;
    memset(&g, 0, sizeof g);
    g.p = data + 1;
    g.n = size - 1;
    lt_json_init(&g.j, f, data[0] & 1);
    gen_value(&g, 0);
    FUZZ_CHECK(!ferror(f));
    FUZZ_CHECK(fclose(f) == 0);

    parser ps = {.p = (const unsigned char *)buf, .n = len, .pos = 0, .ev = &g.ev, .evi = 0};
    parse_value(&ps, 0);
    skip_ws(&ps);
    if (ps.pos != ps.n)
        INVALID(&ps, "bytes after the document");
    if (ps.evi != g.ev.n)
        INVALID(&ps, "fewer values than written");

    free(buf);
    events_free(&g.ev);
    return 0;
}
