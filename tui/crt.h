/*
 * The terminal, and the only module that includes curses (as htop's CRT.c). It starts and
 * restores the terminal, restores it on SIGINT, SIGTERM, SIGHUP and fatal signals too, keeps
 * stderr aside while curses runs (printed after), and gives the views a small drawing API in
 * display columns. Colour only when the terminal has it and NO_COLOR is unset; Unicode only in
 * a UTF-8 locale (LEAKTOP_ASCII=1 forces ASCII).
 */
#ifndef LEAKTOP_CRT_H
#define LEAKTOP_CRT_H

#include <stddef.h>

typedef enum lt_attr {
    LT_A_NORMAL, LT_A_HEADER, LT_A_LABEL, LT_A_VALUE, LT_A_TAB, LT_A_TAB_ACTIVE, LT_A_TITLE,
    LT_A_SELECTED, LT_A_GOOD, LT_A_WARN, LT_A_BAD, LT_A_DIM, LT_A_SPARK, LT_A_FOOTER_KEY,
    LT_A_FOOTER, LT_A_COUNT
} lt_attr;

enum {
    LT_KEY_NONE = -1,
    LT_KEY_UP = 0x1000, LT_KEY_DOWN, LT_KEY_LEFT, LT_KEY_RIGHT, LT_KEY_PGUP, LT_KEY_PGDN,
    LT_KEY_HOME, LT_KEY_END, LT_KEY_ENTER, LT_KEY_ESC, LT_KEY_BACKSPACE, LT_KEY_TAB,
    LT_KEY_BTAB, LT_KEY_RESIZE, LT_KEY_F1,
};

/* Start curses. Returns 0, or -1 with *cause (not a terminal, or TERM unknown). */
int lt_crt_init(char **cause);
/* Restore the terminal and print what was written to stderr meanwhile. Idempotent. */
void lt_crt_done(void);
int lt_crt_rows(void);
int lt_crt_cols(void);
int lt_crt_utf8(void);  /* Unicode drawing allowed */
int lt_crt_color(void); /* colour in use */
/* Erase everything (before drawing a frame). */
void lt_crt_erase(void);
/* Print s (UTF-8) at row y, column x, clipped to maxcols columns (<= 0: to the edge). Returns
 * the columns used. */
int lt_crt_text(int y, int x, lt_attr attr, const char *s, int maxcols);
/* printf at row y, column x, clipped to the edge. */
int lt_crt_printf(int y, int x, lt_attr attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Paint a whole row in attr (a bar). */
void lt_crt_bar(int y, lt_attr attr);
/* Show what was drawn. */
void lt_crt_flush(void);
/* The next key, waiting at most timeout_ms (0: do not wait). LT_KEY_NONE when none came. */
int lt_crt_key(int timeout_ms);
/* The terminal's input fd, for poll(). */
int lt_crt_input_fd(void);
/* Pending signal that asked to quit (SIGINT, SIGTERM, SIGHUP), or 0. */
int lt_crt_quit_signal(void);

#endif
