/*
 * cin_http.h - the server-agnostic HTTP entry point.
 *
 * A glue copies the request into a cin_request, calls cin_http_handle() and
 * copies the cin_response back out.  The core answers:
 *   - the REST API of API.md under /api/v1/ (paths relative to the mount),
 *   - the web page at the mount's root,
 *   - /.well-known/acme-challenge/{token} and /.well-known/pki-validation/{file}
 *     from the store; for a token it does not know it sets `declined`, and the
 *     glue passes the request on to the server's next handler.
 */
#ifndef CIN_HTTP_H
#define CIN_HTTP_H

#include "cin_core.h"

typedef struct cin_request {
    const char *method; /* "GET", "POST"... */
    const char *path;   /* relative to the mount ("/api/v1/orders"), or "/.well-known/..." */
    const char *query;  /* without '?', may be NULL */
    /* header lookup, case-insensitive name; NULL when absent */
    const char *(*header)(void *ud, const char *name);
    void *header_ud;
    const char *body;
    size_t body_len;
    const char *peer;  /* client address */
    int tls;           /* the connection is TLS */
    const char *mount; /* the URI prefix before path ("/certinext"); NULL: "" */
    /* the client's certificate (PEM) only when the server verified it (never
     * with optional_no_ca); the core reads it at POST /api/v1/session only */
    const char *client_cert_pem;
} cin_request;

#define CIN_MAX_HEADERS 12

typedef struct cin_response {
    int status;
    int declined; /* not ours: let the server's next handler answer */
    size_t nheaders;
    char *header_names[CIN_MAX_HEADERS];
    char *header_values[CIN_MAX_HEADERS];
    char *content_type;
    char *body;
    size_t body_len;
    int secret; /* the body is a secret (a private key): wiped when cleared */
} cin_response;

/* Handle one request.  resp is zeroed first; free it with cin_response_clear(). */
void cin_http_handle(cin_core *core, const cin_request *req, cin_response *resp);
void cin_response_clear(cin_response *resp);

/* Fill resp with an API.md problem (application/problem+json), for a glue
 * that must refuse a request before the core sees it (a body over the limit). */
void cin_http_problem(cin_response *resp, int status, const char *code, const char *detail);

/* Fill resp for a request a glue refuses before the core sees it: status 413
 * (a body over limit bytes) or the server's own refusal (400, 408, 411...).
 * Under <mount>acme/ (path is mount-relative) it is an ACME problem
 * (urn:ietf:params:acme:error:malformed, RFC 8555 section 6.7), elsewhere
 * API.md's (payload_too_large for 413); 0 when filled, -1 for a status the
 * glue answers as before (not under acme/, not 413). */
int cin_http_refusal(const char *path, int status, size_t limit, cin_response *resp);

/* True when the path is a challenge path the core answers (cheap prefix test,
 * for glues that must decide early whether to look at a request). */
int cin_http_is_challenge_path(const char *path);

#endif
