/*
 * db_pg.c - the PostgreSQL driver of the statement layer (db.h), for a fleet
 * of servers on one central store.
 *
 * Connections.  A process keeps at most PG_POOL_MAX connections per store
 * URI, shared by all its threads: a cin_store borrows one for a statement
 * (or for a whole transaction) and gives it back when done, so nginx's
 * 32-thread pool or httpd's worker threads never hold more than the pool.
 * A pool belongs to one process (a connection is never used across fork()).
 * A connection that broke is dropped; the next request connects again
 * (libpq's connect_timeout, 5 s unless the URI says otherwise), so when
 * PostgreSQL comes back the store answers at once.
 *
 * Transactions.  Every write transaction first takes one transaction-scoped
 * advisory lock: writers run one at a time, exactly as with SQLite's BEGIN
 * IMMEDIATE, which every transaction of the workflow was written and tested
 * for (read, decide, write - no lost update, no double debit, leases and
 * idempotency keys decided once).  Readers never wait (MVCC), and in READ
 * COMMITTED each statement after the lock sees everything committed before
 * it.  Row locks would also do, but every read-then-write would have to name
 * its rows and keep a lock order; SERIALIZABLE would need every transaction
 * to be retried as a whole.  One writer at a time is simpler and fast enough
 * for certificate orders (make bench measures approve+pay on both engines).
 *
 * Dialect.  Parameters ?N become $N; the portable DDL's INTEGER PRIMARY KEY
 * becomes an identity column, INTEGER becomes BIGINT and BLOB becomes BYTEA.
 * The schema version lives in the table cin_schema.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store_int.h"

#define PG_POOL_MAX     4
#define PG_MAX_PARAMS   64
#define PG_WAIT_SECONDS 10
#define PG_WRITER_LOCK  "7304115301" /* pg_advisory_xact_lock key: "certinext" */

/* ---- the per-process pool --------------------------------------------------------- */

typedef struct pg_pool {
    char *uri;
    pid_t pid;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    PGconn *idle[PG_POOL_MAX];
    int nidle, total;
    char lasterr[256];
    struct pg_pool *next;
} pg_pool;

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static pg_pool *pools;

static pg_pool *pool_for(const char *uri)
{
    pg_pool *p;
    pid_t me = getpid();

    pthread_mutex_lock(&pools_lock);
    for (p = pools; p; p = p->next)
        if (p->pid == me && !strcmp(p->uri, uri))
            break;
    if (!p && (p = calloc(1, sizeof(*p))) != NULL) {
        /* a pool inherited from the parent is left alone: its connections
         * belong to the parent's process */
        p->uri = strdup(uri);
        p->pid = me;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        if (!p->uri) {
            free(p);
            p = NULL;
        } else {
            p->next = pools;
            pools = p;
        }
    }
    pthread_mutex_unlock(&pools_lock);
    return p;
}

/* PostgreSQL's notices ("relation already exists, skipping") are not ours to print. */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *pool_connect(pg_pool *p)
{
    /* defaults first: the URI's own settings override them */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {"5", "certinext", p->uri, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);

    if (!c)
        return NULL;
    if (PQstatus(c) != CONNECTION_OK) {
        /* the message may name the host, never the password */
        snprintf(p->lasterr, sizeof(p->lasterr), "%s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    /* a writer waits for the writer lock at most this long (then: busy) */
    PQclear(PQexec(c, "SET lock_timeout = '10s'; SET idle_in_transaction_session_timeout = "
                      "'60s'"));
    return c;
}

/* A connection for this thread: idle, new (below the cap) or the next one
 * given back.  NULL when PostgreSQL cannot be reached (*busy 0) or the pool
 * stayed exhausted (*busy 1). */
static PGconn *pool_get(pg_pool *p, int *busy)
{
    struct timespec until;
    PGconn *c = NULL;

    *busy = 0;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PG_WAIT_SECONDS;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->nidle > 0) {
            c = p->idle[--p->nidle];
            break;
        }
        if (p->total < PG_POOL_MAX) {
            p->total++;
            pthread_mutex_unlock(&p->lock);
            c = pool_connect(p);
            pthread_mutex_lock(&p->lock);
            if (!c) {
                p->total--;
                pthread_cond_signal(&p->cond);
            }
            break;
        }
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) != 0) {
            *busy = 1;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return c;
}

static void pool_put(pg_pool *p, PGconn *c)
{
    int broken = PQstatus(c) != CONNECTION_OK ||
                 PQtransactionStatus(c) != PQTRANS_IDLE; /* never lend out a half-done tx */

    pthread_mutex_lock(&p->lock);
    if (broken) {
        p->total--;
    } else {
        p->idle[p->nidle++] = c;
        c = NULL;
    }
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (c)
        PQfinish(c);
}

