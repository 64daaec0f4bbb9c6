/*
 * renewal.c - a renewal gives the customer what they paid for (issue 15).
 *
 * As commercial CAs do, a renewal's certificate counts its validity from the end
 * of the certificate it renews, not from its own issuance: renewing 30 days early
 * loses nothing. The built-in CA bounds the result at CIN_CA_LOCAL_MAX_DAYS from
 * issuance (and at its intermediate's end); what is cut is said, in the order's
 * "renewal" preview before anything is paid. An ACME CA decides its certificates'
 * lifetime itself: nothing is carried over there, and the preview says so.
 */
#include <string.h>

#include "cin_order.h"
#include "cin_store_ca.h"
#include "cin_util.h"

time_t cin_renewal_not_after(time_t now, time_t parent_end, int validity_days, int max_days,
                             int *capped)
{
    time_t want, limit = now + (time_t)max_days * 86400;

    if (capped)
        *capped = 0;
    if (parent_end > now)
        want = parent_end + (time_t)validity_days * 86400;
    else /* nothing left to carry: as a new certificate */
        want = now + (time_t)validity_days * 86400 - 60;
    if (max_days > 0 && want > limit) {
        want = limit;
        if (capped)
            *capped = 1;
    }
    return want;
}

static int cert_end(cin_store *st, int64_t cert_id, time_t *end)
{
    cin_cert c;
    int rc;

    *end = 0;
    if (cert_id <= 0)
        return CIN_OK;
    rc = cin_store_cert_get(st, cert_id, &c);
    if (rc == CIN_OK)
        rc = cin_time_parse(c.not_after, end);
    cin_cert_clear(&c);
    return rc == CIN_ENOTFOUND ? CIN_OK : rc;
}

int cin_renewal_parent_end(cin_store *st, const cin_order *o, time_t *end)
{
    cin_order parent;
    int rc;

    *end = 0;
    if (!o->kind || strcmp(o->kind, "renewal") || o->parent_id <= 0)
        return CIN_OK;
    rc = cin_store_order_get(st, o->parent_id, &parent);
    if (rc == CIN_OK)
        rc = cert_end(st, parent.cert_id, end);
    cin_order_clear(&parent);
    return rc == CIN_ENOTFOUND ? CIN_OK : rc;
}

/* 1 when the order's product is issued by the built-in CA */
static int local_ca(cin_store *st, const char *product)
{
    cin_product p;
    cin_ca_config c;
    int local = 0;

    if (cin_store_product_get(st, product, &p) != CIN_OK)
        return 0;
    if (p.ca && cin_store_ca_get(st, p.ca, &c) == CIN_OK) {
        local = c.kind && !strcmp(c.kind, "local");
        cin_ca_config_clear(&c);
    }
    cin_product_clear(&p);
    return local;
}

/* a renewal not issued yet: the expiry it will have if issued now */
static int pending(cin_store *st, const cin_order *o, json_t *j)
{
    time_t end = 0, na, now = cin_now(cin_store_services(st));
    char at[21];
    int capped = 0, rc = cin_renewal_parent_end(st, o, &end);

    if (rc != CIN_OK || end <= 0 || !local_ca(st, o->product))
        return rc;
    na = cin_renewal_not_after(now, end, o->validity_days, CIN_CA_LOCAL_MAX_DAYS, &capped);
    cin_time_rfc3339(na, at);
    json_object_set_new(j, "expected_not_after", json_string(at));
    json_object_set_new(j, "expected_capped", json_boolean(capped));
    return CIN_OK;
}

int cin_renewal_json(cin_store *st, const cin_order *o, json_t *j)
{
    time_t now, end, na;
    char at[21];
    int capped = 0, rc;
    long long carried;
    json_t *r;

    if (!o->status)
        return CIN_OK;
    if (!o->cert_id && o->kind && !strcmp(o->kind, "renewal") && strcmp(o->status, "rejected") &&
        strcmp(o->status, "cancelled") && strcmp(o->status, "failed"))
        return pending(st, o, j);
    if (!o->cert_id || (strcmp(o->status, "issued") && strcmp(o->status, "expired")) ||
        o->superseded_by)
        return CIN_OK;
    if ((rc = cert_end(st, o->cert_id, &end)) != CIN_OK)
        return rc;
    now = cin_now(cin_store_services(st));
    r = json_object();
    json_object_set_new(r, "validity_days", json_integer(o->validity_days));
    if (local_ca(st, o->product)) {
        na = cin_renewal_not_after(now, end, o->validity_days, CIN_CA_LOCAL_MAX_DAYS, &capped);
        json_object_set_new(r, "carries_over", json_true());
        json_object_set_new(r, "max_days", json_integer(CIN_CA_LOCAL_MAX_DAYS));
    } else { /* an ACME CA counts from its issuance */
        na = now + (time_t)o->validity_days * 86400;
        json_object_set_new(r, "carries_over", json_false());
    }
    cin_time_rfc3339(na, at);
    json_object_set_new(r, "not_after", json_string(at));
    carried = json_is_true(json_object_get(r, "carries_over")) && end > now
                  ? (long long)((na - now) / 86400) - o->validity_days
                  : 0;
    json_object_set_new(r, "carried_over_days", json_integer(carried > 0 ? carried : 0));
    json_object_set_new(r, "capped", json_boolean(capped));
    json_object_set_new(j, "renewal", r);
    return CIN_OK;
}
