/* tui/json_writer.c: structure, commas and escaping, written to an in-memory FILE. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tui/json_writer.h"

/* An open_memstream FILE and what was written to it. */
typedef struct mem_out {
    FILE *f;
    char *buf;
    size_t len;
} mem_out;

static void
mem_open(mem_out *o)
{
    o->buf = NULL;
    o->len = 0;
    o->f = open_memstream(&o->buf, &o->len);
    ck_assert_ptr_nonnull(o->f);
}

/* The text written so far (valid until mem_close). */
static const char *
mem_text(mem_out *o)
{
    ck_assert_int_eq(fflush(o->f), 0);
    ck_assert_int_eq(ferror(o->f), 0);
    return o->buf;
}

static void
mem_close(mem_out *o)
{
    fclose(o->f);
    free(o->buf);
}

/* s as a JSON string literal. */
static char *
quoted(mem_out *o, const char *s)
{
    mem_open(o);
    lt_json_write_string(o->f, s);
    return (char *)mem_text(o);
}

START_TEST(test_compact_nesting)
{
    mem_out o;
    mem_open(&o);
    lt_json j;
    lt_json_init(&j, o.f, 0);
    lt_json_object(&j);
    lt_json_key(&j, "a");
    lt_json_u64(&j, 1);
    lt_json_key(&j, "b");
    lt_json_array(&j);
    lt_json_u64(&j, 1);
    lt_json_i64(&j, -2);
    lt_json_object(&j);
    lt_json_end_object(&j);
    lt_json_array(&j);
    lt_json_array(&j);
    lt_json_end_array(&j);
    lt_json_end_array(&j);
    lt_json_end_array(&j);
    lt_json_key(&j, "c");
    lt_json_str(&j, "x");
    lt_json_key(&j, "d");
    lt_json_str(&j, NULL);
    lt_json_key(&j, "e");
    lt_json_bool(&j, 1);
    lt_json_key(&j, "f");
    lt_json_bool(&j, 0);
    lt_json_key(&j, "g");
    lt_json_null(&j);
    lt_json_key(&j, "h");
    lt_json_object(&j);
    lt_json_key(&j, "deep");
    lt_json_array(&j);
    lt_json_str(&j, "");
    lt_json_end_array(&j);
    lt_json_end_object(&j);
    lt_json_key(&j, "i");
    lt_json_u64(&j, UINT64_MAX);
    lt_json_key(&j, "k");
    lt_json_i64(&j, INT64_MIN);
    lt_json_end_object(&j);
    ck_assert_str_eq(mem_text(&o),
                     "{\"a\":1,\"b\":[1,-2,{},[[]]],\"c\":\"x\",\"d\":null,\"e\":true,"
                     "\"f\":false,\"g\":null,\"h\":{\"deep\":[\"\"]},"
                     "\"i\":18446744073709551615,\"k\":-9223372036854775808}");
    mem_close(&o);
}
END_TEST

START_TEST(test_pretty)
{
    mem_out o;
    mem_open(&o);
    lt_json j;
    lt_json_init(&j, o.f, 1);
    lt_json_object(&j);
    lt_json_key(&j, "a");
    lt_json_u64(&j, 1);
    lt_json_key(&j, "b");
    lt_json_array(&j);
    lt_json_u64(&j, 1);
    lt_json_u64(&j, 2);
    lt_json_end_array(&j);
    lt_json_key(&j, "c");
    lt_json_object(&j);
    lt_json_end_object(&j);
    lt_json_key(&j, "d");
    lt_json_array(&j);
    lt_json_end_array(&j);
    lt_json_end_object(&j);
    ck_assert_str_eq(mem_text(&o), "{\n"
                                   "  \"a\": 1,\n"
                                   "  \"b\": [\n"
                                   "    1,\n"
                                   "    2\n"
                                   "  ],\n"
                                   "  \"c\": {},\n"
                                   "  \"d\": []\n"
                                   "}\n");
    mem_close(&o);
}
END_TEST

START_TEST(test_doubles)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {1.5, "1.5"},    {2.0, "2.0"},        {0.0, "0.0"},   {-0.25, "-0.25"},
        {1e20, "1e+20"}, {123456.75, "123456.75"}, {-3.0, "-3.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mem_out o;
        mem_open(&o);
        lt_json j;
        lt_json_init(&j, o.f, 0);
        lt_json_double(&j, cases[i].v);
        ck_assert_str_eq(mem_text(&o), cases[i].want);
        mem_close(&o);
    }
    /* Non-finite values are not JSON: they become 0. */
    mem_out o;
    mem_open(&o);
    lt_json j;
    lt_json_init(&j, o.f, 0);
    lt_json_array(&j);
    lt_json_double(&j, NAN);
    lt_json_double(&j, INFINITY);
    lt_json_double(&j, -INFINITY);
    lt_json_end_array(&j);
    ck_assert_str_eq(mem_text(&o), "[0.0,0.0,0.0]");
    mem_close(&o);
}
END_TEST

