/*
 * db.h - the store's statement layer: one small interface, one driver per
 * database engine.  Not a public header.
 *
 * The store_*.c files write their SQL once, in the portable subset both
 * engines share: parameters as ?1 ?2..., INSERT ... RETURNING id, upserts
 * with ON CONFLICT, no engine functions.  A driver translates what it must
 * (?N -> $N for PostgreSQL) and keeps every dialect difference - schema,
 * transactions, backup, integrity check - in its own file.
 *
 * Errors: a statement that cannot be prepared is still returned (never
 * NULL); binding to it does nothing and stepping it returns the error, so
 * call sites have one place to look: the status db_step() returns.
 *
 *     db_stmt *s = db_prepare(st, "SELECT id, name FROM t WHERE a = ?1");
 *     db_bind_int(s, 1, a);
 *     while ((rc = db_step(s)) == DB_ROW)
 *         use(db_col_int(s, 0), db_col_text(s, 1));
 *     db_finalize(s);
 *     return rc;           // CIN_OK when every row was read, else the error
 */
#ifndef CIN_DB_H
#define CIN_DB_H

#include <stddef.h>
#include <stdint.h>

#include "cin_store.h"

#define DB_ROW 1 /* db_step: a row is ready (CIN_OK: no more rows) */

typedef struct db_stmt db_stmt;

typedef struct db_driver {
    const char *name; /* "sqlite", "postgresql" */
    /* statements */
    db_stmt *(*prepare)(cin_store *st, const char *sql);
    void (*bind_int)(db_stmt *s, int idx, int64_t v);
    void (*bind_text)(db_stmt *s, int idx, const char *v);
    void (*bind_blob)(db_stmt *s, int idx, const void *p, size_t n);
    void (*bind_null)(db_stmt *s, int idx);
    int (*step)(db_stmt *s);
    int (*col_count)(db_stmt *s);
    int (*col_null)(db_stmt *s, int col);
    int64_t (*col_int)(db_stmt *s, int col);
    const char *(*col_text)(db_stmt *s, int col);
    unsigned char *(*col_blob)(db_stmt *s, int col, size_t *len); /* malloc'd copy */
    int64_t (*changes)(db_stmt *s);
    void (*finalize)(db_stmt *s);
    /* connection */
    int (*exec)(cin_store *st, const char *sql); /* no parameters, no rows */
    int (*begin)(cin_store *st);                 /* a write transaction */
    int (*begin_read)(cin_store *st);            /* a read-only snapshot */
    void (*end_read)(cin_store *st);
    int (*commit)(cin_store *st);
    void (*rollback)(cin_store *st);
    const char *(*errmsg)(cin_store *st);
    /* the store as a whole */
    int (*open)(cin_store *st, const char *target, int create, char **err);
    void (*close)(cin_store *st);
    int (*schema_version)(cin_store *st, int *version);    /* 0 for an empty database */
    int (*set_schema_version)(cin_store *st, int version); /* inside a transaction */
    char *(*ddl)(const char *portable); /* a migration in this dialect, malloc'd */
    int (*check)(cin_store *st, char **err);
    int (*backup)(cin_store *st, const char *dest, char **err);
    /* tell the hosts' syncers that something changed (NULL: nobody to tell) */
    int (*notify)(cin_store *st);
    /* after ids were inserted as they are: the id sequence of table follows */
    int (*ids_copied)(cin_store *st, const char *table);
} db_driver;

/* What every driver's statement starts with. */
struct db_stmt {
    const db_driver *drv;
    cin_store *st;
    int err; /* CIN_OK, or the error that made the statement unusable */
};

/* A statement that failed before it existed (prepare error, no memory). */
db_stmt *db_failed(cin_store *st, int err);

db_stmt *db_prepare(cin_store *st, const char *sql);
void db_bind_int(db_stmt *s, int idx, int64_t v);
/* NULL binds SQL NULL. */
void db_bind_text(db_stmt *s, int idx, const char *v);
void db_bind_blob(db_stmt *s, int idx, const void *p, size_t n);
void db_bind_null(db_stmt *s, int idx);
/* An id column: 0 binds NULL. */
void db_bind_id(db_stmt *s, int idx, int64_t v);
/* DB_ROW, CIN_OK when done, or an error status (CIN_EBUSY, CIN_EEXIST...). */
int db_step(db_stmt *s);
int db_col_count(db_stmt *s);
int db_col_null(db_stmt *s, int col);
int64_t db_col_int(db_stmt *s, int col);
/* Borrowed until the next step or finalize; NULL for SQL NULL. */
const char *db_col_text(db_stmt *s, int col);
/* malloc'd copy, NULL for SQL NULL. */
char *db_col_strdup(db_stmt *s, int col);
unsigned char *db_col_blob(db_stmt *s, int col, size_t *len);
/* Rows inserted, changed or deleted by the last step of s. */
int64_t db_changes(db_stmt *s);
void db_finalize(db_stmt *s);

/* Step a statement that returns no rows; finalizes it.  CIN_OK or the error. */
int db_run(db_stmt *s);
/* Step once expecting one row: CIN_OK (read it, then finalize), CIN_ENOTFOUND
 * when there is none, or the error.  Does not finalize. */
int db_one(db_stmt *s);
/* Step to the end collecting column 0 as ids (*ids malloc'd); finalizes s.
 * On error *ids is NULL and *n 0: a list is never returned truncated. */
int db_ids(db_stmt *s, int64_t **ids, size_t *n);
/* Run a statement that returns no rows and binds nothing. */
int db_exec(cin_store *st, const char *sql);

/* Tests only: when set, a statement whose SQL the hook refuses (a status
 * other than CIN_OK) fails with that status, as a lost connection or a
 * locked database would make it fail. */
extern int (*db_fault_hook)(const char *sql);

/* The drivers. */
extern const db_driver db_sqlite_driver;
extern const db_driver db_pg_driver;
/* 1 when target names a PostgreSQL store (postgresql:// or postgres://). */
int db_is_uri(const char *target);

/* PostgreSQL only: a connection of st's pool that LISTENs to the store's
 * changes (NULL when it cannot be had); wait up to ms for one: 1 when one
 * came, 0 when none, CIN_EUNAVAIL when the connection broke. */
typedef struct db_listener db_listener;
db_listener *db_pg_listen(cin_store *st);
int db_pg_listen_wait(db_listener *l, int ms);
void db_pg_unlisten(db_listener *l);

#endif
