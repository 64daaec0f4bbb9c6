/*
 * store_copy.c - rows from one store to another, whatever their engines:
 * the host's mirror of a central store (mirror.c), `certinext store copy`
 * between SQLite and PostgreSQL, and the SQLite backup of a PostgreSQL store.
 *
 * One table of what the schema holds (the latest migration's columns and
 * their types) drives every copy; ids are copied as they are, so that sealed
 * secrets, which are bound to their row's id, still open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_copy.h"
#include "store_int.h"

/* Column types: i an integer (NULL kept), t text, b a blob. */
const st_table st_tables[] = {
    {"cas",
     "id,name,kind,directory_url,eab_kid,eab_hmac,trust_pem,contact,account_url,account_key,"
     "root_pem,intermediate_pem,intermediate_key,root_key,created_at,preferred_chain,challenge,dns_"
     "update,tsig_name,tsig_alg,tsig_secret,failover_after,distrusted_at,profile",
     "ittttbtttbttbbttttttbiit", "id"},
    {"accounts",
     "id,name,credits,created_at,auto_product,auto_www,parent_id,path,requires_parent_approval,"
     "billing,auto_policy,require_2fa,ip_allowlist,notify_emails",
     "itittiititiitt", "id"},
    {"products", "code,type,max_names,wildcard,max_validity_days,price,price_per_name,ca_id",
     "ttiiiiii", "code"},
    {"users",
     "id,account_id,name,role,signatory,password_hash,disabled,created_at,email,notify,notify_off",
     "iittitittit", "id"},
    {"tokens", "id,user_id,name,prefix,hash,expires_at,created_at", "iitttit", "id"},
    {"domains", "name,account_id,created_at", "tit", "name"},
    {"private_keys", "id,key_type,sealed,created_at", "itbt", "id"},
    {"orders",
     "id,order_number,account_id,requester_id,status,product,common_name,sans,key_source,"
     "key_type,validity_days,auto_renew,price,approved_by,approved_at,rejection_reason,"
     "signatory_by,signatory_at,parent_id,kind,csr_pem,key_id,cert_id,error,attempts,"
     "next_attempt_at,admin_approved,created_at,updated_at,superseded_by,not_after_cap,ca_cleanup,"
     "via,via_name",
     "iiiittttttiiitttttittiitiiittiiitt", "id"},
    {"certificates",
     "id,order_id,account_id,serial,names,not_before,not_after,not_after_ts,sha256,issuer,"
     "chain_pem,key_id,status,revocation_reason,ca_notified,changed_gen,revoke_next_at,"
     "not_before_ts,lifetime_start,lifetime_end",
     "iiittttitttittiiiiii", "id"},
    {"cert_names", "name,cert_id", "ti", "name,cert_id"},
    {"order_events", "id,account_id,order_id,actor,action,at,peer,detail", "iiittttt", "id"},
    {"ledger", "id,account_id,order_id,delta,balance,reason,actor,at", "iiiiittt", "id"},
    {"leases", "name,holder,expires_at", "tti", "name"},
    {"counters", "name,value", "ti", "name"},
    {"sessions", "hash,user_id,csrf,expires_at", "titi", "hash"},
    {"idempotency", "scope,key,status,body", "ttit", "scope,key"},
    {"challenges", "kind,token,content,order_id,expires_at", "tttii", "kind,token"},
    {"acme_orders", "order_id,ca,state,updated_at", "ittt", "order_id"},
    {"settings", "key,value", "tt", "key"},
    {"login_attempts", "id,user_key,peer,state,at", "ittti", "id"},
    {"domain_log", "name,gen", "ti", NULL},
    /* issue 13: the ACME server */
    {"acmesrv_credentials",
     "id,key_id,user_id,account_id,name,product,auto_pay,hmac,created_by,created_at,fields",
     "itiittibttt", "id"},
    {"acmesrv_accounts",
     "id,credential_id,user_id,account_id,thumbprint,jwk,status,contact,created_at",
     "iiiitttt"
     "t",
     "id"},
    {"acmesrv_nonces", "nonce,expires_at", "ti", "nonce"},
    {"acmesrv_orders",
     "id,acct_id,identifiers,product,replaces,order_id,finalized,csr,expires_at,created_at,"
     "deactivated",
     "iittiiitiii", "id"},
    {"acmesrv_authzs", "id,acct_id,identifier,order_ref,idx,status,expires_at,created_at,preauth",
     "iitiitiii", "id"},
    {"auto_orders", "name,account_id,order_id,next_at,alert", "tiiit", "name,account_id"},
    {"user_totp", "user_id,secret,confirmed,last_step,created_at", "ibiit", "user_id"},
    {"recovery_codes", "id,user_id,hash,used", "iiti", "id"},
    {"user_certs", "id,user_id,sha256,issuer,serial,created_at", "iitttt", "id"},
    {"user_groups", "id,account_id,name,created_at", "iitt", "id"},
    {"group_members", "group_id,user_id", "ii", "group_id,user_id"},
    {"product_approvers", "account_id,product,group_id", "iti", "account_id,product"},
    {"custom_fields", "id,account_id,name,type,required,choices,products,created_at", "iittittt",
     "id"},
    {"order_fields", "order_id,name,value", "itt", "order_id,name"},
    /* issue 14: CA failover */
    {"product_cas", "product,position,ca_id", "tii", "product,position"},
    {"order_cas", "order_id,ca_id,attempts", "iii", "order_id"},
    {"distrust_queue", "cert_id,order_id,ca_id,reason,state,replacement_id,started_at", "iiittii",
     "cert_id"},
    {"domain_claims", "name,account_id,token,created_at", "titi", "name,account_id"},
    {"webhooks", "id,account_id,url,events,secret,created_by,created_at,deleted", "iittbtti", "id"},
    {"outbox",
     "id,account_id,kind,webhook_id,recipient,subject,body,event,order_id,state,attempts,next_at,"
     "last_status,last_error,created_at,sent_at",
     "iitittttitiiitii", "id"},
    {"expiry_notices", "cert_id,level", "ii", "cert_id,level"},
    /* issue 14: ARI renewal windows */
    {"cert_ari",
     "cert_id,window_start,window_end,planned_at,next_check,explanation,moved,checked_at",
     "iiiiitii", "cert_id"},
    {NULL, NULL, NULL, NULL},
};

