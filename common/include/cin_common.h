/*
 * cin_common.h - status codes, error strings and the services a host hands in.
 *
 * Every core function that can fail returns an int status: CIN_OK (0) on
 * success, one of the negative CIN_E* codes otherwise.  Functions that take a
 * `char **err` store a malloc'd, human-readable message there on failure when
 * err is non-NULL and *err is NULL; the caller frees it with free().  A
 * message never contains key material or token secrets.
 */
#ifndef CIN_COMMON_H
#define CIN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CIN_OK          0
#define CIN_ERR         -1  /* internal error: a defect or an unexpected library failure */
#define CIN_ENOMEM      -2  /* out of memory */
#define CIN_EINVAL      -3  /* invalid argument or input */
#define CIN_ENOTFOUND   -4  /* no such row or file */
#define CIN_EEXIST      -5  /* already exists (a unique key is taken) */
#define CIN_EBUSY       -6  /* the store stayed locked past the busy timeout */
#define CIN_ECRYPTO     -7  /* decryption failed: wrong key or tampered data */
#define CIN_EIO         -8  /* file or database I/O failed */
#define CIN_ECONFLICT   -9  /* not allowed in the current state */
#define CIN_ECREDITS    -10 /* not enough credits */
#define CIN_EPERM       -11 /* not permitted */
#define CIN_EUNAVAIL    -12 /* the store cannot be reached (a lost database connection) */
#define CIN_ECONSTRAINT -13 /* a store constraint other than uniqueness refused a write */
#define CIN_EAUTH       -14 /* not authenticated */
#define CIN_ELIMIT      -15 /* rate limited */

/* A short, static English name for a status ("not found"...). */
const char *cin_strstatus(int status);

/* printf-style: when err != NULL and *err == NULL, store a malloc'd message. */
void cin_seterr(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

enum cin_log_level { CIN_LOG_ERROR = 0, CIN_LOG_WARN, CIN_LOG_INFO, CIN_LOG_DEBUG };

/*
 * Services the host (a server glue, the CLI, a test) hands to the core once.
 * Any member may be NULL: logging then goes to stderr at WARN and above, and
 * the clock is time(NULL).  The core never logs secrets through `log`.
 */
typedef struct cin_services {
    void (*log)(void *ud, int level, const char *msg);
    time_t (*now)(void *ud);
    void *ud;
} cin_services;

void cin_log(const cin_services *svc, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
time_t cin_now(const cin_services *svc);

#endif
