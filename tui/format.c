/* Number formatting. */
#include "format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

char *
lt_fmt_bytes(char *out, size_t outlen, uint64_t bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(out, outlen, "%u B", (unsigned)bytes);
        return out;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    /* Rounding can carry to 1024 (1023.96 KiB): move up a unit instead. */
    if (v >= 999.5 && u < 5) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, outlen, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return out;
}

char *
lt_fmt_byte_rate(char *out, size_t outlen, double rate)
{
    char num[32];
    double mag = fabs(rate);
    if (!(mag >= 0.5)) { /* also NaN */
        snprintf(out, outlen, "0 B/s");
        return out;
    }
    lt_fmt_bytes(num, sizeof num, mag >= 1.8e19 ? UINT64_MAX : (uint64_t)(mag + 0.5));
    snprintf(out, outlen, "%c%s/s", rate < 0 ? '-' : '+', num);
    return out;
}

char *
lt_fmt_count(char *out, size_t outlen, uint64_t n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    char tmp[48];
    int j = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            tmp[j++] = ',';
        tmp[j++] = digits[i];
    }
    tmp[j] = '\0';
    snprintf(out, outlen, "%s", tmp);
    return out;
}

char *
lt_fmt_delta(char *out, size_t outlen, int64_t n)
{
    char num[48];
    uint64_t mag = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    lt_fmt_count(num, sizeof num, mag);
    snprintf(out, outlen, "%s%s", n > 0 ? "+" : n < 0 ? "-" : "", num);
    return out;
}

/* Byte offset of the k-th code point of s (or its end). */
static size_t
cp_offset(const char *s, size_t k)
{
    size_t i = 0;
    while (s[i] && k > 0) {
        i++;
        while ((s[i] & 0xC0) == 0x80)
            i++;
        k--;
    }
    return i;
}

static size_t
cp_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += (*s & 0xC0) != 0x80;
    return n;
}

char *
lt_fmt_elide(char *out, size_t outlen, const char *s, int width, int utf8)
{
    size_t n = cp_count(s);
    if (width <= 0 || outlen == 0) {
        if (outlen)
            out[0] = '\0';
        return out;
    }
    if (n <= (size_t)width) {
        snprintf(out, outlen, "%s", s);
        return out;
    }
    const char *mark = utf8 ? "\xe2\x80\xa6" : "~";
    size_t keep = (size_t)width - 1;
    size_t head = keep / 2, tail = keep - head;
    size_t head_end = cp_offset(s, head);
    size_t tail_start = cp_offset(s, n - tail);
    snprintf(out, outlen, "%.*s%s%s", (int)head_end, s, mark, s + tail_start);
    return out;
}

char *
lt_fmt_duration(char *out, size_t outlen, double seconds)
{
    if (!(seconds >= 0))
        seconds = 0;
    if (seconds > 1e15) /* beyond any process's age; keeps the conversion defined */
        seconds = 1e15;
    unsigned long long s = (unsigned long long)(seconds + 0.5);
    if (s < 60)
        snprintf(out, outlen, "%llu s", s);
    else if (s < 3600)
        snprintf(out, outlen, "%llu min", s / 60);
    else if (s < 86400)
        snprintf(out, outlen, "%llu h %llu min", s / 3600, (s % 3600) / 60);
    else
        snprintf(out, outlen, "%llu d %llu h", s / 86400, (s % 86400) / 3600);
    return out;
}
