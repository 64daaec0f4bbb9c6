/*
 * cache_budget.c - how many parsed certificates a server process keeps when
 * the configuration does not say (cin_tls.h).
 *
 * A fixed count fits one host and not the next: 25 000 was too few for a
 * host that serves 100 000 names (three handshakes in four then parsed a
 * certificate) and too many for a small one running the prefork MPM's
 * hundred children.  What an operator can weigh is memory, so the default
 * is a share of the host's: a quarter of it (the smaller of its RAM and the
 * memory limit of the control group the server runs in), divided among the
 * server's processes, at CIN_TLS_ENTRY_BYTES a certificate.  The cache only
 * grows with the certificates handshakes use, so the bound is memory that may
 * be used, not memory taken.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cin_tls.h"

/* A limit file's number ("max", unreadable or absurd: none). */
static uint64_t limit_in(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[64];
    char *end;
    unsigned long long v;

    if (!f)
        return 0;
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return 0;
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    errno = 0;
    v = strtoull(buf, &end, 10);
    if (errno || end == buf || *end || v == 0)
        return 0; /* "max", or not a number */
    return (uint64_t)v;
}

static uint64_t smaller(uint64_t a, uint64_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

uint64_t cin_cgroup_memory_limit(const char *proc_cgroup, const char *root)
{
    FILE *f = fopen(proc_cgroup, "r");
    char line[1024], path[PATH_MAX + 32];
    uint64_t limit = 0;

    if (f) {
        while (fgets(line, sizeof(line), f)) {
            char *rel;
            line[strcspn(line, "\n")] = '\0';
            if (strncmp(line, "0::", 3))
                continue; /* the unified hierarchy (v2) only */
            rel = line + 3;
            if (*rel != '/' || strstr(rel, "/.."))
                break;
            /* the group's own limit and each of its ancestors': the smallest
             * applies */
            for (;;) {
                char *slash;
                if ((size_t)snprintf(path, sizeof(path), "%s%s/memory.max", root,
                                     strcmp(rel, "/") ? rel : "") >= sizeof(path))
                    break;
                limit = smaller(limit, limit_in(path));
                slash = strrchr(rel, '/');
                if (!slash || slash == rel)
                    break;
                *slash = '\0';
            }
            break;
        }
        fclose(f);
    }
    /* the first version's hierarchy, where it is mounted */
    if ((size_t)snprintf(path, sizeof(path), "%s/memory/memory.limit_in_bytes", root) <
        sizeof(path))
        limit = smaller(limit, limit_in(path));
    return limit;
}

uint64_t cin_host_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;

    return smaller(ram, cin_cgroup_memory_limit("/proc/self/cgroup", "/sys/fs/cgroup"));
}

size_t cin_tls_cache_for_memory(uint64_t memory, unsigned processes)
{
    uint64_t n;

    if (!memory)
        return CIN_TLS_CACHE_FALLBACK;
    n = memory / CIN_TLS_MEMORY_SHARE / (processes ? processes : 1) / CIN_TLS_ENTRY_BYTES;
    if (n < CIN_TLS_CACHE_MIN)
        n = CIN_TLS_CACHE_MIN;
    if (n > CIN_TLS_CACHE_MAX)
        n = CIN_TLS_CACHE_MAX;
    return (size_t)n;
}

size_t cin_tls_auto_cache_size(unsigned processes)
{
    return cin_tls_cache_for_memory(cin_host_memory(), processes);
}
