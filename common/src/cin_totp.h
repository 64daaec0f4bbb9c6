/*
 * cin_totp.h - time-based one-time passwords (RFC 6238 over RFC 4226's
 * HOTP: HMAC-SHA1, 6 digits, 30-second steps) and the QR code that carries
 * an otpauth:// URI to an authenticator app.  Pure functions: the store
 * keeps the secrets (sealed) and the last accepted step (cin_account.h).
 */
#ifndef CIN_TOTP_H
#define CIN_TOTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CIN_TOTP_SECRET_LEN 20 /* bytes: 160 bits, as RFC 4226 recommends */
#define CIN_TOTP_STEP       30 /* seconds */
#define CIN_TOTP_DIGITS     6

/* The 6-digit code of secret for time step `step` (time / 30). */
uint32_t cin_totp_code(const unsigned char *secret, size_t len, uint64_t step);
/*
 * Check a code typed at time now: the codes of the current step and one step
 * either side (clock drift) are accepted, but only a step later than
 * last_step (a code is accepted once).  1 and *step the matching step, or 0.
 */
int cin_totp_verify(const unsigned char *secret, size_t len, const char *code, time_t now,
                    uint64_t last_step, uint64_t *step);
/* RFC 4648 base32 without padding (what authenticator apps read); malloc'd. */
char *cin_base32(const unsigned char *in, size_t len);
/* The otpauth://totp/ URI for account:user with secret (malloc'd). */
char *cin_totp_uri(const char *issuer, const char *user, const unsigned char *secret, size_t len);
/* text as a QR code in an SVG document (malloc'd; NULL on failure). */
char *cin_qr_svg(const char *text);

#endif
