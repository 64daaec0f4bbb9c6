/*
 * account.c - the workflow of accounts, credits, users, tokens, domains,
 * settings and logins (cin_account.h): validation first, then one
 * transaction holding the change and its audit event.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_account.h"
#include "cin_agent.h"
#include "cin_names.h"
#include "cin_store_order.h"
#include "cin_util.h"

const char *cin_actor_name(const cin_actor *a)
{
    if (a && a->user)
        return a->user->name;
    return a && a->name ? a->name : "system";
}

static const char *actor_peer(const cin_actor *a)
{
    return a ? a->peer : NULL;
}

static int is_provider(const cin_actor *a)
{
    return !a || !a->user;
}

int cin_actor_admin_of(const cin_actor *a, int64_t account_id)
{
    if (is_provider(a))
        return 1;
    return a->user->account_id == account_id && !strcmp(a->user->role, "admin");
}

/* An administrator of an account above the user's (a parent's, a provider's
 * reseller's): manages the user's role and access (the user is read in the
 * transaction). */
static int admin_above(const cin_actor *a, const cin_user *u)
{
    return a && a->user && !strcmp(a->user->role, "admin") &&
           cin_account_path_below(a->user->account_path, u->account_path);
}

/* Begin, or say why not. */
static int begin(cin_store *st, cin_problem *p)
{
    int rc = cin_store_begin(st);

    return rc == CIN_OK ? CIN_OK : cin_problem_from_status(p, rc);
}

/* Commit rc's way; a failed commit becomes the store's problem. */
static int end(cin_store *st, int rc, cin_problem *p)
{
    int was = rc;

    rc = cin_store_end(st, rc);
    if (rc != CIN_OK && was == CIN_OK)
        cin_problem_from_status(p, rc);
    else if (rc != CIN_OK && p && !p->status)
        cin_problem_from_status(p, rc);
    return rc;
}

static int event(cin_store *st, const cin_actor *a, int64_t account_id, const char *action,
                 const char *detail)
{
    return cin_store_event_add(st, account_id, 0, cin_actor_name(a), action, actor_peer(a), detail);
}

/* ---- accounts and credits ------------------------------------------------ */

int cin_account_create(cin_store *st, const cin_actor *a, const char *name, int64_t credits,
                       int64_t *id, cin_problem *p)
{
    char *err = NULL;
    int64_t nid = 0;
    int rc;

    if (!is_provider(a)) {
        cin_problem_set(p, 403, "forbidden", "only the provider creates accounts");
        return CIN_EPERM;
    }
    if (!name || !cin_valid_username(name)) {
        cin_problem_field(p, 400, "bad_request", "name",
                          "an account name is 1 to 64 characters of a-z 0-9 . _ -");
        return CIN_EINVAL;
    }
    if (credits < 0) {
        cin_problem_field(p, 400, "bad_request", "credits", "credits cannot be negative");
        return CIN_EINVAL;
    }
    if ((rc = begin(st, p)) != CIN_OK)
        return rc;
    rc = cin_store_account_create(st, name, 0, &nid, &err);
    if (rc == CIN_EEXIST)
        cin_problem_field(p, 409, "conflict", "name", "an account named %s already exists", name);
    if (rc == CIN_OK && credits > 0)
        rc =
            cin_store_credits_move(st, nid, credits, 0, "opening balance", cin_actor_name(a), NULL);
    if (rc == CIN_OK)
        rc = event(st, a, nid, "account.create", name);
    free(err);
    rc = end(st, rc, p);
    if (rc == CIN_OK && id)
        *id = nid;
    return rc;
}

static int account_by_name(cin_store *st, const char *name, cin_account *acct, cin_problem *p)
{
    int rc = cin_store_account_get(st, name ? name : "", acct);

    if (rc == CIN_ENOTFOUND)
        cin_problem_field(p, 404, "not_found", "account", "no account named %s", name ? name : "");
    else if (rc != CIN_OK)
        cin_problem_from_status(p, rc);
    return rc;
}