const st_table *st_table_named(const char *name)
{
    const st_table *t;

    for (t = st_tables; t->name; t++)
        if (!strcmp(t->name, name))
            return t;
    return NULL;
}

/* 1 when the len characters at col name one of the comma-separated list. */
static int listed(const char *list, const char *col, size_t len)
{
    while (*list) {
        size_t n = strcspn(list, ",");
        if (n == len && !strncmp(list, col, len))
            return 1;
        list += n + (list[n] == ',');
    }
    return 0;
}

/* "INSERT INTO t(cols) VALUES (?1..?n)", replacing a row with the same key. */
static char *insert_sql(const st_table *t)
{
    size_t n = strlen(t->types), i, cap = 256 + strlen(t->cols) * 4 + n * 32;
    char *sql = malloc(cap), *p;
    const char *c;
    int set = 0;

    if (!sql)
        return NULL;
    p = sql + sprintf(sql, "INSERT INTO %s(%s) VALUES (", t->name, t->cols);
    for (i = 0; i < n; i++)
        p += sprintf(p, "%s?%zu", i ? ", " : "", i + 1);
    p += sprintf(p, ")");
    if (!t->key)
        return sql;
    p += sprintf(p, " ON CONFLICT(%s) DO ", t->key);
    for (c = t->cols; *c;) {
        size_t len = strcspn(c, ",");
        if (!listed(t->key, c, len)) {
            p += sprintf(p, "%s%.*s = excluded.%.*s", set ? ", " : "UPDATE SET ", (int)len, c,
                         (int)len, c);
            set = 1;
        }
        c += len + (c[len] == ',');
    }
    if (!set)
        sprintf(p, "NOTHING"); /* an all-key table (cert_names) */
    return sql;
}

