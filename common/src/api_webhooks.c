/*
 * api_webhooks.c - /api/v1/webhooks (administrators: POST {"url","events"} ->
 * the secret once; GET; DELETE /{id}; GET /{id}/deliveries) and
 * /api/v1/notifications (GET / PUT {"email","notify"}: the caller's own).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_notify.h"
#include "cin_util.h"
#include "http_int.h"

static json_t *hook_json(const cin_webhook *w)
{
    json_t *j = json_object(), *ev = json_array();
    char *copy = strdup(w->events ? w->events : ""), *tok, *save = NULL;

    for (tok = copy ? strtok_r(copy, " ", &save) : NULL; tok; tok = strtok_r(NULL, " ", &save))
        json_array_append_new(ev, json_string(tok));
    free(copy);
    json_object_set_new(j, "id", json_integer(w->id));
    json_object_set_new(j, "url", json_string(w->url));
    json_object_set_new(j, "events", ev);
    json_object_set_new(j, "created_by", json_string(w->created_by));
    json_object_set_new(j, "created_at", json_string(w->created_at));
    return j;
}

static void deliveries(http_ctx *c, int64_t id)
{
    cin_problem p = {0};
    cin_delivery *d = NULL;
    size_t n = 0, i;
    json_t *arr, *j;

    if (cin_delivery_list(c->st, &c->actor, id, 100, &d, &n, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    arr = json_array();
    for (i = 0; i < n; i++) {
        char at[21], oid[32];
        j = json_object();
        json_object_set_new(j, "id", json_integer(d[i].id));
        json_object_set_new(j, "event", json_string(d[i].event));
        json_object_set_new(j, "state", json_string(d[i].state));
        json_object_set_new(j, "attempts", json_integer(d[i].attempts));
        json_object_set_new(j, "last_status", json_integer(d[i].last_status));
        json_object_set_new(j, "last_error",
                            d[i].last_error ? json_string(d[i].last_error) : json_null());
        if (d[i].order_id) {
            snprintf(oid, sizeof(oid), "R-%06lld", (long long)d[i].order_id);
            json_object_set_new(j, "order", json_string(oid));
        } else {
            json_object_set_new(j, "order", json_null());
        }
        cin_time_rfc3339((time_t)d[i].created_at, at);
        json_object_set_new(j, "created_at", json_string(at));
        if (d[i].sent_at) {
            cin_time_rfc3339((time_t)d[i].sent_at, at);
            json_object_set_new(j, "sent_at", json_string(at));
        } else {
            json_object_set_new(j, "sent_at", json_null());
        }
        if (!strcmp(d[i].state, "queued")) {
            cin_time_rfc3339((time_t)d[i].next_at, at);
            json_object_set_new(j, "next_attempt_at", json_string(at));
        } else {
            json_object_set_new(j, "next_attempt_at", json_null());
        }
        json_array_append_new(arr, j);
    }
    cin_delivery_list_free(d, n);
    j = json_object();
    json_object_set_new(j, "deliveries", arr);
    json_object_set_new(j, "next_cursor", json_null());
    http_json(c, 200, j);
}

static void create(http_ctx *c)
{
    cin_problem p = {0};
    cin_webhook w;
    const char *url = NULL, **events = NULL;
    size_t nevents = 0;
    char *secret = NULL;
    json_t *j;

    if (http_body_str(c, "url", 1, &url) || http_body_strv(c, "events", 50, &events, &nevents)) {
        free(events);
        return;
    }
    if (cin_webhook_create(c->st, &c->actor, url, events, nevents, &secret, &w, &p) != CIN_OK) {
        free(events);
        http_problem_from(c, &p);
        return;
    }
    free(events);
    j = hook_json(&w);
    json_object_set_new(j, "secret", json_string(secret));
    cin_free_secret(secret, strlen(secret));
    cin_webhook_clear(&w);
    http_json(c, 201, j);
    c->resp->secret = 1;
}

void api_webhooks(http_ctx *c)
{
    const char *m = c->req->method;
    cin_problem p = {0};
    int64_t id;

    if (c->nseg == 1) {
        if (!strcmp(m, "POST")) {
            create(c);
        } else if (!strcmp(m, "GET")) {
            cin_webhook *w = NULL;
            size_t n = 0, i;
            json_t *arr, *j;
            if (cin_webhook_list(c->st, &c->actor, &w, &n, &p) != CIN_OK) {
                http_problem_from(c, &p);
                return;
            }
            arr = json_array();
            for (i = 0; i < n; i++)
                json_array_append_new(arr, hook_json(&w[i]));
            cin_webhook_list_free(w, n);
            j = json_object();
            json_object_set_new(j, "webhooks", arr);
            json_object_set_new(j, "next_cursor", json_null());
            http_json(c, 200, j);
        } else {
            http_problem(c, 405, "method_not_allowed", "use GET or POST");
        }
        return;
    }
    id = strtoll(c->seg[1], NULL, 10);
    if (id <= 0 || c->nseg > 3 || (c->nseg == 3 && strcmp(c->seg[2], "deliveries"))) {
        http_problem(c, 404, "not_found", "no such webhook resource");
        return;
    }
    if (c->nseg == 3) {
        if (strcmp(m, "GET"))
            http_problem(c, 405, "method_not_allowed", "use GET");
        else
            deliveries(c, id);
        return;
    }
    if (strcmp(m, "DELETE")) {
        http_problem(c, 405, "method_not_allowed", "use DELETE");
        return;
    }
    if (cin_webhook_delete(c->st, &c->actor, id, &p) != CIN_OK)
        http_problem_from(c, &p);
    else
        http_no_content(c);
}

static json_t *split_json(const char *s, const char *sep)
{
    json_t *arr = json_array();
    char *copy = strdup(s ? s : ""), *tok, *save = NULL;

    for (tok = copy ? strtok_r(copy, sep, &save) : NULL; tok; tok = strtok_r(NULL, sep, &save))
        json_array_append_new(arr, json_string(tok));
    free(copy);
    return arr;
}

/* GET [?user=NAME] / PUT {"email"?, "notify"?, "muted"?: [events], "user"?,
 * "account_emails"?: [addresses]}: a field left out is unchanged (issue 15) */
