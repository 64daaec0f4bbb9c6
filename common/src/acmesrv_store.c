/*
 * acmesrv_store.c - the ACME server's rows: credentials (the HMAC key
 * sealed, labelled with the credential's id), ACME accounts, nonces and
 * ACME orders bound to the workflow's orders.  Writers expect the caller's
 * transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "acmesrv_int.h"
#include "cin_crypto.h"
#include "store_int.h"

/* ---- credentials ------------------------------------------------------------- */

#define CRED_COLS                                                                                  \
    "c.id, c.key_id, c.user_id, c.account_id, c.name, c.product, c.auto_pay, c.created_by,"        \
    " c.created_at, u.name, c.fields"

void acmesrv_cred_clear(acmesrv_cred *c)
{
    free(c->key_id);
    free(c->name);
    free(c->product);
    free(c->user);
    free(c->created_by);
    free(c->created_at);
    free(c->fields);
    memset(c, 0, sizeof(*c));
}

static void cred_read(db_stmt *s, acmesrv_cred *c)
{
    memset(c, 0, sizeof(*c));
    c->id = db_col_int(s, 0);
    c->key_id = db_col_strdup(s, 1);
    c->user_id = db_col_int(s, 2);
    c->account_id = db_col_int(s, 3);
    c->name = db_col_strdup(s, 4);
    c->product = db_col_strdup(s, 5);
    c->auto_pay = (int)db_col_int(s, 6);
    c->created_by = db_col_strdup(s, 7);
    c->created_at = db_col_strdup(s, 8);
    c->user = db_col_strdup(s, 9);
    c->fields = db_col_strdup(s, 10);
}

static void cred_label(char *buf, size_t len, int64_t id)
{
    snprintf(buf, len, "acme_credential:%lld", (long long)id);
}

int acmesrv_cred_insert(cin_store *st, acmesrv_cred *c, const unsigned char *hmac, size_t len)
{
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    char now[21], label[64];
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    st_now_text(st, now);
    s = db_prepare(st, "INSERT INTO acmesrv_credentials(key_id, user_id, account_id, name, "
                       "product, auto_pay, hmac, created_by, created_at, fields) VALUES "
                       "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id");
    db_bind_text(s, 1, c->key_id);
    db_bind_int(s, 2, c->user_id);
    db_bind_int(s, 3, c->account_id);
    db_bind_text(s, 4, c->name);
    db_bind_text(s, 5, c->product);
    db_bind_int(s, 6, c->auto_pay);
    db_bind_blob(s, 7, "", 0); /* sealed once the id is known */
    db_bind_text(s, 8, c->created_by);
    db_bind_text(s, 9, now);
    if (c->fields)
        db_bind_text(s, 10, c->fields);
    else
        db_bind_null(s, 10);
    rc = db_one(s);
    if (rc == CIN_OK) {
        c->id = db_col_int(s, 0);
        free(c->created_at);
        c->created_at = strdup(now);
    }
    db_finalize(s);
    if (rc != CIN_OK)
        return rc;
    cred_label(label, sizeof(label), c->id);
    rc = cin_store_seal(st, label, hmac, len, &blob, &bloblen);
    if (rc != CIN_OK)
        return rc;
    s = db_prepare(st, "UPDATE acmesrv_credentials SET hmac = ?1 WHERE id = ?2");
    db_bind_blob(s, 1, blob, bloblen);
    db_bind_int(s, 2, c->id);
    rc = db_run(s);
    free(blob);
    return rc;
}

int acmesrv_cred_get(cin_store *st, int64_t id, const char *key_id, acmesrv_cred *out)
{
    db_stmt *s;
    int rc;

    memset(out, 0, sizeof(*out));
    if (key_id) {
        s = db_prepare(st, "SELECT " CRED_COLS " FROM acmesrv_credentials c JOIN users u ON "
                           "u.id = c.user_id WHERE c.key_id = ?1");
        db_bind_text(s, 1, key_id);
    } else {
        s = db_prepare(st, "SELECT " CRED_COLS " FROM acmesrv_credentials c JOIN users u ON "
                           "u.id = c.user_id WHERE c.id = ?1");
        db_bind_int(s, 1, id);
    }
    rc = db_one(s);
    if (rc == CIN_OK)
        cred_read(s, out);
    db_finalize(s);
    return rc;
}

