/* scrypt.h - scrypt (RFC 7914) with a work area of its own (scrypt.c); not a public header. */
#ifndef CIN_SCRYPT_H
#define CIN_SCRYPT_H

#include <stddef.h>
#include <stdint.h>

/* DK = scrypt(P, S, N, r, p, dkLen) into out[0..outlen).  CIN_OK, CIN_EINVAL
 * for parameters the RFC refuses, CIN_ENOMEM when the work area cannot be
 * mapped.  The work area (128 * r * N bytes) is unmapped before returning. */
int cin_scrypt(const char *pw, size_t pwlen, const unsigned char *salt, size_t saltlen, uint64_t n,
               uint32_t r, uint32_t p, unsigned char *out, size_t outlen);

#endif