int cin_account_credits_add(cin_store *st, const cin_actor *a, const char *account, int64_t delta,
                            int64_t *balance, cin_problem *p)
{
    cin_account acct;
    char detail[160];
    int64_t bal = 0;
    int rc;

    if (!is_provider(a)) {
        cin_problem_set(p, 403, "forbidden", "only the provider adds credits");
        return CIN_EPERM;
    }
    if (delta == 0) {
        cin_problem_field(p, 400, "bad_request", "credits",
                          "give a number of credits other "
                          "than 0");
        return CIN_EINVAL;
    }
    if ((rc = begin(st, p)) != CIN_OK)
        return rc;
    rc = account_by_name(st, account, &acct, p);
    if (rc == CIN_OK) {
        rc = cin_store_credits_move(st, acct.id, delta, 0,
                                    delta > 0 ? "credits added" : "credits taken away",
                                    cin_actor_name(a), &bal);
        if (rc == CIN_ECREDITS)
            cin_problem_field(p, 402, "insufficient_credits", "credits",
                              "%s has %lld credits; it cannot give %lld", acct.name,
                              (long long)acct.credits, (long long)-delta);
    }
    snprintf(detail, sizeof(detail), "%+lld credits, balance %lld", (long long)delta,
             (long long)bal);
    if (rc == CIN_OK)
        rc = event(st, a, acct.id, "credits.add", detail);
    cin_account_clear(&acct);
    rc = end(st, rc, p);
    if (rc == CIN_OK && balance)
        *balance = bal;
    return rc;
}

/* ---- users -------------------------------------------------------------- */

static int password_ok(const char *pw, cin_problem *p)
{
    size_t n = pw ? strlen(pw) : 0;

    if (n < CIN_PASSWORD_MIN || n > CIN_PASSWORD_MAX) {
        cin_problem_field(p, 400, "bad_request", "password", "a password has %d to %d characters",
                          CIN_PASSWORD_MIN, CIN_PASSWORD_MAX);
        return CIN_EINVAL;
    }
    return CIN_OK;
}

/* Hash before any transaction starts: scrypt holds 16 MB for tens of ms. */
static int hash_password(const char *pw, char **hash, cin_problem *p)
{
    *hash = NULL;
    if (!pw)
        return CIN_OK;
    if (password_ok(pw, p) != CIN_OK)
        return CIN_EINVAL;
    *hash = cin_password_hash(pw);
    return *hash ? CIN_OK : cin_problem_from_status(p, CIN_ENOMEM);
}

static int user_fields_ok(const cin_user_fields *f, int create, cin_problem *p)
{
    if (create && (!f->name || !cin_valid_username(f->name))) {
        cin_problem_field(p, 400, "bad_request", "name",
                          "a user name is 1 to 64 characters of a-z 0-9 . _ -");
        return CIN_EINVAL;
    }
    if ((create || f->role) && !cin_valid_role(f->role)) {
        cin_problem_field(p, 400, "bad_request", "role", "the role is admin, standard or basic");
        return CIN_EINVAL;
    }
    return CIN_OK;
}

int cin_account_user_create(cin_store *st, const cin_actor *a, int64_t account_id,
                            const cin_user_fields *f, cin_user *out, cin_problem *p)
{
    char *hash = NULL, *err = NULL;
    int64_t id = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!cin_actor_admin_of(a, account_id)) {
        cin_problem_set(p, 403, "forbidden", "only an administrator adds users");
        return CIN_EPERM;
    }
    if (user_fields_ok(f, 1, p) != CIN_OK || hash_password(f->password, &hash, p) != CIN_OK)
        return CIN_EINVAL;
    if ((rc = begin(st, p)) != CIN_OK)
        goto done;
    rc = cin_store_user_create(st, account_id, f->name, f->role, f->signatory > 0, hash, &id, &err);
    if (rc == CIN_EEXIST)
        cin_problem_field(p, 409, "conflict", "name", "a user named %s already exists", f->name);
    if (rc == CIN_OK)
        rc = event(st, a, account_id, "user.create", f->name);
    if (rc == CIN_OK)
        rc = cin_store_user_get_id(st, id, out);
    rc = end(st, rc, p);
    if (rc != CIN_OK)
        cin_user_clear(out);
done:
    if (hash)
        cin_free_secret(hash, strlen(hash));
    free(err);
    return rc;
}