int acmesrv_cred_hmac(cin_store *st, const acmesrv_cred *c, unsigned char **hmac, size_t *len)
{
    db_stmt *s = db_prepare(st, "SELECT hmac FROM acmesrv_credentials WHERE id = ?1");
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    char label[64];
    int rc;

    *hmac = NULL;
    *len = 0;
    db_bind_int(s, 1, c->id);
    rc = db_one(s);
    if (rc == CIN_OK)
        blob = db_col_blob(s, 0, &bloblen);
    db_finalize(s);
    if (rc != CIN_OK)
        return rc;
    cred_label(label, sizeof(label), c->id);
    rc = cin_store_unseal(st, label, blob, bloblen, hmac, len);
    free(blob);
    return rc;
}

int acmesrv_cred_list(cin_store *st, int64_t account_id, int64_t user_id, acmesrv_cred **out,
                      size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT " CRED_COLS " FROM acmesrv_credentials c JOIN users u ON "
                                "u.id = c.user_id WHERE c.account_id = ?1 AND (?2 = 0 OR "
                                "c.user_id = ?2) ORDER BY c.id DESC LIMIT 1000");
    acmesrv_cred *v = NULL, *nv;
    size_t k = 0;
    int rc;

    *out = NULL;
    *n = 0;
    db_bind_int(s, 1, account_id);
    db_bind_int(s, 2, user_id);
    while ((rc = db_step(s)) == DB_ROW) {
        nv = realloc(v, (k + 1) * sizeof(*v));
        if (!nv) {
            rc = CIN_ENOMEM;
            break;
        }
        v = nv;
        cred_read(s, &v[k++]);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        acmesrv_cred_list_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return CIN_OK;
}

void acmesrv_cred_list_free(acmesrv_cred *c, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        acmesrv_cred_clear(&c[i]);
    free(c);
}

int acmesrv_cred_delete(cin_store *st, int64_t id)
{
    db_stmt *s;

    int rc;

    ST_WRITER(st);
    /* the accounts bound with it stop for good: a later credential that gets
     * the same id (SQLite reuses the largest rowid) must not revive them */
    s = db_prepare(st, "UPDATE acmesrv_accounts SET status = 'deactivated' "
                       "WHERE credential_id = ?1");
    db_bind_int(s, 1, id);
    rc = db_run(s);
    if (rc != CIN_OK)
        return rc;
    s = db_prepare(st, "DELETE FROM acmesrv_credentials WHERE id = ?1");
    db_bind_int(s, 1, id);
    return db_run(s);
}

/* ---- accounts ------------------------------------------------------------------ */

void acmesrv_acct_clear(acmesrv_acct *a)
{
    free(a->thumbprint);
    free(a->jwk);
    free(a->status);
    free(a->contact);
    memset(a, 0, sizeof(*a));
}

