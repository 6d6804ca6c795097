#!/usr/bin/env python3
"""Turn a `tmux capture-pane -p -e` dump into an HTML page that looks like the terminal.

Usage: ansi2html.py CAPTURE.txt OUT.html [--cols 100] [--rows 30] [--title TEXT]

Stdlib only. Every cell is its own fixed-size box, so a glyph the monospace font lacks cannot push
the columns out of line; the sparklines' block and braille glyphs are drawn as shapes filling the
cell, as terminals draw them, rather than taken from a font. The page's size in pixels is
printed on stdout ("W H") for the screenshot. SGR handled: reset, bold, dim, italic, underline,
reverse, the 8/16 colours, 256 colours and 24-bit colours, and their resets; the state carries
across lines as tmux writes it.
"""
import argparse
import html
import re
import sys
import unicodedata

CELL_W, CELL_H, FONT_PX, PAD = 9, 19, 15, 12

# A dark theme close to common terminal defaults (Tango-like).
BG, FG = "#1c1c1c", "#d4d4d4"
BASE16 = [
    "#2e3436", "#cc0000", "#4e9a06", "#c4a000", "#3465a4", "#75507b", "#06989a", "#d3d7cf",
    "#555753", "#ef2929", "#8ae234", "#fce94f", "#729fcf", "#ad7fa8", "#34e2e2", "#eeeeec",
]


def xterm256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + 10 * (n - 232)
    return "#%02x%02x%02x" % (v, v, v)


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = self.dim = self.italic = self.underline = self.reverse = False

    def key(self):
        return (self.fg, self.bg, self.bold, self.dim, self.italic, self.underline, self.reverse)

    def apply(self, params):
        ps = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(ps):
            p = ps[i]
            if p == 0:
                self.reset()
            elif p == 1:
                self.bold = True
            elif p == 2:
                self.dim = True
            elif p == 3:
                self.italic = True
            elif p == 4:
                self.underline = True
            elif p == 7:
                self.reverse = True
            elif p == 22:
                self.bold = self.dim = False
            elif p == 23:
                self.italic = False
            elif p == 24:
                self.underline = False
            elif p == 27:
                self.reverse = False
            elif 30 <= p <= 37:
                self.fg = BASE16[p - 30]
            elif 90 <= p <= 97:
                self.fg = BASE16[p - 90 + 8]
            elif p == 39:
                self.fg = None
            elif 40 <= p <= 47:
                self.bg = BASE16[p - 40]
            elif 100 <= p <= 107:
                self.bg = BASE16[p - 100 + 8]
            elif p == 49:
                self.bg = None
            elif p in (38, 48) and i + 1 < len(ps):
                color = None
                if ps[i + 1] == 5 and i + 2 < len(ps):
                    color = xterm256(ps[i + 2])
                    i += 2
                elif ps[i + 1] == 2 and i + 4 < len(ps):
                    color = "#%02x%02x%02x" % tuple(ps[i + 2:i + 5])
                    i += 4
                if p == 38:
                    self.fg = color
                else:
                    self.bg = color
            i += 1

    def css(self):
        fg, bg = self.fg or FG, self.bg or BG
        if self.reverse:
            fg, bg = bg, fg
        out = ["color:%s" % fg]
        if bg != BG:
            out.append("background:%s" % bg)
        if self.bold:
            out.append("font-weight:bold")
        if self.dim:
            out.append("opacity:0.6")
        if self.italic:
            out.append("font-style:italic")
        if self.underline:
            out.append("text-decoration:underline")
        return ";".join(out)


TOKEN = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b.|([^\x1b])", re.S)


