/*
 * fuzz_util.h - the few helpers the fuzz targets share (header only: each
 * target is one translation unit linked with the fuzz build of the core).
 */
#ifndef CIN_FUZZ_UTIL_H
#define CIN_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ui.h>

/* A malloc'd, NUL-terminated copy of the input (a NUL inside ends it early
 * for the C string functions, as it would for a caller). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* The input as the body of a PEM block ("-----BEGIN label-----", base64 in
 * 64-column lines), malloc'd: raw DER reaches the parsers behind the PEM. */
static inline char *fuzz_pem_wrap(const char *label, const uint8_t *data, size_t size)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *mem = NULL, *out;
    long len;

    if (!b)
        abort();
    if (size == 0) /* PEM_write_bio() refuses an empty body */
        BIO_printf(b, "-----BEGIN %s-----\n-----END %s-----\n", label, label);
    else if (!PEM_write_bio(b, label, "", data, (long)size))
        abort();
    len = BIO_get_mem_data(b, &mem);
    out = malloc((size_t)len + 1);
    if (!out)
        abort();
    memcpy(out, mem, (size_t)len);
    out[len] = '\0';
    BIO_free(b);
    return out;
}

/* OpenSSL's default PEM password callback opens a prompt on the terminal
 * (else stdin and stderr): in a server that is a worker writing to its error
 * log and, with a terminal, waiting on it.  Core code must never get there,
 * so in the fuzz targets opening a prompt is a crash. */
static int fuzz_prompt_opener(UI *ui)
{
    (void)ui;
    fprintf(stderr, "fuzz: OpenSSL opened a passphrase prompt: a PEM read without a password "
                    "callback (a server would ask its terminal or stdin)\n");
    abort();
}

static inline void fuzz_forbid_passphrase_prompts(void)
{
    UI_METHOD *m = UI_create_method("certinext fuzz: no prompts");

    if (!m || UI_method_set_opener(m, fuzz_prompt_opener) != 0)
        abort();
    UI_set_default_method(m); /* owned by OpenSSL's default from now on */
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
