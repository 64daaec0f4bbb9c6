/*
 * cin_metrics.h - counters every server process of a host shares through a
 * small mapped file, for GET <mount>metrics (Prometheus text format).
 *
 * Like the generation counter (cin_generation.h), the counters never touch the
 * store: the file (STORE.metrics beside a SQLite store, MIRROR.metrics beside
 * a central store's host mirror) holds one slot per process.  A process
 * claims a free slot - or one whose process has died, after folding that
 * process's counters into the host's "retired" slot so that the host's sums
 * never go backwards - the first time it counts something, and from then on
 * counting is one relaxed atomic add into its own slot: no lock, no system
 * call, nothing a handshake could wait on.  A scrape reads every slot: each
 * live process's own values, and the host's sums (live slots + retired).
 * A slot holds its process's PID and start time (/proc/PID/stat): a PID
 * reused by a later process is not the slot's process, alive or not.
 *
 * The file is opened once per process tree (cin_metrics_open, in the parent
 * before it forks: the mapping is inherited); a child claims its own slot.
 * Without an open file every call here does nothing.
 */
#ifndef CIN_METRICS_H
#define CIN_METRICS_H

#include "cin_common.h"

enum cin_metric {
    /* counters (summed per host; a dead process's are kept in the host's sum) */
    CIN_M_HS_STORE = 0,  /* handshakes served a certificate from the store */
    CIN_M_HS_FALLBACK,   /* handshakes left to the server's own certificate */
    CIN_M_CACHE_HIT,     /* parsed certificate found in the process's cache */
    CIN_M_CACHE_MISS,    /* ... not found: read, decrypted and parsed */
    CIN_M_LOAD_USEC,     /* microseconds spent in those loads */
    CIN_M_REFRESH_COUNT, /* index refreshes after the generation moved */
    CIN_M_REFRESH_USEC,  /* microseconds spent in them */
    CIN_M_ISSUED_COUNT,  /* certificates stored by an agent of this process */
    CIN_M_ISSUED_MSEC,   /* milliseconds from payment to certificate, summed */
    CIN_M_ISSUED_LE,     /* issuance latency histogram: CIN_METRICS_NBUCKETS buckets */
    CIN_M_AGENT_TRANSIENT = CIN_M_ISSUED_LE + 8, /* CA attempts that will be retried */
    CIN_M_AGENT_PERMANENT,                       /* CA refusals that failed an order */
    /* issue 13 (the ACME server) counts its requests here */
    CIN_M_ACME_SERVER_REQUESTS,
    CIN_M_SHARED_HIT,  /* cache misses answered by the host's shared cache */
    CIN_M_SHARED_MISS, /* ... not there: read from the store */
    CIN_M_COUNTERS,    /* end of the counters */
    /* gauges (per process only) */
    CIN_M_INDEX_GEN = CIN_M_COUNTERS, /* the generation this process's index was built at */
    CIN_M_COUNT
};

/* Upper bounds (seconds) of the issuance latency buckets; the last is +Inf. */
#define CIN_METRICS_NBUCKETS 8
extern const double cin_metrics_buckets[CIN_METRICS_NBUCKETS - 1];

/* Map path (created 0644 when missing; chowned like the store when root makes
 * it) for this process and the children it will fork.  Opening another path
 * replaces the mapping; the same path again does nothing. */
int cin_metrics_open(const char *path, char **err);
void cin_metrics_close(void);
/* The mapped file's path, or NULL. */
const char *cin_metrics_path(void);

/* One relaxed atomic add into this process's slot. */
void cin_metrics_add(enum cin_metric m, uint64_t v);
/* A gauge of this process. */
void cin_metrics_set(enum cin_metric m, uint64_t v);
/* Count one issuance that took `seconds` from payment to certificate. */
void cin_metrics_issued(double seconds);

/* What a scrape sees: each live process, and the host's sums. */
typedef struct cin_metrics_proc {
    int pid;
    uint64_t v[CIN_M_COUNT];
} cin_metrics_proc;
typedef struct cin_metrics_view {
    cin_metrics_proc *procs; /* live processes, by pid */
    size_t nprocs;
    uint64_t host[CIN_M_COUNTERS]; /* live + retired */
} cin_metrics_view;
int cin_metrics_read(cin_metrics_view *out);
void cin_metrics_view_clear(cin_metrics_view *v);

/* 1 when addr (an IPv4 or IPv6 literal) is in list: addresses and CIDR
 * prefixes separated by spaces or commas ("127.0.0.1 10.0.0.0/8 ::1"). */
int cin_metrics_addr_allowed(const char *list, const char *addr);
/* CIN_OK when every entry of list parses; else CIN_EINVAL with *err. */
int cin_metrics_allow_valid(const char *list, char **err);

#endif
