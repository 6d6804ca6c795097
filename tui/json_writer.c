/* The streaming JSON writer. */
#include "json_writer.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void
lt_json_init(lt_json *j, FILE *f, int pretty)
{
    memset(j, 0, sizeof *j);
    j->f = f;
    j->pretty = pretty;
    j->first[0] = 1;
}

static void
indent(lt_json *j)
{
    if (!j->pretty)
        return;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
}

/* Before any value: the comma and indentation its position needs. */
static void
before_value(lt_json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = 0;
    if (j->depth > 0)
        indent(j);
}

static void
open_container(lt_json *j, char c)
{
    before_value(j);
    fputc(c, j->f);
    if (j->depth + 1 < LT_JSON_DEPTH) {
        j->depth++;
        j->first[j->depth] = 1;
    } else {
        /* Deeper than we track commas for: still valid JSON, with the deepest level's commas
         * shared, because every value there is written after the first. */
        j->overflow++;
        j->first[j->depth] = 1;
    }
}

static void
close_container(lt_json *j, char c)
{
    int empty = j->first[j->depth];
    if (j->overflow > 0) {
        j->overflow--;
        j->first[j->depth] = 0; /* the closed container is a value at this level */
        fputc(c, j->f);
        return;
    }
    if (j->depth > 0)
        j->depth--;
    if (!empty)
        indent(j);
    fputc(c, j->f);
    if (j->depth == 0 && j->pretty)
        fputc('\n', j->f);
}

void lt_json_object(lt_json *j) { open_container(j, '{'); }
void lt_json_array(lt_json *j) { open_container(j, '['); }
void lt_json_end_object(lt_json *j) { close_container(j, '}'); }
void lt_json_end_array(lt_json *j) { close_container(j, ']'); }

/* Length of the valid UTF-8 sequence at s, or 0 when it is not one. */
static int
utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    int n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (n == 2 && s[0] < 0xC2) || (n == 4 && s[0] > 0xF4))
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && s[0] == 0xE0 && s[1] < 0xA0)
        return 0; /* overlong */
    if (n == 3 && s[0] == 0xED && s[1] >= 0xA0)
        return 0; /* surrogate */
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)))
        return 0;
    return n;
}

void
lt_json_write_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            s++;
        } else if (c == '\n') {
            fputs("\\n", f);
            s++;
        } else if (c == '\t') {
            fputs("\\t", f);
            s++;
        } else if (c == '\r') {
            fputs("\\r", f);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            s++;
        } else {
            int n = utf8_seq(s);
            if (n == 0) {
                fputs("\\ufffd", f);
                s++;
            } else {
                fwrite(s, 1, (size_t)n, f);
                s += n;
            }
        }
    }
    fputc('"', f);
}

void
lt_json_key(lt_json *j, const char *key)
{
    before_value(j);
    lt_json_write_string(j->f, key);
    fputs(j->pretty ? ": " : ":", j->f);
    j->after_key = 1;
}

void
lt_json_str(lt_json *j, const char *s)
{
    if (s == NULL) {
        lt_json_null(j);
        return;
    }
    before_value(j);
    lt_json_write_string(j->f, s);
}

void
lt_json_u64(lt_json *j, uint64_t v)
{
    before_value(j);
    fprintf(j->f, "%" PRIu64, v);
}

void
lt_json_i64(lt_json *j, int64_t v)
{
    before_value(j);
    fprintf(j->f, "%" PRId64, v);
}

void
lt_json_double(lt_json *j, double v)
{
    before_value(j);
    if (!isfinite(v))
        v = 0.0;
    /* Enough digits to round-trip what we measure, and always a valid JSON number. */
    char buf[64];
    snprintf(buf, sizeof buf, "%.10g", v);
    if (isinf(strtod(buf, NULL))) /* %.10g rounds the largest doubles past DBL_MAX */
        snprintf(buf, sizeof buf, "%.17g", v);
    if (strpbrk(buf, ".eE") == NULL)
        strcat(buf, ".0");
    fputs(buf, j->f);
}

void
lt_json_bool(lt_json *j, int v)
{
    before_value(j);
    fputs(v ? "true" : "false", j->f);
}

void
lt_json_null(lt_json *j)
{
    before_value(j);
    fputs("null", j->f);
}
