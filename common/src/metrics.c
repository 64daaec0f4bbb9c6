/* metrics.c - per-process counters in a host-wide mapped file (see cin_metrics.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cin_metrics.h"
#include "cin_util.h"

#define SLOTS 256
#define MAGIC 0x315254454d4e4943ULL /* "CINMETR1" */

const double cin_metrics_buckets[CIN_METRICS_NBUCKETS - 1] = {1, 5, 15, 30, 60, 300, 3600};

struct slot {
    int32_t pid;    /* 0: free */
    uint32_t start; /* the process's start time (low 32 bits of its clock ticks
                     * since boot; 0: unknown): a reused PID is another process */
    uint64_t v[CIN_M_COUNT];
};

/* The file's layout: nvalues (CIN_M_COUNT) fixes every slot's place, so a
 * file of another layout (a build with other counters) is moved aside
 * (PATH.old) and a new one made: counting starts again from zero, as after a
 * restart, and the other build's processes count into the old file. */
struct mfile {
    uint64_t magic;
    uint64_t nvalues;
    struct slot retired; /* the host's share of processes that are gone */
    struct slot s[SLOTS];
};

static struct mfile *map;
static char *map_path;
static int mine = -1; /* this process's slot; reset in a forked child */
static int atfork_done;

static void child_reset(void)
{
    __atomic_store_n(&mine, -1, __ATOMIC_RELAXED);
}

/* The file at path, made if it is not there, sized and mapped. */
static int map_file(const char *path, struct mfile **out, char **err)
{
    struct mfile *m;
    struct stat sb;
    char *dir, *slash;
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        cin_seterr(err, "cannot open metrics file %s: %s", path, strerror(errno));
        return CIN_EIO;
    }
    if (fstat(fd, &sb) != 0 ||
        (sb.st_size < (off_t)sizeof(struct mfile) && ftruncate(fd, sizeof(struct mfile)) != 0)) {
        cin_seterr(err, "cannot size %s: %s", path, strerror(errno));
        close(fd);
        return CIN_EIO;
    }
    /* root (a server's parent, the CLI) leaves the file to the store's owner,
     * as it does the generation file */
    dir = strdup(path);
    slash = dir ? strrchr(dir, '/') : NULL;
    if (slash)
        *slash = '\0';
    if (geteuid() == 0 && dir && stat(slash ? dir : ".", &sb) == 0 && sb.st_uid != 0)
        if (fchown(fd, sb.st_uid, sb.st_gid) != 0)
            errno = 0; /* not fatal: root still counts */
    free(dir);
    m = mmap(NULL, sizeof(struct mfile), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        cin_seterr(err, "cannot map %s: %s", path, strerror(errno));
        return CIN_EIO;
    }
    *out = m;
    return CIN_OK;
}

/* A file of another layout (written by a build with other counters, whose
 * processes may still run and write to it) is moved aside for a new one:
 * those processes keep counting into the old file, never into this one. */
static int replace_file(const char *path, char **err)
{
    char *aside = cin_asprintf("%s.old", path);
    int rc = aside && rename(path, aside) == 0 ? CIN_OK : CIN_EIO;

    if (rc != CIN_OK && errno == ENOENT)
        rc = CIN_OK; /* another process moved it first */
    if (rc != CIN_OK)
        cin_seterr(err, "cannot move %s aside: %s", path, strerror(errno));
    free(aside);
    return rc;
}

int cin_metrics_open(const char *path, char **err)
{
    struct mfile *m = NULL;
    uint64_t zero, n;
    int rc, tries;

    if (map_path && !strcmp(map_path, path))
        return CIN_OK;
    for (tries = 0;; tries++) {
        rc = map_file(path, &m, err);
        if (rc != CIN_OK)
            return rc;
        zero = 0;
        if (!__atomic_compare_exchange_n(&m->magic, &zero, MAGIC, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE) &&
            zero != MAGIC) {
            munmap(m, sizeof(struct mfile));
            cin_seterr(err, "%s is not a certinext metrics file", path);
            return CIN_EINVAL;
        }
        /* 0: made just now, by this process or another */
        n = 0;
        if (__atomic_compare_exchange_n(&m->nvalues, &n, (uint64_t)CIN_M_COUNT, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE) ||
            n == CIN_M_COUNT)
            break;
        munmap(m, sizeof(struct mfile));
        if (tries == 2) {
            cin_seterr(err, "%s keeps another layout of counters", path);
            return CIN_EINVAL;
        }
        rc = replace_file(path, err);
        if (rc != CIN_OK)
            return rc;
    }
    cin_metrics_close();
    map_path = strdup(path);
    __atomic_store_n(&map, m, __ATOMIC_RELEASE);
    if (!atfork_done) {
        pthread_atfork(NULL, NULL, child_reset);
        atfork_done = 1;
    }
    return CIN_OK;
}

