/* store_security.c - TOTP secrets, recovery codes, client certificates, account security. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_store_security.h"
#include "store_int.h"

static void totp_label(char *buf, size_t len, int64_t user_id)
{
    snprintf(buf, len, "totp:%lld", (long long)user_id);
}

int cin_store_totp_put(cin_store *st, int64_t user_id, const unsigned char *secret, size_t len)
{
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    char label[48], now[21];
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    totp_label(label, sizeof(label), user_id);
    rc = cin_store_seal(st, label, secret, len, &blob, &bloblen);
    if (rc != CIN_OK)
        return rc;
    s = db_prepare(st, "INSERT INTO user_totp(user_id, secret, confirmed, last_step, created_at)"
                       " VALUES (?1, ?2, 0, 0, ?3) ON CONFLICT(user_id) DO UPDATE SET"
                       " secret = excluded.secret, confirmed = 0, last_step = 0,"
                       " created_at = excluded.created_at");
    st_now_text(st, now);
    db_bind_int(s, 1, user_id);
    db_bind_blob(s, 2, blob, bloblen);
    db_bind_text(s, 3, now);
    rc = db_run(s);
    free(blob);
    return rc;
}

int cin_store_totp_get(cin_store *st, int64_t user_id, unsigned char **secret, size_t *len,
                       int *confirmed, uint64_t *last_step)
{
    db_stmt *s = db_prepare(st, "SELECT secret, confirmed, last_step FROM user_totp"
                                " WHERE user_id = ?1");
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    char label[48];
    int rc;

    *secret = NULL;
    *len = 0;
    db_bind_int(s, 1, user_id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        blob = db_col_blob(s, 0, &bloblen);
        *confirmed = (int)db_col_int(s, 1);
        *last_step = (uint64_t)db_col_int(s, 2);
    }
    db_finalize(s);
    if (rc != CIN_OK)
        return rc;
    totp_label(label, sizeof(label), user_id);
    rc = cin_store_unseal(st, label, blob, bloblen, secret, len);
    free(blob);
    return rc;
}

int cin_store_totp_use(cin_store *st, int64_t user_id, uint64_t step)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE user_totp SET last_step = ?2, confirmed = 1 WHERE user_id = ?1"
                       " AND last_step < ?2");
    db_bind_int(s, 1, user_id);
    db_bind_int(s, 2, (int64_t)step);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) != 1)
        rc = CIN_ECONFLICT;
    db_finalize(s);
    return rc;
}

int cin_store_totp_delete(cin_store *st, int64_t user_id)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "DELETE FROM recovery_codes WHERE user_id = ?1");
    db_bind_int(s, 1, user_id);
    rc = db_run(s);
    if (rc != CIN_OK)
        return rc;
    s = db_prepare(st, "DELETE FROM user_totp WHERE user_id = ?1");
    db_bind_int(s, 1, user_id);
    return db_run(s);
}

int cin_store_recovery_put(cin_store *st, int64_t user_id, char **hashes, size_t n)
{
    db_stmt *s;
    size_t i;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "DELETE FROM recovery_codes WHERE user_id = ?1");
    db_bind_int(s, 1, user_id);
    rc = db_run(s);
    for (i = 0; rc == CIN_OK && i < n; i++) {
        s = db_prepare(st, "INSERT INTO recovery_codes(user_id, hash, used) VALUES (?1, ?2, 0)");
        db_bind_int(s, 1, user_id);
        db_bind_text(s, 2, hashes[i]);
        rc = db_run(s);
    }
    return rc;
}

int cin_store_recovery_use(cin_store *st, int64_t user_id, const char *hash)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE recovery_codes SET used = 1 WHERE user_id = ?1 AND hash = ?2"
                       " AND used = 0");
    db_bind_int(s, 1, user_id);
    db_bind_text(s, 2, hash);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    return rc;
}

int cin_store_account_set_security(cin_store *st, int64_t account_id, int require_2fa,
                                   const char *allowlist)
{
    db_stmt *s;

    ST_WRITER(st);
    s = db_prepare(st, "UPDATE accounts SET require_2fa = CASE WHEN ?2 < 0 THEN require_2fa"
                       " ELSE ?2 END, ip_allowlist = coalesce(?3, ip_allowlist) WHERE id = ?1");
    db_bind_int(s, 1, account_id);
    db_bind_int(s, 2, require_2fa);
    if (allowlist)
        db_bind_text(s, 3, allowlist);
    else
        db_bind_null(s, 3);
    return db_run(s);
}

void cin_user_cert_clear(cin_user_cert *c)
{
    if (!c)
        return;
    free(c->sha256);
    free(c->issuer);
    free(c->serial);
    free(c->created_at);
    memset(c, 0, sizeof(*c));
}

int cin_store_user_cert_add(cin_store *st, int64_t user_id, const char *sha256, const char *issuer,
                            const char *serial, int64_t *id)
{
    db_stmt *s;
    char now[21];
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "INSERT INTO user_certs(user_id, sha256, issuer, serial, created_at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id");
    st_now_text(st, now);
    db_bind_int(s, 1, user_id);
    db_bind_text(s, 2, sha256);
    db_bind_text(s, 3, issuer);
    db_bind_text(s, 4, serial);
    db_bind_text(s, 5, now);
    rc = db_one(s);
    if (rc == CIN_OK && id)
        *id = db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

int cin_store_user_cert_find(cin_store *st, const char *sha256, const char *issuer,
                             const char *serial, int64_t *user_id)
{
    db_stmt *s = db_prepare(st, "SELECT DISTINCT user_id FROM user_certs WHERE sha256 = ?1 OR"
                                " (issuer = ?2 AND serial = ?3) ORDER BY user_id LIMIT 2");
    int rc;

    *user_id = 0;
    db_bind_text(s, 1, sha256 ? sha256 : "");
    db_bind_text(s, 2, issuer ? issuer : "");
    db_bind_text(s, 3, serial ? serial : "");
    rc = db_one(s);
    if (rc == CIN_OK) {
        *user_id = db_col_int(s, 0);
        /* registered to two users (a store from before registration checked):
         * nobody's login, rather than the wrong one */
        rc = db_step(s);
        rc = rc == DB_ROW ? CIN_ECONFLICT : rc;
        if (rc != CIN_OK)
            *user_id = 0;
    }
    db_finalize(s);
    return rc;
}

int cin_store_user_cert_list(cin_store *st, int64_t user_id, cin_user_cert **out, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT id, user_id, sha256, issuer, serial, created_at FROM"
                                " user_certs WHERE user_id = ?1 ORDER BY id");
    size_t cap = 4;
    int rc;

    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    db_bind_int(s, 1, user_id);
    while ((rc = db_step(s)) == DB_ROW) {
        cin_user_cert *c, *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        c = &(*out)[(*n)++];
        c->id = db_col_int(s, 0);
        c->user_id = db_col_int(s, 1);
        c->sha256 = db_col_strdup(s, 2);
        c->issuer = db_col_strdup(s, 3);
        c->serial = db_col_strdup(s, 4);
        c->created_at = db_col_strdup(s, 5);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_user_cert_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void cin_user_cert_list_free(cin_user_cert *c, size_t n)
{
    size_t i;

    for (i = 0; c && i < n; i++)
        cin_user_cert_clear(&c[i]);
    free(c);
}

int cin_store_user_cert_delete(cin_store *st, int64_t user_id, int64_t id)
{
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    s = db_prepare(st, "DELETE FROM user_certs WHERE id = ?1 AND user_id = ?2");
    db_bind_int(s, 1, id);
    db_bind_int(s, 2, user_id);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    return rc;
}
