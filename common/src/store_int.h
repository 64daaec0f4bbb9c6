/* store_int.h - internals shared by the store_*.c files; not a public header. */
#ifndef CIN_STORE_INT_H
#define CIN_STORE_INT_H

#include <assert.h>
#include <stdlib.h>

#include "cin_generation.h"
#include "cin_store.h"
#include "cin_util.h"
#include "db.h"

struct cin_store {
    const db_driver *drv;
    void *conn; /* the driver's connection */
    char *path; /* as configured: a file path or a connection URI */
    char *name; /* for messages: the path, or the URI without its password */
    char *gen_path;
    cin_gen *gen;
    cin_kek kek;
    int have_kek;
    cin_services svc;
    int in_tx;
    uint64_t pending_gen;   /* bumped inside the open transaction, published at commit */
    uint64_t committed_gen; /* the highest generation this connection committed */
};

/* Writers expect their caller's transaction (cin_store_begin). */
#define ST_WRITER(st) assert((st)->in_tx)

/* Room for element n of a list allocated for *cap elements of size bytes:
 * the list, moved when it had to grow (*cap doubles), or NULL when out of
 * memory - the old list is then still valid and the caller frees it. */
static inline void *st_grow(void *list, size_t n, size_t *cap, size_t size)
{
    void *m;

    if (n < *cap)
        return list;
    m = realloc(list, *cap * 2 * size);
    if (m)
        *cap *= 2;
    return m;
}

/* Rows of (text, text or NULL when !two, count) from s, bound by the caller
 * (cin_store_metrics.h's cin_metric_row); finalizes s. */
struct cin_metric_row;
int st_label_rows(db_stmt *s, int two, struct cin_metric_row **out, size_t *n);

/* Wake the hosts' syncers (a central store); nothing for a file. */
int st_notify(cin_store *st);
/* Now as RFC 3339 text and as epoch seconds, from the store's clock. */
void st_now_text(cin_store *st, char buf[21]);
time_t st_now(cin_store *st);
/* JSON array text <-> string vector. */
char *st_strv_json(char **v, size_t n);
int st_json_strv(const char *json, char ***v, size_t *n);

#endif
