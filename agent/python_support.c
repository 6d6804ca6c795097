/* Which CPython releases the agent runs in (see python_support.h). */
#include "python_support.h"

#include <stdio.h>

#define MAJOR(v) ((unsigned)((v) >> 24) & 0xffu)
#define MINOR(v) ((unsigned)((v) >> 16) & 0xffu)
#define MICRO(v) ((unsigned)((v) >> 8) & 0xffu)
#define LEVEL(v) ((unsigned)((v) >> 4) & 0xfu) /* 0xA alpha, 0xB beta, 0xC candidate, 0xF final */
#define SERIAL(v) ((unsigned)(v) & 0xfu)
#define FINAL 0xFu

/* "3.14.3", "3.15.0b1", "3.15.0rc2" */
static void
version_text(uint32_t v, char *buf, size_t len)
{
    const char *level = LEVEL(v) == 0xA ? "a" : LEVEL(v) == 0xB ? "b" : LEVEL(v) == 0xC ? "rc" : "";
    if (*level == '\0')
        snprintf(buf, len, "%u.%u.%u", MAJOR(v), MINOR(v), MICRO(v));
    else
        snprintf(buf, len, "%u.%u.%u%s%u", MAJOR(v), MINOR(v), MICRO(v), level, SERIAL(v));
}

int
lt_python_supported(uint32_t built, uint32_t running, char *why, size_t whylen)
{
    char run[32], had[32];
    if (whylen > 0)
        why[0] = '\0';
    version_text(running, run, sizeof run);
    version_text(built, had, sizeof had);
    unsigned minor = MINOR(running);
    if (MAJOR(running) != 3 || minor < 8 || minor > LT_PYTHON_NEWEST_MINOR) {
        snprintf(why, whylen, "Python %s is not supported: the agent supports %s", run,
                 LEAKTOP_PYTHONS);
        return 0;
    }
    if (MAJOR(built) != MAJOR(running) || MINOR(built) != minor) {
        snprintf(why, whylen, "this agent was built for Python %u.%u, not %s",
                 MAJOR(built), MINOR(built), run);
        return 0;
    }
    if (minor == 14 && MICRO(running) < 5) {
        snprintf(why, whylen,
                 "Python %s is not supported: 3.14.0-3.14.4 shipped an incremental garbage "
                 "collector the agent cannot walk; use 3.14.5 or later", run);
        return 0;
    }
    if (minor >= 14 && (LEVEL(running) != FINAL || LEVEL(built) != FINAL) && running != built) {
        snprintf(why, whylen,
                 "this agent was built against Python %s and cannot run in %s: "
                 "pre-releases differ in their internal structures; rebuild it for this one",
                 had, run);
        return 0;
    }
    return 1;
}
