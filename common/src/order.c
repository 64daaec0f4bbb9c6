/*
 * order.c - the order state machine: one table of who may do what in which
 * status, the visibility rule, and the order's JSON form.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_ca.h"
#include "cin_groups.h"
#include "cin_order.h"
#include "cin_util.h"

/* statuses as bits */
enum {
    S_PENDING_APPROVAL = 1 << 0,
    S_PENDING_SIGNATORY = 1 << 1,
    S_AWAITING_PAYMENT = 1 << 2,
    S_PENDING_CSR = 1 << 3,
    S_PROCESSING = 1 << 4,
    S_ISSUED = 1 << 5,
    S_REJECTED = 1 << 6,
    S_CANCELLED = 1 << 7,
    S_FAILED = 1 << 8,
    S_REVOKED = 1 << 9,
    S_EXPIRED = 1 << 10,
    S_SUPERSEDED = 1 << 11,
    S_PENDING_PARENT_APPROVAL = 1 << 12,
};

static const struct {
    const char *name;
    unsigned bit;
} statuses[] = {
    {"pending_approval", S_PENDING_APPROVAL},
    {"pending_signatory", S_PENDING_SIGNATORY},
    {"awaiting_payment", S_AWAITING_PAYMENT},
    {"pending_csr", S_PENDING_CSR},
    {"processing", S_PROCESSING},
    {"issued", S_ISSUED},
    {"rejected", S_REJECTED},
    {"cancelled", S_CANCELLED},
    {"failed", S_FAILED},
    {"revoked", S_REVOKED},
    {"expired", S_EXPIRED},
    {"superseded", S_SUPERSEDED},
    {"pending_parent_approval", S_PENDING_PARENT_APPROVAL},
};

/* who may act */
enum {
    W_ADMIN = 1 << 0,     /* an administrator of the order's account */
    W_REQUESTER = 1 << 1, /* the user who placed the order */
    W_SIGNATORY = 1 << 2, /* an authorized signatory of the account */
    W_VIEWER = 1 << 3,    /* anyone who may see the order */
    W_PARENT = 1 << 4,    /* an administrator of an account above the order's */
    W_APPROVER = 1 << 5,  /* gives the account's approval: an administrator, or, where the
                             product has an approver group, a member of that group */
};

/* extra conditions */
enum {
    C_NOT_SELF = 1 << 0,   /* nobody approves their own request */
    C_SERVER_KEY = 1 << 1, /* only for key_source "server" */
    C_CSR_KEY = 1 << 2,    /* only for key_source "csr" */
};

#define BEFORE_ISSUE                                                                               \
    (S_PENDING_PARENT_APPROVAL | S_PENDING_APPROVAL | S_PENDING_SIGNATORY | S_AWAITING_PAYMENT |   \
     S_PENDING_CSR | S_FAILED)

/*
 * The transition table.  `to` is the usual next status (NULL: the action
 * creates a new order, or leaves the status alone, or - approve, pay -
 * decides between two as the workflow functions say).  An action may have
 * several rows (approve: by the parent, then by the account); the row whose
 * `from` holds the order's status applies.
 */
static const struct transition {
    const char *action;
    unsigned from;
    unsigned who;
    unsigned cond;
    const char *to;
    const char *who_text;
} transitions[] = {
    {"approve", S_PENDING_PARENT_APPROVAL, W_PARENT, C_NOT_SELF, NULL,
     "an administrator of the parent account"},
    {"reject", S_PENDING_PARENT_APPROVAL, W_PARENT, C_NOT_SELF, "rejected",
     "an administrator of the parent account"},
    {"approve", S_PENDING_APPROVAL, W_APPROVER, C_NOT_SELF, "awaiting_payment",
     "an approver (an administrator, or the product's approver group)"},
    {"reject", S_PENDING_APPROVAL, W_APPROVER, C_NOT_SELF, "rejected",
     "an approver (an administrator, or the product's approver group)"},
    {"signatory_approve", S_PENDING_SIGNATORY, W_SIGNATORY, C_NOT_SELF, "awaiting_payment",
     "an authorized signatory"},
    {"signatory_reject", S_PENDING_SIGNATORY, W_SIGNATORY, C_NOT_SELF, "rejected",
     "an authorized signatory"},
    {"pay", S_AWAITING_PAYMENT, W_REQUESTER | W_ADMIN, 0, "processing",
     "the requester or an administrator"},
    {"csr", BEFORE_ISSUE, W_REQUESTER | W_ADMIN, C_CSR_KEY, NULL,
     "the requester or an administrator"},
    {"cancel", BEFORE_ISSUE | S_PROCESSING, W_REQUESTER | W_ADMIN, 0, "cancelled",
     "the requester or an administrator"},
    {"download", S_ISSUED | S_EXPIRED | S_REVOKED, W_VIEWER, 0, NULL, "a user who sees it"},
    {"key", S_ISSUED | S_EXPIRED | S_REVOKED, W_ADMIN, C_SERVER_KEY, NULL, "an administrator"},
    {"renew", S_ISSUED | S_EXPIRED, W_REQUESTER | W_ADMIN, 0, NULL,
     "the requester or an administrator"},
    {"reissue", S_ISSUED, W_REQUESTER | W_ADMIN, 0, NULL, "the requester or an administrator"},
    {"sans", S_ISSUED, W_REQUESTER | W_ADMIN, 0, NULL, "the requester or an administrator"},
    {"revoke", S_ISSUED, W_REQUESTER | W_ADMIN, 0, "revoked", "the requester or an administrator"},
    {"retry", S_FAILED, W_ADMIN, 0, "processing", "an administrator"},
};