int acmesrv_acct_insert(cin_store *st, acmesrv_acct *a)
{
    char now[21];
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    st_now_text(st, now);
    s = db_prepare(st, "INSERT INTO acmesrv_accounts(credential_id, user_id, account_id, "
                       "thumbprint, jwk, status, contact, created_at) VALUES (?1, ?2, ?3, ?4, "
                       "?5, ?6, ?7, ?8) RETURNING id");
    db_bind_int(s, 1, a->credential_id);
    db_bind_int(s, 2, a->user_id);
    db_bind_int(s, 3, a->account_id);
    db_bind_text(s, 4, a->thumbprint);
    db_bind_text(s, 5, a->jwk);
    db_bind_text(s, 6, a->status);
    db_bind_text(s, 7, a->contact);
    db_bind_text(s, 8, now);
    rc = db_one(s);
    if (rc == CIN_OK)
        a->id = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

int acmesrv_acct_get(cin_store *st, int64_t id, const char *thumbprint, acmesrv_acct *out)
{
    db_stmt *s;
    int rc;

    memset(out, 0, sizeof(*out));
    s = db_prepare(st, thumbprint ? "SELECT id, credential_id, user_id, account_id, thumbprint, "
                                    "jwk, status, contact FROM acmesrv_accounts WHERE "
                                    "thumbprint = ?1"
                                  : "SELECT id, credential_id, user_id, account_id, thumbprint, "
                                    "jwk, status, contact FROM acmesrv_accounts WHERE id = ?1");
    if (thumbprint)
        db_bind_text(s, 1, thumbprint);
    else
        db_bind_int(s, 1, id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        out->id = db_col_int(s, 0);
        out->credential_id = db_col_int(s, 1);
        out->user_id = db_col_int(s, 2);
        out->account_id = db_col_int(s, 3);
        out->thumbprint = db_col_strdup(s, 4);
        out->jwk = db_col_strdup(s, 5);
        out->status = db_col_strdup(s, 6);
        out->contact = db_col_strdup(s, 7);
    }
    db_finalize(s);
    return rc;
}

int acmesrv_acct_update(cin_store *st, const acmesrv_acct *a, const char *was_thumbprint)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    /* compare and set: only the valid account with the key the request was
     * signed with changes (a deactivation or key rollover in between wins) */
    s = db_prepare(st, "UPDATE acmesrv_accounts SET status = ?1, contact = ?2, jwk = ?3, "
                       "thumbprint = ?4 WHERE id = ?5 AND status = 'valid' AND thumbprint = ?6");
    db_bind_text(s, 1, a->status);
    db_bind_text(s, 2, a->contact);
    db_bind_text(s, 3, a->jwk);
    db_bind_text(s, 4, a->thumbprint);
    db_bind_int(s, 5, a->id);
    db_bind_text(s, 6, was_thumbprint);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ECONFLICT;
    db_finalize(s);
    return rc;
}

/* ---- nonces ------------------------------------------------------------------------ */

/*
 * Nonces are stateless until spent: expiry (8 bytes, big endian), 8 random
 * bytes and 16 bytes of an HMAC of both under the store's key-encryption key
 * (every host of a fleet holds the same one), base64url.  Handing one out
 * writes nothing - an unauthenticated client flooding new-nonce costs the
 * store nothing - and only a spent nonce is recorded, until it expires.
 */
#define NONCE_RAW 32

static int nonce_mac(cin_store *st, const unsigned char *msg, unsigned char mac[16])
{
    unsigned char full[32], in[16 + 20];
    unsigned int len = 0;

    if (!st->have_kek)
        return CIN_ERR;
    memcpy(in, "certinext acme nonce", 20);
    memcpy(in + 20, msg, 16);
    if (!HMAC(EVP_sha256(), st->kek.key, CIN_KEK_LEN, in, sizeof(in), full, &len))
        return CIN_ERR;
    memcpy(mac, full, 16);
    cin_memzero(full, sizeof(full));
    return CIN_OK;
}

int acmesrv_nonce_new(cin_store *st, char **out)
{
    unsigned char raw[NONCE_RAW];
    uint64_t exp = (uint64_t)st_now(st) + ACMESRV_NONCE_TTL;
    int i;

    *out = NULL;
    for (i = 0; i < 8; i++)
        raw[i] = (unsigned char)(exp >> (56 - 8 * i));
    if (cin_random(raw + 8, 8) != CIN_OK || nonce_mac(st, raw, raw + 16) != CIN_OK)
        return CIN_ERR;
    *out = cin_b64url_encode(raw, sizeof(raw));
    return *out ? CIN_OK : CIN_ENOMEM;
}

