/* The terminal: the one file that talks to curses. */
#define _GNU_SOURCE
#include "crt.h"

#include <curses.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leaktop/mem.h"
#include "leaktop/sockpath.h"

static int active;             /* curses is running */
static SCREEN *screen;
static int utf8_ok, color_ok;
static int saved_stderr = -1;  /* the real stderr while curses runs */
static FILE *stderr_log;       /* what was written to stderr meanwhile */
static volatile sig_atomic_t quit_signal;
static int attrs[LT_A_COUNT];

static void
on_quit(int sig)
{
    quit_signal = sig;
}

/* A crash must not leave the terminal raw: restore, then die of the same signal. */
static void
on_fatal(int sig)
{
    if (active)
        endwin();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
setup_colors(void)
{
    for (int i = 0; i < LT_A_COUNT; i++)
        attrs[i] = A_NORMAL;
    attrs[LT_A_HEADER] = A_BOLD;
    attrs[LT_A_LABEL] = A_NORMAL;
    attrs[LT_A_VALUE] = A_BOLD;
    attrs[LT_A_TAB] = A_NORMAL;
    attrs[LT_A_TAB_ACTIVE] = A_REVERSE | A_BOLD;
    attrs[LT_A_TITLE] = A_REVERSE;
    attrs[LT_A_SELECTED] = A_REVERSE;
    attrs[LT_A_BAD] = A_BOLD;
    attrs[LT_A_WARN] = A_BOLD;
    attrs[LT_A_DIM] = A_DIM;
    attrs[LT_A_FOOTER_KEY] = A_REVERSE;
    if (!color_ok)
        return;
    start_color();
    use_default_colors();
    init_pair(1, COLOR_CYAN, -1);
    init_pair(2, COLOR_GREEN, -1);
    init_pair(3, COLOR_YELLOW, -1);
    init_pair(4, COLOR_RED, -1);
    init_pair(5, COLOR_BLACK, COLOR_CYAN);
    init_pair(6, COLOR_BLACK, COLOR_GREEN);
    init_pair(7, COLOR_BLUE, -1);
    attrs[LT_A_LABEL] = COLOR_PAIR(1);
    attrs[LT_A_GOOD] = COLOR_PAIR(2);
    attrs[LT_A_WARN] = COLOR_PAIR(3) | A_BOLD;
    attrs[LT_A_BAD] = COLOR_PAIR(4) | A_BOLD;
    attrs[LT_A_TITLE] = COLOR_PAIR(6);
    attrs[LT_A_SELECTED] = COLOR_PAIR(5);
    attrs[LT_A_TAB_ACTIVE] = COLOR_PAIR(5) | A_BOLD;
    attrs[LT_A_SPARK] = COLOR_PAIR(1);
    attrs[LT_A_FOOTER_KEY] = COLOR_PAIR(5);
    attrs[LT_A_DIM] = COLOR_PAIR(7);
}

int
lt_crt_init(char **cause)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        *cause = lt_asprintf("the terminal UI needs a terminal; for scripts use "
                             "`leaktop check` or `leaktop record`");
        return -1;
    }
    setlocale(LC_ALL, "");
    const char *cs = nl_langinfo(CODESET);
    const char *ascii = getenv("LEAKTOP_ASCII");
    utf8_ok = cs != NULL && strcmp(cs, "UTF-8") == 0 && !(ascii && *ascii && *ascii != '0');
    /* Keep stderr off the screen: a message from a library would smear the display. */
    stderr_log = tmpfile();
    if (stderr_log != NULL) {
        fflush(stderr);
        saved_stderr = dup(STDERR_FILENO);
        dup2(fileno(stderr_log), STDERR_FILENO);
    }
    screen = newterm(NULL, stdout, stdin);
    if (screen == NULL) {
        lt_crt_done();
        *cause = lt_asprintf("cannot start the terminal UI (TERM=%s)",
                             getenv("TERM") ? getenv("TERM") : "");
        return -1;
    }
    active = 1;
    const char *nc = getenv("NO_COLOR");
    color_ok = has_colors() && !(nc && *nc);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    setup_colors();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_quit;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sa.sa_handler = on_fatal;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    return 0;
}

