/* store_account.c - accounts, credits ledger, domains, users, API tokens, products. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_store_order.h"
#include "store_int.h"

/* ---- settings ---------------------------------------------------------- */

int cin_store_setting_get(cin_store *st, const char *key, char **value)
{
    db_stmt *s = db_prepare(st, "SELECT value FROM settings WHERE key = ?1");
    int rc;

    *value = NULL;
    db_bind_text(s, 1, key);
    rc = db_one(s);
    if (rc == CIN_OK) {
        *value = db_col_strdup(s, 0);
    }
    db_finalize(s);
    return rc;
}

int cin_store_setting_set(cin_store *st, const char *key, const char *value)
{
    db_stmt *s = db_prepare(st, "INSERT INTO settings(key, value) VALUES (?1, ?2)"
                                " ON CONFLICT(key) DO UPDATE SET value = excluded.value");

    db_bind_text(s, 1, key);
    db_bind_text(s, 2, value);
    return db_run(s);
}

/* ---- accounts ---------------------------------------------------------- */

void cin_account_clear(cin_account *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->created_at);
    free(a->parent);
    free(a->path);
    free(a->billing);
    free(a->ip_allowlist);
    memset(a, 0, sizeof(*a));
}

int cin_store_account_create(cin_store *st, const char *name, int64_t credits, int64_t *id,
                             char **err)
{
    db_stmt *s;
    char now[21];
    int rc;

    if (!cin_valid_username(name)) {
        cin_seterr(err, "account name must be 1-64 characters of a-z 0-9 . _ -");
        return CIN_EINVAL;
    }
    if (credits < 0) {
        cin_seterr(err, "credits cannot be negative");
        return CIN_EINVAL;
    }
    s = db_prepare(st, "INSERT INTO accounts(name, credits, created_at) VALUES (?1, ?2, ?3)"
                       " RETURNING id");
    st_now_text(st, now);
    db_bind_text(s, 1, name);
    db_bind_int(s, 2, credits);
    db_bind_text(s, 3, now);
    rc = db_one(s);
    if (rc == CIN_OK && id)
        *id = db_col_int(s, 0);
    db_finalize(s);
    if (rc == CIN_OK && cin_store_schema_version(st) >= 7) {
        /* a top-level account is the root of its own path (a store still
         * being migrated gets its paths from the migration) */
        s = db_prepare(st, "UPDATE accounts SET path = '/' || CAST(id AS TEXT) || '/'"
                           " WHERE name = ?1");
        db_bind_text(s, 1, name);
        rc = db_run(s);
    }
    if (rc == CIN_EEXIST)
        cin_seterr(err, "account %s already exists", name);
    else if (rc != CIN_OK)
        cin_seterr(err, "cannot create account: %s", cin_store_errmsg(st));
    return rc;
}

#define ACCOUNT_COLS                                                                               \
    "a.id, a.name, a.credits, a.created_at, coalesce(a.parent_id, 0), p.name, a.path, "            \
    "a.requires_parent_approval, a.billing, a.auto_policy, a.require_2fa, a.ip_allowlist "         \
    "FROM accounts a LEFT JOIN accounts p ON p.id = a.parent_id "

static void account_fill(db_stmt *s, cin_account *out)
{
    out->id = db_col_int(s, 0);
    out->name = db_col_strdup(s, 1);
    out->credits = db_col_int(s, 2);
    out->created_at = db_col_strdup(s, 3);
    out->parent_id = db_col_int(s, 4);
    out->parent = db_col_strdup(s, 5);
    out->path = db_col_strdup(s, 6);
    out->requires_parent_approval = (int)db_col_int(s, 7);
    out->billing = db_col_strdup(s, 8);
    out->auto_policy = (int)db_col_int(s, 9);
    out->require_2fa = (int)db_col_int(s, 10);
    out->ip_allowlist = db_col_strdup(s, 11);
}

static int account_row(db_stmt *s, cin_account *out)
{
    int rc = db_one(s);

    if (rc == CIN_OK)
        account_fill(s, out);
    db_finalize(s);
    return rc;
}

int cin_store_account_get(cin_store *st, const char *name, cin_account *out)
{
    db_stmt *s = db_prepare(st, "SELECT " ACCOUNT_COLS "WHERE a.name = ?1");

    memset(out, 0, sizeof(*out));
    db_bind_text(s, 1, name);
    return account_row(s, out);
}

int cin_store_account_get_id(cin_store *st, int64_t id, cin_account *out)
{
    db_stmt *s = db_prepare(st, "SELECT " ACCOUNT_COLS "WHERE a.id = ?1");

    memset(out, 0, sizeof(*out));
    db_bind_int(s, 1, id);
    return account_row(s, out);
}