int acmesrv_nonce_take(cin_store *st, const char *nonce)
{
    unsigned char mac[16], *raw;
    size_t len = 0;
    uint64_t exp = 0;
    int64_t now = (int64_t)st_now(st), n;
    db_stmt *s;
    int rc, i, ok;

    raw = nonce ? cin_b64url_decode(nonce, &len) : NULL;
    ok = raw && len == NONCE_RAW && nonce_mac(st, raw, mac) == CIN_OK &&
         CRYPTO_memcmp(mac, raw + 16, 16) == 0;
    if (ok) {
        /* one spelling per nonce: another encoding of the same bytes is no replay */
        char *canon = cin_b64url_encode(raw, len);
        ok = canon && !strcmp(canon, nonce);
        free(canon);
    }
    for (i = 0; ok && i < 8; i++)
        exp = exp << 8 | raw[i];
    free(raw);
    if (!ok || (int64_t)exp < now || (int64_t)exp > now + ACMESRV_NONCE_TTL)
        return CIN_ENOTFOUND; /* not ours, or expired */
    /* spent once: the first to record it wins */
    s = db_prepare(st, "INSERT INTO acmesrv_nonces(nonce, expires_at) VALUES (?1, ?2) "
                       "ON CONFLICT DO NOTHING");
    db_bind_text(s, 1, nonce);
    db_bind_int(s, 2, (int64_t)exp);
    rc = db_step(s);
    n = rc == CIN_OK ? db_changes(s) : 0;
    db_finalize(s);
    if (rc != CIN_OK)
        return rc;
    /* spent nonces are kept only until they would have expired */
    s = db_prepare(st, "DELETE FROM acmesrv_nonces WHERE expires_at < ?1");
    db_bind_int(s, 1, now);
    rc = db_run(s);
    if (rc != CIN_OK)
        return rc;
    return n == 1 ? CIN_OK : CIN_ENOTFOUND;
}

/* ---- orders ------------------------------------------------------------------------- */

void acmesrv_order_clear(acmesrv_order *o)
{
    free(o->identifiers);
    free(o->product);
    free(o->csr);
    memset(o, 0, sizeof(*o));
}

int acmesrv_order_insert(cin_store *st, acmesrv_order *o)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    o->created_at = (int64_t)st_now(st);
    s = db_prepare(st, "INSERT INTO acmesrv_orders(acct_id, identifiers, product, replaces, "
                       "order_id, finalized, csr, expires_at, created_at) VALUES (?1, ?2, ?3, "
                       "?4, ?5, ?6, ?7, ?8, ?9) RETURNING id");
    db_bind_int(s, 1, o->acct_id);
    db_bind_text(s, 2, o->identifiers);
    db_bind_text(s, 3, o->product);
    db_bind_int(s, 4, o->replaces);
    db_bind_id(s, 5, o->order_id);
    db_bind_int(s, 6, o->finalized);
    db_bind_text(s, 7, o->csr);
    db_bind_int(s, 8, o->expires_at);
    db_bind_int(s, 9, o->created_at);
    rc = db_one(s);
    if (rc == CIN_OK)
        o->id = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

int acmesrv_order_get(cin_store *st, int64_t id, acmesrv_order *out)
{
    db_stmt *s = db_prepare(st, "SELECT id, acct_id, identifiers, product, replaces, "
                                "coalesce(order_id, 0), finalized, csr, expires_at, created_at, "
                                "deactivated FROM acmesrv_orders WHERE id = ?1");
    int rc;

    memset(out, 0, sizeof(*out));
    db_bind_int(s, 1, id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        out->id = db_col_int(s, 0);
        out->acct_id = db_col_int(s, 1);
        out->identifiers = db_col_strdup(s, 2);
        out->product = db_col_strdup(s, 3);
        out->replaces = db_col_int(s, 4);
        out->order_id = db_col_int(s, 5);
        out->finalized = (int)db_col_int(s, 6);
        out->csr = db_col_strdup(s, 7);
        out->expires_at = db_col_int(s, 8);
        out->created_at = db_col_int(s, 9);
        out->deactivated = (int)db_col_int(s, 10);
    }
    db_finalize(s);
    return rc;
}

