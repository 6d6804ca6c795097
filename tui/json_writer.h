/*
 * A streaming JSON writer: nesting, commas and string escaping done right, so reports are
 * always valid JSON whatever names the host's types and files have (invalid UTF-8 becomes
 * U+FFFD). Writes to a FILE; errors show up in ferror() of that FILE.
 */
#ifndef LEAKTOP_JSON_WRITER_H
#define LEAKTOP_JSON_WRITER_H

#include <stdint.h>
#include <stdio.h>

#define LT_JSON_DEPTH 32

typedef struct lt_json {
    FILE *f;
    int depth;
    int first[LT_JSON_DEPTH]; /* no element yet at this depth */
    int after_key;
    int overflow; /* containers opened beyond LT_JSON_DEPTH, still to close */
    int pretty;
} lt_json;

void lt_json_init(lt_json *j, FILE *f, int pretty);
void lt_json_object(lt_json *j);   /* { */
void lt_json_array(lt_json *j);    /* [ */
void lt_json_end_object(lt_json *j);
void lt_json_end_array(lt_json *j);
void lt_json_key(lt_json *j, const char *key);
void lt_json_str(lt_json *j, const char *s); /* NULL writes null */
void lt_json_u64(lt_json *j, uint64_t v);
void lt_json_i64(lt_json *j, int64_t v);
void lt_json_double(lt_json *j, double v); /* non-finite values write 0 */
void lt_json_bool(lt_json *j, int v);
void lt_json_null(lt_json *j);
/* Write s as a JSON string literal to f (quotes included). */
void lt_json_write_string(FILE *f, const char *s);

#endif