void api_notifications(http_ctx *c)
{
    const char *m = c->req->method, *email = NULL, *user = NULL, **muted = NULL, **emails = NULL;
    cin_notify_change ch = {0};
    cin_notify_prefs pr = {0};
    cin_problem p = {0};
    char ubuf[128];
    size_t i;
    json_t *j, *ev;

    if (c->nseg != 1) {
        http_problem(c, 404, "not_found", "no such resource");
        return;
    }
    ch.notify = -1;
    if (!strcmp(m, "PUT")) {
        int notify = -1;
        if (http_body_str(c, "user", 0, &user) || http_body_str(c, "email", 0, &email) ||
            http_body_bool(c, "notify", &notify) ||
            http_body_strv(c, "muted", 20, &muted, &ch.nmuted) ||
            http_body_strv(c, "account_emails", 20, &emails, &ch.naccount_emails)) {
            free(muted);
            free(emails);
            return;
        }
        ch.user = user;
        ch.set_email = json_object_get(c->body, "email") != NULL;
        ch.email = email;
        ch.notify = notify;
        ch.muted = muted;
        ch.account_emails = emails;
        if (cin_notify_set(c->st, &c->actor, NULL, &ch, &p) != CIN_OK) {
            free(muted);
            free(emails);
            http_problem_from(c, &p);
            return;
        }
        free(muted);
        free(emails);
    } else if (strcmp(m, "GET")) {
        http_problem(c, 405, "method_not_allowed", "use GET or PUT");
        return;
    } else {
        user = http_query(c, "user", ubuf, sizeof(ubuf));
    }
    if (cin_notify_get(c->st, &c->actor, NULL, user, &pr, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    j = json_object();
    json_object_set_new(j, "user", json_string(pr.user ? pr.user : ""));
    json_object_set_new(j, "email", pr.email ? json_string(pr.email) : json_null());
    json_object_set_new(j, "notify", json_boolean(pr.notify));
    json_object_set_new(j, "muted", split_json(pr.muted, " "));
    ev = json_array();
    for (i = 0; cin_mail_events[i]; i++)
        json_array_append_new(ev, json_string(cin_mail_events[i]));
    json_object_set_new(j, "events", ev);
    if (pr.has_account)
        json_object_set_new(j, "account_emails", split_json(pr.account_emails, ","));
    cin_notify_prefs_clear(&pr);
    http_json(c, 200, j);
}