int cin_account_path_below(const char *anc, const char *desc)
{
    size_t n = anc ? strlen(anc) : 0;

    return n > 0 && desc && strlen(desc) > n && !strncmp(anc, desc, n);
}

int cin_store_account_set_parent(cin_store *st, int64_t id, int64_t parent_id)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE accounts SET parent_id = ?2, requires_parent_approval = 1,"
                       " billing = 'prepaid', path = (SELECT p.path FROM accounts p WHERE"
                       " p.id = ?2) || CAST(id AS TEXT) || '/' WHERE id = ?1");
    db_bind_int(s, 1, id);
    db_bind_int(s, 2, parent_id);
    return db_run(s);
}

int cin_store_account_move(cin_store *st, int64_t id, const char *old_path, int64_t parent_id,
                           const char *new_path)
{
    db_stmt *s;
    char *like;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE accounts SET parent_id = ?2, requires_parent_approval = 1,"
                       " billing = 'prepaid', auto_policy = 0 WHERE id = ?1");
    db_bind_int(s, 1, id);
    db_bind_int(s, 2, parent_id);
    rc = db_run(s);
    if (rc != CIN_OK)
        return rc;
    /* the account and everything below: the old prefix replaced (a path is digits
     * and slashes: nothing to escape in LIKE) */
    like = cin_asprintf("%s%%", old_path);
    if (!like)
        return CIN_ENOMEM;
    s = db_prepare(st, "UPDATE accounts SET path = ?2 || substr(path, CAST(?3 AS INTEGER))"
                       " WHERE path LIKE ?1");
    db_bind_text(s, 1, like);
    db_bind_text(s, 2, new_path);
    db_bind_int(s, 3, (int64_t)strlen(old_path) + 1);
    free(like);
    return db_run(s);
}

int cin_store_account_orders_in(cin_store *st, int64_t account_id, const char *status,
                                int64_t **ids, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT id FROM orders WHERE account_id = ?1 AND status = ?2"
                                " ORDER BY id");
    size_t cap = 8;
    int rc;

    *n = 0;
    if (!(*ids = calloc(cap, sizeof(**ids)))) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    db_bind_int(s, 1, account_id);
    db_bind_text(s, 2, status);
    while ((rc = db_step(s)) == DB_ROW) {
        int64_t *m = st_grow(*ids, *n, &cap, sizeof(**ids));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *ids = m;
        (*ids)[(*n)++] = db_col_int(s, 0);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

int cin_store_account_set_rules(cin_store *st, int64_t id, int requires_parent_approval,
                                const char *billing, int auto_policy)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE accounts SET requires_parent_approval = CASE WHEN ?2 < 0 THEN"
                       " requires_parent_approval ELSE ?2 END, billing = coalesce(?3, billing),"
                       " auto_policy = CASE WHEN ?4 < 0 THEN auto_policy ELSE ?4 END"
                       " WHERE id = ?1");
    db_bind_int(s, 1, id);
    db_bind_int(s, 2, requires_parent_approval);
    if (billing)
        db_bind_text(s, 3, billing);
    else
        db_bind_null(s, 3);
    db_bind_int(s, 4, auto_policy);
    return db_run(s);
}

