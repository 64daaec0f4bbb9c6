/*
 * store_lineage.c - renewals and reissues of one certificate: the open child
 * that keeps a second from being placed, and the hand-over when a child's
 * certificate goes live (a lineage has one active certificate).
 */
#include <stdlib.h>
#include <string.h>

#include "cin_store_order.h"
#include "store_int.h"

/* Statuses of an order that is still on its way to a certificate. */
#define OPEN_STATUSES                                                                              \
    "('pending_parent_approval','pending_approval','pending_signatory','awaiting_payment',"        \
    "'pending_csr','processing','failed')"

int cin_store_order_open_child(cin_store *st, int64_t parent_id, int64_t *child)
{
    db_stmt *s = db_prepare(st, "SELECT id FROM orders WHERE parent_id = ?1 AND kind IN"
                                " ('renewal','reissue') AND status IN " OPEN_STATUSES
                                " ORDER BY id LIMIT 1");
    int rc;

    *child = 0;
    db_bind_int(s, 1, parent_id);
    rc = db_one(s);
    if (rc == CIN_OK)
        *child = db_col_int(s, 0);
    db_finalize(s);
    return rc == CIN_ENOTFOUND ? CIN_OK : rc;
}

int cin_store_order_supersede(cin_store *st, int64_t parent_id, int64_t child_id, time_t revoke_at)
{
    uint64_t gen = 0;
    char now[21];
    db_stmt *s;
    int rc;

    ST_WRITER(st);
    rc = cin_store_generation_bump(st, &gen);
    if (rc != CIN_OK)
        return rc;
    /* the replaced certificate is no longer served; a reissue's is revoked
     * at its CA once the grace period has passed (the agent sends it) */
    s = db_prepare(st, "UPDATE certificates SET status = 'superseded', changed_gen = ?2,"
                       " revocation_reason = ?3, revoke_next_at = ?4, ca_notified = ?5"
                       " WHERE id = (SELECT cert_id FROM orders WHERE id = ?1) AND"
                       " status = 'active'");
    db_bind_int(s, 1, parent_id);
    db_bind_int(s, 2, (int64_t)gen);
    db_bind_text(s, 3, revoke_at > 0 ? "superseded" : NULL);
    db_bind_int(s, 4, (int64_t)revoke_at);
    db_bind_int(s, 5, revoke_at > 0 ? 0 : 1);
    rc = db_run(s);
    if (rc != CIN_OK)
        return rc;
    st_now_text(st, now);
    s = db_prepare(st, "UPDATE orders SET status = 'superseded', superseded_by = ?2,"
                       " updated_at = ?3 WHERE id = ?1 AND status IN ('issued','expired')");
    db_bind_int(s, 1, parent_id);
    db_bind_int(s, 2, child_id);
    db_bind_text(s, 3, now);
    return db_run(s);
}