static unsigned status_bit(const char *s)
{
    size_t i;

    for (i = 0; s && i < sizeof(statuses) / sizeof(statuses[0]); i++)
        if (!strcmp(s, statuses[i].name))
            return statuses[i].bit;
    return 0;
}

int cin_order_status_valid(const char *status)
{
    return status_bit(status) != 0;
}

/* An administrator of an account above the order's (a parent, a parent's parent...). */
static int parent_admin(const cin_user *u, const cin_order *o)
{
    return !strcmp(u->role, "admin") && cin_account_path_below(u->account_path, o->account_path);
}

/* 1 when u belongs to group id. */
static int in_group(const cin_user *u, int64_t id)
{
    char key[32];

    snprintf(key, sizeof(key), ",%lld,", (long long)id);
    return u->groups && strstr(u->groups, key) != NULL;
}

int cin_order_visible(const cin_user *u, const cin_order *o)
{
    if (!u)
        return 1; /* the system */
    if (u->account_id != o->account_id)
        return parent_admin(u, o);
    if (!strcmp(u->role, "basic"))
        return o->requester_id == u->id;
    return 1;
}

static unsigned who_of(const cin_user *u, const cin_order *o)
{
    unsigned w = W_VIEWER;

    if (!u)
        return W_ADMIN | W_PARENT | W_APPROVER | W_VIEWER;
    if (o->requester_id == u->id)
        w |= W_REQUESTER;
    if (u->account_id != o->account_id) {
        /* a parent's administrator acts as the account's own would, and
         * alone gives the parent's approval; consent stays the account's */
        if (parent_admin(u, o))
            w |= W_ADMIN | W_PARENT | W_APPROVER;
        return w;
    }
    if (!strcmp(u->role, "admin"))
        w |= W_ADMIN;
    if (o->approver_group ? in_group(u, o->approver_group) : !strcmp(u->role, "admin"))
        w |= W_APPROVER;
    if (u->signatory)
        w |= W_SIGNATORY;
    return w;
}

/* The row of action that applies to status; when none does, for the
 * refusal's wording, the first row whose actors include `who`, else the
 * first row of action. */
static const struct transition *find_for(const char *action, unsigned status, unsigned who)
{
    const struct transition *first = NULL, *mine = NULL;
    size_t i;

    for (i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
        if (strcmp(transitions[i].action, action))
            continue;
        if (transitions[i].from & status)
            return &transitions[i];
        if (!first)
            first = &transitions[i];
        if (!mine && (transitions[i].who & who))
            mine = &transitions[i];
    }
    return mine ? mine : first;
}

static const char *display_status(const cin_order *o)
{
    return o->status;
}

/* Visibility, role and requester rules of t for u: everything but the status. */
static int check_who(const cin_user *u, const cin_order *o, const struct transition *t,
                     const char *action, cin_problem *p)
{
    unsigned who;

    if (!cin_order_visible(u, o)) {
        cin_problem_set(p, 404, "not_found", "no order R-%06lld", (long long)o->id);
        return CIN_EPERM;
    }
    who = who_of(u, o);
    if (!(who & t->who)) {
        cin_problem_set(p, 403, "forbidden", "only %s may %s this order", t->who_text,
                        strcmp(action, "csr") ? action : "submit a CSR for");
        return CIN_EPERM;
    }
    if ((t->cond & C_NOT_SELF) && u && o->requester_id == u->id) {
        cin_problem_set(p, 403, "forbidden", "nobody approves their own request");
        return CIN_EPERM;
    }
    return CIN_OK;
}

