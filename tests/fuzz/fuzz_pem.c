/*
 * fuzz_pem.c - PEM chains and keys (common/src/x509.c): cin_chain_parse(),
 * cin_cert_facts_get() and cin_key_from_pem(), which read what a CA sends
 * back and what the store holds, and the handshake's own key reader
 * (key_load.c), which must agree with the generic one on every key it reads.
 *
 * Each input is tried as PEM text, then as raw DER wrapped into a
 * "CERTIFICATE" and into a "PRIVATE KEY" PEM block.  Checks: the facts of a
 * chain that parses are filled (lower-case hex serial and SHA-256, RFC 3339
 * times), and cin_cert_facts_get() fails exactly when the chain does not parse.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    free(text);
    free(cert);
    free(key);
    return 0;
}