/* ---- a store's session: the connection it borrowed, and for how long ---------------- */

typedef struct pg_session {
    pg_pool *pool;
    PGconn *conn;
    int holds; /* live statements, plus one for an open transaction */
    int tx;    /* a transaction holds the connection */
    char errmsg[512];
} pg_session;

#define SESSION(st) ((pg_session *)(st)->conn)

static int session_hold(cin_store *st)
{
    pg_session *s = SESSION(st);
    int busy = 0;

    if (!s)
        return CIN_EUNAVAIL;
    if (s->pool->pid != getpid()) {
        /* a store carried across fork(): this process's own pool, never the
         * parent's connections */
        pg_pool *mine = pool_for(s->pool->uri);
        if (!mine)
            return CIN_ENOMEM;
        s->pool = mine;
        s->conn = NULL;
        s->holds = 0;
        s->tx = 0;
    }
    if (!s->conn) {
        s->conn = pool_get(s->pool, &busy);
        if (!s->conn) {
            snprintf(s->errmsg, sizeof(s->errmsg), "%s",
                     busy ? "every connection of the pool is in use" : s->pool->lasterr);
            return busy ? CIN_EBUSY : CIN_EUNAVAIL;
        }
    }
    s->holds++;
    return CIN_OK;
}

static void session_release(cin_store *st)
{
    pg_session *s = SESSION(st);

    if (!s || !s->conn || --s->holds > 0)
        return;
    pool_put(s->pool, s->conn);
    s->conn = NULL;
    s->holds = 0;
}

/* ---- errors ------------------------------------------------------------------------ */

static int status_of(PGconn *c, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

    if (!c || PQstatus(c) != CONNECTION_OK)
        return CIN_EUNAVAIL;
    if (!state)
        return CIN_ERR;
    if (!strcmp(state, "23505"))
        return CIN_EEXIST;
    if (!strncmp(state, "23", 2))
        return CIN_ECONSTRAINT;
    if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
        !strcmp(state, "57014"))
        return CIN_EBUSY; /* serialization, deadlock, lock or statement timeout */
    if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strncmp(state, "53", 2))
        return CIN_EUNAVAIL; /* connection lost, shutting down, out of resources */
    return CIN_ERR;
}

static void remember_error(cin_store *st, const PGresult *r)
{
    pg_session *s = SESSION(st);
    const char *m = r ? PQresultErrorMessage(r) : NULL;

    if (!s)
        return;
    if ((!m || !*m) && s->conn)
        m = PQerrorMessage(s->conn);
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", m && *m ? m : "no answer from PostgreSQL");
}

/* ---- statements ----------------------------------------------------------------------- */

extern const db_driver db_pg_driver;

typedef struct pg_stmt {
    db_stmt base;
    char *sql;
    int nparams;
    char *values[PG_MAX_PARAMS];
    int lengths[PG_MAX_PARAMS];
    int formats[PG_MAX_PARAMS];
    PGresult *res;
    int row;             /* the row the last step gave, -1 before the first */
    int done;            /* executed */
    unsigned char *blob; /* the last column read as bytea (PQunescapeBytea) */
} pg_stmt;

#define PS(x) ((pg_stmt *)(x))

/* ?N -> $N outside string literals; *nparams the highest N. */
static char *translate(const char *sql, int *nparams)
{
    size_t n = strlen(sql);
    char *out = malloc(n + 1), *o = out;
    int quoted = 0, seq = 0;

    *nparams = 0;
    if (!out)
        return NULL;
    for (; *sql; sql++) {
        if (*sql == '\'')
            quoted = !quoted;
        if (!quoted && *sql == '?') {
            int k;
            if (isdigit((unsigned char)sql[1])) {
                k = (int)strtol(sql + 1, NULL, 10);
                while (isdigit((unsigned char)sql[1]))
                    sql++;
            } else {
                k = ++seq;
            }
            if (k > *nparams)
                *nparams = k;
            o += sprintf(o, "$%d", k);
            continue;
        }
        *o++ = *sql;
    }
    *o = '\0';
    return out;
}