int cin_order_may(const cin_user *u, const cin_order *o, const char *action, cin_problem *p)
{
    const struct transition *t = find_for(action, status_bit(o->status), who_of(u, o));

    if (!t) {
        cin_problem_set(p, 404, "not_found", "no such action: %s", action);
        return CIN_EPERM;
    }
    return check_who(u, o, t, action, p);
}

int cin_order_check(const cin_user *u, const cin_order *o, const char *action, cin_problem *p)
{
    const struct transition *t = find_for(action, status_bit(o->status), who_of(u, o));

    if (!t) {
        cin_problem_set(p, 404, "not_found", "no such action: %s", action);
        return CIN_EPERM;
    }
    if (check_who(u, o, t, action, p) != CIN_OK)
        return CIN_EPERM;
    if (!(status_bit(o->status) & t->from)) {
        if (!strcmp(o->status, "superseded"))
            cin_problem_set(p, 409, "conflict",
                            "R-%06lld was replaced by R-%06lld; act on the newer order",
                            (long long)o->id, (long long)o->superseded_by);
        else
            cin_problem_set(p, 409, "conflict", "cannot %s an order in status %s", action,
                            display_status(o));
        return CIN_EPERM;
    }
    if ((t->cond & C_SERVER_KEY) && strcmp(o->key_source, "server")) {
        cin_problem_set(p, 409, "conflict",
                        "this order's key is the customer's own (key_source csr); the module "
                        "does not have it");
        return CIN_EPERM;
    }
    if ((t->cond & C_CSR_KEY) && strcmp(o->key_source, "csr")) {
        cin_problem_set(p, 409, "conflict",
                        "this order's key is made by the module (key_source server); use "
                        "reissue with a CSR to bring your own key");
        return CIN_EPERM;
    }
    return CIN_OK;
}

json_t *cin_order_actions(const cin_user *u, const cin_order *o)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
        if (find_for(transitions[i].action, status_bit(o->status), 0) == &transitions[i] &&
            cin_order_check(u, o, transitions[i].action, NULL) == CIN_OK)
            json_array_append_new(a, json_string(transitions[i].action));
    return a;
}

int64_t cin_order_parse_id(const char *s)
{
    char *end;
    long long v;

    if (!s)
        return 0;
    if (s[0] == 'R' && s[1] == '-')
        s += 2;
    if (*s < '0' || *s > '9')
        return 0;
    v = strtoll(s, &end, 10);
    if (*end || v <= 0)
        return 0;
    return v;
}

/* The certificate's ARI renewal window (issue 14), or null when the CA
 * gave none. */
