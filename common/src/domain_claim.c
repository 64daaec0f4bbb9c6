/*
 * domain_claim.c - a customer's self-service domain claims (issue 14).
 *
 * An account's administrator asks to claim NAME and is given a TXT record to
 * publish: _certinext-challenge.NAME = a random token (claim), then asks to
 * verify it: the record is looked up through the configured resolver
 * (setting dns_resolver, else the zone's authoritative servers) and, when it
 * is there, the account owns NAME (domains), as if the provider had assigned
 * it.  Refused, in the same transaction as the change: a public suffix
 * (Debian's publicsuffix list), a name that another account owns, or whose
 * parent or subdomain another account owns (409).  The DNS look-up is made
 * outside any transaction, bounded in time and in how many run at once
 * (cin_dns_txt_visible): it runs on a thread of nginx's pool or httpd's
 * request thread, never in an event loop or a handshake.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_account.h"
#include "cin_ca.h"
#include "cin_crypto.h"
#include "cin_domain_claim.h"
#include "cin_names.h"
#include "cin_store_order.h"
#include "cin_util.h"
#include "db.h"
#include "store_int.h"

#define PSL_PATH     "/usr/share/publicsuffix/public_suffix_list.dat"
#define CLAIM_PREFIX "_certinext-challenge."

const char *cin_psl_path = PSL_PATH;

/* Is name a public suffix by the list's rules ("com", "*.ck", "!www.ck")?
 * -1 when the list cannot be read (then nothing is claimed). */
int cin_public_suffix(const char *name)
{
    FILE *f = fopen(cin_psl_path, "r");
    const char *dot = strchr(name, '.');
    char line[512], wild[300];
    int exact = 0, wildcard = 0, exception = 0;

    if (!f)
        return -1;
    /* a single label is a suffix by the list's implicit "*" rule */
    snprintf(wild, sizeof(wild), "*.%s", dot ? dot + 1 : "");
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, " \t\r\n")] = '\0';
        if (!line[0] || !strncmp(line, "//", 2))
            continue;
        if (!strcmp(line, name))
            exact = 1;
        else if (dot && !strcmp(line, wild))
            wildcard = 1;
        else if (line[0] == '!' && !strcmp(line + 1, name))
            exception = 1;
    }
    fclose(f);
    return !dot || exact || (wildcard && !exception);
}

/* 1 when owner is an account above account_id (issue 16's hierarchy); 0 when
 * not; <0 a store error. */
static int is_ancestor(cin_store *st, int64_t owner, int64_t account_id)
{
    cin_account o, a;
    int rc, up = 0;

    memset(&o, 0, sizeof(o));
    memset(&a, 0, sizeof(a));
    rc = cin_store_account_get_id(st, owner, &o);
    if (rc == CIN_OK)
        rc = cin_store_account_get_id(st, account_id, &a);
    if (rc == CIN_OK)
        up = o.path && a.path && cin_account_path_below(o.path, a.path);
    cin_account_clear(&o);
    cin_account_clear(&a);
    return rc == CIN_OK ? up : rc;
}

/* A sub-account claims only names within its ancestors' domains (the most
 * specific assignment covering the name is an ancestor's); a top-level
 * account claims any name no one holds.  1 allowed, 0 not, <0 a store error. */
static int parent_allows(cin_store *st, int64_t account_id, const char *name)
{
    cin_account a;
    int64_t owner = 0;
    int rc;

    memset(&a, 0, sizeof(a));
    rc = cin_store_account_get_id(st, account_id, &a);
    if (rc == CIN_OK && !a.parent_id) {
        cin_account_clear(&a);
        return 1;
    }
    cin_account_clear(&a);
    if (rc != CIN_OK)
        return rc;
    rc = cin_store_domain_owner(st, name, &owner);
    if (rc == CIN_ENOTFOUND || (rc == CIN_OK && !owner))
        return 0; /* no one's: not within an ancestor's domains */
    if (rc != CIN_OK)
        return rc;
    return is_ancestor(st, owner, account_id);
}

/* 409 when another account owns name, a parent of it or a subdomain of it
 * (an ancestor's parent domain is where a sub-account claims: not a conflict,
 * but the ancestor's very name is delegated, never claimed). */
