/*
 * db_sqlite.c - the SQLite driver of the statement layer (db.h): WAL, a busy
 * timeout, foreign keys, BEGIN IMMEDIATE for writes, the schema version in
 * PRAGMA user_version, the online backup API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <sqlite3.h>

#include "store_int.h"

#define BUSY_TIMEOUT_MS 10000

/*
 * Prepared statements are kept per connection and reused: preparing costs
 * more than running most of ours (a handshake's cache miss: 40 us to
 * prepare its read, 7 us to run it).  A statement taken from the cache is
 * the caller's alone until db_finalize, which resets it and gives it back;
 * the same SQL wanted while its statement is out is prepared afresh.
 */
#define STMT_CACHE 32

struct cached_stmt {
    char *sql;
    sqlite3_stmt *s;
    int out;       /* handed to a caller */
    uint64_t used; /* the clock when last handed out: the least recent goes first */
};

typedef struct sq_conn {
    sqlite3 *db;
    pthread_mutex_t mu;
    struct cached_stmt cache[STMT_CACHE];
    uint64_t clock;
    int loose;        /* statements out that are not in the cache */
    int closed;       /* closed while statements were out: the last one frees it */
    cin_services svc; /* the store's, for statements that outlive it */
} sq_conn;

typedef struct sqlite_stmt {
    db_stmt base;
    sqlite3_stmt *s;
    sq_conn *conn;
    int slot; /* its cache slot, -1: not cached */
} sqlite_stmt;

static void conn_free(sq_conn *c);

#define CONN(st) ((sq_conn *)(st)->conn)
#define DB(st)   ((st)->conn ? CONN(st)->db : NULL)
#define SS(x)    (((sqlite_stmt *)(x))->s)

static int status_of(sqlite3 *db, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
        return CIN_OK;
    case SQLITE_ROW:
        return DB_ROW;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CIN_EBUSY;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return CIN_EEXIST;
        return CIN_ECONSTRAINT;
    case SQLITE_NOMEM:
        return CIN_ENOMEM;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_FULL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return CIN_EIO;
    default:
        (void)db;
        return CIN_ERR;
    }
}

extern const db_driver db_sqlite_driver;

