/*
 * import_scan.c - finding the certificate + key pairs a server already has
 * (see cin_import_scan in cin_import.h): certbot's and mod_md's layouts, PEM
 * pairs and PKCS#12 files.  Only reads files; the workflow is import.c.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "cin_crypto.h"
#include "cin_import.h"
#include "cin_util.h"

#define MAX_FILE  (1 << 20) /* a chain or a key is a few KiB */
#define MAX_DEPTH 4

static void free_key(char *k)
{
    if (k)
        cin_free_secret(k, strlen(k));
}

static int is_file(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int is_dir(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && !strcasecmp(s + n - m, suffix);
}

typedef struct walk {
    const char *p12_password;
    cin_import_fn fn;
    void *ud;
    int found;
} walk;

/* One pair from two files (the same file twice: a PEM holding both). */
static int pair_files(walk *w, const char *source, const char *cert, const char *key)
{
    char *chain = cin_file_read(cert, MAX_FILE), *k = cin_file_read(key, MAX_FILE);
    int rc = 0;

    if (chain && k) {
        w->found++;
        rc = w->fn(w->ud, source, chain, k);
    }
    free(chain);
    free_key(k);
    return rc;
}

static char *bio_text(BIO *b)
{
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);

    return len > 0 ? strndup(data, (size_t)len) : NULL;
}

/* A PKCS#12 file: its key, certificate and CA certificates, as PEM. */
static int pkcs12_file(walk *w, const char *path)
{
    FILE *f = fopen(path, "rb");
    PKCS12 *p12 = f ? d2i_PKCS12_fp(f, NULL) : NULL;
    EVP_PKEY *k = NULL;
    X509 *leaf = NULL;
    STACK_OF(X509) *ca = NULL;
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_secmem());
    char *chain = NULL, *key = NULL;
    int rc = 0, i;

    if (f)
        fclose(f);
    if (p12 && cb && kb &&
        PKCS12_parse(p12, w->p12_password ? w->p12_password : "", &k, &leaf, &ca) == 1 && k &&
        leaf && PEM_write_bio_X509(cb, leaf) == 1 &&
        PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL) == 1) {
        for (i = 0; ca && i < sk_X509_num(ca); i++)
            PEM_write_bio_X509(cb, sk_X509_value(ca, i));
        chain = bio_text(cb);
        key = bio_text(kb);
    }
    w->found++;
    /* an unreadable file is still reported: fn gets NULL and says so */
    rc = w->fn(w->ud, path, chain && key ? chain : NULL, chain && key ? key : NULL);
    free(chain);
    free_key(key);
    BIO_free(cb);
    BIO_free(kb);
    EVP_PKEY_free(k);
    X509_free(leaf);
    sk_X509_pop_free(ca, X509_free);
    PKCS12_free(p12);
    ERR_clear_error();
    return rc;
}

static int scan(walk *w, const char *path, int depth);

/* A certbot live/NAME or mod_md domains/NAME directory: 1 when path is one. */
static int known_leaf_dir(walk *w, const char *path, int *rc)
{
    static const char *const layouts[][2] = {
        {"fullchain.pem", "privkey.pem"}, /* certbot live/NAME */
        {"pubcert.pem", "privkey.pem"},   /* mod_md domains/NAME */
    };
    size_t i;

    for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
        char *c = cin_asprintf("%s/%s", path, layouts[i][0]);
        char *k = cin_asprintf("%s/%s", path, layouts[i][1]);
        int hit = c && k && is_file(c) && is_file(k);
        if (hit)
            *rc = pair_files(w, path, c, k);
        free(c);
        free(k);
        if (hit)
            return 1;
    }
    return 0;
}

/* Directories that hold only old or pending copies of certificates. */
static int skipped_dir(const char *name)
{
    static const char *const skip[] = {"archive", "staging", "tmp", "ocsp",       "accounts",
                                       "renewal", "keys",    "csr", "challenges", "renewal-hooks"};
    size_t i;

    for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (!strcmp(name, skip[i]))
            return 1;
    return name[0] == '.';
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int scan_dir(walk *w, const char *path, int depth)
{
    struct dirent **ents = NULL;
    int n, i, rc = 0;

    if (known_leaf_dir(w, path, &rc))
        return rc;
    n = scandir(path, &ents, NULL, by_name);
    if (n < 0)
        return 0;
    for (i = 0; i < n; i++) {
        const char *e = ents[i]->d_name;
        char *sub = rc ? NULL : cin_asprintf("%s/%s", path, e);
        if (sub && strcmp(e, ".") && strcmp(e, "..")) {
            if (is_dir(sub)) {
                if (!skipped_dir(e) && depth < MAX_DEPTH)
                    rc = scan(w, sub, depth + 1);
            } else if (ends_with(e, ".p12") || ends_with(e, ".pfx") || ends_with(e, ".crt") ||
                       ends_with(e, ".pem")) {
                /* loose files: only pairs and PKCS#12 (a lone chain is no pair) */
                rc = scan(w, sub, depth + 1);
            }
        }
        free(sub);
        free(ents[i]);
    }
    free(ents);
    return rc;
}

/* A PEM file: a pair in itself, or CERT.pem/.crt with CERT.key beside it. */
static int scan_file(walk *w, const char *path)
{
    const char *dot = strrchr(path, '.');
    char *text, *key;
    int rc = 0;

    if (ends_with(path, ".p12") || ends_with(path, ".pfx"))
        return pkcs12_file(w, path);
    if (!dot || !(ends_with(path, ".pem") || ends_with(path, ".crt")))
        return 0;
    key = cin_asprintf("%.*s.key", (int)(dot - path), path);
    if (key && is_file(key)) {
        rc = pair_files(w, path, path, key);
        free(key);
        return rc;
    }
    free(key);
    text = cin_file_read(path, MAX_FILE);
    if (text && strstr(text, "-----BEGIN CERTIFICATE-----") && strstr(text, "PRIVATE KEY-----"))
        rc = pair_files(w, path, path, path);
    if (text)
        cin_free_secret(text, strlen(text));
    return rc;
}

static int scan(walk *w, const char *path, int depth)
{
    if (is_dir(path))
        return scan_dir(w, path, depth);
    return scan_file(w, path);
}

int cin_import_scan(const char *path, const char *p12_password, cin_import_fn fn, void *ud,
                    char **err)
{
    walk w = {p12_password, fn, ud, 0};
    int rc;

    if (!is_dir(path) && !is_file(path)) {
        cin_seterr(err, "%s: %s", path, strerror(errno ? errno : ENOENT));
        return CIN_ENOTFOUND;
    }
    rc = scan(&w, path, 0);
    if (rc)
        return rc;
    if (!w.found) {
        cin_seterr(err,
                   "%s: no certificate with its key found (certbot live/NAME, mod_md "
                   "domains/NAME, CERT.pem with CERT.key, a PEM holding both, .p12/.pfx)",
                   path);
        return CIN_ENOTFOUND;
    }
    return CIN_OK;
}
