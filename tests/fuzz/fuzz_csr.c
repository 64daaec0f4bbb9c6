/*
 * fuzz_csr.c - cin_csr_check() (common/src/x509.c), the check every
 * customer-supplied CSR goes through (POST /orders, PUT /orders/{id}/csr,
 * reissue).
 *
 * Each input is tried twice: as PEM text, and as raw DER wrapped into a
 * "CERTIFICATE REQUEST" PEM block, so that mutations reach the PKCS#10
 * parser and the name checks behind the PEM layer.  The order's names are
 * fixed (the seed CSRs name them, so the accepting path is reachable).
 * Contract of cin_x509.h: CIN_OK with no code and no message, or CIN_EINVAL
 * with code "invalid_csr" or "weak_key" and a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cin_x509.h"
#include "fuzz_util.h"

static char *names[] = {"example.com", "www.example.com"};

static void check(const char *pem)
{
    const char *code = NULL;
    char *err = NULL;
    size_t n;

    /* the order names one name, or both */
    for (n = 1; n <= 2; n++) {
        int rc = cin_csr_check(pem, names, n, &code, &err);
        if (rc == CIN_OK) {
            FUZZ_CHECK(code == NULL && err == NULL);
        } else {
            FUZZ_CHECK(rc == CIN_EINVAL || rc == CIN_ENOMEM);
            FUZZ_CHECK(rc == CIN_ENOMEM ||
                       (code && (!strcmp(code, "invalid_csr") || !strcmp(code, "weak_key"))));
            FUZZ_CHECK(rc == CIN_ENOMEM || (err && *err));
        }
        free(err);
        err = NULL;
        code = NULL;
    }
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
    char *wrapped = fuzz_pem_wrap("CERTIFICATE REQUEST", data, size);

    check(text);
    check(wrapped);
    free(text);
    free(wrapped);
    return 0;
}