int cin_account_user_update(cin_store *st, const cin_actor *a, const char *name,
                            const cin_user_fields *f, cin_user *out, cin_problem *p)
{
    char *hash = NULL, detail[160];
    cin_user u;
    int rc, ends_sessions, above;

    memset(out, 0, sizeof(*out));
    memset(&u, 0, sizeof(u));
    if (user_fields_ok(f, 0, p) != CIN_OK || hash_password(f->password, &hash, p) != CIN_OK)
        return CIN_EINVAL;
    if ((rc = begin(st, p)) != CIN_OK)
        goto done;
    rc = cin_store_user_get(st, name ? name : "", &u);
    above = rc == CIN_OK && admin_above(a, &u);
    if (rc == CIN_OK && !above && !cin_actor_admin_of(a, u.account_id)) {
        /* another account's user (the parent's, a sibling's) does not exist for this caller */
        rc = a && a->user && a->user->account_id == u.account_id ? CIN_EPERM : CIN_ENOTFOUND;
    }
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no user %s in your account", name ? name : "");
    else if (rc == CIN_EPERM)
        cin_problem_set(p, 403, "forbidden", "only an administrator changes users");
    if (rc == CIN_OK && above && hash) {
        /* a reseller manages its customers' users but never logs in as one */
        cin_problem_field(p, 403, "forbidden", "password",
                          "an administrator of a parent account does not set a sub-account "
                          "user's password; the sub-account's administrators do");
        rc = CIN_EPERM;
    }
    if (rc == CIN_OK && a && a->user && a->user->id == u.id &&
        ((f->role && strcmp(f->role, "admin")) || f->disabled == 1)) {
        cin_problem_set(p, 409, "conflict",
                        "you cannot demote or disable yourself; ask another administrator");
        rc = CIN_ECONFLICT;
    }
    ends_sessions = hash || (f->disabled == 1 && !u.disabled);
    if (rc == CIN_OK)
        rc = cin_store_user_update(st, u.id, f->role, f->signatory, f->disabled, hash);
    /* a new password or a disabled user: whoever held a session must log in again */
    if (rc == CIN_OK && ends_sessions)
        rc = cin_store_session_delete_user(st, u.id);
    snprintf(detail, sizeof(detail), "%s%s%s%s%s", u.name ? u.name : "", f->role ? "; role " : "",
             f->role ? f->role : "", hash ? "; password changed" : "",
             f->disabled == 1   ? "; disabled"
             : f->disabled == 0 ? "; enabled"
                                : "");
    if (rc == CIN_OK)
        rc = event(st, a, u.account_id, "user.update", detail);
    if (rc == CIN_OK)
        rc = cin_store_user_get_id(st, u.id, out);
    rc = end(st, rc, p);
    if (rc != CIN_OK)
        cin_user_clear(out);
done:
    cin_user_clear(&u);
    if (hash)
        cin_free_secret(hash, strlen(hash));
    return rc;
}

/* ---- API tokens ---------------------------------------------------------- */

int cin_account_token_create(cin_store *st, const cin_actor *a, int64_t user_id, const char *name,
                             int expires_in_days, char **secret, cin_token_info *out,
                             cin_problem *p)
{
    cin_user u;
    int64_t id = 0;
    int rc;

    *secret = NULL;
    memset(out, 0, sizeof(*out));
    memset(&u, 0, sizeof(u));
    if (!name || !*name || strlen(name) > 64 || !cin_utf8_valid(name, strlen(name))) {
        cin_problem_field(p, 400, "bad_request", "name", "a token's name is 1 to 64 characters");
        return CIN_EINVAL;
    }
    if (expires_in_days < 0 || expires_in_days > 3650) {
        cin_problem_field(p, 400, "bad_request", "expires_in_days",
                          "a token expires within 1 to 3650 days (or never)");
        return CIN_EINVAL;
    }
    if ((rc = begin(st, p)) != CIN_OK)
        return rc;
    rc = cin_store_user_get_id(st, user_id, &u);
    if (rc == CIN_OK && !(a && a->user && a->user->id == u.id) &&
        !cin_actor_admin_of(a, u.account_id))
        rc = CIN_ENOTFOUND;
    if (rc == CIN_ENOTFOUND)
        cin_problem_field(p, 404, "not_found", "user", "no such user in your account");
    else if (rc == CIN_OK && u.disabled) {
        cin_problem_field(p, 409, "conflict", "user", "%s is disabled", u.name);
        rc = CIN_ECONFLICT;
    }
    if (rc == CIN_OK)
        rc = cin_store_token_create(st, u.id, name, expires_in_days, secret, &id);
    if (rc == CIN_OK)
        rc = event(st, a, u.account_id, "token.create", u.name);
    if (rc == CIN_OK)
        rc = cin_store_token_get(st, id, out);
    rc = end(st, rc, p);
    if (rc != CIN_OK) {
        if (*secret)
            cin_free_secret(*secret, strlen(*secret));
        *secret = NULL;
        cin_token_info_clear(out);
    }
    cin_user_clear(&u);
    return rc;
}

