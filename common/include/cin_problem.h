/*
 * cin_problem.h - the one error model that reaches a client.
 *
 * Core functions return an int status (cin_common.h).  A function that can
 * refuse a caller also fills a cin_problem: the HTTP status, the API.md code,
 * a sentence saying what to fix and, for bad input, the request field at
 * fault.  The REST API, the ACME server, the CLI and the agent all turn the
 * same struct into their own form; cin_problem_json() is the one place where
 * it becomes an RFC 7807 document.
 *
 * Internal statuses map to problems in exactly one table
 * (cin_problem_from_status): a store that is busy or unreachable is a 503
 * with Retry-After, a defect is a 500 without details, and nothing else is
 * ever guessed from a failed lookup.  A CA's own problem document (an ACME
 * error) is carried in the same struct with its own type URI.
 *
 * Every string in a problem is valid UTF-8: bytes that are not are shown as
 * \xHH, so that a client's bad input can always be echoed back.
 */
#ifndef CIN_PROBLEM_H
#define CIN_PROBLEM_H

#include "cin_common.h"

typedef struct cin_problem {
    int status;       /* HTTP status (400, 402, 403, 404, 409, 429, 500, 503...); 0: unset */
    const char *code; /* API.md code, static: "bad_request", "conflict"... */
    char *type;       /* NULL: "urn:certinext:error:" CODE; else a full URI (a CA's problem) */
    char *title;      /* NULL: the status's usual title */
    char *detail;     /* what to fix, one or two sentences */
    char *field;      /* the request field at fault (bad input), or NULL */
    int retry_after;  /* seconds to wait before retrying; 0: not said */
    char *extra_json; /* further members as a JSON object text (ACME subproblems...), or NULL */
} cin_problem;

/* Set p (freeing what it held).  p may be NULL: nothing is done. */
void cin_problem_set(cin_problem *p, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same, naming the request field at fault ("common_name", "sans"...). */
void cin_problem_field(cin_problem *p, int status, const char *code, const char *field,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * The one mapping from an internal status to a problem, for failures that
 * are not the caller's fault or have no better sentence:
 *   CIN_EBUSY -> 503 store_busy, CIN_EUNAVAIL/CIN_EIO -> 503 store_unavailable
 *   (both with Retry-After), CIN_ENOTFOUND -> 404, CIN_EEXIST/CIN_ECONFLICT ->
 *   409, CIN_EPERM -> 403, CIN_ECREDITS -> 402, CIN_EINVAL -> 400, CIN_EAUTH
 *   -> 401, CIN_ELIMIT -> 429; anything else (a defect, CIN_ENOMEM,
 *   CIN_ECRYPTO, CIN_ECONSTRAINT) -> 500 internal, with no details.
 * Returns rc, so that a caller can `return cin_problem_from_status(p, rc);`.
 */
int cin_problem_from_status(cin_problem *p, int rc);
/* The HTTP status and code that cin_problem_from_status gives rc. */
int cin_status_http(int rc, const char **code);
/* Free what p holds and zero it. */
void cin_problem_clear(cin_problem *p);
/* Move src into dst (dst cleared first; src zeroed). */
void cin_problem_move(cin_problem *dst, cin_problem *src);
/* Deep copy; CIN_ENOMEM on failure. */
int cin_problem_copy(cin_problem *dst, const cin_problem *src);

/* The RFC 7807 document (malloc'd JSON text): type, title, status, detail,
 * and field / retry_after / the extra members when set. */
char *cin_problem_json(const cin_problem *p);
/* Read a document made by cin_problem_json (or a CA's problem document). */
int cin_problem_parse(const char *json, cin_problem *p);
/* The usual title of an HTTP status ("Conflict"). */
const char *cin_http_title(int status);

/* s as valid UTF-8 (bytes that are not shown as \xHH), malloc'd. */
char *cin_utf8_clean(const char *s);
/* 1 when the len bytes at s are valid UTF-8 without NUL. */
int cin_utf8_valid(const char *s, size_t len);

#endif
