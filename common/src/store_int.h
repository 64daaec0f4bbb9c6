/* store_int.h - internals shared by the store_*.c files; not a public header. */
#ifndef CIN_STORE_INT_H
#define CIN_STORE_INT_H

#include <sqlite3.h>

#include "cin_gen.h"
#include "cin_store.h"
#include "cin_util.h"

struct cin_store {
    sqlite3 *db;
    char *path;
    char *gen_path;
    cin_gen *gen;
    cin_kek kek;
    int have_kek;
    cin_services svc;
    int in_tx;
    uint64_t pending_gen; /* bumped inside the open transaction, published at commit */
};

/* Prepare sql; NULL on failure (logged). */
sqlite3_stmt *st_prep(cin_store *st, const char *sql);
/* Map an SQLite result code to a CIN status. */
int st_status(int rc);
/* Run a statement that returns no rows; binds nothing. */
int st_exec(cin_store *st, const char *sql);
/* Column as malloc'd string (NULL for SQL NULL). */
char *st_text(sqlite3_stmt *s, int col);
void st_bind_text(sqlite3_stmt *s, int idx, const char *v);
/* Now as RFC 3339 text and as epoch seconds, from the store's clock. */
void st_now_text(cin_store *st, char buf[21]);
time_t st_now(cin_store *st);
/* Step s once: CIN_OK on a row (read it, then finalize s), CIN_ENOTFOUND
 * when there is none, or the error. */
int st_row(sqlite3_stmt *s);
/* Step s to its end collecting column 0 as ids (*ids malloc'd); finalizes s. */
int st_ids(sqlite3_stmt *s, int64_t **ids, size_t *n);
/* JSON array text <-> string vector. */
char *st_strv_json(char **v, size_t n);
int st_json_strv(const char *json, char ***v, size_t *n);

#endif