int acmesrv_order_update(cin_store *st, const acmesrv_order *o)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE acmesrv_orders SET order_id = ?1, finalized = ?2, csr = ?3 "
                       "WHERE id = ?4");
    db_bind_id(s, 1, o->order_id);
    db_bind_int(s, 2, o->finalized);
    db_bind_text(s, 3, o->csr);
    db_bind_int(s, 4, o->id);
    return db_run(s);
}

int acmesrv_order_count_since(cin_store *st, int64_t user_id, int64_t since, int64_t *n,
                              int64_t *free_in)
{
    /* every ACME account of the user together: new keys buy no new orders */
    db_stmt *s = db_prepare(st, "SELECT count(*), coalesce(min(created_at), 0) FROM "
                                "acmesrv_orders WHERE acct_id IN (SELECT id FROM "
                                "acmesrv_accounts WHERE user_id = ?1) AND created_at >= ?2");
    int rc;

    *n = 0;
    *free_in = 0;
    db_bind_int(s, 1, user_id);
    db_bind_int(s, 2, since);
    rc = db_one(s);
    if (rc == CIN_OK) {
        *n = db_col_int(s, 0);
        /* the oldest leaves the window first */
        if (db_col_int(s, 1))
            *free_in = db_col_int(s, 1) - since;
    }
    db_finalize(s);
    return rc;
}

int acmesrv_order_bound(cin_store *st, int64_t acct_id, const char *identifiers,
                        const char *statuses, int64_t *order_id)
{
    db_stmt *s = db_prepare(st, "SELECT a.order_id, o.status FROM acmesrv_orders a JOIN orders o "
                                "ON o.id = a.order_id WHERE a.acct_id = ?1 AND a.identifiers = ?2 "
                                "ORDER BY a.order_id DESC LIMIT 20");
    size_t slen;
    int rc;

    *order_id = 0;
    db_bind_int(s, 1, acct_id);
    db_bind_text(s, 2, identifiers);
    while ((rc = db_step(s)) == DB_ROW) {
        const char *status = db_col_text(s, 1), *hit;
        if (!status)
            continue;
        slen = strlen(status);
        for (hit = strstr(statuses, status); hit; hit = strstr(hit + 1, status))
            if ((hit == statuses || hit[-1] == ',') && (hit[slen] == ',' || !hit[slen]))
                break;
        if (hit) {
            *order_id = db_col_int(s, 0);
            break;
        }
    }
    if (rc == DB_ROW)
        rc = CIN_OK;
    db_finalize(s);
    return rc;
}

int acmesrv_order_ids(cin_store *st, int64_t acct_id, int64_t **ids, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT id FROM acmesrv_orders WHERE acct_id = ?1 ORDER BY id "
                                "DESC LIMIT 100");

    db_bind_int(s, 1, acct_id);
    return db_ids(s, ids, n);
}

int acmesrv_cert_find(cin_store *st, int by_serial, const char *value, int64_t *cert_id,
                      int64_t *order_id)
{
    db_stmt *s = db_prepare(st, by_serial ? "SELECT id, order_id FROM certificates WHERE serial "
                                            "= ?1 ORDER BY id DESC LIMIT 1"
                                          : "SELECT id, order_id FROM certificates WHERE sha256 "
                                            "= ?1 ORDER BY id DESC LIMIT 1");
    int rc;

    *cert_id = *order_id = 0;
    db_bind_text(s, 1, value);
    rc = db_one(s);
    if (rc == CIN_OK) {
        *cert_id = db_col_int(s, 0);
        *order_id = db_col_int(s, 1);
    }
    db_finalize(s);
    return rc;
}