void cin_metrics_close(void)
{
    struct mfile *m = __atomic_exchange_n(&map, NULL, __ATOMIC_ACQ_REL);

    if (m)
        munmap(m, sizeof(struct mfile));
    free(map_path);
    map_path = NULL;
    mine = -1;
}

const char *cin_metrics_path(void)
{
    return map_path;
}

/* When process pid started (/proc/PID/stat's 22nd field, clock ticks since
 * boot), as 32 bits never 0; 0 when it cannot be read (no /proc, gone). */
static uint32_t start_time(int32_t pid)
{
    char path[40], buf[512], *p;
    unsigned long long ticks = 0;
    ssize_t n;
    int fd, field;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name (field 2) may hold spaces */
    if (!p)
        return 0;
    for (field = 2; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (field != 22 || sscanf(p, "%llu", &ticks) != 1)
        return 0;
    return (uint32_t)ticks ? (uint32_t)ticks : 1;
}

/* The process that claimed a slot as (pid, start) still runs: pid is alive
 * and, when both start times are known, is the same process (not a later
 * one the PID was given to). */
static int alive(int32_t pid, uint32_t start)
{
    uint32_t now;

    if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
        return 0;
    now = start ? start_time(pid) : 0;
    return !now || now == start;
}

/* Fold a dead process's counters into the host's retired slot. */
static void fold(struct mfile *m, struct slot *s)
{
    int i;

    for (i = 0; i < CIN_M_COUNTERS; i++) {
        uint64_t v = __atomic_load_n(&s->v[i], __ATOMIC_RELAXED);
        __atomic_add_fetch(&m->retired.v[i], v, __ATOMIC_RELAXED);
        __atomic_sub_fetch(&s->v[i], v, __ATOMIC_RELAXED);
    }
    for (; i < CIN_M_COUNT; i++)
        __atomic_store_n(&s->v[i], 0, __ATOMIC_RELAXED);
}

/* This process's slot: claimed once (a free one, else a dead process's). */
static struct slot *slot(void)
{
    struct mfile *m = __atomic_load_n(&map, __ATOMIC_ACQUIRE);
    int i = __atomic_load_n(&mine, __ATOMIC_RELAXED), pass;
    int32_t pid, cur;
    uint32_t start, cur_start;

    if (!m)
        return NULL;
    if (i >= 0)
        return &m->s[i];
    pid = (int32_t)getpid();
    start = start_time(pid);
    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < SLOTS; i++) {
            cur = __atomic_load_n(&m->s[i].pid, __ATOMIC_ACQUIRE);
            cur_start = __atomic_load_n(&m->s[i].start, __ATOMIC_ACQUIRE);
            if (cur == pid && (cur_start == start || !cur_start || !start))
                goto got; /* ours already (a thread of this process was first) */
            if (pass == 0 && cur != 0)
                continue;
            if (pass == 1 && alive(cur, cur_start))
                continue;
            /* free, or a dead process's - also one that had this PID before */
            if (__atomic_compare_exchange_n(&m->s[i].pid, &cur, pid, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                __atomic_store_n(&m->s[i].start, start, __ATOMIC_RELEASE);
                if (cur != 0)
                    fold(m, &m->s[i]);
                goto got;
            }
        }
    }
    return NULL; /* every slot belongs to a live process: this one is not counted */
got:
    __atomic_store_n(&mine, i, __ATOMIC_RELAXED);
    return &m->s[i];
}

void cin_metrics_add(enum cin_metric which, uint64_t v)
{
    struct slot *s = slot();

    if (s && which < CIN_M_COUNT)
        __atomic_add_fetch(&s->v[which], v, __ATOMIC_RELAXED);
}

void cin_metrics_set(enum cin_metric which, uint64_t v)
{
    struct slot *s = slot();

    if (s && which < CIN_M_COUNT)
        __atomic_store_n(&s->v[which], v, __ATOMIC_RELAXED);
}

void cin_metrics_issued(double seconds)
{
    int b = 0;

    while (b < CIN_METRICS_NBUCKETS - 1 && seconds > cin_metrics_buckets[b])
        b++;
    cin_metrics_add(CIN_M_ISSUED_COUNT, 1);
    cin_metrics_add(CIN_M_ISSUED_MSEC, seconds > 0 ? (uint64_t)(seconds * 1000) : 0);
    cin_metrics_add((enum cin_metric)(CIN_M_ISSUED_LE + b), 1);
}