int cin_account_token_delete(cin_store *st, const cin_actor *a, int64_t id, cin_problem *p)
{
    cin_token_info t;
    cin_user owner;
    int rc;

    memset(&t, 0, sizeof(t));
    memset(&owner, 0, sizeof(owner));
    if ((rc = begin(st, p)) != CIN_OK)
        return rc;
    rc = cin_store_token_get(st, id, &t);
    if (rc == CIN_OK)
        rc = cin_store_user_get_id(st, t.user_id, &owner);
    if (rc == CIN_OK && !(a && a->user && a->user->id == t.user_id) &&
        !cin_actor_admin_of(a, owner.account_id))
        rc = CIN_ENOTFOUND;
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no token %lld", (long long)id);
    if (rc == CIN_OK)
        rc = cin_store_token_delete(st, t.id);
    if (rc == CIN_OK)
        rc = event(st, a, owner.account_id, "token.delete", t.name);
    rc = end(st, rc, p);
    cin_token_info_clear(&t);
    cin_user_clear(&owner);
    return rc;
}

/* ---- domains ---------------------------------------------------------------- */

static int domain_name(const char *in, char **out, cin_problem *p)
{
    char *err = NULL;
    int rc = cin_name_normalize(in ? in : "", CIN_NAME_PRIVATE, out, &err);

    if (rc != CIN_OK)
        cin_problem_field(p, 400, "invalid_domain", "name", "%s", err ? err : "invalid name");
    free(err);
    return rc;
}

/*
 * A parent's administrator delegates one of its own domains (or a name below
 * one) to an account below it: the target must be below the actor's account
 * and the name must now belong to the actor's account or one below it.
 */
static int delegation_ok(cin_store *st, const cin_actor *a, const char *account, const char *name,
                         cin_account *acct, cin_problem *p)
{
    cin_account owner;
    int64_t owner_id = 0;
    int rc = cin_account_visible(st, a, account, acct, p);

    if (rc != CIN_OK)
        return rc;
    if (acct->id == a->user->account_id) {
        cin_problem_set(p, 403, "forbidden",
                        "your provider assigns your account's domains; you delegate them to "
                        "your sub-accounts");
        return CIN_EPERM;
    }
    rc = cin_store_domain_owner(st, name, &owner_id);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    memset(&owner, 0, sizeof(owner));
    if (owner_id)
        rc = cin_store_account_get_id(st, owner_id, &owner);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    if (!owner_id || (owner_id != a->user->account_id &&
                      !cin_account_path_below(a->user->account_path, owner.path))) {
        cin_problem_field(p, 403, "domain_not_owned", "name",
                          "%s is not among your account's domains", name);
        rc = CIN_EPERM;
    }
    cin_account_clear(&owner);
    return rc;
}

int cin_account_domain_add(cin_store *st, const cin_actor *a, const char *account,
                           const char *domain, cin_problem *p)
{
    cin_account acct;
    char *name = NULL, *err = NULL;
    int rc;

    memset(&acct, 0, sizeof(acct));
    if (!is_provider(a) && strcmp(a->user->role, "admin")) {
        cin_problem_set(p, 403, "forbidden", "only the provider assigns domains");
        return CIN_EPERM;
    }
    if (domain_name(domain, &name, p) != CIN_OK)
        return CIN_EINVAL;
    if ((rc = begin(st, p)) != CIN_OK)
        goto done;
    if (is_provider(a))
        rc = account_by_name(st, account, &acct, p);
    else
        rc = delegation_ok(st, a, account, name, &acct, p);
    if (rc == CIN_OK) {
        rc = cin_store_domain_add(st, acct.id, name, &err);
        if (rc == CIN_EEXIST)
            cin_problem_field(p, 409, "conflict", "name", "%s", err ? err : "already assigned");
    }
    if (rc == CIN_OK)
        rc = event(st, a, acct.id, "domain.add", name);
    rc = end(st, rc, p);
done:
    cin_account_clear(&acct);
    free(name);
    free(err);
    return rc;
}

