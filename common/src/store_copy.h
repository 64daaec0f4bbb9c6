/* store_copy.h - rows from one store to another (store_copy.c); not a public header. */
#ifndef CIN_STORE_COPY_H
#define CIN_STORE_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "cin_store.h"

typedef struct st_table {
    const char *name;
    const char *cols;  /* comma-separated, as the latest schema has them */
    const char *types; /* one letter a column: i integer, t text, b blob */
    const char *key;   /* the primary key's columns; NULL: none (append only) */
} st_table;

/* Every table, in an order that satisfies the foreign keys; ends with NULL. */
extern const st_table st_tables[];
const st_table *st_table_named(const char *name);

/* Copy the rows of t that `where` selects ("WHERE changed_gen > ?1 ...", with
 * its integer parameters) from src into dst, replacing rows with the same
 * key.  In the caller's transaction on dst.  *count (may be NULL) the rows. */
int st_copy_rows(cin_store *src, cin_store *dst, const st_table *t, const char *where,
                 const int64_t *params, size_t nparams, int64_t *count);

#endif
