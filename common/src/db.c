/* db.c - the statement layer's dispatch and the helpers every store file uses (db.h). */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* The statement given out when even allocating a failed one fails. */
static db_stmt oom_stmt = {NULL, NULL, CIN_ENOMEM};

db_stmt *db_failed(cin_store *st, int err)
{
    db_stmt *s = calloc(1, sizeof(*s));

    if (!s)
        return &oom_stmt;
    s->st = st;
    s->err = err ? err : CIN_ERR;
    return s;
}

int (*db_fault_hook)(const char *sql);

db_stmt *db_prepare(cin_store *st, const char *sql)
{
    int fault;

    if (!st || !st->drv)
        return db_failed(st, CIN_EUNAVAIL);
    if (db_fault_hook && (fault = db_fault_hook(sql)) != CIN_OK)
        return db_failed(st, fault);
    return st->drv->prepare(st, sql);
}

#define LIVE(s) ((s) && !(s)->err && (s)->drv)

void db_bind_int(db_stmt *s, int idx, int64_t v)
{
    if (LIVE(s))
        s->drv->bind_int(s, idx, v);
}

void db_bind_text(db_stmt *s, int idx, const char *v)
{
    if (!LIVE(s))
        return;
    if (v)
        s->drv->bind_text(s, idx, v);
    else
        s->drv->bind_null(s, idx);
}

void db_bind_blob(db_stmt *s, int idx, const void *p, size_t n)
{
    if (!LIVE(s))
        return;
    if (p)
        s->drv->bind_blob(s, idx, p, n);
    else
        s->drv->bind_null(s, idx);
}

void db_bind_null(db_stmt *s, int idx)
{
    if (LIVE(s))
        s->drv->bind_null(s, idx);
}

void db_bind_id(db_stmt *s, int idx, int64_t v)
{
    if (v)
        db_bind_int(s, idx, v);
    else
        db_bind_null(s, idx);
}

int db_step(db_stmt *s)
{
    if (!s)
        return CIN_ENOMEM;
    if (s->err || !s->drv)
        return s->err ? s->err : CIN_ERR;
    return s->drv->step(s);
}

int db_col_count(db_stmt *s)
{
    return LIVE(s) ? s->drv->col_count(s) : 0;
}

int db_col_null(db_stmt *s, int col)
{
    return LIVE(s) ? s->drv->col_null(s, col) : 1;
}

int64_t db_col_int(db_stmt *s, int col)
{
    return LIVE(s) ? s->drv->col_int(s, col) : 0;
}

const char *db_col_text(db_stmt *s, int col)
{
    return LIVE(s) ? s->drv->col_text(s, col) : NULL;
}

char *db_col_strdup(db_stmt *s, int col)
{
    const char *t = db_col_text(s, col);

    return t ? strdup(t) : NULL;
}

unsigned char *db_col_blob(db_stmt *s, int col, size_t *len)
{
    *len = 0;
    return LIVE(s) ? s->drv->col_blob(s, col, len) : NULL;
}

int64_t db_changes(db_stmt *s)
{
    return LIVE(s) ? s->drv->changes(s) : 0;
}

void db_finalize(db_stmt *s)
{
    if (!s || s == &oom_stmt)
        return;
    if (s->drv)
        s->drv->finalize(s);
    else
        free(s);
}

int db_run(db_stmt *s)
{
    int rc = db_step(s);

    db_finalize(s);
    return rc == DB_ROW ? CIN_OK : rc;
}

int db_one(db_stmt *s)
{
    int rc = db_step(s);

    if (rc == DB_ROW)
        return CIN_OK;
    return rc == CIN_OK ? CIN_ENOTFOUND : rc;
}

int db_ids(db_stmt *s, int64_t **ids, size_t *n)
{
    size_t cap = 16, k = 0;
    int64_t *v = malloc(cap * sizeof(*v)), *m;
    int rc;

    *ids = NULL;
    *n = 0;
    if (!v) {
        db_finalize(s);
        return CIN_ENOMEM;
    }
    while ((rc = db_step(s)) == DB_ROW) {
        if (k == cap) {
            m = realloc(v, cap * 2 * sizeof(*v));
            if (!m) {
                rc = CIN_ENOMEM;
                break;
            }
            v = m;
            cap *= 2;
        }
        v[k++] = db_col_int(s, 0);
    }
    db_finalize(s);
    if (rc != CIN_OK) {
        free(v);
        return rc;
    }
    *ids = v;
    *n = k;
    return CIN_OK;
}

int db_exec(cin_store *st, const char *sql)
{
    if (!st || !st->drv)
        return CIN_EUNAVAIL;
    return st->drv->exec(st, sql);
}