int cin_account_domain_remove(cin_store *st, const cin_actor *a, const char *domain, cin_problem *p)
{
    char *name = NULL, detail[320];
    int64_t owner = 0;
    int rc;

    if (!is_provider(a)) {
        cin_problem_set(p, 403, "forbidden", "only the provider removes domains");
        return CIN_EPERM;
    }
    if (domain_name(domain, &name, p) != CIN_OK)
        return CIN_EINVAL;
    if ((rc = begin(st, p)) != CIN_OK)
        goto done;
    rc = cin_store_domain_account(st, name, &owner);
    if (rc == CIN_ENOTFOUND)
        cin_problem_field(p, 404, "not_found", "name", "%s is not assigned to any account", name);
    if (rc == CIN_OK)
        rc = cin_store_domain_remove(st, name);
    /* the old owner's certificates stop being served for these names on the
     * next handshake (the TLS index resolves ownership): say so in its log */
    snprintf(detail, sizeof(detail), "%s; its certificates are no longer served for it", name);
    if (rc == CIN_OK)
        rc = event(st, a, owner, "domain.remove", detail);
    rc = end(st, rc, p);
done:
    free(name);
    return rc;
}

/* ---- settings ------------------------------------------------------------------ */

static int valid_fraction(const char *v)
{
    char *end;
    double f = strtod(v, &end);

    return *v && !*end && f >= 0.05 && f <= 0.95;
}

static int valid_lease_ttl(const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);

    return *v && !*end && n >= CIN_AGENT_LEASE_TTL_MIN && n <= CIN_AGENT_LEASE_TTL_MAX;
}

/* issue 14: HOST:PORT with an IP address (IPv6 in brackets) and a port */
static int valid_resolver(const char *v)
{
    const char *colon = strrchr(v, ':');
    char host[64];
    unsigned char buf[16];
    char *end;
    long port;

    if (!colon || colon == v || (size_t)(colon - v) >= sizeof(host))
        return 0;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || port < 1 || port > 65535)
        return 0;
    if (v[0] == '[' && colon[-1] == ']') {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - v - 2), v + 1);
        return inet_pton(AF_INET6, host, buf) == 1;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - v), v);
    return inet_pton(AF_INET, host, buf) == 1;
}

static int valid_rate(const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);

    return *v && !*end && n >= 1 && n <= 100000;
}

/* issue 13: new ACME orders per ACME account per 3 hours */
static int valid_acme_rate(const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);

    return *v && !*end && n >= 1 && n <= 1000000;
}

static int valid_bool(const char *v)
{
    return !strcmp(v, "true") || !strcmp(v, "false");
}

/* printable, no spaces, at most 254 characters */
static int valid_text(const char *v)
{
    const unsigned char *c;

    for (c = (const unsigned char *)v; *c; c++)
        if (*c <= ' ' || *c == 0x7f)
            return 0;
    return *v && strlen(v) <= 254;
}

static int valid_secret(const char *v)
{
    return *v && strlen(v) <= 1024 && !strpbrk(v, "\r\n");
}

static int valid_smtp_url(const char *v)
{
    return valid_text(v) && (!strncmp(v, "smtp://", 7) || !strncmp(v, "smtps://", 8)) &&
           strlen(v) > 8;
}

/* an absolute path to a PEM file of CA certificates */
static int valid_abs_path(const char *v)
{
    return valid_text(v) && v[0] == '/';
}

static int valid_retry_base(const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);

    return *v && !*end && n >= 1 && n <= 3600;
}

