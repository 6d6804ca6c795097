/* /proc/self/status: VmRSS and VmHWM in one read. */
#include "proc_self.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t
kib_field(const char *buf, const char *name)
{
    const char *p = strstr(buf, name);
    if (p == NULL)
        return 0;
    return strtoull(p + strlen(name), NULL, 10) * 1024u;
}

int
lt_proc_self_rss(uint64_t *rss, uint64_t *peak)
{
    *rss = *peak = 0;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    *rss = kib_field(buf, "\nVmRSS:");
    *peak = kib_field(buf, "\nVmHWM:");
    return 0;
}
