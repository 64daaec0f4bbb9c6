/*
 * cin_ca.h - the CA connector interface, and the built-in CA.
 *
 * A connector turns a paid order (its CSR) into a certificate chain, and
 * tells its CA about revocations.  submit() starts the work for an order;
 * poll() continues it (for the built-in CA both finish at once); revoke()
 * tells the CA; cleanup() finds out what became of an order cancelled while
 * it was at the CA.  A result is one of: done (chain set), pending (call
 * again after retry_after seconds), transient error (retry later), or
 * permanent error (the order fails with the result's problem).
 */
#ifndef CIN_CA_H
#define CIN_CA_H

#include "cin_problem.h"
#include "cin_store_order.h"

enum cin_ca_outcome { CIN_CA_DONE = 0, CIN_CA_PENDING, CIN_CA_TRANSIENT, CIN_CA_FAILED };

typedef struct cin_ca_result {
    int outcome;
    char *chain_pem; /* CIN_CA_DONE: the chain, leaf first (PEM) */
    /* CIN_CA_TRANSIENT, CIN_CA_FAILED: why.  A CA's own problem document
     * (an ACME error) keeps its type URI; ours carry a code: ca_error (the
     * CA or its configuration refused), ca_unavailable (try again later). */
    cin_problem problem;
    int retry_after; /* seconds, for PENDING / TRANSIENT, at most a day; 0: agent's backoff */
} cin_ca_result;

void cin_ca_result_clear(cin_ca_result *r);

/* ---- distrust (distrust.c) --------------------------------------------------- */

typedef struct cin_distrust_counts {
    size_t queued;    /* waiting for their replacement to start */
    size_t replacing; /* replacement ordered, not issued yet */
    size_t replaced;  /* replacement issued (the old certificate superseded) */
    size_t failed;    /* replacement failed or was cancelled */
    size_t stranded;  /* the product has no other CA: reported, not replaced */
} cin_distrust_counts;

/* Distrust CA ca, or (ca NULL) the root/intermediate with this SHA-256
 * fingerprint: every active certificate that depends on it is queued for a
 * free reissue from its product's next trusted CA; counts says how many,
 * and how many have none. */
int cin_ca_distrust(cin_store *st, const char *ca, const char *fingerprint, const char *actor,
                    cin_distrust_counts *counts, char **err);
/* The agent: start queued replacements, at most setting distrust_rate per
 * minute (default 60); how many it started. */
int cin_distrust_work(cin_store *st, const char *holder);
/* Is a replacement waiting to start? */
int cin_distrust_pending(cin_store *st);
/* Progress over every distrust, and the products with no other CA. */
int cin_distrust_status(cin_store *st, cin_distrust_counts *c, char ***stranded, size_t *nstranded);
/* The same counts for one account's certificates (the page's progress). */
int cin_distrust_counts_of(cin_store *st, int64_t account_id, cin_distrust_counts *c);

/* ---- dns-01 (acme_dns.c) ---------------------------------------------------- */

/* Is path usable as the DNS hook: absolute, a regular executable file that
 * belongs to root and is not writable by group or other? */
int cin_dns_hook_check(const char *path, char **err);
/* The process's DNS hook, from root-owned configuration only (a server's
 * configuration file, `certinext agent --dns-hook`); NULL: none.  Checked. */
int cin_dns_hook_set(const char *path, char **err);
const char *cin_dns_hook(void);
/* Is TXT name = value visible at the resolver of setting dns_resolver (else
 * at every authoritative server of its zone)?  1 yes, 0 no, -1 no way to
 * tell (err says why), -2 too many look-ups under way in this process.
 * Bounded: about 5 s in all, whatever the DNS servers do. */
int cin_dns_txt_visible(cin_store *st, const char *name, const char *value, char *err,
                        size_t errlen);
/* A TSIG key file, as BIND's and Knot's tools write it ("key NAME {
 * algorithm ALG; secret "B64"; };" or Knot's YAML "id:/algorithm:/secret:"):
 * its name, algorithm ("hmac-sha256.") and secret (free with cin_free_secret). */
int cin_tsig_key_parse(const char *text, char **name, char **alg, char **secret, char **err);

/*
 * Every operation fills *r (which it zeroes first) and never fails otherwise.
 *   submit, poll  advance a processing order as far as it can without waiting
 *   revoke        tell the CA that c is revoked for reason (RFC 5280 name);
 *                 DONE also when the CA knew already
 *   cleanup       o was cancelled while at the CA (o->ca_cleanup): DONE with
 *                 the chain when the CA issued it after all (the agent stores
 *                 it revoked, never served, and tells the CA), PENDING while
 *                 the CA is still issuing, FAILED when nothing was issued.
 *                 It never validates or finalizes anything.
 */
typedef struct cin_ca_ops {
    const char *kind;
    void (*submit)(cin_store *st, const char *ca_name, cin_order *o, cin_ca_result *r);
    void (*poll)(cin_store *st, const char *ca_name, cin_order *o, cin_ca_result *r);
    void (*revoke)(cin_store *st, const char *ca_name, const cin_cert *c, const char *reason,
                   cin_ca_result *r);
    void (*cleanup)(cin_store *st, const char *ca_name, cin_order *o, cin_ca_result *r);
} cin_ca_ops;

/* The connector for a CA configuration's kind ("local", "acme"); NULL if unknown. */
const cin_ca_ops *cin_ca_ops_for(const char *kind);
/* Kind of the named CA configuration. */
int cin_store_ca_kind(cin_store *st, const char *ca_name, char **kind);

/* Built-in CA: create its root and intermediate in the store (certinext init). */
int cin_ca_local_init(cin_store *st, char **err);
/* The built-in CA's root certificate (PEM, malloc'd). */
int cin_ca_local_root(cin_store *st, char **pem);

/* The free reissue of parent's certificate at CA with: same names and key
 * type, no charge, no approval, ending when the original does; the parent's
 * trail gets action ("order.distrust_reissue", "order.ari_reissue") with
 * reason.  In a transaction. */
int cin_reissue_free(cin_store *st, const cin_order *parent, const char *with, const char *reason,
                     const char *action, const char *holder, int64_t *child_id);

/* ---- ARI (RFC 9773): renewal windows from the CA (acme_ari.c) ---------------- */

/* A certificate's renewal window as last asked (times in seconds since the
 * epoch): the window, the time picked in it (0: certinext's own renewal
 * point), when to ask again, and whether the CA moved it earlier than
 * planned (then a free reissue was started). */
typedef struct cin_ari {
    time_t start, end, planned, next_check, checked;
    char *explanation; /* explanationURL, or NULL */
    int moved;
} cin_ari;

/* ENOTFOUND when never asked, or the CA offers no renewalInfo. */
int cin_store_cert_ari_get(cin_store *st, int64_t cert_id, cin_ari *out);
void cin_ari_clear(cin_ari *a);
/* Agent: ask the CAs for the windows that are due, plan, and start free
 * reissues of certificates whose window moved earlier.  Returns how many
 * windows were read. */
int cin_ari_work(cin_store *st, const char *holder);

extern const cin_ca_ops cin_ca_local_ops;
extern const cin_ca_ops cin_ca_acme_ops;

#endif
