/*
 * cin_notify.h - notifications (issue 15): e-mail over SMTP to administrators
 * and requesters, and signed webhooks for control panels. Order events (the
 * audit trail) are turned into an outbox in the store by the agent, which
 * delivers them outside any transaction and retries with backoff, so an
 * outage of the mail server or the receiver loses nothing.
 */
#ifndef CIN_NOTIFY_H
#define CIN_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cin_account.h"
#include "cin_problem.h"
#include "cin_store.h"

/* The agent's pass: new order events into the outbox, then due deliveries. */
int cin_notify_run(cin_store *st, const char *holder);
/* Expiry warnings (30, 7, 1 days before; each level once per certificate) into
 * the outbox now; the pass does this every 10 minutes. */
int cin_notify_check_expiry(cin_store *st);
/* 1 when the pass has something to do (new events, a due delivery). */
int cin_notify_due(cin_store *st);

/* X-Certinext-Signature: "t=T,v1=" hex(HMAC-SHA256(secret, T "." body)). */
#define CIN_SIGNATURE_MAX 96
void cin_webhook_signature(const char *secret, time_t t, const char *body, size_t len,
                           char out[CIN_SIGNATURE_MAX]);
/* 1 for loopback, private, link-local and unspecified IPv4/IPv6 literals and
 * "localhost" names; 0 otherwise (a name is checked again when connecting). */
int cin_host_is_private(const char *host);
/* Retry delay after `attempts` failed tries, from base seconds, doubling, at most 6 h. */
long cin_notify_backoff(long base, int attempts);
#define CIN_NOTIFY_MAX_ATTEMPTS 12

typedef struct cin_webhook {
    int64_t id;
    char *url;
    char *events; /* space-separated event names, or "*" */
    char *created_by;
    char *created_at;
} cin_webhook;

/* An administrator adds a webhook for their account; *secret (malloc'd, wipe
 * it) is returned once and stored sealed. */
int cin_webhook_create(cin_store *st, const cin_actor *a, const char *url,
                       const char *const *events, size_t nevents, char **secret, cin_webhook *out,
                       cin_problem *p);
int cin_webhook_list(cin_store *st, const cin_actor *a, cin_webhook **out, size_t *n,
                     cin_problem *p);
int cin_webhook_delete(cin_store *st, const cin_actor *a, int64_t id, cin_problem *p);
void cin_webhook_clear(cin_webhook *w);
void cin_webhook_list_free(cin_webhook *w, size_t n);

typedef struct cin_delivery {
    int64_t id, order_id;
    char *kind; /* mail | webhook */
    char *recipient, *event, *state, *last_error;
    int attempts, last_status;
    int64_t created_at, next_at, sent_at;
} cin_delivery;

/* A webhook's deliveries (webhook_id > 0), newest first; admins of its account. */
int cin_delivery_list(cin_store *st, const cin_actor *a, int64_t webhook_id, int limit,
                      cin_delivery **out, size_t *n, cin_problem *p);
void cin_delivery_list_free(cin_delivery *d, size_t n);

/* ---- issue 15, round 2: per-event opt-out; addresses set by an administrator ---- */
/* The events a user may opt out of e-mail for (NULL-terminated). */
extern const char *const cin_mail_events[];
int cin_mail_event_known(const char *e);
int cin_email_valid(const char *e);

typedef struct cin_notify_prefs {
    char *user, *email;   /* the user's; email NULL: none */
    int notify;           /* 0: every e-mail muted */
    char *muted;          /* the events muted, space-separated ("" none) */
    int has_account;      /* administrators (and the provider): account_emails is read */
    char *account_emails; /* comma-separated ("" none) */
} cin_notify_prefs;
void cin_notify_prefs_clear(cin_notify_prefs *p);

typedef struct cin_notify_change {
    const char *user; /* NULL: the caller (the provider: only account_emails) */
    int set_email;    /* 1: email replaces the address (NULL or "" removes it) */
    const char *email;
    int notify;               /* -1: unchanged */
    const char *const *muted; /* NULL: unchanged; else the events muted from now */
    size_t nmuted;
    const char *const *account_emails; /* NULL: unchanged; administrators only */
    size_t naccount_emails;
} cin_notify_change;
/* A user's settings (user NULL: the caller's), and for administrators the account's
 * addresses. account: the provider names it; a user may only name their own. */
int cin_notify_get(cin_store *st, const cin_actor *a, const char *account, const char *user,
                   cin_notify_prefs *out, cin_problem *p);
int cin_notify_set(cin_store *st, const cin_actor *a, const char *account,
                   const cin_notify_change *ch, cin_problem *p);

#endif