static db_stmt *pg_prepare(cin_store *st, const char *sql)
{
    pg_stmt *s;
    int rc = session_hold(st);

    if (rc != CIN_OK)
        return db_failed(st, rc);
    s = calloc(1, sizeof(*s));
    if (!s) {
        session_release(st);
        return db_failed(st, CIN_ENOMEM);
    }
    s->base.drv = &db_pg_driver;
    s->base.st = st;
    s->row = -1;
    s->sql = translate(sql, &s->nparams);
    if (!s->sql || s->nparams > PG_MAX_PARAMS) {
        s->base.err = s->sql ? CIN_ERR : CIN_ENOMEM;
        s->base.drv = NULL; /* db_finalize frees the shell */
        free(s->sql);
        s->sql = NULL;
        session_release(st);
        cin_log(&st->svc, CIN_LOG_ERROR, "store: statement with too many parameters");
    }
    return &s->base;
}

static void set_param(db_stmt *x, int idx, char *v, int len, int format)
{
    pg_stmt *s = PS(x);

    if (idx < 1 || idx > PG_MAX_PARAMS) {
        free(v);
        return;
    }
    free(s->values[idx - 1]);
    s->values[idx - 1] = v;
    s->lengths[idx - 1] = len;
    s->formats[idx - 1] = format;
}

static void pg_bind_int(db_stmt *s, int idx, int64_t v)
{
    char *t = malloc(24);

    if (t)
        snprintf(t, 24, "%lld", (long long)v);
    set_param(s, idx, t, 0, 0);
}

static void pg_bind_text(db_stmt *s, int idx, const char *v)
{
    set_param(s, idx, strdup(v), 0, 0);
}

static void pg_bind_blob(db_stmt *s, int idx, const void *p, size_t n)
{
    char *b = malloc(n ? n : 1);

    if (b && n)
        memcpy(b, p, n);
    set_param(s, idx, b, (int)n, 1); /* binary: bytea as it is */
}

static void pg_bind_null(db_stmt *s, int idx)
{
    set_param(s, idx, NULL, 0, 0);
}

static int pg_step(db_stmt *x)
{
    pg_stmt *s = PS(x);
    pg_session *se = SESSION(x->st);
    ExecStatusType t;
    int rc;

    if (!s->done) {
        s->done = 1;
        s->res = PQexecParams(se->conn, s->sql, s->nparams, NULL, (const char *const *)s->values,
                              s->lengths, s->formats, 0);
        t = s->res ? PQresultStatus(s->res) : PGRES_FATAL_ERROR;
        if (t != PGRES_TUPLES_OK && t != PGRES_COMMAND_OK) {
            rc = status_of(se->conn, s->res);
            remember_error(x->st, s->res);
            if (rc != CIN_EBUSY && rc != CIN_EEXIST)
                cin_log(&x->st->svc, CIN_LOG_ERROR, "store: %s", se->errmsg);
            x->err = rc;
            return rc;
        }
    }
    if (!s->res || PQresultStatus(s->res) != PGRES_TUPLES_OK)
        return CIN_OK;
    if (s->row + 1 >= PQntuples(s->res))
        return CIN_OK;
    s->row++;
    return DB_ROW;
}

static int pg_col_count(db_stmt *x)
{
    return PS(x)->res ? PQnfields(PS(x)->res) : 0;
}

static int pg_col_null(db_stmt *x, int col)
{
    pg_stmt *s = PS(x);

    return !s->res || s->row < 0 || PQgetisnull(s->res, s->row, col);
}

static const char *pg_col_text(db_stmt *x, int col)
{
    pg_stmt *s = PS(x);

    if (pg_col_null(x, col))
        return NULL;
    return PQgetvalue(s->res, s->row, col);
}

static int64_t pg_col_int(db_stmt *x, int col)
{
    const char *t = pg_col_text(x, col);

    if (!t)
        return 0;
    if (!strcmp(t, "t") || !strcmp(t, "f")) /* a boolean expression */
        return *t == 't';
    return strtoll(t, NULL, 10);
}

static unsigned char *pg_col_blob(db_stmt *x, int col, size_t *len)
{
    const char *t = pg_col_text(x, col);
    unsigned char *raw, *out;
    size_t n = 0;

    if (!t)
        return NULL;
    raw = PQunescapeBytea((const unsigned char *)t, &n);
    if (!raw)
        return NULL;
    out = malloc(n + 1);
    if (out) {
        memcpy(out, raw, n);
        out[n] = 0;
        *len = n;
    }
    PQfreemem(raw);
    return out;
}

static int64_t pg_changes(db_stmt *x)
{
    pg_stmt *s = PS(x);
    const char *t = s->res ? PQcmdTuples(s->res) : "";

    return *t ? strtoll(t, NULL, 10) : 0;
}

static void pg_finalize(db_stmt *x)
{
    pg_stmt *s = PS(x);
    int i;

    for (i = 0; i < PG_MAX_PARAMS; i++)
        free(s->values[i]);
    PQclear(s->res);
    free(s->sql);
    session_release(x->st);
    free(s);
}