void
lt_crt_done(void)
{
    if (active) {
        curs_set(1);
        endwin();
        delscreen(screen);
        screen = NULL;
        active = 0;
    }
    if (saved_stderr >= 0) {
        fflush(stderr);
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        saved_stderr = -1;
    }
    if (stderr_log != NULL) {
        rewind(stderr_log);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stderr_log)) > 0)
            fwrite(buf, 1, n, stderr);
        fclose(stderr_log);
        stderr_log = NULL;
    }
}

int lt_crt_rows(void) { return active ? LINES : 24; }
int lt_crt_cols(void) { return active ? COLS : 80; }
int lt_crt_utf8(void) { return utf8_ok; }
int lt_crt_color(void) { return color_ok; }
int lt_crt_input_fd(void) { return STDIN_FILENO; }
int lt_crt_quit_signal(void) { return quit_signal; }

void
lt_crt_erase(void)
{
    erase();
}

int
lt_crt_text(int y, int x, lt_attr attr, const char *s, int maxcols)
{
    if (y < 0 || y >= LINES || x >= COLS || x < 0)
        return 0;
    int room = COLS - x;
    if (maxcols > 0 && maxcols < room)
        room = maxcols;
    /* Count columns as code points; anything not printable in ASCII mode becomes '?'. */
    int cols = 0;
    size_t i = 0;
    const unsigned char *u = (const unsigned char *)s;
    while (u[i] && cols < room) {
        size_t len = 1;
        if (u[i] >= 0x80)
            while ((u[i + len] & 0xC0) == 0x80)
                len++;
        i += len;
        cols++;
    }
    attr_t a = (attr_t)attrs[attr];
    attron(a);
    if (utf8_ok) {
        mvaddnstr(y, x, s, (int)i);
    } else {
        move(y, x);
        for (size_t k = 0; k < i; k++)
            if (u[k] < 0x80)
                addch(u[k] >= 0x20 && u[k] < 0x7f ? u[k] : '?');
            else if ((u[k] & 0xC0) != 0x80)
                addch('?');
    }
    attroff(a);
    return cols;
}

int
lt_crt_printf(int y, int x, lt_attr attr, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return lt_crt_text(y, x, attr, buf, 0);
}

void
lt_crt_bar(int y, lt_attr attr)
{
    if (y < 0 || y >= LINES)
        return;
    attron((attr_t)attrs[attr]);
    mvhline(y, 0, ' ', COLS);
    attroff((attr_t)attrs[attr]);
}

void
lt_crt_flush(void)
{
    refresh();
}

int
lt_crt_key(int timeout_ms)
{
    timeout(timeout_ms);
    int c = getch();
    switch (c) {
    case ERR: return LT_KEY_NONE;
    case KEY_UP: return LT_KEY_UP;
    case KEY_DOWN: return LT_KEY_DOWN;
    case KEY_LEFT: return LT_KEY_LEFT;
    case KEY_RIGHT: return LT_KEY_RIGHT;
    case KEY_PPAGE: return LT_KEY_PGUP;
    case KEY_NPAGE: return LT_KEY_PGDN;
    case KEY_HOME: return LT_KEY_HOME;
    case KEY_END: return LT_KEY_END;
    case KEY_ENTER: case '\n': case '\r': return LT_KEY_ENTER;
    case 27: return LT_KEY_ESC;
    case KEY_BACKSPACE: case 127: case 8: return LT_KEY_BACKSPACE;
    case '\t': return LT_KEY_TAB;
    case KEY_BTAB: return LT_KEY_BTAB;
    case KEY_RESIZE: return LT_KEY_RESIZE;
    case KEY_F(1): return LT_KEY_F1;
    default: return c;
    }
}
