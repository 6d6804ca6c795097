/* Number formatting. */
#include "format.h"

#include <math.h>
#include <stdio.h>

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
    if (mag < 0.5) {
        snprintf(out, outlen, "0 B/s");
        return out;
    }
    lt_fmt_bytes(num, sizeof num, (uint64_t)(mag + 0.5));
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