static int conflicts(cin_store *st, int64_t account_id, const char *name, cin_problem *p)
{
    int64_t owner = 0;
    db_stmt *s;
    char *like;
    int rc = cin_store_domain_owner(st, name, &owner), up = 0;

    if (rc != CIN_OK && rc != CIN_ENOTFOUND)
        return rc;
    if (owner == account_id) {
        cin_problem_field(p, 409, "conflict", "name", "the account owns %s already", name);
        return CIN_ECONFLICT;
    }
    if (owner && (up = is_ancestor(st, owner, account_id)) < 0)
        return up;
    if (up) {
        s = db_prepare(st, "SELECT 1 FROM domains WHERE name = ?1");
        db_bind_text(s, 1, name);
        rc = db_one(s);
        db_finalize(s);
        if (rc == CIN_OK) {
            cin_problem_field(p, 409, "conflict", "name",
                              "%s is the parent account's own domain: the parent delegates it",
                              name);
            return CIN_ECONFLICT;
        }
        if (rc != CIN_ENOTFOUND)
            return rc;
    } else if (owner) {
        cin_problem_field(p, 409, "conflict", "name",
                          "%s or a parent domain of it belongs to "
                          "another account",
                          name);
        return CIN_ECONFLICT;
    }
    like = cin_asprintf("%%.%s", name);
    if (!like)
        return CIN_ENOMEM;
    s = db_prepare(st, "SELECT name FROM domains WHERE name LIKE ?1 AND account_id <> ?2 LIMIT 1");
    db_bind_text(s, 1, like);
    db_bind_int(s, 2, account_id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        cin_problem_field(p, 409, "conflict", "name",
                          "%s, a subdomain of %s, belongs to another account", db_col_text(s, 0),
                          name);
        rc = CIN_ECONFLICT;
    } else if (rc == CIN_ENOTFOUND) {
        rc = CIN_OK;
    }
    db_finalize(s);
    free(like);
    return rc;
}

static int claim_name(const char *in, char **out, cin_problem *p)
{
    char *err = NULL;
    int rc = cin_name_normalize(in ? in : "", 0, out, &err), ps;

    if (rc != CIN_OK) {
        cin_problem_field(p, 400, "invalid_domain", "name", "%s", err ? err : "invalid name");
        free(err);
        return rc;
    }
    ps = cin_public_suffix(*out);
    if (ps != 0) {
        cin_problem_field(p, ps < 0 ? 503 : 400, ps < 0 ? "internal" : "invalid_domain", "name",
                          ps < 0 ? "the public suffix list (%s) cannot be read"
                                 : "%s is a public suffix: claim a name registered under it",
                          ps < 0 ? cin_psl_path : *out);
        free(*out);
        *out = NULL;
        return ps < 0 ? CIN_ERR : CIN_EINVAL;
    }
    return CIN_OK;
}

static int admin_only(const cin_actor *a, cin_problem *p)
{
    if (!a || !a->user || strcmp(a->user->role, "admin")) {
        cin_problem_set(p, 403, "forbidden", "only an account's administrator claims domains");
        return CIN_EPERM;
    }
    return CIN_OK;
}

static int store_failed(cin_store *st, int rc, cin_problem *p)
{
    if (!p->code)
        cin_problem_from_status(p, rc);
    cin_store_rollback(st);
    return rc;
}

int cin_domain_claim(cin_store *st, const cin_actor *a, const char *in, cin_domain_claim_t *out,
                     cin_problem *p)
{
    unsigned char rnd[24];
    char *name = NULL, *token = NULL;
    int64_t acct;
    db_stmt *s;
    int rc, up;

    memset(out, 0, sizeof(*out));
    if ((rc = admin_only(a, p)) != CIN_OK || (rc = claim_name(in, &name, p)) != CIN_OK)
        return rc;
    acct = a->user->account_id;
    if (cin_random(rnd, sizeof(rnd)) != CIN_OK || !(token = cin_b64url_encode(rnd, sizeof(rnd)))) {
        free(name);
        cin_problem_from_status(p, CIN_ENOMEM);
        return CIN_ENOMEM;
    }
    rc = cin_store_begin(st);
    if (rc != CIN_OK) {
        cin_problem_from_status(p, rc);
        goto done;
    }
    up = parent_allows(st, acct, name);
    if (up < 0) {
        rc = store_failed(st, up, p);
        goto done;
    }
    if (!up) {
        cin_problem_field(p, 403, "forbidden", "name",
                          "a sub-account claims only names within its parent's domains");
        rc = store_failed(st, CIN_EPERM, p);
        goto done;
    }
    rc = conflicts(st, acct, name, p);
    if (rc != CIN_OK) {
        rc = store_failed(st, rc, p);
        goto done;
    }
    s = db_prepare(st, "INSERT INTO domain_claims(name, account_id, token, created_at)"
                       " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name, account_id) DO UPDATE"
                       " SET token = excluded.token, created_at = excluded.created_at");
    db_bind_text(s, 1, name);
    db_bind_int(s, 2, acct);
    db_bind_text(s, 3, token);
    db_bind_int(s, 4, (int64_t)st_now(st));
    rc = db_run(s);
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, acct, 0, a->user->name, "domain.claim", a->peer, name);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc != CIN_OK) {
        rc = store_failed(st, rc, p);
        goto done;
    }
    out->name = name;
    out->txt_name = cin_asprintf(CLAIM_PREFIX "%s", name);
    out->txt_value = token;
    name = token = NULL;
done:
    free(name);
    free(token);
    return rc;
}