/* A statement for sql from the cache (its slot in *slot), or NULL. */
static sqlite3_stmt *cache_take(sq_conn *c, const char *sql, int *slot)
{
    sqlite3_stmt *found = NULL;
    int i;

    *slot = -1;
    pthread_mutex_lock(&c->mu);
    c->clock++;
    for (i = 0; i < STMT_CACHE && !found; i++) {
        if (c->cache[i].sql && !c->cache[i].out && !strcmp(c->cache[i].sql, sql)) {
            c->cache[i].out = 1;
            c->cache[i].used = c->clock;
            found = c->cache[i].s;
            *slot = i;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* Keep a newly prepared statement in a free or the least recent idle slot. */
static int cache_keep(sq_conn *c, const char *sql, sqlite3_stmt *stmt)
{
    char *copy = strdup(sql);
    int i, pick = -1;

    if (!copy)
        return -1;
    pthread_mutex_lock(&c->mu);
    for (i = 0; i < STMT_CACHE; i++) {
        if (c->cache[i].out)
            continue;
        if (!c->cache[i].sql) {
            pick = i;
            break;
        }
        if (pick < 0 || c->cache[i].used < c->cache[pick].used)
            pick = i;
    }
    if (pick >= 0) {
        if (c->cache[pick].sql) {
            sqlite3_finalize(c->cache[pick].s);
            free(c->cache[pick].sql);
        }
        c->cache[pick] = (struct cached_stmt){copy, stmt, 1, c->clock};
        copy = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(copy);
    return pick;
}

static db_stmt *sq_prepare(cin_store *st, const char *sql)
{
    sqlite_stmt *s;
    int rc;

    if (!DB(st))
        return db_failed(st, CIN_EUNAVAIL);
    s = calloc(1, sizeof(*s));
    if (!s)
        return db_failed(st, CIN_ENOMEM);
    s->base.st = st;
    s->conn = CONN(st);
    s->s = cache_take(CONN(st), sql, &s->slot);
    if (s->s) {
        s->base.drv = &db_sqlite_driver;
        return &s->base;
    }
    rc = sqlite3_prepare_v3(DB(st), sql, -1, SQLITE_PREPARE_PERSISTENT, &s->s, NULL);
    if (rc != SQLITE_OK) {
        cin_log(&st->svc, CIN_LOG_ERROR, "store: cannot prepare statement: %s",
                sqlite3_errmsg(DB(st)));
        s->base.err = status_of(DB(st), rc);
        if (s->base.err == CIN_OK || s->base.err == DB_ROW)
            s->base.err = CIN_ERR;
        sqlite3_finalize(s->s);
        s->s = NULL;
        return &s->base; /* drv stays NULL: db_finalize frees it */
    }
    if (s->s) /* NULL for a comment or empty text */
        s->slot = cache_keep(CONN(st), sql, s->s);
    if (s->slot < 0) {
        pthread_mutex_lock(&s->conn->mu);
        s->conn->loose++;
        pthread_mutex_unlock(&s->conn->mu);
    }
    s->base.drv = &db_sqlite_driver;
    return &s->base;
}

static void sq_bind_int(db_stmt *s, int idx, int64_t v)
{
    sqlite3_bind_int64(SS(s), idx, v);
}

static void sq_bind_text(db_stmt *s, int idx, const char *v)
{
    sqlite3_bind_text(SS(s), idx, v, -1, SQLITE_TRANSIENT);
}

static void sq_bind_blob(db_stmt *s, int idx, const void *p, size_t n)
{
    sqlite3_bind_blob(SS(s), idx, p, (int)n, SQLITE_TRANSIENT);
}

static void sq_bind_null(db_stmt *s, int idx)
{
    sqlite3_bind_null(SS(s), idx);
}

static int sq_step(db_stmt *s)
{
    sqlite_stmt *q = (sqlite_stmt *)s;
    int rc = sqlite3_step(q->s), code;
    sqlite3 *db = sqlite3_db_handle(q->s); /* the store may be closed: not s->st */

    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return CIN_OK;
    /* sqlite3_step's legacy code is generic: the extended code tells a
     * UNIQUE violation from another constraint */
    code = sqlite3_extended_errcode(db);
    rc = status_of(db, code);
    if (rc == CIN_OK || rc == DB_ROW)
        rc = CIN_ERR;
    if (rc != CIN_EBUSY && rc != CIN_EEXIST)
        cin_log(&q->conn->svc, CIN_LOG_ERROR, "store: %s (SQLite code %d)", sqlite3_errmsg(db),
                code);
    return rc;
}

static int sq_col_count(db_stmt *s)
{
    return sqlite3_column_count(SS(s));
}

static int sq_col_null(db_stmt *s, int col)
{
    return sqlite3_column_type(SS(s), col) == SQLITE_NULL;
}

static int64_t sq_col_int(db_stmt *s, int col)
{
    return sqlite3_column_int64(SS(s), col);
}

static const char *sq_col_text(db_stmt *s, int col)
{
    return (const char *)sqlite3_column_text(SS(s), col);
}

static unsigned char *sq_col_blob(db_stmt *s, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(SS(s), col);
    int n = sqlite3_column_bytes(SS(s), col);
    unsigned char *out;

    if (!p)
        return NULL;
    out = malloc((size_t)n + 1);
    if (!out)
        return NULL;
    memcpy(out, p, (size_t)n);
    out[n] = 0;
    *len = (size_t)n;
    return out;
}

static int64_t sq_changes(db_stmt *s)
{
    return sqlite3_changes(sqlite3_db_handle(SS(s)));
}

static void sq_finalize(db_stmt *s)
{
    sqlite_stmt *q = (sqlite_stmt *)s;
    sq_conn *c = q->conn;
    int i, out = 0, last;

    if (q->slot >= 0) {
        /* back to the cache, reset: no read transaction stays open */
        sqlite3_reset(q->s);
        sqlite3_clear_bindings(q->s);
    } else {
        sqlite3_finalize(q->s);
    }
    pthread_mutex_lock(&c->mu);
    if (q->slot >= 0)
        c->cache[q->slot].out = 0;
    else
        c->loose--;
    for (i = 0; i < STMT_CACHE; i++)
        out += c->cache[i].out;
    last = c->closed && !out && !c->loose;
    pthread_mutex_unlock(&c->mu);
    if (last)
        conn_free(c);
    free(s);
}

static int sq_exec(cin_store *st, const char *sql)
{
    char *msg = NULL;
    int rc;

    if (!DB(st))
        return CIN_EUNAVAIL;
    rc = sqlite3_exec(DB(st), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int code = sqlite3_extended_errcode(DB(st));
        /* a busy store is the caller's to wait out; anything else is the
         * operator's to see (the API's 503 points at this log) */
        cin_log(&st->svc, (code & 0xff) == SQLITE_BUSY ? CIN_LOG_DEBUG : CIN_LOG_ERROR,
                "store: %.40s: %s (SQLite code %d)", sql, msg ? msg : sqlite3_errstr(rc), code);
        sqlite3_free(msg);
        rc = status_of(DB(st), code);
        return rc == CIN_OK || rc == DB_ROW ? CIN_ERR : rc;
    }
    return CIN_OK;
}

static int sq_begin(cin_store *st)
{
    /* BEGIN IMMEDIATE waits (busy handler) for the write lock up front, so
     * that contention is a short wait here, never a failed commit */
    return sq_exec(st, "BEGIN IMMEDIATE");
}

static int sq_begin_read(cin_store *st)
{
    /* deferred: the first read takes the snapshot the transaction keeps */
    return sq_exec(st, "BEGIN");
}

static void sq_end_read(cin_store *st)
{
    sq_exec(st, "COMMIT");
}

static int sq_commit(cin_store *st)
{
    return sq_exec(st, "COMMIT");
}

static void sq_rollback(cin_store *st)
{
    if (DB(st) && sqlite3_get_autocommit(DB(st)) == 0)
        sq_exec(st, "ROLLBACK");
}

static const char *sq_errmsg(cin_store *st)
{
    return DB(st) ? sqlite3_errmsg(DB(st)) : "no connection";
}

/* Finalize the kept statements and close the connection. */
static void conn_free(sq_conn *c)
{
    int i;

    for (i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(c->cache[i].s);
        free(c->cache[i].sql);
    }
    sqlite3_close_v2(c->db);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static int sq_open(cin_store *st, const char *path, int create, char **err)
{
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    sq_conn *c = calloc(1, sizeof(*c));

    if (!c || sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        cin_seterr(err, "cannot open store %s: %s", path,
                   db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        free(c);
        return CIN_EIO;
    }
    c->db = db;
    c->svc = st->svc;
    pthread_mutex_init(&c->mu, NULL);
    st->conn = c;
    if (create)
        chmod(path, 0600);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(db, 1);
    if (sq_exec(st, "PRAGMA journal_mode=WAL") != CIN_OK ||
        sq_exec(st, "PRAGMA foreign_keys=ON") != CIN_OK ||
        sq_exec(st, "PRAGMA synchronous=NORMAL") != CIN_OK) {
        cin_seterr(err, "cannot configure store %s: %s", path, sqlite3_errmsg(db));
        return CIN_EIO;
    }
    return CIN_OK;
}

static void sq_close(cin_store *st)
{
    sq_conn *c = CONN(st);
    int i, out = 0;

    if (!c)
        return;
    st->conn = NULL;
    pthread_mutex_lock(&c->mu);
    for (i = 0; i < STMT_CACHE; i++)
        out += c->cache[i].out;
    out += c->loose;
    c->closed = 1;
    pthread_mutex_unlock(&c->mu);
    if (!out)
        conn_free(c);
    /* else the connection ends when its last statement is finalized */
}

static int sq_schema_version(cin_store *st, int *version)
{
    db_stmt *s = sq_prepare(st, "PRAGMA user_version");
    int rc = db_one(s);

    if (rc == CIN_OK)
        *version = (int)db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

static int sq_set_schema_version(cin_store *st, int version)
{
    char pragma[64];

    snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
    return sq_exec(st, pragma);
}

static char *sq_ddl(const char *portable)
{
    return strdup(portable);
}

static int sq_check(cin_store *st, char **err)
{
    db_stmt *s = sq_prepare(st, "PRAGMA integrity_check");
    int rc = db_one(s);

    if (rc == CIN_OK) {
        const char *r = db_col_text(s, 0);
        if (!r || strcmp(r, "ok")) {
            cin_seterr(err, "integrity check failed: %s", r ? r : "no answer");
            rc = CIN_ERR;
        }
    } else {
        cin_seterr(err, "integrity check failed: %s", sq_errmsg(st));
    }
    db_finalize(s);
    if (rc == CIN_OK) {
        s = sq_prepare(st, "PRAGMA foreign_key_check");
        rc = db_step(s);
        if (rc == DB_ROW) {
            cin_seterr(err, "foreign key check failed in table %s", db_col_text(s, 0));
            rc = CIN_ERR;
        } else if (rc != CIN_OK) {
            cin_seterr(err, "foreign key check failed: %s", sq_errmsg(st));
        }
        db_finalize(s);
    }
    return rc;
}

static int sq_backup(cin_store *st, const char *dest, char **err)
{
    sqlite3 *out = NULL;
    sqlite3_backup *b;
    struct stat sb;
    int rc;

    if (stat(dest, &sb) == 0) {
        cin_seterr(err, "%s already exists; choose a new backup file", dest);
        return CIN_EEXIST;
    }
    if (sqlite3_open_v2(dest, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        cin_seterr(err, "cannot create %s: %s", dest, out ? sqlite3_errmsg(out) : "no memory");
        sqlite3_close(out);
        return CIN_EIO;
    }
    chmod(dest, 0600);
    b = sqlite3_backup_init(out, "main", DB(st), "main");
    if (!b) {
        cin_seterr(err, "backup failed: %s", sqlite3_errmsg(out));
        sqlite3_close(out);
        unlink(dest);
        return CIN_EIO;
    }
    do {
        rc = sqlite3_backup_step(b, 256);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(20);
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        cin_seterr(err, "backup failed: %s", sqlite3_errstr(rc));
        sqlite3_close(out);
        unlink(dest);
        return CIN_EIO;
    }
    sqlite3_close(out);
    return CIN_OK;
}

const db_driver db_sqlite_driver = {
    .name = "sqlite",
    .prepare = sq_prepare,
    .bind_int = sq_bind_int,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .col_count = sq_col_count,
    .col_null = sq_col_null,
    .col_int = sq_col_int,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
    .changes = sq_changes,
    .finalize = sq_finalize,
    .exec = sq_exec,
    .begin = sq_begin,
    .begin_read = sq_begin_read,
    .end_read = sq_end_read,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .errmsg = sq_errmsg,
    .open = sq_open,
    .close = sq_close,
    .schema_version = sq_schema_version,
    .set_schema_version = sq_set_schema_version,
    .ddl = sq_ddl,
    .check = sq_check,
    .backup = sq_backup,
};
