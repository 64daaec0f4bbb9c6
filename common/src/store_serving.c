/*
 * store_serving.c - what a handshake's cache miss reads: one indexed read
 * for a certificate's chain, its state and its sealed key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_store_order.h"
#include "store_int.h"

int cin_store_cert_material(cin_store *st, int64_t cert_id, cin_cert_material *out)
{
    db_stmt *s = db_prepare(st, "SELECT c.chain_pem, c.status, coalesce(c.key_id, 0), k.sealed,"
                                " k.key_type FROM certificates c LEFT JOIN private_keys k ON"
                                " k.id = c.key_id WHERE c.id = ?1");
    unsigned char *blob = NULL, *pt = NULL;
    size_t bloblen = 0, ptlen = 0;
    char label[CIN_KEY_LABEL_MAX];
    int rc;

    memset(out, 0, sizeof(*out));
    db_bind_int(s, 1, cert_id);
    rc = db_one(s);
    if (rc == CIN_OK) {
        out->chain_pem = db_col_strdup(s, 0);
        out->active = !strcmp(db_col_text(s, 1) ? db_col_text(s, 1) : "", "active");
        out->key_id = db_col_int(s, 2);
        blob = db_col_blob(s, 3, &bloblen);
        snprintf(out->key_type, sizeof(out->key_type), "%s",
                 db_col_text(s, 4) ? db_col_text(s, 4) : "");
    }
    db_finalize(s);
    if (rc != CIN_OK)
        return rc;
    if (!out->chain_pem) {
        free(blob);
        cin_cert_material_clear(out);
        return CIN_ENOMEM;
    }
    if (out->active && out->key_id) {
        cin_key_label(label, out->key_id);
        /* a key that fails its integrity check is never used */
        rc = cin_store_unseal(st, label, blob, bloblen, &pt, &ptlen);
        if (rc == CIN_OK) {
            out->key_pem = (char *)pt;
        } else {
            cin_log(&st->svc, CIN_LOG_ERROR,
                    "store: private key %lld failed its integrity check (tampered or wrong KEK)",
                    (long long)out->key_id);
            out->active = 0;
            out->key_failed = 1;
            rc = CIN_OK;
        }
    }
    if (out->active) {
        out->sealed = blob; /* kept for the host's shared cache */
        out->sealed_len = bloblen;
    } else {
        free(blob);
    }
    return rc;
}

void cin_cert_material_clear(cin_cert_material *m)
{
    if (!m)
        return;
    free(m->chain_pem);
    if (m->key_pem)
        cin_free_secret(m->key_pem, strlen(m->key_pem));
    free(m->sealed);
    memset(m, 0, sizeof(*m));
}