int cin_domain_verify(cin_store *st, const cin_actor *a, const char *in, cin_domain_claim_t *out,
                      cin_problem *p)
{
    char *name = NULL, *token = NULL, *txt = NULL, err[256], *derr = NULL;
    int64_t acct;
    db_stmt *s;
    int rc, seen;

    memset(out, 0, sizeof(*out));
    if ((rc = admin_only(a, p)) != CIN_OK || (rc = claim_name(in, &name, p)) != CIN_OK)
        return rc;
    acct = a->user->account_id;
    s = db_prepare(st, "SELECT token FROM domain_claims WHERE name = ?1 AND account_id = ?2");
    db_bind_text(s, 1, name);
    db_bind_int(s, 2, acct);
    rc = db_one(s);
    if (rc == CIN_OK)
        token = db_col_strdup(s, 0);
    db_finalize(s);
    if (rc == CIN_ENOTFOUND)
        cin_problem_set(p, 404, "not_found", "no claim of %s: POST /api/v1/domains first", name);
    else if (rc != CIN_OK)
        cin_problem_from_status(p, rc);
    if (rc != CIN_OK)
        goto done;
    txt = cin_asprintf(CLAIM_PREFIX "%s", name);
    /* the look-up, outside any transaction */
    seen = txt ? cin_dns_txt_visible(st, txt, token, err, sizeof(err)) : -1;
    if (seen == -2) {
        cin_problem_set(p, 503, "dns_busy", "other domains are being verified: %s", err);
        p->retry_after = 2;
        rc = CIN_EBUSY;
        goto done;
    }
    if (seen != 1) {
        cin_problem_field(p, seen < 0 ? 503 : 400, seen < 0 ? "dns_unavailable" : "not_verified",
                          "name", "%s TXT record %s with the value %s%s%s",
                          seen < 0 ? "cannot look up the" : "publish the", txt, token,
                          seen < 0 ? ": " : "; it was not found", seen < 0 ? err : "");
        free(p->extra_json);
        p->extra_json = cin_asprintf("{\"txt_name\":\"%s\",\"txt_value\":\"%s\"}", txt, token);
        rc = seen < 0 ? CIN_EUNAVAIL : CIN_EINVAL;
        goto done;
    }
    rc = cin_store_begin(st);
    if (rc != CIN_OK) {
        cin_problem_from_status(p, rc);
        goto done;
    }
    seen = parent_allows(st, acct, name); /* the parent may have lost it meanwhile */
    if (seen == 0) {
        cin_problem_field(p, 403, "forbidden", "name",
                          "a sub-account claims only names within its parent's domains");
        rc = CIN_EPERM;
    } else {
        rc = seen < 0 ? seen : conflicts(st, acct, name, p);
    }
    if (rc == CIN_OK)
        rc = cin_store_domain_add(st, acct, name, &derr);
    if (rc == CIN_OK) {
        s = db_prepare(st, "DELETE FROM domain_claims WHERE name = ?1");
        db_bind_text(s, 1, name);
        rc = db_run(s);
    }
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, acct, 0, a->user->name, "domain.verify", a->peer, name);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc != CIN_OK) {
        rc = store_failed(st, rc, p);
        goto done;
    }
    out->name = name;
    out->txt_name = txt;
    out->txt_value = token;
    name = txt = token = NULL;
done:
    free(name);
    free(token);
    free(txt);
    free(derr);
    return rc;
}

void cin_domain_claim_clear(cin_domain_claim_t *c)
{
    free(c->name);
    free(c->txt_name);
    free(c->txt_value);
    memset(c, 0, sizeof(*c));
}

int cin_domain_claims(cin_store *st, const cin_actor *a, cin_domain_claim_t **out, size_t *n,
                      cin_problem *p)
{
    db_stmt *s;
    size_t cap = 8;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = admin_only(a, p)) != CIN_OK)
        return rc;
    if (!(*out = calloc(cap, sizeof(**out)))) {
        cin_problem_from_status(p, CIN_ENOMEM);
        return CIN_ENOMEM;
    }
    s = db_prepare(st, "SELECT name, token FROM domain_claims WHERE account_id = ?1"
                       " ORDER BY created_at, name");
    db_bind_int(s, 1, a->user->account_id);
    while ((rc = db_step(s)) == DB_ROW) {
        cin_domain_claim_t *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        m[*n].name = db_col_strdup(s, 0);
        m[*n].txt_name = cin_asprintf(CLAIM_PREFIX "%s", m[*n].name);
        m[*n].txt_value = db_col_strdup(s, 1);
        (*n)++;
    }
    db_finalize(s);
    if (rc != CIN_OK)
        cin_problem_from_status(p, rc);
    return rc;
}

void cin_domain_claims_free(cin_domain_claim_t *c, size_t n)
{
    size_t i;

    for (i = 0; c && i < n; i++)
        cin_domain_claim_clear(&c[i]);
    free(c);
}