int cin_store_account_descendants(cin_store *st, const char *path, cin_account **out, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT " ACCOUNT_COLS "WHERE a.path LIKE ?1 AND a.path <> ?2"
                                " ORDER BY a.path");
    char *prefix = cin_asprintf("%s%%", path ? path : "");
    size_t cap = 8;
    int rc;

    *out = NULL;
    *n = 0;
    if (!prefix || !(*out = calloc(cap, sizeof(**out)))) {
        free(prefix);
        db_finalize(s);
        return CIN_ENOMEM;
    }
    db_bind_text(s, 1, prefix);
    db_bind_text(s, 2, path ? path : "");
    free(prefix);
    while ((rc = db_step(s)) == DB_ROW) {
        cin_account *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        account_fill(s, &(*out)[(*n)++]);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_account_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void cin_account_list_free(cin_account *a, size_t n)
{
    size_t i;

    for (i = 0; a && i < n; i++)
        cin_account_clear(&a[i]);
    free(a);
}

int cin_store_ledger_debit_of(cin_store *st, int64_t order_id, int64_t *account_id, int64_t *amount)
{
    db_stmt *s = db_prepare(st, "SELECT account_id, delta FROM ledger WHERE order_id = ?1 AND"
                                " delta < 0 ORDER BY id DESC LIMIT 1");
    int rc;

    *account_id = 0;
    *amount = 0;
    db_bind_int(s, 1, order_id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        *account_id = db_col_int(s, 0);
        *amount = -db_col_int(s, 1);
    }
    db_finalize(s);
    return rc;
}

int cin_store_credits_move(cin_store *st, int64_t account_id, int64_t delta, int64_t order_id,
                           const char *reason, const char *actor, int64_t *balance)
{
    db_stmt *s;
    cin_account a;
    char now[21];
    int rc;

    ST_WRITER(st);
    rc = cin_store_account_get_id(st, account_id, &a);
    if (rc != CIN_OK)
        return rc;
    if (a.credits + delta < 0) {
        cin_account_clear(&a);
        return CIN_ECREDITS;
    }
    s = db_prepare(st, "UPDATE accounts SET credits = credits + ?1 WHERE id = ?2");
    db_bind_int(s, 1, delta);
    db_bind_int(s, 2, account_id);
    rc = db_run(s);
    if (rc == CIN_OK) {
        s = db_prepare(st,
                       "INSERT INTO ledger(account_id, order_id, delta, balance, reason, actor, "
                       "at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        st_now_text(st, now);
        db_bind_int(s, 1, account_id);
        if (order_id > 0)
            db_bind_int(s, 2, order_id);
        else
            db_bind_null(s, 2);
        db_bind_int(s, 3, delta);
        db_bind_int(s, 4, a.credits + delta);
        db_bind_text(s, 5, reason);
        db_bind_text(s, 6, actor);
        db_bind_text(s, 7, now);
        rc = db_run(s);
    }
    if (rc == CIN_OK && balance)
        *balance = a.credits + delta;
    cin_account_clear(&a);
    return rc;
}

int cin_store_ledger_list(cin_store *st, int64_t account_id, int64_t before_id, int limit,
                          cin_ledger_entry **out, size_t *n)
{
    db_stmt *s;
    size_t cap = 16;
    int rc;

    *out = NULL;
    *n = 0;
    s = db_prepare(st, "SELECT id, delta, balance, order_id, reason, actor, at FROM ledger "
                       "WHERE account_id = ?1 AND (?2 <= 0 OR id < ?2) ORDER BY id DESC LIMIT ?3");
    db_bind_int(s, 1, account_id);
    db_bind_int(s, 2, before_id);
    db_bind_int(s, 3, limit > 0 ? limit : 50);
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_ledger_entry *e, *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        e = &(*out)[(*n)++];
        e->id = db_col_int(s, 0);
        e->delta = db_col_int(s, 1);
        e->balance = db_col_int(s, 2);
        e->order_id = db_col_int(s, 3);
        e->reason = db_col_strdup(s, 4);
        e->actor = db_col_strdup(s, 5);
        e->at = db_col_strdup(s, 6);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_ledger_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void cin_ledger_free(cin_ledger_entry *e, size_t n)
{
    size_t i;

    for (i = 0; e && i < n; i++) {
        free(e[i].reason);
        free(e[i].actor);
        free(e[i].at);
    }
    free(e);
}

/* ---- domains ----------------------------------------------------------- */

/*
 * A domain's assignment changed: the generation moves and the name goes into
 * the domain log, so that every process's TLS index learns who owns it now
 * (cin_store_domains_since) - a certificate is served for a name only while
 * its account owns the name.
 */
static int domain_logged(cin_store *st, const char *name)
{
    uint64_t gen = 0;
    db_stmt *s;
    int rc = cin_store_generation_bump(st, &gen);

    if (rc != CIN_OK)
        return rc;
    s = db_prepare(st, "INSERT INTO domain_log(name, gen) VALUES (?1, ?2)");
    db_bind_text(s, 1, name);
    db_bind_int(s, 2, (int64_t)gen);
    return db_run(s);
}

/* 1 when account anc is strictly above account desc. */
static int account_above(cin_store *st, int64_t anc, int64_t desc)
{
    cin_account a, d;
    int below = 0;

    if (cin_store_account_get_id(st, anc, &a) == CIN_OK) {
        if (cin_store_account_get_id(st, desc, &d) == CIN_OK)
            below = cin_account_path_below(a.path, d.path);
        cin_account_clear(&d);
    }
    cin_account_clear(&a);
    return below;
}

int cin_store_domain_add(cin_store *st, int64_t account_id, const char *name, char **err)
{
    db_stmt *s;
    int64_t owner = 0;
    char now[21], *dotted;
    int rc;

    ST_WRITER(st);
    rc = cin_store_domain_owner(st, name, &owner);
    if (rc != CIN_OK)
        return rc;
    /* a domain of an account above may be delegated down (the most specific
     * assignment owns a name); an unrelated account's never */
    if (owner && owner != account_id && !account_above(st, owner, account_id)) {
        cin_seterr(err, "%s (or a parent domain of it) belongs to another account", name);
        return CIN_EEXIST;
    }
    /* a subdomain of it that another account holds would also be shared,
     * unless that account is below this one (a delegation): a name whose
     * last characters are "." + name (the substr start counted from the
     * left: a negative start, from the right, is SQLite's alone) */
    dotted = cin_asprintf(".%s", name);
    if (!dotted)
        return CIN_ENOMEM;
    s = db_prepare(st, "SELECT 1 FROM domains d JOIN accounts a ON a.id = d.account_id"
                       " WHERE d.account_id <> ?1 AND length(d.name) > ?3"
                       " AND substr(d.name, length(d.name) - ?3 + 1) = ?2 AND a.path NOT LIKE"
                       " (SELECT b.path FROM accounts b WHERE b.id = ?1) || '%'");
    db_bind_int(s, 1, account_id);
    db_bind_text(s, 2, dotted);
    db_bind_int(s, 3, (int64_t)strlen(dotted));
    rc = db_one(s);
    db_finalize(s);
    free(dotted);
    if (rc == CIN_OK) {
        cin_seterr(err, "a subdomain of %s belongs to another account", name);
        return CIN_EEXIST;
    }
    if (rc != CIN_ENOTFOUND)
        return rc;
    s = db_prepare(st, "INSERT INTO domains(name, account_id, created_at) VALUES (?1, ?2, ?3)");
    st_now_text(st, now);
    db_bind_text(s, 1, name);
    db_bind_int(s, 2, account_id);
    db_bind_text(s, 3, now);
    rc = db_run(s);
    if (rc == CIN_EEXIST)
        cin_seterr(err, "domain %s is already assigned", name);
    else if (rc == CIN_ECONSTRAINT) /* the foreign key: no such account */
        cin_seterr(err, "cannot assign %s: no account with id %lld", name, (long long)account_id);
    if (rc == CIN_OK)
        rc = domain_logged(st, name);
    return rc;
}

int cin_store_domain_remove(cin_store *st, const char *name)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "DELETE FROM domains WHERE name = ?1");
    db_bind_text(s, 1, name);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    if (rc == CIN_OK)
        rc = domain_logged(st, name);
    return rc;
}

int cin_store_domain_account(cin_store *st, const char *name, int64_t *account_id)
{
    db_stmt *s = db_prepare(st, "SELECT account_id FROM domains WHERE name = ?1");
    int rc;

    *account_id = 0;
    db_bind_text(s, 1, name);
    rc = db_one(s);
    if (rc == CIN_OK)
        *account_id = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

int cin_store_domains_since(cin_store *st, uint64_t since, cin_name_entry **out, size_t *n)
{
    /* every assignment at first; then the names whose assignment changed */
    db_stmt *s = db_prepare(st, since ? "SELECT DISTINCT l.name, coalesce(d.account_id, 0)"
                                        " FROM domain_log l LEFT JOIN domains d ON"
                                        " d.name = l.name WHERE l.gen > ?1"
                                      : "SELECT name, account_id FROM domains WHERE ?1 = 0");
    size_t cap = 64;
    int rc;

    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    db_bind_int(s, 1, (int64_t)since);
    while ((rc = db_step(s)) == DB_ROW) {
        cin_name_entry *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        (*out)[*n].name = db_col_strdup(s, 0);
        (*out)[*n].account_id = db_col_int(s, 1);
        (*out)[*n].cert_id = 0;
        if (!(*out)[(*n)++].name) {
            rc = CIN_ENOMEM;
            break;
        }
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_name_entries_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int cin_store_domain_owner(cin_store *st, const char *name, int64_t *account_id)
{
    const char *p = name;
    int rc = CIN_OK;

    *account_id = 0;
    if (strncmp(p, "*.", 2) == 0)
        p += 2;
    /* walk up: a.b.example.com, b.example.com, example.com, com */
    while (p && *p) {
        db_stmt *s = db_prepare(st, "SELECT account_id FROM domains WHERE name = ?1");
        db_bind_text(s, 1, p);
        rc = db_one(s);
        if (rc == CIN_OK)
            *account_id = db_col_int(s, 0);
        db_finalize(s);
        if (rc != CIN_ENOTFOUND)
            break;
        rc = CIN_OK;
        p = strchr(p, '.');
        if (p)
            p++;
    }
    return rc;
}

int cin_store_domain_list(cin_store *st, int64_t account_id, char ***names, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT name FROM domains WHERE account_id = ?1 ORDER BY name");
    size_t cap = 8;
    int rc;

    *names = NULL;
    *n = 0;
    db_bind_int(s, 1, account_id);
    *names = calloc(cap, sizeof(char *));
    if (!*names) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        /* one more for the NULL after the last name */
        char **m = st_grow(*names, *n + 1, &cap, sizeof(char *));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *names = m;
        (*names)[(*n)++] = db_col_strdup(s, 0);
        (*names)[*n] = NULL;
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_strv_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- users ------------------------------------------------------------- */

void cin_user_clear(cin_user *u)
{
    if (!u)
        return;
    free(u->account);
    free(u->name);
    free(u->role);
    if (u->password_hash)
        cin_free_secret(u->password_hash, strlen(u->password_hash));
    free(u->created_at);
    free(u->account_path);
    free(u->account_allowlist);
    free(u->groups);
    memset(u, 0, sizeof(*u));
}

int cin_valid_role(const char *role)
{
    return role && (!strcmp(role, "admin") || !strcmp(role, "standard") || !strcmp(role, "basic"));
}

int cin_store_user_create(cin_store *st, int64_t account_id, const char *name, const char *role,
                          int signatory, const char *password_hash, int64_t *id, char **err)
{
    db_stmt *s;
    char now[21];
    int rc;

    ST_WRITER(st);
    if (!cin_valid_username(name)) {
        cin_seterr(err, "user name must be 1-64 characters of a-z 0-9 . _ -");
        return CIN_EINVAL;
    }
    if (!cin_valid_role(role)) {
        cin_seterr(err, "role must be admin, standard or basic (got '%s')", role ? role : "");
        return CIN_EINVAL;
    }
    s = db_prepare(st, "INSERT INTO users(account_id, name, role, signatory, password_hash, "
                       "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id");
    st_now_text(st, now);
    db_bind_int(s, 1, account_id);
    db_bind_text(s, 2, name);
    db_bind_text(s, 3, role);
    db_bind_int(s, 4, signatory ? 1 : 0);
    db_bind_text(s, 5, password_hash);
    db_bind_text(s, 6, now);
    rc = db_one(s);
    if (rc == CIN_OK && id)
        *id = db_col_int(s, 0);
    db_finalize(s);
    if (rc == CIN_EEXIST)
        cin_seterr(err, "user %s already exists", name);
    else if (rc == CIN_ECONSTRAINT) /* the role was checked: the account's foreign key */
        cin_seterr(err, "cannot create user %s: no account with id %lld", name,
                   (long long)account_id);
    else if (rc != CIN_OK)
        cin_seterr(err, "cannot create user: %s", cin_store_errmsg(st));
    return rc;
}

#define USER_COLS                                                                                  \
    "u.id, u.account_id, a.name, u.name, u.role, u.signatory, u.disabled, u.password_hash, "       \
    "u.created_at, a.path, a.require_2fa, a.ip_allowlist, (SELECT count(*) FROM user_totp t"       \
    " WHERE t.user_id = u.id AND t.confirmed = 1) FROM users u JOIN accounts a ON"                 \
    " a.id = u.account_id "

static void user_fill(db_stmt *s, cin_user *u)
{
    u->id = db_col_int(s, 0);
    u->account_id = db_col_int(s, 1);
    u->account = db_col_strdup(s, 2);
    u->name = db_col_strdup(s, 3);
    u->role = db_col_strdup(s, 4);
    u->signatory = (int)db_col_int(s, 5);
    u->disabled = (int)db_col_int(s, 6);
    u->password_hash = db_col_strdup(s, 7);
    u->created_at = db_col_strdup(s, 8);
    u->account_path = db_col_strdup(s, 9);
    u->account_requires_2fa = (int)db_col_int(s, 10);
    u->account_allowlist = db_col_strdup(s, 11);
    u->totp_enrolled = db_col_int(s, 12) > 0;
}

static int user_one(db_stmt *s, cin_user *out)
{
    int rc = db_one(s);

    if (rc == CIN_OK)
        user_fill(s, out);
    db_finalize(s);
    return rc;
}

/* The user's groups as ",3,7," (rc: the user's lookup, passed on). */
static int user_groups_load(cin_store *st, int rc, cin_user *u)
{
    db_stmt *s;
    size_t len = 1, cap = 64;

    if (rc != CIN_OK)
        return rc;
    u->groups = malloc(cap);
    if (!u->groups)
        return CIN_ENOMEM;
    strcpy(u->groups, ",");
    s = db_prepare(st, "SELECT group_id FROM group_members WHERE user_id = ?1 ORDER BY group_id");
    db_bind_int(s, 1, u->id);
    while ((rc = db_step(s)) == DB_ROW) {
        char id[24];
        int n = snprintf(id, sizeof(id), "%lld,", (long long)db_col_int(s, 0));
        if (len + (size_t)n + 1 > cap) {
            char *m = realloc(u->groups, cap * 2);
            if (!m) {
                rc = CIN_ENOMEM;
                break;
            }
            u->groups = m;
            cap *= 2;
        }
        memcpy(u->groups + len, id, (size_t)n + 1);
        len += (size_t)n;
    }
    db_finalize(s);
    if (rc != CIN_OK)
        cin_user_clear(u);
    return rc;
}

int cin_store_user_get(cin_store *st, const char *name, cin_user *out)
{
    db_stmt *s = db_prepare(st, "SELECT " USER_COLS "WHERE u.name = ?1");

    memset(out, 0, sizeof(*out));
    db_bind_text(s, 1, name);
    return user_groups_load(st, user_one(s, out), out);
}

int cin_store_user_get_id(cin_store *st, int64_t id, cin_user *out)
{
    db_stmt *s = db_prepare(st, "SELECT " USER_COLS "WHERE u.id = ?1");

    memset(out, 0, sizeof(*out));
    db_bind_int(s, 1, id);
    return user_groups_load(st, user_one(s, out), out);
}

int cin_store_user_list(cin_store *st, int64_t account_id, cin_user **out, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT " USER_COLS "WHERE u.account_id = ?1 ORDER BY u.name");
    size_t cap = 8;
    int rc;

    *out = NULL;
    *n = 0;
    db_bind_int(s, 1, account_id);
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_user *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        user_fill(s, &(*out)[(*n)++]);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_user_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void cin_user_list_free(cin_user *u, size_t n)
{
    size_t i;

    for (i = 0; u && i < n; i++)
        cin_user_clear(&u[i]);
    free(u);
}

int cin_store_user_update(cin_store *st, int64_t id, const char *role, int signatory, int disabled,
                          const char *password_hash)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    if (role && !cin_valid_role(role))
        return CIN_EINVAL;
    s = db_prepare(st, "UPDATE users SET role = coalesce(?1, role),"
                       " signatory = CASE WHEN ?2 < 0 THEN signatory ELSE ?2 END,"
                       " disabled = CASE WHEN ?3 < 0 THEN disabled ELSE ?3 END,"
                       " password_hash = coalesce(?4, password_hash) WHERE id = ?5");
    db_bind_text(s, 1, role);
    db_bind_int(s, 2, signatory);
    db_bind_int(s, 3, disabled);
    db_bind_text(s, 4, password_hash);
    db_bind_int(s, 5, id);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    return rc;
}

/* ---- API tokens -------------------------------------------------------- */

void cin_token_info_clear(cin_token_info *t)
{
    if (!t)
        return;
    free(t->user);
    free(t->name);
    free(t->created_at);
    memset(t, 0, sizeof(*t));
}

int cin_store_token_create(cin_store *st, int64_t user_id, const char *name, int expires_in_days,
                           char **secret, int64_t *id)
{
    char prefix[CIN_TOKEN_PREFIX_LEN + 1], hash[65], now[21];
    db_stmt *s;
    char *tok = NULL;
    int64_t new_id = 0;
    int rc = CIN_ERR, tries;

    *secret = NULL;
    if (expires_in_days < 0 || expires_in_days > 3650)
        return CIN_EINVAL;
    for (tries = 0; tries < 5; tries++) { /* a prefix collision is possible, if unlikely */
        rc = cin_token_generate(&tok, prefix);
        if (rc != CIN_OK)
            break;
        cin_sha256_hex(tok, strlen(tok), hash);
        st_now_text(st, now);
        s = db_prepare(st, "INSERT INTO tokens(user_id, name, prefix, hash, expires_at, created_at)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id");
        db_bind_int(s, 1, user_id);
        db_bind_text(s, 2, name && *name ? name : "token");
        db_bind_text(s, 3, prefix);
        db_bind_text(s, 4, hash);
        if (expires_in_days > 0)
            db_bind_int(s, 5, (int64_t)st_now(st) + (int64_t)expires_in_days * 86400);
        else
            db_bind_null(s, 5);
        db_bind_text(s, 6, now);
        rc = db_one(s);
        if (rc == CIN_OK)
            new_id = db_col_int(s, 0);
        db_finalize(s);
        if (rc != CIN_EEXIST)
            break;
        cin_free_secret(tok, strlen(tok));
        tok = NULL;
    }
    if (rc != CIN_OK) {
        if (tok)
            cin_free_secret(tok, strlen(tok));
        return rc;
    }
    if (id)
        *id = new_id;
    *secret = tok;
    return CIN_OK;
}

int cin_store_token_authenticate(cin_store *st, const char *token, cin_user *user)
{
    char prefix[CIN_TOKEN_PREFIX_LEN + 1], hash[65];
    db_stmt *s;
    int64_t uid = 0;
    int rc;

    memset(user, 0, sizeof(*user));
    if (cin_token_prefix(token, prefix) != CIN_OK)
        return CIN_ENOTFOUND;
    cin_sha256_hex(token, strlen(token), hash);
    s = db_prepare(st, "SELECT user_id, hash FROM tokens WHERE prefix = ?1 AND "
                       "(expires_at IS NULL OR expires_at > ?2)");
    db_bind_text(s, 1, prefix);
    db_bind_int(s, 2, (int64_t)st_now(st));
    rc = db_one(s);
    if (rc == CIN_OK) {
        const char *h = db_col_text(s, 1);
        /* hashes of secrets: comparing them does not leak the secret */
        if (h && strcmp(h, hash) == 0)
            uid = db_col_int(s, 0);
    }
    db_finalize(s);
    if (rc != CIN_OK && rc != CIN_ENOTFOUND)
        return rc;
    if (!uid)
        return CIN_ENOTFOUND;
    rc = cin_store_user_get_id(st, uid, user);
    if (rc == CIN_OK && user->disabled) {
        cin_user_clear(user);
        return CIN_ENOTFOUND;
    }
    return rc;
}

#define TOKEN_COLS                                                                                 \
    "t.id, t.user_id, u.name, t.name, t.prefix, coalesce(t.expires_at, 0), t.created_at "          \
    "FROM tokens t JOIN users u ON u.id = t.user_id "

static void token_fill(db_stmt *s, cin_token_info *t)
{
    const char *p;

    t->id = db_col_int(s, 0);
    t->user_id = db_col_int(s, 1);
    t->user = db_col_strdup(s, 2);
    t->name = db_col_strdup(s, 3);
    p = db_col_text(s, 4);
    snprintf(t->prefix, sizeof(t->prefix), "%s", p ? p : "");
    t->expires_at = (time_t)db_col_int(s, 5);
    t->created_at = db_col_strdup(s, 6);
}

int cin_store_token_list(cin_store *st, int64_t user_id, int64_t account_id, cin_token_info **out,
                         size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT " TOKEN_COLS "WHERE (?1 <= 0 OR t.user_id = ?1) AND "
                                "(?2 <= 0 OR u.account_id = ?2) ORDER BY t.id");
    size_t cap = 8;
    int rc;

    *out = NULL;
    *n = 0;
    db_bind_int(s, 1, user_id);
    db_bind_int(s, 2, account_id);
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_token_info *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        token_fill(s, &(*out)[(*n)++]);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_token_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void cin_token_list_free(cin_token_info *t, size_t n)
{
    size_t i;

    for (i = 0; t && i < n; i++)
        cin_token_info_clear(&t[i]);
    free(t);
}

int cin_store_token_get(cin_store *st, int64_t id, cin_token_info *out)
{
    db_stmt *s = db_prepare(st, "SELECT " TOKEN_COLS "WHERE t.id = ?1");
    int rc;

    memset(out, 0, sizeof(*out));
    db_bind_int(s, 1, id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        token_fill(s, out);
    }
    db_finalize(s);
    return rc;
}

int cin_store_token_delete(cin_store *st, int64_t id)
{
    db_stmt *s = db_prepare(st, "DELETE FROM tokens WHERE id = ?1");
    int rc;

    db_bind_int(s, 1, id);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    return rc;
}

/* ---- web sessions and login throttling ------------------------------- */

int cin_store_session_create(cin_store *st, int64_t user_id, int ttl, char **session_id,
                             char **csrf)
{
    unsigned char rnd[32];
    char hash[65];
    db_stmt *s;
    int rc;

    *session_id = NULL;
    *csrf = NULL;
    if (cin_random(rnd, sizeof(rnd)) != CIN_OK)
        return CIN_ERR;
    *session_id = cin_b64url_encode(rnd, sizeof(rnd));
    if (cin_random(rnd, sizeof(rnd)) != CIN_OK)
        return CIN_ERR;
    *csrf = cin_b64url_encode(rnd, sizeof(rnd));
    cin_memzero(rnd, sizeof(rnd));
    if (!*session_id || !*csrf) {
        rc = CIN_ENOMEM;
        goto fail;
    }
    cin_sha256_hex(*session_id, strlen(*session_id), hash);
    s = db_prepare(st,
                   "INSERT INTO sessions(hash, user_id, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)");
    db_bind_text(s, 1, hash);
    db_bind_int(s, 2, user_id);
    db_bind_text(s, 3, *csrf);
    db_bind_int(s, 4, (int64_t)st_now(st) + ttl);
    rc = db_run(s);
    if (rc == CIN_OK) {
        /* forget sessions that have ended (best effort: the new one stands) */
        s = db_prepare(st, "DELETE FROM sessions WHERE expires_at <= ?1");
        db_bind_int(s, 1, (int64_t)st_now(st));
        db_run(s);
        return CIN_OK;
    }
fail:
    free(*session_id);
    free(*csrf);
    *session_id = *csrf = NULL;
    return rc;
}

int cin_store_session_get(cin_store *st, const char *session_id, cin_user *user, char **csrf)
{
    char hash[65];
    db_stmt *s;
    int64_t uid = 0;
    int rc;

    memset(user, 0, sizeof(*user));
    *csrf = NULL;
    if (!session_id || strlen(session_id) > 128)
        return CIN_ENOTFOUND;
    cin_sha256_hex(session_id, strlen(session_id), hash);
    s = db_prepare(st, "SELECT user_id, csrf FROM sessions WHERE hash = ?1 AND expires_at > ?2");
    db_bind_text(s, 1, hash);
    db_bind_int(s, 2, (int64_t)st_now(st));
    rc = db_one(s);
    if (rc == CIN_OK) {
        uid = db_col_int(s, 0);
        *csrf = db_col_strdup(s, 1);
    }
    db_finalize(s);
    if (rc != CIN_OK && rc != CIN_ENOTFOUND)
        return rc;
    if (!uid) {
        free(*csrf);
        *csrf = NULL;
        return CIN_ENOTFOUND;
    }
    rc = cin_store_user_get_id(st, uid, user);
    if (rc == CIN_OK && user->disabled) {
        cin_user_clear(user);
        rc = CIN_ENOTFOUND;
    }
    if (rc != CIN_OK) {
        free(*csrf);
        *csrf = NULL;
    }
    return rc;
}

int cin_store_session_delete(cin_store *st, const char *session_id)
{
    char hash[65];
    db_stmt *s;

    cin_sha256_hex(session_id, strlen(session_id), hash);
    s = db_prepare(st, "DELETE FROM sessions WHERE hash = ?1");
    db_bind_text(s, 1, hash);
    return db_run(s);
}

void cin_product_clear(cin_product *p)
{
    if (!p)
        return;
    free(p->code);
    free(p->type);
    free(p->ca);
    memset(p, 0, sizeof(*p));
}

#define PRODUCT_COLS                                                                               \
    "p.code, p.type, p.max_names, p.wildcard, p.max_validity_days, p.price, p.price_per_name, "    \
    "c.name FROM products p JOIN cas c ON c.id = p.ca_id "

static void product_fill(db_stmt *s, cin_product *p)
{
    p->code = db_col_strdup(s, 0);
    p->type = db_col_strdup(s, 1);
    p->max_names = (int)db_col_int(s, 2);
    p->wildcard = (int)db_col_int(s, 3);
    p->max_validity_days = (int)db_col_int(s, 4);
    p->price = db_col_int(s, 5);
    p->price_per_name = db_col_int(s, 6);
    p->ca = db_col_strdup(s, 7);
}

int cin_store_product_get(cin_store *st, const char *code, cin_product *out)
{
    db_stmt *s = db_prepare(st, "SELECT " PRODUCT_COLS "WHERE p.code = ?1");
    int rc;

    memset(out, 0, sizeof(*out));
    db_bind_text(s, 1, code);
    rc = db_one(s);
    if (rc == CIN_OK) {
        product_fill(s, out);
    }
    db_finalize(s);
    return rc;
}

int cin_store_product_list(cin_store *st, cin_product **out, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT " PRODUCT_COLS "ORDER BY p.price, p.code");
    size_t cap = 8;
    int rc;

    *out = NULL;
    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_product *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        product_fill(s, &(*out)[(*n)++]);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_product_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void cin_product_list_free(cin_product *p, size_t n)
{
    size_t i;

    for (i = 0; p && i < n; i++)
        cin_product_clear(&p[i]);
    free(p);
}

int cin_store_product_set_ca(cin_store *st, const char *code, const char *ca_name, char **err)
{
    db_stmt *s = db_prepare(
        st, "UPDATE products SET ca_id = (SELECT id FROM cas WHERE name = ?1) WHERE code = ?2 "
            "AND EXISTS (SELECT 1 FROM cas WHERE name = ?1)");
    int rc;

    db_bind_text(s, 1, ca_name);
    db_bind_text(s, 2, code);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0) {
        cin_seterr(err, "no product %s or no CA %s", code, ca_name);
        rc = CIN_ENOTFOUND;
    }
    db_finalize(s);
    if (rc == CIN_OK) { /* issue 14: one CA, no failover list */
        s = db_prepare(st, "DELETE FROM product_cas WHERE product = ?1");
        db_bind_text(s, 1, code);
        rc = db_run(s);
    }
    return rc;
}

int64_t cin_product_price(const cin_product *p, size_t n)
{
    return p->price + (n > 1 ? (int64_t)(n - 1) * p->price_per_name : 0);
}