int acmesrv_order_claim(cin_store *st, int64_t id, int claim)
{
    db_stmt *s = db_prepare(st, "UPDATE acmesrv_orders SET finalized = ?1 WHERE id = ?2 AND "
                                "finalized = ?3");
    int64_t n = 0;
    int rc;

    db_bind_int(s, 1, claim ? 1 : 0);
    db_bind_int(s, 2, id);
    db_bind_int(s, 3, claim ? 0 : 1);
    rc = db_step(s);
    if (rc == CIN_OK)
        n = db_changes(s);
    db_finalize(s);
    if (rc != CIN_OK)
        return rc;
    return n == 1 ? CIN_OK : CIN_ECONFLICT;
}

/* ---- authorizations (newAuthz, deactivation) and orders' origin ------------------------ */

void acmesrv_authz_clear(acmesrv_authz *z)
{
    free(z->identifier);
    free(z->status);
    memset(z, 0, sizeof(*z));
}

int acmesrv_authz_insert(cin_store *st, acmesrv_authz *z)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    z->created_at = (int64_t)st_now(st);
    s = db_prepare(st, "INSERT INTO acmesrv_authzs(acct_id, identifier, order_ref, idx, status, "
                       "expires_at, created_at, preauth) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                       "RETURNING id");
    db_bind_int(s, 1, z->acct_id);
    db_bind_text(s, 2, z->identifier);
    db_bind_int(s, 3, z->order_ref);
    db_bind_int(s, 4, z->idx);
    db_bind_text(s, 5, z->status);
    db_bind_int(s, 6, z->expires_at);
    db_bind_int(s, 7, z->created_at);
    db_bind_int(s, 8, z->preauth);
    rc = db_one(s);
    if (rc == CIN_OK)
        z->id = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

#define AUTHZ_COLS                                                                                 \
    "id, acct_id, identifier, order_ref, idx, status, expires_at, created_at, preauth"

static int authz_one(db_stmt *s, acmesrv_authz *out)
{
    int rc = db_one(s);

    memset(out, 0, sizeof(*out));
    if (rc == CIN_OK) {
        out->id = db_col_int(s, 0);
        out->acct_id = db_col_int(s, 1);
        out->identifier = db_col_strdup(s, 2);
        out->order_ref = db_col_int(s, 3);
        out->idx = (int)db_col_int(s, 4);
        out->status = db_col_strdup(s, 5);
        out->expires_at = db_col_int(s, 6);
        out->created_at = db_col_int(s, 7);
        out->preauth = db_col_int(s, 8);
    }
    db_finalize(s);
    return rc;
}

int acmesrv_authz_get(cin_store *st, int64_t id, acmesrv_authz *out)
{
    db_stmt *s = db_prepare(st, "SELECT " AUTHZ_COLS " FROM acmesrv_authzs WHERE id = ?1 AND "
                                "order_ref = 0");

    db_bind_int(s, 1, id);
    return authz_one(s, out);
}

int acmesrv_authz_of_order(cin_store *st, int64_t order_ref, int idx, acmesrv_authz *out)
{
    db_stmt *s = db_prepare(st, "SELECT " AUTHZ_COLS " FROM acmesrv_authzs WHERE order_ref = ?1 "
                                "AND idx = ?2 ORDER BY id LIMIT 1");

    db_bind_int(s, 1, order_ref);
    db_bind_int(s, 2, idx);
    return authz_one(s, out);
}

int acmesrv_authz_valid(cin_store *st, int64_t acct_id, const char *identifier, int64_t now,
                        acmesrv_authz *out)
{
    db_stmt *s = db_prepare(st, "SELECT " AUTHZ_COLS " FROM acmesrv_authzs WHERE acct_id = ?1 "
                                "AND identifier = ?2 AND order_ref = 0 AND status = 'valid' AND "
                                "expires_at > ?3 ORDER BY id DESC LIMIT 1");

    db_bind_int(s, 1, acct_id);
    db_bind_text(s, 2, identifier);
    db_bind_int(s, 3, now);
    return authz_one(s, out);
}

int acmesrv_authz_preauths(cin_store *st, int64_t acct_id, int64_t now, int64_t **ids,
                           char ***names, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT id, identifier FROM acmesrv_authzs WHERE acct_id = ?1 AND "
                                "order_ref = 0 AND status = 'valid' AND expires_at > ?2 ORDER BY "
                                "id DESC LIMIT 1000");
    int64_t *iv = NULL, *ni;
    char **nv = NULL, **nn;
    size_t k = 0;
    int rc;

    *ids = NULL;
    *names = NULL;
    *n = 0;
    db_bind_int(s, 1, acct_id);
    db_bind_int(s, 2, now);
    while ((rc = db_step(s)) == DB_ROW) {
        ni = realloc(iv, (k + 1) * sizeof(*iv));
        if (ni)
            iv = ni;
        nn = ni ? realloc(nv, (k + 2) * sizeof(*nv)) : NULL;
        if (!nn) {
            rc = CIN_ENOMEM;
            break;
        }
        nv = nn;
        iv[k] = db_col_int(s, 0);
        nv[k++] = db_col_strdup(s, 1);
        nv[k] = NULL;
    }
    db_finalize(s);
    if (rc == CIN_OK) {
        *ids = iv;
        *names = nv;
        *n = k;
        return CIN_OK;
    }
    free(iv);
    cin_strv_free(nv, k);
    return rc;
}