START_TEST(test_escape_quotes_and_controls)
{
    mem_out o;
    ck_assert_str_eq(quoted(&o, ""), "\"\"");
    mem_close(&o);
    ck_assert_str_eq(quoted(&o, "plain text"), "\"plain text\"");
    mem_close(&o);
    ck_assert_str_eq(quoted(&o, "say \"hi\""), "\"say \\\"hi\\\"\"");
    mem_close(&o);
    ck_assert_str_eq(quoted(&o, "C:\\path\\"), "\"C:\\\\path\\\\\"");
    mem_close(&o);
    ck_assert_str_eq(quoted(&o, "a\nb\tc\rd"), "\"a\\nb\\tc\\rd\"");
    mem_close(&o);
    ck_assert_str_eq(quoted(&o, "\x01\x1f\x7f/"), "\"\\u0001\\u001f\\u007f/\"");
    mem_close(&o);
    ck_assert_str_eq(quoted(&o, "\b\f"), "\"\\u0008\\u000c\"");
    mem_close(&o);

    /* Keys are escaped the same way. */
    mem_open(&o);
    lt_json j;
    lt_json_init(&j, o.f, 0);
    lt_json_object(&j);
    lt_json_key(&j, "k\"\n");
    lt_json_u64(&j, 0);
    lt_json_end_object(&j);
    ck_assert_str_eq(mem_text(&o), "{\"k\\\"\\n\":0}");
    mem_close(&o);
}
END_TEST

START_TEST(test_utf8_valid_kept)
{
    mem_out o;
    /* 2, 3 and 4 byte sequences, including the highest code point. */
    ck_assert_str_eq(quoted(&o, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"),
                     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");
    mem_close(&o);
    ck_assert_str_eq(quoted(&o, "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf"),
                     "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\"");
    mem_close(&o);
}
END_TEST

START_TEST(test_utf8_invalid_replaced)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"\xff", "\"\\ufffd\""},
        {"a\xfe" "b", "\"a\\ufffdb\""},
        {"\x80", "\"\\ufffd\""},                          /* lone continuation byte */
        {"\xc3", "\"\\ufffd\""},                          /* cut at the end */
        {"\xc0\xaf", "\"\\ufffd\\ufffd\""},               /* overlong '/' */
        {"\xc1\xbf", "\"\\ufffd\\ufffd\""},               /* overlong */
        {"\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""},    /* overlong, 3 bytes */
        {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},    /* UTF-16 surrogate */
        {"\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* overlong, 4 bytes */
        {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* above U+10FFFF */
        {"\xf5\x80", "\"\\ufffd\\ufffd\""},
        {"\xf8\x88\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mem_out o;
        ck_assert_str_eq(quoted(&o, cases[i].in), cases[i].want);
        mem_close(&o);
    }
    /* A sequence cut short by ASCII: the ASCII survives, and nothing raw leaks through. */
    mem_out o;
    const char *s = quoted(&o, "\xe2\x82" "A\xf0\x9f\x98" "B");
    ck_assert_ptr_nonnull(strstr(s, "A"));
    ck_assert_ptr_nonnull(strstr(s, "B\""));
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        ck_assert_uint_lt(*p, 0x80);
    mem_close(&o);
}
END_TEST

/* A NULL string is written as null, with the commas of any other value. */
START_TEST(test_string_null)
{
    mem_out o;
    mem_open(&o);
    lt_json j;
    lt_json_init(&j, o.f, 0);
    lt_json_array(&j);
    lt_json_str(&j, NULL);
    lt_json_str(&j, "x");
    lt_json_end_array(&j);
    ck_assert_str_eq(mem_text(&o), "[null,\"x\"]");
    mem_close(&o);
}
END_TEST

static Suite *
json_suite(void)
{
    Suite *s = suite_create("json_writer");
    TCase *tc = lt_test_tcase(s, "json_writer");
    tcase_add_test(tc, test_compact_nesting);
    tcase_add_test(tc, test_pretty);
    tcase_add_test(tc, test_doubles);
    tcase_add_test(tc, test_escape_quotes_and_controls);
    tcase_add_test(tc, test_utf8_valid_kept);
    tcase_add_test(tc, test_utf8_invalid_replaced);
    tcase_add_test(tc, test_string_null);
    return s;
}

int
main(void)
{
    return lt_test_run(json_suite());
}
