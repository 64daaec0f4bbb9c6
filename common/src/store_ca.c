/* store_ca.c - CA configurations, with their secrets sealed under the KEK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_store_ca.h"
#include "store_int.h"

static const char *const plain_cols[] = {
    "directory_url",    "eab_kid",   "trust_pem",  "contact",   "account_url", "root_pem",
    "intermediate_pem", "challenge", "dns_update", "tsig_name", "tsig_alg",    "profile"};
static const char *const secret_cols[] = {"root_key", "intermediate_key", "account_key",
                                          "tsig_secret", "eab_hmac"};

static int col_ok(const char *col, const char *const *list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!strcmp(col, list[i]))
            return 1;
    return 0;
}

void cin_ca_config_clear(cin_ca_config *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->kind);
    free(c->directory_url);
    free(c->eab_kid);
    free(c->trust_pem);
    free(c->contact);
    free(c->account_url);
    free(c->root_pem);
    free(c->intermediate_pem);
    free(c->created_at);
    free(c->preferred_chain);
    free(c->challenge);
    free(c->dns_update);
    free(c->tsig_name);
    free(c->tsig_alg);
    free(c->profile);
    memset(c, 0, sizeof(*c));
}

#define CA_COLS                                                                                    \
    "id, name, kind, directory_url, eab_kid, trust_pem, contact, account_url, root_pem, "          \
    "intermediate_pem, created_at, preferred_chain, challenge, dns_update, tsig_name, tsig_alg, "  \
    "failover_after, profile "                                                                     \
    "FROM cas "

static void ca_fill(db_stmt *s, cin_ca_config *c)
{
    c->id = db_col_int(s, 0);
    c->name = db_col_strdup(s, 1);
    c->kind = db_col_strdup(s, 2);
    c->directory_url = db_col_strdup(s, 3);
    c->eab_kid = db_col_strdup(s, 4);
    c->trust_pem = db_col_strdup(s, 5);
    c->contact = db_col_strdup(s, 6);
    c->account_url = db_col_strdup(s, 7);
    c->root_pem = db_col_strdup(s, 8);
    c->intermediate_pem = db_col_strdup(s, 9);
    c->created_at = db_col_strdup(s, 10);
    c->preferred_chain = db_col_strdup(s, 11);
    c->challenge = db_col_strdup(s, 12);
    c->dns_update = db_col_strdup(s, 13);
    c->tsig_name = db_col_strdup(s, 14);
    c->tsig_alg = db_col_strdup(s, 15);
    c->failover_after = (int)db_col_int(s, 16);
    c->profile = db_col_strdup(s, 17);
}

int cin_ca_challenge_valid(const char *type)
{
    return type &&
           (!strcmp(type, "http-01") || !strcmp(type, "tls-alpn-01") || !strcmp(type, "dns-01"));
}

int cin_store_ca_get(cin_store *st, const char *name, cin_ca_config *out)
{
    db_stmt *s = db_prepare(st, "SELECT " CA_COLS "WHERE name = ?1");
    int rc;

    memset(out, 0, sizeof(*out));
    db_bind_text(s, 1, name);
    rc = db_one(s);
    if (rc == CIN_OK) {
        ca_fill(s, out);
    }
    db_finalize(s);
    return rc;
}

int cin_store_ca_list(cin_store *st, cin_ca_config **out, size_t *n)
{
    db_stmt *s = db_prepare(st, "SELECT " CA_COLS "ORDER BY id");
    size_t cap = 4;
    int rc;

    *out = NULL;
    *n = 0;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        cin_ca_config *m = st_grow(*out, *n, &cap, sizeof(**out));
        if (!m) {
            rc = CIN_ENOMEM;
            break;
        }
        *out = m;
        ca_fill(s, &(*out)[(*n)++]);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        cin_ca_config_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void cin_ca_config_list_free(cin_ca_config *c, size_t n)
{
    size_t i;

    for (i = 0; c && i < n; i++)
        cin_ca_config_clear(&c[i]);
    free(c);
}

int cin_store_ca_add(cin_store *st, const cin_ca_config *c, int64_t *id, char **err)
{
    db_stmt *s;
    char now[21];
    int rc;

    if (!c->name || !cin_valid_username(c->name)) {
        cin_seterr(err, "CA name must be 1-64 characters of a-z 0-9 . _ -");
        return CIN_EINVAL;
    }
    if (!c->kind || (strcmp(c->kind, "local") && strcmp(c->kind, "acme"))) {
        cin_seterr(err, "CA kind must be local or acme");
        return CIN_EINVAL;
    }
    if (c->challenge && !cin_ca_challenge_valid(c->challenge)) {
        cin_seterr(err, "challenge must be http-01, tls-alpn-01 or dns-01");
        return CIN_EINVAL;
    }
    s = db_prepare(st, "INSERT INTO cas(name, kind, directory_url, eab_kid, trust_pem, contact,"
                       " created_at, preferred_chain, challenge, dns_update, tsig_name, tsig_alg,"
                       " failover_after, profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                       " ?11, ?12, ?13, ?14) RETURNING id");
    st_now_text(st, now);
    db_bind_text(s, 1, c->name);
    db_bind_text(s, 2, c->kind);
    db_bind_text(s, 3, c->directory_url);
    db_bind_text(s, 4, c->eab_kid);
    db_bind_text(s, 5, c->trust_pem);
    db_bind_text(s, 6, c->contact);
    db_bind_text(s, 7, now);
    db_bind_text(s, 8, c->preferred_chain);
    db_bind_text(s, 9, c->challenge);
    db_bind_text(s, 10, c->dns_update);
    db_bind_text(s, 11, c->tsig_name);
    db_bind_text(s, 12, c->tsig_alg);
    if (c->failover_after > 0)
        db_bind_int(s, 13, c->failover_after);
    else
        db_bind_null(s, 13);
    db_bind_text(s, 14, c->profile);
    rc = db_one(s);
    if (rc == CIN_OK && id)
        *id = db_col_int(s, 0);
    db_finalize(s);
    if (rc == CIN_EEXIST)
        cin_seterr(err, "a CA named %s already exists", c->name);
    else if (rc != CIN_OK)
        cin_seterr(err, "cannot add CA %s: %s", c->name, cin_store_errmsg(st));
    return rc;
}

int cin_store_ca_set(cin_store *st, const char *name, const char *column, const char *value)
{
    char sql[128];
    db_stmt *s;
    int rc;

    if (!col_ok(column, plain_cols, sizeof(plain_cols) / sizeof(plain_cols[0])))
        return CIN_EINVAL;
    snprintf(sql, sizeof(sql), "UPDATE cas SET %s = ?1 WHERE name = ?2", column);
    s = db_prepare(st, sql);
    db_bind_text(s, 1, value);
    db_bind_text(s, 2, name);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    return rc;
}

int cin_store_ca_set_secret(cin_store *st, const char *name, const char *column, const char *value)
{
    char sql[128], label[160];
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    db_stmt *s;
    int rc;

    if (!col_ok(column, secret_cols, sizeof(secret_cols) / sizeof(secret_cols[0])))
        return CIN_EINVAL;
    snprintf(label, sizeof(label), "ca:%s:%s", name, column);
    if (value) {
        rc =
            cin_store_seal(st, label, (const unsigned char *)value, strlen(value), &blob, &bloblen);
        if (rc != CIN_OK)
            return rc;
    }
    snprintf(sql, sizeof(sql), "UPDATE cas SET %s = ?1 WHERE name = ?2", column);
    s = db_prepare(st, sql);
    db_bind_blob(s, 1, blob, bloblen); /* NULL: SQL NULL */
    db_bind_text(s, 2, name);
    rc = db_step(s);
    if (rc == CIN_OK && db_changes(s) == 0)
        rc = CIN_ENOTFOUND;
    db_finalize(s);
    free(blob);
    return rc;
}

int cin_store_ca_get_secret(cin_store *st, const char *name, const char *column, char **value)
{
    char sql[128], label[160];
    unsigned char *blob, *pt = NULL;
    size_t bloblen = 0, ptlen = 0;
    db_stmt *s;
    int rc;

    *value = NULL;
    if (!col_ok(column, secret_cols, sizeof(secret_cols) / sizeof(secret_cols[0])))
        return CIN_EINVAL;
    snprintf(sql, sizeof(sql), "SELECT %s FROM cas WHERE name = ?1", column);
    s = db_prepare(st, sql);
    db_bind_text(s, 1, name);
    rc = db_one(s);
    if (rc == CIN_OK && db_col_null(s, 0))
        rc = CIN_ENOTFOUND;
    if (rc != CIN_OK) {
        db_finalize(s);
        return rc;
    }
    blob = db_col_blob(s, 0, &bloblen);
    db_finalize(s);
    /* an empty blob (NULL) fails the integrity check like a tampered one */
    snprintf(label, sizeof(label), "ca:%s:%s", name, column);
    rc = cin_store_unseal(st, label, blob, bloblen, &pt, &ptlen);
    free(blob);
    if (rc == CIN_OK)
        *value = (char *)pt;
    return rc;
}