int cin_metrics_read(cin_metrics_view *out)
{
    struct mfile *m = __atomic_load_n(&map, __ATOMIC_ACQUIRE);
    int i, j;

    memset(out, 0, sizeof(*out));
    if (!m)
        return CIN_ENOTFOUND;
    out->procs = calloc(SLOTS, sizeof(*out->procs));
    if (!out->procs)
        return CIN_ENOMEM;
    for (j = 0; j < CIN_M_COUNTERS; j++)
        out->host[j] = __atomic_load_n(&m->retired.v[j], __ATOMIC_RELAXED);
    for (i = 0; i < SLOTS; i++) {
        int32_t pid = __atomic_load_n(&m->s[i].pid, __ATOMIC_ACQUIRE);
        uint32_t start = __atomic_load_n(&m->s[i].start, __ATOMIC_ACQUIRE);
        cin_metrics_proc *p;
        if (!pid)
            continue;
        /* a dead process's counters stay in the host's sums until its slot is
         * reused (and folded into the retired slot) */
        for (j = 0; j < CIN_M_COUNTERS; j++)
            out->host[j] += __atomic_load_n(&m->s[i].v[j], __ATOMIC_RELAXED);
        if (!alive(pid, start))
            continue;
        p = &out->procs[out->nprocs++];
        p->pid = pid;
        for (j = 0; j < CIN_M_COUNT; j++)
            p->v[j] = __atomic_load_n(&m->s[i].v[j], __ATOMIC_RELAXED);
    }
    return CIN_OK;
}

void cin_metrics_view_clear(cin_metrics_view *v)
{
    free(v->procs);
    memset(v, 0, sizeof(*v));
}

/* addr as 16 bytes (IPv4 as ::ffff:a.b.c.d) and its family's prefix offset. */
static int parse_addr(const char *s, unsigned char out[16], int *v4)
{
    struct in_addr a4;

    if (inet_pton(AF_INET, s, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4 = 1;
        return 1;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        *v4 = !memcmp(out, mapped, 12);
        return 1;
    }
    return 0;
}

static int prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
    int full = bits / 8, rest = bits % 8;

    if (memcmp(a, b, (size_t)full))
        return 0;
    return !rest || ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

int cin_metrics_addr_allowed(const char *list, const char *addr)
{
    unsigned char peer[16];
    const char *p = list;
    int pv4;

    if (!list || !addr || !parse_addr(addr, peer, &pv4))
        return 0;
    while (p && *p) {
        char tok[128], *slash;
        size_t n = strcspn(p, " ,\t");
        unsigned char net[16];
        int nv4, bits;

        if (n > 0 && n < sizeof(tok)) {
            memcpy(tok, p, n);
            tok[n] = '\0';
            slash = strchr(tok, '/');
            if (slash)
                *slash++ = '\0';
            if (parse_addr(tok, net, &nv4) && nv4 == pv4) {
                bits = slash ? atoi(slash) : (nv4 ? 32 : 128);
                if (nv4)
                    bits += 96;
                if (bits >= (nv4 ? 96 : 0) && bits <= 128 && prefix_match(net, peer, bits))
                    return 1;
            }
        }
        p += n;
        p += strspn(p, " ,\t");
    }
    return 0;
}

int cin_metrics_allow_valid(const char *list, char **err)
{
    const char *p = list;

    while (p && *p) {
        char tok[128], *slash, *end;
        size_t n = strcspn(p, " ,\t");
        unsigned char net[16];
        int v4;

        if (n > 0) {
            long bits = -1;
            if (n >= sizeof(tok)) {
                cin_seterr(err, "\"%.*s\" is not an address", (int)n, p);
                return CIN_EINVAL;
            }
            memcpy(tok, p, n);
            tok[n] = '\0';
            slash = strchr(tok, '/');
            if (slash) {
                *slash++ = '\0';
                bits = strtol(slash, &end, 10);
                if (!*slash || *end)
                    bits = 999;
            }
            if (!parse_addr(tok, net, &v4) || (slash && (bits < 0 || bits > (v4 ? 32 : 128)))) {
                cin_seterr(err, "\"%.*s\" is not an address or CIDR prefix (10.0.0.0/8, ::1)",
                           (int)n, p);
                return CIN_EINVAL;
            }
        }
        p += n;
        p += strspn(p, " ,\t");
    }
    return CIN_OK;
}