int st_copy_rows(cin_store *src, cin_store *dst, const st_table *t, const char *where,
                 const int64_t *params, size_t nparams, int64_t *count)
{
    /* in key order: a row that refers to an earlier one of its table (an
     * order's parent) comes after it */
    int ordered = t->key && !strchr(t->key, ',') && (!where || !strstr(where, "ORDER BY"));
    char *select = cin_asprintf("SELECT %s FROM %s %s%s%s", t->cols, t->name, where ? where : "",
                                ordered ? " ORDER BY " : "", ordered ? t->key : "");
    char *insert = insert_sql(t);
    size_t ncols = strlen(t->types), i;
    db_stmt *s, *w;
    int rc;

    if (count)
        *count = 0;
    if (!select || !insert) {
        free(select);
        free(insert);
        return CIN_ENOMEM;
    }
    s = db_prepare(src, select);
    for (i = 0; i < nparams; i++)
        db_bind_int(s, (int)i + 1, params[i]);
    while ((rc = db_step(s)) == DB_ROW) {
        w = db_prepare(dst, insert);
        for (i = 0; i < ncols; i++) {
            int col = (int)i;
            if (db_col_null(s, col)) {
                db_bind_null(w, col + 1);
            } else if (t->types[i] == 'i') {
                db_bind_int(w, col + 1, db_col_int(s, col));
            } else if (t->types[i] == 'b') {
                size_t len = 0;
                unsigned char *b = db_col_blob(s, col, &len);
                db_bind_blob(w, col + 1, b ? b : (unsigned char *)"", len);
                free(b);
            } else {
                db_bind_text(w, col + 1, db_col_text(s, col));
            }
        }
        rc = db_run(w);
        if (rc != CIN_OK)
            break;
        if (count)
            (*count)++;
    }
    db_finalize(s);
    free(select);
    free(insert);
    return rc;
}

/* Rows a new store already has: the catalog (cas, products) and counters. */
static int is_empty(cin_store *st, char **err)
{
    db_stmt *s = db_prepare(st, "SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM"
                                " orders) + (SELECT count(*) FROM users)");
    int rc = db_one(s);

    if (rc == CIN_OK && db_col_int(s, 0) > 0) {
        cin_seterr(err, "%s is not empty: copy into a new store only", cin_store_name(st));
        rc = CIN_EEXIST;
    }
    db_finalize(s);
    return rc;
}

int cin_store_copy(cin_store *src, cin_store *dst, int64_t *rows, char **err)
{
    const st_table *t;
    int64_t n = 0, total = 0;
    int rc = is_empty(dst, err);

    if (rows)
        *rows = 0;
    if (rc != CIN_OK)
        return rc;
    /* one consistent read of src, one transaction on dst */
    rc = src->drv->begin_read(src);
    if (rc != CIN_OK) {
        cin_seterr(err, "cannot read %s: %s", cin_store_name(src), cin_store_errmsg(src));
        return rc;
    }
    rc = cin_store_begin(dst);
    for (t = st_tables; rc == CIN_OK && t->name; t++) {
        rc = st_copy_rows(src, dst, t, NULL, NULL, 0, &n);
        total += n;
        if (rc == CIN_OK && t->key && !strcmp(t->key, "id") && dst->drv->ids_copied)
            rc = dst->drv->ids_copied(dst, t->name);
        if (rc != CIN_OK)
            cin_seterr(err, "copying %s failed: %s", t->name, cin_store_errmsg(dst));
    }
    if (rc == CIN_OK) {
        /* the destination's generation: the source's, published */
        uint64_t g = 0;
        rc = cin_store_generation(dst, &g);
        if (rc == CIN_OK)
            rc = cin_store_generation_set(dst, g);
    }
    rc = cin_store_end(dst, rc);
    src->drv->end_read(src);
    if (rc == CIN_OK && rows)
        *rows = total;
    return rc;
}
