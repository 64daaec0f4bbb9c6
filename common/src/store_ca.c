/* store_ca.c - CA configurations, with their secrets sealed under the KEK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_store_ca.h"
#include "store_int.h"

static const char *const plain_cols[] = {"directory_url", "eab_kid",  "trust_pem",       "contact",
                                         "account_url",   "root_pem", "intermediate_pem"};
static const char *const secret_cols[] = {"root_key", "intermediate_key", "account_key",
                                          "eab_hmac"};

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
    memset(c, 0, sizeof(*c));
}

#define CA_COLS                                                                                    \
    "id, name, kind, directory_url, eab_kid, trust_pem, contact, account_url, root_pem, "          \
    "intermediate_pem, created_at, preferred_chain FROM cas "

static void ca_fill(sqlite3_stmt *s, cin_ca_config *c)
{
    c->id = sqlite3_column_int64(s, 0);
    c->name = st_text(s, 1);
    c->kind = st_text(s, 2);
    c->directory_url = st_text(s, 3);
    c->eab_kid = st_text(s, 4);
    c->trust_pem = st_text(s, 5);
    c->contact = st_text(s, 6);
    c->account_url = st_text(s, 7);
    c->root_pem = st_text(s, 8);
    c->intermediate_pem = st_text(s, 9);
    c->created_at = st_text(s, 10);
    c->preferred_chain = st_text(s, 11);
}

int cin_store_ca_get(cin_store *st, const char *name, cin_ca_config *out)
{
    sqlite3_stmt *s = st_prep(st, "SELECT " CA_COLS "WHERE name = ?1");
    int rc;

    memset(out, 0, sizeof(*out));
    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, name);
    rc = st_row(s);
    if (rc == CIN_OK) {
        ca_fill(s, out);
    }
    sqlite3_finalize(s);
    return rc;
}

int cin_store_ca_list(cin_store *st, cin_ca_config **out, size_t *n)
{
    sqlite3_stmt *s = st_prep(st, "SELECT " CA_COLS "ORDER BY id");
    size_t cap = 4;

    *out = NULL;
    *n = 0;
    if (!s)
        return CIN_ERR;
    *out = calloc(cap, sizeof(**out));
    if (!*out) {
        sqlite3_finalize(s);
        return CIN_ENOMEM;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (*n == cap) {
            cin_ca_config *m = realloc(*out, cap * 2 * sizeof(**out));
            if (!m)
                break;
            *out = m;
            cap *= 2;
        }
        ca_fill(s, &(*out)[(*n)++]);
    }
    sqlite3_finalize(s);
    return *out ? CIN_OK : CIN_ENOMEM;
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
    sqlite3_stmt *s;
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
    s = st_prep(st, "INSERT INTO cas(name, kind, directory_url, eab_kid, trust_pem, contact,"
                    " created_at, preferred_chain) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!s)
        return CIN_ERR;
    st_now_text(st, now);
    st_bind_text(s, 1, c->name);
    st_bind_text(s, 2, c->kind);
    st_bind_text(s, 3, c->directory_url);
    st_bind_text(s, 4, c->eab_kid);
    st_bind_text(s, 5, c->trust_pem);
    st_bind_text(s, 6, c->contact);
    st_bind_text(s, 7, now);
    st_bind_text(s, 8, c->preferred_chain);
    rc = st_status(sqlite3_step(s));
    sqlite3_finalize(s);
    if (rc == CIN_EEXIST)
        cin_seterr(err, "a CA named %s already exists", c->name);
    else if (rc == CIN_OK && id)
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int cin_store_ca_set(cin_store *st, const char *name, const char *column, const char *value)
{
    char sql[128];
    sqlite3_stmt *s;
    int rc;

    if (!col_ok(column, plain_cols, sizeof(plain_cols) / sizeof(plain_cols[0])))
        return CIN_EINVAL;
    snprintf(sql, sizeof(sql), "UPDATE cas SET %s = ?1 WHERE name = ?2", column);
    s = st_prep(st, sql);
    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, value);
    st_bind_text(s, 2, name);
    rc = st_status(sqlite3_step(s));
    if (rc == CIN_OK && sqlite3_changes(st->db) == 0)
        rc = CIN_ENOTFOUND;
    sqlite3_finalize(s);
    return rc;
}

int cin_store_ca_set_secret(cin_store *st, const char *name, const char *column, const char *value)
{
    char sql[128], label[160];
    unsigned char *blob = NULL;
    size_t bloblen = 0;
    sqlite3_stmt *s;
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
    s = st_prep(st, sql);
    if (!s) {
        free(blob);
        return CIN_ERR;
    }
    if (blob)
        sqlite3_bind_blob(s, 1, blob, (int)bloblen, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 1);
    st_bind_text(s, 2, name);
    rc = st_status(sqlite3_step(s));
    if (rc == CIN_OK && sqlite3_changes(st->db) == 0)
        rc = CIN_ENOTFOUND;
    sqlite3_finalize(s);
    free(blob);
    return rc;
}

int cin_store_ca_get_secret(cin_store *st, const char *name, const char *column, char **value)
{
    char sql[128], label[160];
    unsigned char *pt = NULL;
    size_t ptlen = 0;
    sqlite3_stmt *s;
    int rc;

    *value = NULL;
    if (!col_ok(column, secret_cols, sizeof(secret_cols) / sizeof(secret_cols[0])))
        return CIN_EINVAL;
    snprintf(sql, sizeof(sql), "SELECT %s FROM cas WHERE name = ?1", column);
    s = st_prep(st, sql);
    if (!s)
        return CIN_ERR;
    st_bind_text(s, 1, name);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW || sqlite3_column_type(s, 0) == SQLITE_NULL) {
        sqlite3_finalize(s);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? CIN_ENOTFOUND : st_status(rc);
    }
    snprintf(label, sizeof(label), "ca:%s:%s", name, column);
    rc = cin_store_unseal(st, label, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0),
                          &pt, &ptlen);
    sqlite3_finalize(s);
    if (rc == CIN_OK)
        *value = (char *)pt;
    return rc;
}