/* ---- the connection ------------------------------------------------------------------ */

static int pg_exec(cin_store *st, const char *sql)
{
    pg_session *s = SESSION(st);
    PGresult *r;
    int rc = session_hold(st);

    if (rc != CIN_OK)
        return rc;
    r = PQexec(s->conn, sql);
    if (!r || (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)) {
        rc = status_of(s->conn, r);
        remember_error(st, r);
        cin_log(&st->svc, CIN_LOG_DEBUG, "store: %s", s->errmsg);
    }
    PQclear(r);
    session_release(st);
    return rc;
}

static int pg_begin(cin_store *st)
{
    int rc = session_hold(st); /* kept until commit or rollback */

    if (rc != CIN_OK)
        return rc;
    rc = pg_exec(st, "BEGIN; SELECT pg_advisory_xact_lock(" PG_WRITER_LOCK ")");
    if (rc != CIN_OK) {
        pg_exec(st, "ROLLBACK");
        session_release(st);
        return rc;
    }
    SESSION(st)->tx = 1;
    return CIN_OK;
}

static int pg_begin_read(cin_store *st)
{
    int rc = session_hold(st);

    if (rc != CIN_OK)
        return rc;
    rc = pg_exec(st, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (rc != CIN_OK) {
        session_release(st);
        return rc;
    }
    SESSION(st)->tx = 1;
    return CIN_OK;
}

/* The transaction is over: give its hold back. */
static void end_tx(cin_store *st)
{
    pg_session *s = SESSION(st);

    if (s && s->tx) {
        s->tx = 0;
        session_release(st);
    }
}

static int pg_commit(cin_store *st)
{
    int rc = pg_exec(st, "COMMIT");

    end_tx(st);
    return rc;
}

static void pg_end_read(cin_store *st)
{
    pg_exec(st, "COMMIT");
    end_tx(st);
}

static void pg_rollback(cin_store *st)
{
    pg_session *s = SESSION(st);

    if (!s || !s->conn || !s->tx)
        return;
    if (PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        pg_exec(st, "ROLLBACK");
    end_tx(st);
}

static const char *pg_errmsg(cin_store *st)
{
    pg_session *s = SESSION(st);

    return s ? s->errmsg : "no connection";
}

static int pg_open(cin_store *st, const char *uri, int create, char **err)
{
    pg_session *s = calloc(1, sizeof(*s));
    int rc;

    (void)create;
    if (!s)
        return CIN_ENOMEM;
    s->pool = pool_for(uri);
    if (!s->pool) {
        free(s);
        return CIN_ENOMEM;
    }
    st->conn = s;
    rc = session_hold(st);
    if (rc != CIN_OK) {
        cin_seterr(err, "cannot reach the PostgreSQL store: %s", s->errmsg);
        return rc;
    }
    session_release(st);
    return CIN_OK;
}

static void pg_close(cin_store *st)
{
    pg_session *s = SESSION(st);

    if (!s)
        return;
    if (s->conn && getpid() == s->pool->pid) {
        s->holds = 1;
        session_release(st);
    }
    free(s);
    st->conn = NULL;
}

static int pg_schema_version(cin_store *st, int *version)
{
    db_stmt *s = pg_prepare(st, "SELECT to_regclass('cin_schema') IS NOT NULL");
    int rc = db_one(s), exists = 0;

    if (rc == CIN_OK)
        exists = (int)db_col_int(s, 0);
    db_finalize(s);
    *version = 0;
    if (rc != CIN_OK || !exists)
        return rc;
    s = pg_prepare(st, "SELECT max(version) FROM cin_schema");
    rc = db_one(s);
    if (rc == CIN_OK)
        *version = (int)db_col_int(s, 0);
    db_finalize(s);
    return rc;
}

static int pg_set_schema_version(cin_store *st, int version)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS cin_schema (version BIGINT NOT NULL);"
             " DELETE FROM cin_schema; INSERT INTO cin_schema VALUES (%d)",
             version);
    return pg_exec(st, sql);
}

