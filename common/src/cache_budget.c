/*
 * cache_budget.c - how many parsed certificates a server process keeps when
 * the configuration does not say (cin_tls.h).
 *
 * A fixed count fits one host and not the next: 25 000 was too few for a
 * host that serves 100 000 names (three handshakes in four then parsed a
 * certificate) and too many for a small one running the prefork MPM's
 * hundreds of children.  What an operator can weigh is memory, so the
 * default is a share of the host's: a quarter of it (the smaller of its RAM
 * and the memory limit of the control group the server runs in), divided
 * among the server's processes, at CIN_TLS_ENTRY_BYTES a certificate.  The
 * cache only grows with the certificates handshakes use, so the bound is
 * memory that may be used, not memory taken.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cin_tls.h"

/* Limits from 2^62 bytes up are cgroup v1's "unlimited" (a page-rounded
 * LONG_MAX), not a limit. */
#define NO_LIMIT ((uint64_t)1 << 62)

/* A limit file's number (0: none - "max", unreadable, not a number). */
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
    if (buf[0] < '0' || buf[0] > '9')
        return 0; /* "max", a sign, nothing */
    errno = 0;
    v = strtoull(buf, &end, 10);
    if (errno || *end || v == 0 || v >= NO_LIMIT)
        return 0;
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

/* The smallest limit named file under dir+rel and each of rel's ancestors
 * (rel: "/a/b", or "/" for dir itself). */
static uint64_t limit_up(const char *dir, char *rel, const char *file)
{
    char path[PATH_MAX];
    uint64_t limit = 0;

    for (;;) {
        char *slash;
        int n = snprintf(path, sizeof(path), "%s%s/%s", dir, strcmp(rel, "/") ? rel : "", file);
        if (n > 0 && (size_t)n < sizeof(path))
            limit = smaller(limit, limit_in(path));
        slash = strrchr(rel, '/');
        if (!slash || slash == rel)
            break;
        *slash = '\0';
    }
    if (strcmp(rel, "/")) { /* and dir's own (the hierarchy's root) */
        int n = snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (n > 0 && (size_t)n < sizeof(path))
            limit = smaller(limit, limit_in(path));
    }
    return limit;
}

/* Whether a group path may be followed: absolute, no ".." component. */
static int plain_path(const char *rel)
{
    const char *p;

    if (*rel != '/')
        return 0;
    for (p = rel; (p = strstr(p, "/..")) != NULL; p += 3)
        if (p[3] == '/' || p[3] == '\0')
            return 0;
    return 1;
}

/* Whether a v1 line's controller list ("cpu,memory") names memory. */
static int has_memory(const char *controllers, size_t len)
{
    const char *p = controllers, *end = controllers + len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = (size_t)((comma ? comma : end) - p);
        if (n == 6 && !memcmp(p, "memory", 6))
            return 1;
        p += n + 1;
    }
    return 0;
}

uint64_t cin_cgroup_memory_limit(const char *proc_cgroup, const char *root)
{
    FILE *f = fopen(proc_cgroup, "r");
    char *line = NULL, dir[PATH_MAX];
    size_t cap = 0;
    ssize_t len;
    uint64_t limit = 0;

    if (!f)
        return 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        char *c1, *c2, *rel;
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        /* hierarchy-id:controllers:path */
        if (!(c1 = strchr(line, ':')) || !(c2 = strchr(c1 + 1, ':')))
            continue;
        rel = c2 + 1;
        if (!plain_path(rel))
            continue;
        if (!strncmp(line, "0::", 3)) {
            /* the unified hierarchy (v2): the group's memory.max and its
             * ancestors' */
            limit = smaller(limit, limit_up(root, rel, "memory.max"));
        } else if (has_memory(c1 + 1, (size_t)(c2 - c1 - 1))) {
            /* v1's memory controller, mounted at root/memory: the group's
             * limit and its ancestors'; in a container whose group is
             * mounted as the root, the root's */
            int n = snprintf(dir, sizeof(dir), "%s/memory", root);
            if (n > 0 && (size_t)n < sizeof(dir))
                limit = smaller(limit, limit_up(dir, rel, "memory.limit_in_bytes"));
        }
    }
    free(line);
    fclose(f);
    return limit;
}

/* The host's RAM in bytes (0: unknown). */
static uint64_t host_ram(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

uint64_t cin_host_memory(void)
{
    uint64_t ram = host_ram();

    if (!ram)
        return 0; /* unknown: the fallback, whatever a group says */
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

size_t cin_tls_default_cache(unsigned processes, char *why, size_t len)
{
    uint64_t memory = cin_host_memory();
    size_t n = cin_tls_cache_for_memory(memory, processes);

    if (!why || !len)
        return n;
    if (!memory)
        snprintf(why, len, "the host's memory could not be read: %d by default",
                 CIN_TLS_CACHE_FALLBACK);
    else
        snprintf(why, len,
                 "a quarter of %" PRIu64 " MiB (%s) over %u process%s at %u KiB a certificate%s",
                 memory >> 20, memory < host_ram() ? "the control group's limit" : "the host's RAM",
                 processes ? processes : 1, processes > 1 ? "es" : "", CIN_TLS_ENTRY_BYTES / 1024,
                 n == CIN_TLS_CACHE_MIN   ? ", raised to the least the default allows"
                 : n == CIN_TLS_CACHE_MAX ? ", lowered to the most it allows"
                                          : "");
    return n;
}

size_t cin_tls_auto_cache_size(unsigned processes)
{
    return cin_tls_default_cache(processes, NULL, 0);
}
