/* The help screen: every key, as the footer abbreviates them. */
#include "crt.h"
#include "ui.h"

void
lt_help_draw(int y, int height)
{
    static const char *lines[] = {
        "Views      Tab / Shift-Tab, or 1 Suspects  2 Types  3 Sites  4 GC  5 Memory",
        "Move       Up/Down, PgUp/PgDn, Home/End",
        "Enter      a finding: show the suspects it groups; on one of them, or a site:",
        "           its traceback with the source lines; on a type: its detail (its",
        "           allocation sites, Enter opens one; what keeps its objects alive)",
        "l          library frames (stdlib, site-packages) inline, or folded: a site is",
        "           named by the program's own line (LEAKTOP_LIBRARY_PATHS adds more)",
        "Esc/Bksp   back (close the traceback, help, or the filter)",
        "s          sort by the next column",
        "/          filter rows by text (Enter keeps it, Esc clears it)",
        "b          baseline: CHANGE columns count from now (b again: from the start)",
        "g          run gc.collect() in the process now",
        "p          pause the display (data keeps coming); in replay: play/pause",
        "m          drop a marker every viewer of this process sees",
        "w          a program of several processes: the list of them (Enter watches one)",
        "D          stop the agent in the process (detach; the program goes on)",
        "r          reconnect after the process or agent went away",
        ", .        replay: step one sample back / forward;  < >  ten samples",
        "q          quit (a program leaktop started is ended, unless --keep)",
        "A finding is one leak: a type that grows after warm-up without levelling off,",
        "the line that allocates it, what holds it, and what grows with it.",
        "Memory parts are measured: pymalloc's blocks (objects <= 512 B), malloc's",
        "heap (C code, larger objects), file-backed pages; the limit that binds first",
        "and the time to it at the growth of the last two minutes.",
    };
    lt_crt_bar(y, LT_A_TITLE);
    lt_crt_text(y, 1, LT_A_TITLE, "leaktop keys  (any key closes this help)", 0);
    for (int i = 0; i < (int)(sizeof lines / sizeof lines[0]) && i + 1 < height; i++)
        lt_crt_text(y + 1 + i, 2, LT_A_NORMAL, lines[i], 0);
}