int acmesrv_authz_links(cin_store *st, int64_t order_ref, int64_t *preauth, size_t n)
{
    db_stmt *s = db_prepare(st, "SELECT idx, preauth FROM acmesrv_authzs WHERE order_ref = ?1 "
                                "AND preauth > 0");
    int rc;

    memset(preauth, 0, n * sizeof(*preauth));
    db_bind_int(s, 1, order_ref);
    while ((rc = db_step(s)) == DB_ROW) {
        int64_t idx = db_col_int(s, 0);
        if (idx >= 0 && (size_t)idx < n)
            preauth[idx] = db_col_int(s, 1);
    }
    db_finalize(s);
    return rc;
}

int acmesrv_authz_users(cin_store *st, int64_t preauth, int64_t **ids, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT DISTINCT order_ref FROM acmesrv_authzs WHERE preauth = ?1 "
                                "AND order_ref > 0 ORDER BY order_ref LIMIT 1000");

    db_bind_int(s, 1, preauth);
    return db_ids(s, ids, n);
}

int acmesrv_authz_count_since(cin_store *st, int64_t acct_id, int64_t since, int64_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT count(*) FROM acmesrv_authzs WHERE acct_id = ?1 AND "
                                "order_ref = 0 AND created_at >= ?2");
    int rc;

    *n = 0;
    db_bind_int(s, 1, acct_id);
    db_bind_int(s, 2, since);
    rc = db_one(s);
    if (rc == CIN_OK)
        *n = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

int acmesrv_authz_deactivate(cin_store *st, int64_t id)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE acmesrv_authzs SET status = 'deactivated' WHERE id = ?1");
    db_bind_int(s, 1, id);
    return db_run(s);
}

int acmesrv_order_invalidate(cin_store *st, int64_t id)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE acmesrv_orders SET deactivated = 1 WHERE id = ?1");
    db_bind_int(s, 1, id);
    return db_run(s);
}

int acmesrv_order_mark_via(cin_store *st, int64_t order_id, const char *cred_name)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE orders SET via = 'acme', via_name = ?2 WHERE id = ?1 AND via IS "
                       "NULL");
    db_bind_int(s, 1, order_id);
    db_bind_text(s, 2, cred_name);
    return db_run(s);
}

int acmesrv_cert_distrust(cin_store *st, int64_t cert_id, char **reason)
{
    db_stmt *s = db_prepare(st, "SELECT reason FROM distrust_queue WHERE cert_id = ?1");
    int rc;

    *reason = NULL;
    db_bind_int(s, 1, cert_id);
    rc = db_one(s);
    if (rc == CIN_OK)
        *reason = db_col_strdup(s, 0);
    db_finalize(s);
    return rc;
}
