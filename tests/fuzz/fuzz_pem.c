/*
 * fuzz_pem.c - PEM chains and keys (common/src/x509.c): cin_chain_parse(),
 * cin_cert_facts_get() and cin_key_from_pem(), which read what a CA sends
 * back and what the store holds, and the handshake's own key reader
 * (key_load.c), which must agree with the generic one on every key it reads.
 *
 * Each input is tried as PEM text, then as raw DER wrapped into a
 * "CERTIFICATE" and into a "PRIVATE KEY" PEM block, and as a DER leaf read by
 * the handshake's leaf reader (leaf_load.c) and by d2i_X509.  Checks: the facts of a
 * chain that parses are filled (lower-case hex serial and SHA-256, RFC 3339
 * times), and cin_cert_facts_get() fails exactly when the chain does not parse.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cin_x509.h"
#include "fuzz_util.h"

static int lower_hex(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s), i;

    if (n < min || n > max)
        return 0;
    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return 0;
    return 1;
}

static void check(const char *pem)
{
    STACK_OF(X509) *sk = cin_chain_parse(pem);
    cin_cert_facts f;
    EVP_PKEY *k;
    int rc;

    memset(&f, 0x5a, sizeof(f)); /* cin_cert_facts_get must fill or clear all */
    rc = cin_cert_facts_get(pem, &f);
    FUZZ_CHECK((rc == CIN_OK) == (sk != NULL));
    FUZZ_CHECK(memchr(f.serial, 0, sizeof(f.serial)) && memchr(f.sha256, 0, sizeof(f.sha256)));
    FUZZ_CHECK(memchr(f.not_before, 0, sizeof(f.not_before)) &&
               memchr(f.not_after, 0, sizeof(f.not_after)));
    FUZZ_CHECK(memchr(f.issuer, 0, sizeof(f.issuer)));
    if (sk) {
        FUZZ_CHECK(sk_X509_num(sk) > 0);
        FUZZ_CHECK(lower_hex(f.sha256, 64, 64));
        /* a negative serial (RFC 5280 forbids it; OpenSSL parses it) reads "-hex" */
        FUZZ_CHECK(lower_hex(f.serial + (f.serial[0] == '-'), 0, sizeof(f.serial) - 2));
        FUZZ_CHECK(strlen(f.not_before) == 20 && strlen(f.not_after) == 20);
        sk_X509_pop_free(sk, X509_free);
    }
    k = cin_key_from_pem(pem);
    {
        EVP_PKEY *fast = cin_key_from_pem_typed(pem, "ec-p256");
        FUZZ_CHECK(!fast || (k && EVP_PKEY_eq(k, fast) == 1));
        FUZZ_CHECK(!k || fast); /* what the generic reader reads, it reads too */
        EVP_PKEY_free(fast);
    }
    EVP_PKEY_free(k);
}

/* The handshake's leaf reader (leaf_load.c) reads the certificates d2i_X509
 * reads, into the same encoding and extension flags; a key it decodes is the
 * one OpenSSL decodes (OpenSSL refuses a point off the curve, which this
 * reader keeps as bytes: it matches no private key). */
static void check_leaf(const uint8_t *data, size_t size)
{
    const unsigned char *p = data;
    int decoded = -1;
    X509 *fast = cin_leaf_from_der(data, (long)size, &decoded);
    X509 *slow = d2i_X509(NULL, &p, (long)size);

    FUZZ_CHECK(!fast == !slow);
    FUZZ_CHECK(decoded == 0 || fast);
    if (fast && slow) {
        unsigned char *a = NULL, *b = NULL;
        int la = i2d_X509(fast, &a), lb = i2d_X509(slow, &b);
        EVP_PKEY *sp = X509_get0_pubkey(slow);
        uint32_t mask = sp || !decoded ? ~0u : ~(uint32_t)EXFLAG_SS;

        FUZZ_CHECK(la == lb && la > 0 && !memcmp(a, b, (size_t)la));
        FUZZ_CHECK((X509_get_extension_flags(fast) & mask) ==
                   (X509_get_extension_flags(slow) & mask));
        FUZZ_CHECK(!decoded || !sp || EVP_PKEY_eq(X509_get0_pubkey(fast), sp) == 1);
        FUZZ_CHECK(decoded || (sp == NULL) == (X509_get0_pubkey(fast) == NULL));
        OPENSSL_free(a);
        OPENSSL_free(b);
    }
    X509_free(fast);
    X509_free(slow);
    ERR_clear_error();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_forbid_passphrase_prompts();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);
    char *cert = fuzz_pem_wrap("CERTIFICATE", data, size);
    char *key = fuzz_pem_wrap("PRIVATE KEY", data, size);

    check(text);
    check(cert);
    check(key);
    check_leaf(data, size);
    free(text);
    free(cert);
    free(key);
    return 0;
}
