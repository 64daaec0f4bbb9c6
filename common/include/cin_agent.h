/*
 * cin_agent.h - the issuance agent.
 *
 * One pass takes every paid order that is due (status processing, next
 * attempt time reached), holds a lease on it in the store so that no other
 * agent works it at the same time, generates the key and CSR when the module
 * makes the key, asks the order's CA connector, and stores the result.  It
 * also finds out what became, at the CA, of orders cancelled while there
 * (a certificate issued all the same is stored revoked, never served), tells
 * CAs about revocations and marks expired orders.  Runs in the
 * `certinext agent` command or in a thread of one server process; it only
 * touches the store, OpenSSL and libcurl.
 */
#ifndef CIN_AGENT_H
#define CIN_AGENT_H

#include "cin_store.h"

typedef struct cin_agent_stats {
    int issued;
    int failed;
    int deferred; /* transient errors or pending at the CA */
    int revocations_sent;
    int expired;
    int renewals; /* renewal orders created for auto_renew certificates */
    int cleanups; /* cancelled orders whose clean-up at the CA ended */
} cin_agent_stats;

/* The renewal point as a fraction of a certificate's lifetime that remains
 * (store setting "renew_fraction", 0.05 to 0.95; default one third). */
#define CIN_RENEW_FRACTION_DEFAULT (1.0 / 3.0)
double cin_agent_renew_fraction(cin_store *st);

/* A holder name unique to this process and thread ("host:pid:tid"); host is
 * host_id (a fleet's host: cin_core_host_id) or, NULL or "", the hostname. */
void cin_agent_holder(const char *host_id, char *buf, size_t len);

/* One pass.  holder names the lease holder.  stats may be NULL. */
int cin_agent_run_once(cin_store *st, const char *holder, cin_agent_stats *stats);
/* Renew the auto_renew certificates that reached their renewal point, now
 * (a pass checks every few seconds).  stats may be NULL; renewals adds up. */
int cin_agent_renewals(cin_store *st, const char *holder, cin_agent_stats *stats);
/* True when there is work due now (a cheap query, for a short poll). */
int cin_agent_work_due(cin_store *st);

/* Lease time for one order, seconds: the store's setting "lease_ttl"
 * (CIN_AGENT_LEASE_TTL_MIN to _MAX), default CIN_AGENT_LEASE_TTL.  A holder
 * renews it every third of that while it works; a dead holder's lease is
 * taken over when it runs out (at once by the same host when its process is
 * gone). */
#define CIN_AGENT_LEASE_TTL     60
#define CIN_AGENT_LEASE_TTL_MIN 5
#define CIN_AGENT_LEASE_TTL_MAX 600
int cin_agent_lease_ttl(cin_store *st);

/* For CA connectors, before each network exchange: renews the lease of the
 * order this thread works when a third of its time has passed.  CIN_OK, or
 * CIN_ECONFLICT when another agent has taken the order over (stop: nothing
 * this agent gets will be stored). */
int cin_agent_lease_keep(cin_store *st);

#endif