/* Replace every whole word `from` by `to` in s (a new string). */
static char *replace_word(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    const char *p, *start = s;
    char *out, *o;

    for (p = s; (p = strstr(p, from)); p += fl)
        n++;
    out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
    if (!out)
        return NULL;
    for (o = out; *s;) {
        if (!strncmp(s, from, fl) && (s == start || !isalnum((unsigned char)s[-1])) &&
            !isalnum((unsigned char)s[fl]) && s[fl] != '_') {
            memcpy(o, to, tl);
            o += tl;
            s += fl;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

static char *pg_ddl(const char *portable)
{
    char *a = replace_word(portable, "INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY");
    char *b = a ? replace_word(a, "INTEGER", "BIGINT") : NULL;
    char *c = b ? replace_word(b, "BLOB", "BYTEA") : NULL;

    free(a);
    free(b);
    return c;
}

static int pg_check(cin_store *st, char **err)
{
    int v = 0, rc = pg_schema_version(st, &v);

    if (rc != CIN_OK)
        cin_seterr(err, "the store does not answer: %s", pg_errmsg(st));
    else if (v <= 0)
        cin_seterr(err, "the database holds no certinext store");
    return rc != CIN_OK ? rc : v > 0 ? CIN_OK : CIN_ERR;
}

/* A PostgreSQL store's backup is a SQLite copy, made with the same key. */
static int pg_backup(cin_store *st, const char *dest, char **err)
{
    cin_store_opts o = {NULL, &st->kek, 0, 1, -1};
    cin_store *copy = NULL;
    int rc;

    if (!st->have_kek) {
        cin_seterr(err, "the backup needs the store's key (--key-file)");
        return CIN_EPERM;
    }
    rc = cin_store_open_opts(dest, &st->svc, &o, &copy, err);
    if (rc == CIN_OK)
        rc = cin_store_copy(st, copy, NULL, err);
    cin_store_close(copy);
    if (rc != CIN_OK && rc != CIN_EEXIST)
        unlink(dest);
    return rc;
}

/* NOTIFY reaches every host's syncer at commit (at once outside a transaction). */
static int pg_notify(cin_store *st)
{
    return pg_exec(st, "NOTIFY certinext");
}

static int pg_ids_copied(cin_store *st, const char *table)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT setval(pg_get_serial_sequence('%s', 'id'), coalesce(max(id), 0) + 1, false)"
             " FROM %s",
             table, table);
    return pg_exec(st, sql);
}

const db_driver db_pg_driver = {
    .name = "postgresql",
    .prepare = pg_prepare,
    .bind_int = pg_bind_int,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .col_count = pg_col_count,
    .col_null = pg_col_null,
    .col_int = pg_col_int,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .changes = pg_changes,
    .finalize = pg_finalize,
    .exec = pg_exec,
    .begin = pg_begin,
    .begin_read = pg_begin_read,
    .end_read = pg_end_read,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .errmsg = pg_errmsg,
    .open = pg_open,
    .close = pg_close,
    .schema_version = pg_schema_version,
    .set_schema_version = pg_set_schema_version,
    .ddl = pg_ddl,
    .check = pg_check,
    .backup = pg_backup,
    .notify = pg_notify,
    .ids_copied = pg_ids_copied,
};

/* ---- LISTEN for a host's syncer (mirror.c) ------------------------------------------ */

struct db_listener {
    pg_pool *pool;
    PGconn *conn;
};

db_listener *db_pg_listen(cin_store *st)
{
    pg_session *s = SESSION(st);
    db_listener *l;
    PGresult *r;
    int busy = 0;

    if (!s || !(l = calloc(1, sizeof(*l))))
        return NULL;
    l->pool = s->pool;
    /* one of the process's pooled connections, kept for as long as it listens */
    l->conn = pool_get(s->pool, &busy);
    if (!l->conn) {
        free(l);
        return NULL;
    }
    r = PQexec(l->conn, "LISTEN certinext");
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        PQclear(r);
        db_pg_unlisten(l);
        return NULL;
    }
    PQclear(r);
    return l;
}

int db_pg_listen_wait(db_listener *l, int ms)
{
    struct pollfd pfd;
    PGnotify *n;
    int got = 0;

    if (!l || PQstatus(l->conn) != CONNECTION_OK)
        return CIN_EUNAVAIL;
    pfd.fd = PQsocket(l->conn);
    pfd.events = POLLIN;
    if (ms > 0 && poll(&pfd, 1, ms) < 0)
        return CIN_OK;
    if (!PQconsumeInput(l->conn))
        return CIN_EUNAVAIL;
    while ((n = PQnotifies(l->conn)) != NULL) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

void db_pg_unlisten(db_listener *l)
{
    if (!l)
        return;
    if (l->conn) {
        PQclear(PQexec(l->conn, "UNLISTEN *"));
        pool_put(l->pool, l->conn);
    }
    free(l);
}

int db_is_uri(const char *target)
{
    return target && (!strncmp(target, "postgresql://", 13) || !strncmp(target, "postgres://", 11));
}
