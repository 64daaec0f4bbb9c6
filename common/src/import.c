/*
 * import.c - a certificate and key that a server already has become an
 * issued order of kind "import" (see cin_import.h): checked first, then one
 * transaction holding the sealed key, the order, the certificate (served at
 * once: the generation moves) and the audit event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cin_autossl.h"
#include "cin_import.h"
#include "cin_order.h"
#include "cin_util.h"
#include "cin_x509.h"

/* What the PEM says, checked: the leaf's names (common name first), the key
 * type, the facts, and the chain re-encoded leaf first. */
typedef struct parsed {
    char **names;
    size_t nnames;
    char key_type[16];
    char *chain_pem;
    cin_cert_facts facts;
    time_t not_before, not_after;
} parsed;

static void parsed_clear(parsed *x)
{
    cin_strv_free(x->names, x->nnames);
    free(x->chain_pem);
    memset(x, 0, sizeof(*x));
}

static int add_name(parsed *x, const char *raw, size_t len)
{
    char *n = strndup(raw, len), **m;
    size_t i;

    if (!n)
        return CIN_ENOMEM;
    for (i = 0; n[i]; i++)
        if (n[i] >= 'A' && n[i] <= 'Z')
            n[i] = (char)(n[i] - 'A' + 'a');
    for (i = 0; i < x->nnames; i++)
        if (!strcmp(x->names[i], n)) {
            free(n);
            return CIN_OK;
        }
    m = realloc(x->names, (x->nnames + 2) * sizeof(char *));
    if (!m) {
        free(n);
        return CIN_ENOMEM;
    }
    x->names = m;
    x->names[x->nnames++] = n;
    x->names[x->nnames] = NULL;
    return CIN_OK;
}

/* The leaf's DNS names: the subject CN first when it is one of them (or
 * when there is no SAN at all), then every dNSName. */
