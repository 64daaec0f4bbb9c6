/*
 * cin_util.h - small helpers shared by the core, the CLI and the tests.
 */
#ifndef CIN_UTIL_H
#define CIN_UTIL_H

#include "cin_common.h"

/* RFC 3339 UTC ("2026-11-25T12:00:00Z") of t into buf (at least 21 bytes). */
void cin_time_rfc3339(time_t t, char buf[21]);
/* Parse the form above; returns CIN_OK and sets *t, or CIN_EINVAL. */
int cin_time_parse(const char *s, time_t *t);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void cin_hex(const unsigned char *in, size_t len, char *out);

/* Base64url without padding.  Returned strings are malloc'd; NULL on ENOMEM. */
char *cin_b64url_encode(const unsigned char *in, size_t len);
/* Decodes base64url (padding and surrounding whitespace tolerated).
 * Returns a malloc'd buffer and its length, or NULL on bad input. */
unsigned char *cin_b64url_decode(const char *in, size_t *outlen);

/* strdup that tolerates NULL. */
char *cin_strdup(const char *s);
/* malloc'd printf. NULL on failure. */
char *cin_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A whole file as a NUL-terminated string (malloc'd); NULL when it cannot be
 * read or holds more than max bytes. */
char *cin_file_read(const char *path, size_t max);

/* Overwrite secrets before freeing them. */
void cin_memzero(void *p, size_t n);

/* A monotonic clock in milliseconds, and a pause (for waits that poll). */
int64_t cin_monotonic_ms(void);
void cin_pause_ms(int ms);

/* A user name: 1-64 characters of a-z 0-9 . _ - */
int cin_valid_username(const char *s);

#endif
