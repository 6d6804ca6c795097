/*
 * Which source files are the program's own and which are library: the standard library, what
 * pip or the distribution installed (site-packages, dist-packages) and frozen modules. An
 * allocation is named by its innermost frame in the program's own code (the line the user
 * wrote that called json.dumps), not by the line inside the library that made the block.
 *
 * The library's prefixes come from the agent (HELLO's lib_paths: the host's sysconfig and site
 * paths, which a viewer on another machine cannot read), and from two variables a user sets:
 * LEAKTOP_LIBRARY_PATHS (more prefixes counted as library, ':'-separated) and LEAKTOP_OWN_PATHS
 * (prefixes always counted as the program's own, which win: a package of yours installed in
 * site-packages). Plain C, no state beyond the lists.
 */
#ifndef LEAKTOP_CODE_PATHS_H
#define LEAKTOP_CODE_PATHS_H

#include <stdint.h>

typedef struct lt_code_paths {
    char **lib, **own; /* prefixes, without a trailing '/' */
    uint32_t nlib, nown;
} lt_code_paths;

/* Build from the agent's prefixes (n of them, NULL entries skipped) and the two variables'
 * values (NULL or "" for none). Returns 0, or -1 when out of memory (cp is then empty and
 * usable: only the built-in rules apply). */
int lt_code_paths_init(lt_code_paths *cp, const char *const *agent_lib, uint32_t n,
                       const char *env_lib, const char *env_own);
void lt_code_paths_free(lt_code_paths *cp);

/* 1 when file is library code: under an own prefix no; under a library prefix, in a
 * site-packages or dist-packages directory, or a frozen module ("<frozen ...>") yes; anything
 * else (the program's files, "<string>", "<stdin>") no. */
int lt_code_paths_is_library(const lt_code_paths *cp, const char *file);

#endif