static const struct setting {
    const char *key;
    int (*valid)(const char *);
    const char *rule;
} settings[] = {
    {"renew_fraction", valid_fraction, "a number from 0.05 to 0.95"},
    {"lease_ttl", valid_lease_ttl, "a whole number of seconds from 5 to 600"},
    {"acme_orders_per_3h", valid_acme_rate, "a whole number from 1 to 1000000"},
    {"distrust_rate", valid_rate, "a whole number of replacements per minute from 1 to 100000"},
    {"ari_interval", valid_retry_base, "a whole number of seconds from 1 to 3600"},
    {"dns_resolver", valid_resolver,
     "an IP address and a port: 192.0.2.53:53 or [2001:db8::53]:53"},
    /* issue 15: notifications (notify.c) */
    {"smtp-url", valid_smtp_url, "smtp://HOST:PORT or smtps://HOST:PORT"},
    {"smtp-from", valid_text, "the sender's e-mail address"},
    {"smtp-user", valid_text, "a user name (no spaces)"},
    {"smtp-password", valid_secret, "a password (stored sealed)"},
    {"smtp-starttls", valid_bool, "true or false"},
    {"smtp-ca-file", valid_abs_path, "the absolute path of a PEM file of CA certificates"},
    {"webhook-allow-private", valid_bool, "true or false"},
    {"notify-retry-base", valid_retry_base, "a whole number of seconds from 1 to 3600"},
};

/* value as the audit trail shows it: a URL's user:password@ becomes ***@ */
static void redact_userinfo(const char *value, char *out, size_t len)
{
    const char *scheme = strstr(value, "://"), *at, *end;

    snprintf(out, len, "%s", value);
    if (!scheme)
        return;
    end = scheme + 3 + strcspn(scheme + 3, "/?#");
    at = memchr(scheme + 3, '@', (size_t)(end - (scheme + 3)));
    if (at) {
        /* the last '@' before the path ends the user information */
        const char *next;
        while ((next = memchr(at + 1, '@', (size_t)(end - (at + 1)))) != NULL)
            at = next;
        snprintf(out, len, "%.*s***%s", (int)(scheme + 3 - value), value, at);
    }
}

int cin_account_setting_set(cin_store *st, const cin_actor *a, const char *key, const char *value,
                            cin_problem *p)
{
    const struct setting *s = NULL;
    char detail[300], shown[256];
    size_t i;
    int rc;

    if (!is_provider(a)) {
        cin_problem_set(p, 403, "forbidden", "only the provider changes settings");
        return CIN_EPERM;
    }
    for (i = 0; key && i < sizeof(settings) / sizeof(settings[0]); i++)
        if (!strcmp(settings[i].key, key))
            s = &settings[i];
    if (!s) {
        cin_problem_field(p, 400, "bad_request", "key", "no setting named %s", key ? key : "");
        return CIN_EINVAL;
    }
    if (!value || !s->valid(value)) {
        cin_problem_field(p, 400, "bad_request", "value", "%s must be %s", key, s->rule);
        return CIN_EINVAL;
    }
    if (!strcmp(key, "smtp-password")) {
        /* sealed with the store's key, never logged */
        unsigned char *sealed = NULL;
        size_t slen = 0;
        char *b64;
        rc = cin_store_seal(st, "smtp-password", (const unsigned char *)value, strlen(value),
                            &sealed, &slen);
        if (rc != CIN_OK)
            return cin_problem_from_status(p, rc), rc;
        b64 = cin_b64url_encode(sealed, slen);
        free(sealed);
        if (!b64)
            return cin_problem_from_status(p, CIN_ENOMEM), CIN_ENOMEM;
        if ((rc = begin(st, p)) != CIN_OK) {
            free(b64);
            return rc;
        }
        rc = cin_store_setting_set(st, key, b64);
        free(b64);
        if (rc == CIN_OK)
            rc = event(st, a, 0, "settings.set", "smtp-password = (sealed)");
        return end(st, rc, p);
    }
    if ((rc = begin(st, p)) != CIN_OK)
        return rc;
    rc = cin_store_setting_set(st, key, value);
    redact_userinfo(value, shown, sizeof(shown));
    snprintf(detail, sizeof(detail), "%s = %.200s", key, shown);
    if (rc == CIN_OK)
        rc = event(st, a, 0, "settings.set", detail);
    return end(st, rc, p);
}

/* ---- logins ----------------------------------------------------------------------- */

void cin_login_clear(cin_login *l)
{
    if (!l)
        return;
    cin_user_clear(&l->user);
    if (l->session_id)
        cin_free_secret(l->session_id, strlen(l->session_id));
    if (l->csrf)
        cin_free_secret(l->csrf, strlen(l->csrf));
    memset(l, 0, sizeof(*l));
}