static json_t *ari_json(cin_store *st, int64_t cert_id)
{
    char a[21], b[21], c[21];
    cin_ari w;
    json_t *j;

    if (cin_store_cert_ari_get(st, cert_id, &w) != CIN_OK)
        return json_null();
    cin_time_rfc3339(w.start, a);
    cin_time_rfc3339(w.end, b);
    cin_time_rfc3339(w.planned, c);
    j = json_pack("{s:s, s:s, s:s, s:o, s:b}", "start", a, "end", b, "planned_at", c,
                  "explanation_url", w.explanation ? json_string(w.explanation) : json_null(),
                  "moved_earlier", w.moved);
    cin_ari_clear(&w);
    return j ? j : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *cin_order_json(cin_store *st, const cin_user *u, const cin_order *o)
{
    return cin_order_json_rc(st, u, o, NULL);
}

json_t *cin_order_json_rc(cin_store *st, const cin_user *u, const cin_order *o, int *rc)
{
    json_t *j = json_object(), *sans = json_array();
    char buf[32];
    size_t i;

    snprintf(buf, sizeof(buf), "R-%06lld", (long long)o->id);
    json_object_set_new(j, "id", json_string(buf));
    if (o->order_number) {
        snprintf(buf, sizeof(buf), "CIN-%06lld", (long long)o->order_number);
        json_object_set_new(j, "order_number", json_string(buf));
    } else {
        json_object_set_new(j, "order_number", json_null());
    }
    json_object_set_new(j, "status", json_string(display_status(o)));
    json_object_set_new(j, "product", json_string(o->product));
    json_object_set_new(j, "common_name", json_string(o->common_name));
    for (i = 0; i < o->nsans; i++)
        json_array_append_new(sans, json_string(o->sans[i]));
    json_object_set_new(j, "sans", sans);
    json_object_set_new(j, "key_source", json_string(o->key_source));
    json_object_set_new(j, "key_type", json_string(o->key_type));
    json_object_set_new(j, "validity_days", json_integer(o->validity_days));
    json_object_set_new(j, "auto_renew", json_boolean(o->auto_renew));
    json_object_set_new(j, "account", json_string(o->account));
    json_object_set_new(j, "requester", json_string(o->requester));
    json_object_set_new(j, "price", json_integer(o->price));
    json_object_set_new(j, "approved_by", str_or_null(o->approved_by));
    json_object_set_new(j, "approved_at", str_or_null(o->approved_at));
    json_object_set_new(j, "rejection_reason", str_or_null(o->rejection_reason));
    json_object_set_new(j, "signatory_by", str_or_null(o->signatory_by));
    json_object_set_new(j, "signatory_at", str_or_null(o->signatory_at));
    if (o->parent_id) {
        snprintf(buf, sizeof(buf), "R-%06lld", (long long)o->parent_id);
        json_object_set_new(j, "parent", json_string(buf));
    } else {
        json_object_set_new(j, "parent", json_null());
    }
    json_object_set_new(j, "kind", json_string(o->kind));
    if (o->superseded_by) {
        snprintf(buf, sizeof(buf), "R-%06lld", (long long)o->superseded_by);
        json_object_set_new(j, "superseded_by", json_string(buf));
    } else {
        json_object_set_new(j, "superseded_by", json_null());
    }
    json_object_set_new(j, "has_csr", json_boolean(o->csr_pem != NULL));
    /* issue 13: where the order came from ("acme" and the credential's name) */
    json_object_set_new(j, "via", str_or_null(o->via));
    json_object_set_new(j, "via_credential", str_or_null(o->via_name));
    if (rc)
        *rc = CIN_OK;
    if (o->cert_id && st) {
        cin_cert c;
        int crc = cin_store_cert_get(st, o->cert_id, &c);
        if (crc != CIN_OK && crc != CIN_ENOTFOUND && rc) {
            /* no order without its certificate: the caller answers the error */
            *rc = crc;
            json_decref(j);
            json_decref(sans);
            return NULL;
        }
        if (crc == CIN_OK) {
            json_t *cj = json_object();
            json_object_set_new(cj, "serial", json_string(c.serial));
            json_object_set_new(cj, "not_before", json_string(c.not_before));
            json_object_set_new(cj, "not_after", json_string(c.not_after));
            json_object_set_new(cj, "sha256", json_string(c.sha256));
            json_object_set_new(cj, "issuer", json_string(c.issuer));
            json_object_set_new(cj, "status", json_string(c.status));
            json_object_set_new(cj, "renewal_window", ari_json(st, c.id));
            json_object_set_new(j, "certificate", cj);
            cin_cert_clear(&c);
        }
    }
    if (!json_object_get(j, "certificate"))
        json_object_set_new(j, "certificate", json_null());
    if (o->error_json) {
        json_t *e = json_loads(o->error_json, 0, NULL);
        /* issue 14: a DNS hook's exit status and stderr are for administrators */
        if (json_is_object(e) && u && (!u->role || strcmp(u->role, "admin")))
            json_object_del(e, "dns_hook");
        json_object_set_new(j, "error", e ? e : json_string(o->error_json));
    } else {
        json_object_set_new(j, "error", json_null());
    }
    json_object_set_new(j, "attempts", json_integer(o->attempts));
    json_object_set_new(j, "created_at", json_string(o->created_at ? o->created_at : ""));
    json_object_set_new(j, "updated_at", json_string(o->updated_at ? o->updated_at : ""));
    json_object_set_new(j, "actions", cin_order_actions(u, o));
    {
        json_t *fields = NULL;
        if (st && o->id && cin_store_order_fields(st, o->id, &fields) == CIN_OK)
            json_object_set_new(j, "fields", fields);
        else
            json_object_set_new(j, "fields", json_object());
    }
    return j;
}

int cin_revocation_reason_valid(const char *r)
{
    static const char *const ok[] = {"unspecified", "keyCompromise", "affiliationChanged",
                                     "superseded", "cessationOfOperation"};
    size_t i;

    for (i = 0; r && i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strcmp(r, ok[i]))
            return 1;
    return 0;
}
