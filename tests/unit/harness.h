/*
 * harness.h - shared fixtures for the unit tests: temporary stores, a seeded
 * account with users of every role and their tokens, and calls into
 * cin_http_handle() as a glue would make them.
 */
#ifndef CIN_TEST_HARNESS_H
#define CIN_TEST_HARNESS_H

#include <check.h>
#include <time.h>
#include <pthread.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "cin_core.h"
#include "cin_http.h"
#include "cin_store.h"
#include "cin_store_order.h"

/* Run a suite (each test forked); the exit code for the test binary. */
int run_suite(Suite *s);

/* A full TLS handshake between client c and server s over an in-memory BIO
 * pair (sni: the client's server name, or NULL); asserts both sides end it. */
void handshake_in_memory(SSL *c, SSL *s, const char *sni);

/* A fresh temporary directory (removed by tmpdir_remove). */
char *tmpdir_new(void);
void tmpdir_remove(char *dir);

/* Users of the fixture, by index. */
enum { U_ADMIN, U_STANDARD, U_BASIC, U_BASIC2, U_SIGNATORY, U_ADMIN2, U_OTHER_ADMIN, U_COUNT };

typedef struct fixture {
    char *dir;
    char *path;     /* the store: a file, or (CIN_TEST_PG set) a PostgreSQL URI */
    char *key_path; /* its key file */
    char *cli_args; /* "--store ... --key-file ..." for the certinext command */
    cin_store *st;
    cin_core *core;
    char *pg_db;      /* CIN_TEST_PG: the test's own database, dropped at the end */
    pthread_t syncer; /* CIN_TEST_PG: this "host"'s mirror syncer */
    int stop;         /* tells the syncer to end (atomic) */
    char *token[U_COUNT];
    const char *name[U_COUNT];
} fixture;

/*
 * Account "acme" (1000 credits; domains example.com, shop.example.net) with
 * ann (admin), sam (standard), bob and bea (basic), sig (standard, authorized
 * signatory), adam (admin); account "other" (1000 credits; domain other.org)
 * with oscar (admin).  ann's password is "ann-password".
 */
fixture *fixture_new(void);
void fixture_free(fixture *f);

/* The clock the fixture's store and core read (cin_now): the real one while
 * 0; a test that must not depend on the wall clock sets it (harness_set_now). */
void harness_set_now(time_t t);

/* How many of the last 64 messages the fixture's core logged contain needle;
 * harness_log_clear() forgets them. */
int harness_logged(const char *needle);
void harness_log_clear(void);

typedef struct hresp {
    int status;
    int declined;
    json_t *json; /* parsed body when it is JSON */
    char *body;
    char *ctype;
    cin_response raw;
} hresp;

/* Call the API as user u (-1: no token) with an optional JSON body and extra
 * headers ("Name: value", NULL-terminated, may be NULL). */
hresp call(fixture *f, int u, const char *method, const char *path, const char *body,
           const char *const *headers);
/* The same from another peer address. */
hresp call_from(fixture *f, int u, const char *peer, const char *method, const char *path,
                const char *body, const char *const *headers);
void hresp_free(hresp *r);
const char *hresp_header(const hresp *r, const char *name);
/* A string field of the JSON body (NULL when absent). */
const char *jstr(const hresp *r, const char *field);
/* The problem code of a problem+json body ("bad_request"...). */
const char *problem_code(const hresp *r);

/* Shortcuts: place an order as u; returns its id string "R-..." (static buffer). */
const char *order_new(fixture *f, int u, const char *product, const char *names_json);
/* The order's status as the store has it. */
char *order_status(fixture *f, const char *id);
/* Run one agent pass (and settle). */
void agent_pass(fixture *f);
/* CIN_TEST_PG: wait until this host's mirror has what the store has (what a
 * fleet's host serves follows the store within its syncer's notification). */
void settle(fixture *f);
/* Rows in a table, to prove that nothing was written. */
long long count_rows(fixture *f, const char *table);
/* Run SQL on the fixture's store (either engine); rows as "a|b\n" (malloc'd). */
char *store_query(fixture *f, const char *sql);
/* 1 when the fixture's store is PostgreSQL (CIN_TEST_PG). */
int store_is_pg(const fixture *f);
/* s as a JSON string literal (malloc'd). */
char *json_quote(const char *s);
/* Run a shell command; returns its exit status; output into *out (may be NULL). */
int run(const char *cmd, char **out);

#endif
