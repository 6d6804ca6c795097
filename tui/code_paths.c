/* The program's own code and the library's (see code_paths.h). */
#include "code_paths.h"

#include <string.h>

#include "leaktop/mem.h"

static int
add(char ***list, uint32_t *n, const char *p, size_t len)
{
    while (len > 1 && p[len - 1] == '/')
        len--;
    if (len == 0)
        return 0;
    char **grown = lt_realloc(*list, sizeof **list * (*n + 1));
    if (grown == NULL)
        return -1;
    *list = grown;
    char *s = lt_malloc(len + 1);
    if (s == NULL)
        return -1;
    memcpy(s, p, len);
    s[len] = '\0';
    grown[(*n)++] = s;
    return 0;
}

static int
add_env(char ***list, uint32_t *n, const char *v)
{
    while (v != NULL && *v) {
        const char *end = strchr(v, ':');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        if (add(list, n, v, len) < 0)
            return -1;
        v = end ? end + 1 : NULL;
    }
    return 0;
}

int
lt_code_paths_init(lt_code_paths *cp, const char *const *agent_lib, uint32_t n,
                   const char *env_lib, const char *env_own)
{
    memset(cp, 0, sizeof *cp);
    for (uint32_t i = 0; i < n; i++)
        if (agent_lib[i] != NULL && add(&cp->lib, &cp->nlib, agent_lib[i],
                                        strlen(agent_lib[i])) < 0)
            goto fail;
    if (add_env(&cp->lib, &cp->nlib, env_lib) < 0 || add_env(&cp->own, &cp->nown, env_own) < 0)
        goto fail;
    return 0;
fail:
    lt_code_paths_free(cp);
    return -1;
}

void
lt_code_paths_free(lt_code_paths *cp)
{
    for (uint32_t i = 0; i < cp->nlib; i++)
        lt_free(cp->lib[i]);
    for (uint32_t i = 0; i < cp->nown; i++)
        lt_free(cp->own[i]);
    lt_free(cp->lib);
    lt_free(cp->own);
    memset(cp, 0, sizeof *cp);
}

/* file is prefix itself or below it. */
static int
under(const char *file, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(file, prefix, n) == 0 && (file[n] == '/' || file[n] == '\0' ||
                                             (n > 0 && prefix[n - 1] == '/'));
}

int
lt_code_paths_is_library(const lt_code_paths *cp, const char *file)
{
    if (file == NULL || *file == '\0')
        return 0;
    for (uint32_t i = 0; i < cp->nown; i++)
        if (under(file, cp->own[i]))
            return 0;
    if (strncmp(file, "<frozen ", 8) == 0)
        return 1;
    if (strstr(file, "/site-packages/") != NULL || strstr(file, "/dist-packages/") != NULL)
        return 1;
    for (uint32_t i = 0; i < cp->nlib; i++)
        if (under(file, cp->lib[i]))
            return 1;
    return 0;
}