static int leaf_names(X509 *leaf, parsed *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    X509_NAME *subj = X509_get_subject_name(leaf);
    int idx = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    const unsigned char *cn = NULL;
    int cnlen = 0, i, rc = CIN_OK, in_san = 0;

    if (idx >= 0) {
        ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
        cn = ASN1_STRING_get0_data(d);
        cnlen = ASN1_STRING_length(d);
    }
    for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS && cn && ASN1_STRING_length(g->d.dNSName) == cnlen &&
            !strncasecmp((const char *)ASN1_STRING_get0_data(g->d.dNSName), (const char *)cn,
                         (size_t)cnlen))
            in_san = 1;
    }
    if (cn && cnlen > 0 && (in_san || !gens))
        rc = add_name(x, (const char *)cn, (size_t)cnlen);
    for (i = 0; rc == CIN_OK && gens && i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            rc = add_name(x, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                          (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    return rc;
}

static time_t asn1_epoch(const ASN1_TIME *t)
{
    struct tm tm;

    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

/* Whether k signs what the leaf's public key verifies: X509_check_private_key
 * compares public halves only, and a key file whose secret does not go with
 * its public half (edited, or put together from two keys) passes it. */
static int key_signs_for(X509 *leaf, EVP_PKEY *k)
{
    static const unsigned char msg[] = "certinext: does this key sign for this certificate";
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = 0;

    if (m && EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, k) == 1 &&
        EVP_DigestSign(m, sig, &siglen, msg, sizeof(msg)) == 1 && EVP_MD_CTX_reset(m) == 1)
        ok = EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, X509_get0_pubkey(leaf)) == 1 &&
             EVP_DigestVerify(m, sig, siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    return ok;
}

/* Parse and check a chain and its key; 400 with what is wrong otherwise. */
static int parse_pair(const char *chain_pem, const char *key_pem, time_t now, parsed *x,
                      cin_problem *p)
{
    STACK_OF(X509) *sk = chain_pem ? cin_chain_parse(chain_pem) : NULL;
    EVP_PKEY *k = key_pem ? cin_key_from_pem(key_pem) : NULL;
    BIO *b = NULL;
    X509 *leaf;
    int i, n, rc = CIN_EINVAL;

    memset(x, 0, sizeof(*x));
    if (!sk || sk_X509_num(sk) < 1) {
        cin_problem_field(p, 400, "bad_request", "certificate",
                          "no PEM certificate found (BEGIN CERTIFICATE)");
        goto done;
    }
    if (sk_X509_num(sk) > CIN_CHAIN_MAX) {
        cin_problem_field(p, 400, "invalid_chain", "certificate",
                          "the chain has %d certificates; certinext takes at most %d, the leaf "
                          "included (leave out the root and anything unrelated)",
                          sk_X509_num(sk), CIN_CHAIN_MAX);
        goto done;
    }
    if (!k) {
        cin_problem_field(p, 400, "bad_request", "key",
                          "no unencrypted PEM private key found (a passphrase-protected key "
                          "must be decrypted first)");
        goto done;
    }
    leaf = sk_X509_value(sk, 0);
    if (X509_check_private_key(leaf, k) != 1) {
        cin_problem_field(p, 400, "key_mismatch", "key",
                          "the private key does not belong to the certificate");
        goto done;
    }
    if (cin_key_type_of(k, x->key_type) != CIN_OK || !cin_valid_key_type(x->key_type)) {
        cin_problem_field(p, 400, "weak_key", "key",
                          "the key is %s; certinext serves ECDSA P-256/P-384 and RSA "
                          "2048/3072/4096 keys",
                          x->key_type[0] ? x->key_type : "of another kind");
        goto done;
    }
    if (!key_signs_for(leaf, k)) {
        cin_problem_field(p, 400, "key_mismatch", "key",
                          "the private key's secret does not go with its public half: what it "
                          "signs, the certificate's key does not verify");
        goto done;
    }
    n = sk_X509_num(sk);
    for (i = 0; i + 1 < n; i++) {
        X509 *c = sk_X509_value(sk, i), *up = sk_X509_value(sk, i + 1);
        EVP_PKEY *upk = X509_get0_pubkey(up);
        if (X509_check_issued(up, c) != X509_V_OK || !upk || X509_verify(c, upk) != 1) {
            cin_problem_field(p, 400, "invalid_chain", "certificate",
                              "certificate %d of the chain is not signed by certificate %d "
                              "after it; give the chain leaf first, each certificate followed "
                              "by its issuer",
                              i + 1, i + 2);
            goto done;
        }
    }
    x->not_before = asn1_epoch(X509_get0_notBefore(leaf));
    x->not_after = asn1_epoch(X509_get0_notAfter(leaf));
    if (x->not_after <= now) {
        cin_problem_field(p, 400, "expired", "certificate",
                          "the certificate has expired; there is nothing left to serve");
        goto done;
    }
    rc = leaf_names(leaf, x);
    if (rc == CIN_OK && x->nnames == 0) {
        cin_problem_field(p, 400, "invalid_domain", "certificate",
                          "the certificate names no DNS name");
        rc = CIN_EINVAL;
    }
    if (rc != CIN_OK)
        goto done;
    /* the chain as stored and served: re-encoded, leaf first, nothing else */
    rc = CIN_ENOMEM;
    b = BIO_new(BIO_s_mem());
    for (i = 0; b && i < n; i++)
        if (PEM_write_bio_X509(b, sk_X509_value(sk, i)) != 1)
            goto done;
    if (b) {
        char *data = NULL;
        long len = BIO_get_mem_data(b, &data);
        x->chain_pem = strndup(data, (size_t)len);
    }
    if (!x->chain_pem)
        goto done;
    rc = cin_cert_facts_get(x->chain_pem, &x->facts);
    if (rc != CIN_OK)
        cin_problem_set(p, 400, "bad_request", "the certificate cannot be read");
done:
    if (rc != CIN_OK && rc != CIN_EINVAL)
        cin_problem_from_status(p, rc);
    if (rc != CIN_OK)
        parsed_clear(x);
    BIO_free(b);
    EVP_PKEY_free(k);
    sk_X509_pop_free(sk, X509_free);
    ERR_clear_error();
    return rc;
}

/* --product, or the cheapest product whose rules accept the names. */
static int choose_product(cin_store *st, const char *want, parsed *x, char **code, cin_problem *p)
{
    cin_product *prods = NULL;
    size_t n = 0, i, best = (size_t)-1;
    int round;
    char **v = NULL;
    size_t nv = 0;
    int rc;

    *code = NULL;
    if (want) {
        rc = cin_order_names_for_product(st, want, (const char **)x->names, x->nnames, &v, &nv, p);
        if (rc != CIN_OK)
            return rc;
        cin_strv_free(x->names, x->nnames);
        x->names = v;
        x->nnames = nv;
        *code = strdup(want);
        return *code ? CIN_OK : cin_problem_from_status(p, CIN_ENOMEM);
    }
    rc = cin_store_product_list(st, &prods, &n);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    /* DV first (an imported public certificate proves a domain, nothing more);
     * an intranet product only for names DV refuses (private names) */
    for (round = 0; round < 2 && best == (size_t)-1; round++)
        for (i = 0; i < n; i++) {
            cin_problem scratch = {0};
            if (strcmp(prods[i].type, round == 0 ? "dv" : "intranet"))
                continue;
            if (cin_order_names_for_product(st, prods[i].code, (const char **)x->names, x->nnames,
                                            &v, &nv, &scratch) == CIN_OK) {
                /* the cheapest; at the same price the narrowest (dv-ssl for
                 * one name rather than dv-multi) */
                if (best == (size_t)-1 ||
                    cin_product_price(&prods[i], nv) < cin_product_price(&prods[best], nv) ||
                    (cin_product_price(&prods[i], nv) == cin_product_price(&prods[best], nv) &&
                     prods[i].max_names < prods[best].max_names))
                    best = i;
                cin_strv_free(v, nv);
            }
            cin_problem_clear(&scratch);
        }
    if (best == (size_t)-1) {
        cin_problem_field(p, 400, "bad_request", "product",
                          "no DV product accepts the names of this certificate (%s...); "
                          "choose one with --product",
                          x->names[0]);
        rc = CIN_EINVAL;
    } else {
        rc = cin_order_names_for_product(st, prods[best].code, (const char **)x->names, x->nnames,
                                         &v, &nv, p);
        if (rc == CIN_OK) {
            cin_strv_free(x->names, x->nnames);
            x->names = v;
            x->nnames = nv;
            *code = strdup(prods[best].code);
        }
    }
    cin_product_list_free(prods, n);
    return rc;
}

/* The user an imported or automatic order is placed for: the account's
 * first administrator, else its first user (orders always have one). */
int cin_account_holder(cin_store *st, int64_t account_id, cin_user *out, cin_problem *p)
{
    cin_user *u = NULL;
    size_t n = 0, i, pick = 0;
    int rc = cin_store_user_list(st, account_id, &u, &n);

    memset(out, 0, sizeof(*out));
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    if (n == 0) {
        cin_user_list_free(u, n);
        cin_problem_set(p, 409, "conflict",
                        "the account has no user yet; create one (certinext user create) to "
                        "hold its certificates");
        return CIN_ECONFLICT;
    }
    for (i = n; i-- > 0;)
        if (!strcmp(u[i].role, "admin") && !u[i].disabled)
            pick = i;
    *out = u[pick];
    memset(&u[pick], 0, sizeof(u[pick]));
    cin_user_list_free(u, n);
    return CIN_OK;
}

static int write_import(cin_store *st, const cin_actor *a, const cin_account *acct,
                        const cin_import_request *r, parsed *x, const char *product, cin_order *o,
                        cin_problem *p)
{
    cin_user holder;
    cin_cert c;
    int64_t existing = 0, number = 0;
    char detail[512];
    int rc;

    rc = cin_store_begin(st);
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    rc = cin_store_cert_by_sha256(st, acct->id, x->facts.sha256, &existing);
    if (rc == CIN_OK) {
        cin_store_rollback(st);
        cin_problem_set(p, 409, "already_imported",
                        "this certificate is already order R-%06lld of account %s",
                        (long long)existing, acct->name);
        if (cin_store_order_get(st, existing, o) != CIN_OK)
            memset(o, 0, sizeof(*o));
        return CIN_EEXIST;
    }
    if (rc != CIN_ENOTFOUND)
        goto fail;
    /* ownership is read in the transaction that writes the order */
    rc = cin_order_names_owned(st, acct->id, x->names, x->nnames, p);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        return rc;
    }
    rc = cin_account_holder(st, acct->id, &holder, p);
    if (rc != CIN_OK) {
        cin_store_rollback(st);
        return rc;
    }
    memset(o, 0, sizeof(*o));
    o->account_id = acct->id;
    o->account = strdup(acct->name);
    o->requester_id = holder.id;
    o->requester = strdup(holder.name);
    cin_user_clear(&holder);
    o->status = strdup("issued");
    o->product = strdup(product);
    o->common_name = strdup(x->names[0]);
    o->sans = x->names;
    o->nsans = x->nnames;
    x->names = NULL;
    x->nnames = 0;
    o->key_source = strdup("server");
    o->key_type = strdup(x->key_type);
    o->validity_days = (int)((x->not_after - x->not_before + 86399) / 86400);
    if (o->validity_days < 1)
        o->validity_days = 1;
    o->auto_renew = r->auto_renew;
    o->price = 0;
    o->kind = strdup("import");
    o->admin_approved = 1;
    rc = cin_store_key_put(st, x->key_type, r->key_pem, &o->key_id);
    if (rc == CIN_OK)
        rc = cin_store_order_number_next(st, &number);
    o->order_number = number;
    if (rc == CIN_OK)
        rc = cin_store_order_insert(st, o);
    if (rc != CIN_OK)
        goto fail;
    memset(&c, 0, sizeof(c));
    c.order_id = o->id;
    c.account_id = o->account_id;
    c.serial = x->facts.serial;
    c.names = o->sans;
    c.nnames = o->nsans;
    c.not_before = x->facts.not_before;
    c.not_after = x->facts.not_after;
    c.sha256 = x->facts.sha256;
    c.issuer = x->facts.issuer;
    c.chain_pem = x->chain_pem;
    c.key_id = o->key_id;
    rc = cin_store_cert_insert(st, &c);
    free(c.status);
    if (rc != CIN_OK)
        goto fail;
    o->cert_id = c.id;
    rc = cin_store_order_update(st, o);
    snprintf(detail, sizeof(detail), "CIN-%06lld; serial %s, not after %s, from %.300s",
             (long long)number, x->facts.serial, x->facts.not_after, r->source ? r->source : "PEM");
    if (rc == CIN_OK)
        rc = cin_store_event_add(st, o->account_id, o->id, cin_actor_name(a), "order.import",
                                 a ? a->peer : NULL, detail);
    if (rc == CIN_OK)
        rc = cin_store_commit(st);
    if (rc == CIN_OK)
        return CIN_OK;
fail:
    cin_store_rollback(st);
    cin_order_clear(o);
    return cin_problem_from_status(p, rc);
}

int cin_order_import(cin_store *st, const cin_actor *a, const cin_import_request *r, cin_order *out,
                     cin_problem *p)
{
    cin_account acct;
    parsed x;
    char *product = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (a && a->user) {
        cin_problem_set(p, 403, "forbidden", "importing certificates is for the provider");
        return CIN_EPERM;
    }
    if (!r->account || !*r->account) {
        cin_problem_field(p, 400, "bad_request", "account", "name the account");
        return CIN_EINVAL;
    }
    rc = cin_store_account_get(st, r->account, &acct);
    if (rc == CIN_ENOTFOUND) {
        cin_problem_field(p, 404, "not_found", "account", "no account '%s'", r->account);
        return rc;
    }
    if (rc != CIN_OK)
        return cin_problem_from_status(p, rc);
    rc = parse_pair(r->chain_pem, r->key_pem, cin_now(cin_store_services(st)), &x, p);
    if (rc == CIN_OK)
        rc = choose_product(st, r->product, &x, &product, p);
    if (rc == CIN_OK)
        rc = write_import(st, a, &acct, r, &x, product, out, p);
    if (rc != CIN_OK && rc != CIN_EEXIST)
        cin_order_clear(out);
    free(product);
    parsed_clear(&x);
    cin_account_clear(&acct);
    return rc;
}
