/*
 * Basic authentication's credentials for `leaktop metrics --auth FILE`: one line
 * "user:password" in a file only its owner can read, so that the password is never on a
 * command line (which ps shows to everyone).
 */
#ifndef LEAKTOP_HTTP_AUTH_H
#define LEAKTOP_HTTP_AUTH_H

#include <stddef.h>

#define LT_HTTP_MAX_CREDENTIALS 256 /* bytes of "user:password" in an --auth file */

/* Read the credentials of basic authentication from path: one line "user:password" (a final
 * newline is dropped), at most LT_HTTP_MAX_CREDENTIALS bytes, no control characters; the file
 * must be a regular file of this user that group and others cannot read (like ssh's keys).
 * Returns 0 with *user and *password (lt_free both), or -1 with *cause. */
int lt_http_read_credentials(const char *path, char **user, char **password, char **cause);

/* Split "user:password" text of len bytes (one line, an optional final "\n" or "\r\n").
 * Returns 0 with *user and *password (lt_free both), or -1 with *cause. */
int lt_http_parse_credentials(const char *text, size_t len, char **user, char **password,
                              char **cause);

/* Do the two strings match? In time that depends on their lengths only. */
int lt_http_same_secret(const char *a, const char *b);

#endif