def parse(text, cols, rows):
    """The screen as rows of (char, css) cells, each row exactly cols wide."""
    style = Style()
    grid = []
    for line in text.split("\n")[:rows]:
        row = []
        for m in TOKEN.finditer(line):
            if m.group(2) == "m":
                style.apply(m.group(1))
            elif m.group(3) is not None:
                ch = m.group(3)
                if ch == "\r" or unicodedata.combining(ch):
                    continue
                row.append((ch, style.css()))
                # A double-width character takes two cells.
                if unicodedata.east_asian_width(ch) in ("W", "F"):
                    row.append(("", style.css()))
        plain = Style().css()
        row = row[:cols] + [(" ", plain)] * (cols - len(row))
        grid.append(row)
    while len(grid) < rows:
        grid.append([(" ", Style().css())] * cols)
    return grid


# Braille dots (bit -> column, row), as the Unicode block numbers them.
BRAILLE_DOTS = [(0x01, 0, 0), (0x02, 0, 1), (0x04, 0, 2), (0x40, 0, 3),
                (0x08, 1, 0), (0x10, 1, 1), (0x20, 1, 2), (0x80, 1, 3)]


def fg_of(style):
    return re.search(r"(?:^|;)color:([^;]+)", style).group(1)


def glyph(ch, style):
    """Sparkline glyphs drawn as shapes that fill the cell, as terminals draw them (a font's
    braille dots are tiny, and its blocks leave gaps); None for ordinary text."""
    cp = ord(ch) if ch else 0
    if 0x2581 <= cp <= 0x2588:                       # lower one-eighth .. full block
        h = CELL_H * (cp - 0x2580) / 8.0
        return "<i style='position:absolute;left:0;right:0;bottom:0;height:%.2fpx;" \
               "background:%s'></i>" % (h, fg_of(style))
    if 0x2800 <= cp <= 0x28FF:                       # braille: a 2x4 grid of dots
        bits = cp - 0x2800
        r = 1.25
        dots = "".join("<circle cx='%.2f' cy='%.2f' r='%.2f'/>" % (
            CELL_W * (0.28 + 0.44 * col), CELL_H * (0.14 + 0.24 * row), r)
            for bit, col, row in BRAILLE_DOTS if bits & bit)
        return "<svg width='%d' height='%d' fill='%s' style='position:absolute;left:0;top:0'>" \
               "%s</svg>" % (CELL_W, CELL_H, fg_of(style), dots)
    return None


def page(grid, cols, rows, title):
    w, h = cols * CELL_W + 2 * PAD, rows * CELL_H + 2 * PAD
    css = """
html, body { margin: 0; padding: 0; background: %(bg)s; }
body { width: %(w)dpx; height: %(h)dpx; overflow: hidden; }
.t { position: absolute; left: %(pad)dpx; top: %(pad)dpx;
     font-family: 'DejaVu Sans Mono', monospace; font-size: %(font)dpx; line-height: %(ch)dpx;
     -webkit-font-smoothing: antialiased; }
.r { height: %(ch)dpx; white-space: pre; }
.r span { display: inline-block; width: %(cw)dpx; height: %(ch)dpx; vertical-align: top;
          text-align: center; position: relative; }
""" % {"bg": BG, "w": w, "h": h, "pad": PAD, "font": FONT_PX, "ch": CELL_H, "cw": CELL_W}
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>%s</title><style>%s</style>"
           "</head><body><div class='t'>" % (html.escape(title), css)]
    for row in grid:
        cells = []
        for ch, style in row:
            g = glyph(ch, style)
            cells.append("<span style='%s'>%s</span>" % (
                style, g if g is not None else html.escape(ch) if ch else ""))
        out.append("<div class='r'>%s</div>" % "".join(cells))
    out.append("</div></body></html>\n")
    return "".join(out), w, h


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture")
    ap.add_argument("out")
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--rows", type=int, default=30)
    ap.add_argument("--title", default="leaktop")
    a = ap.parse_args()
    with open(a.capture, encoding="utf-8", errors="replace") as f:
        text = f.read()
    doc, w, h = page(parse(text, a.cols, a.rows), a.cols, a.rows, a.title)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(doc)
    print(w, h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
