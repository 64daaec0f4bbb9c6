/*
 * api_csv.c - lists as CSV (RFC 4180) for spreadsheets: GET /api/v1/orders,
 * /certificates and /ledger with ?format=csv. A cell that a spreadsheet would
 * run as a formula (starting with = + - @, a tab or a carriage return) gets a
 * leading apostrophe and quotes; cells with a comma, a quote or a line break are
 * quoted (one rule for every CSV certinext writes: cin_csv_cell in report.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_report.h"
#include "http_int.h"

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} csv_buf;

static void put(csv_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *nb;
        while (cap < b->len + n + 1)
            cap *= 2;
        nb = realloc(b->buf, cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

/* One cell, neutralised and quoted by the same rule as the reports (cin_csv_cell). */
static void put_cell(csv_buf *b, const char *s)
{
    char *cell = cin_csv_cell(s);

    if (!cell) {
        b->oom = 1;
        return;
    }
    put(b, cell, strlen(cell));
    free(cell);
}

/* The value at a dotted path ("certificate.serial") of an object, as text. */
static char *cell_text(json_t *o, const char *path)
{
    char key[64];
    const char *dot = strchr(path, '.');
    json_t *v;

    if (dot) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
        v = json_object_get(o, key);
        return json_is_object(v) ? cell_text(v, dot + 1) : strdup("");
    }
    v = json_object_get(o, path);
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(v));
        return strdup(key);
    }
    if (json_is_boolean(v))
        return strdup(json_is_true(v) ? "true" : "false");
    if (json_is_array(v)) {
        csv_buf b = {0};
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (i)
                put(&b, " ", 1);
            if (json_is_string(e))
                put(&b, json_string_value(e), strlen(json_string_value(e)));
        }
        if (b.oom) {
            free(b.buf);
            return NULL;
        }
        return b.buf ? b.buf : strdup("");
    }
    return strdup("");
}

char *cin_csv_from_json(json_t *rows, const char *const *cols, size_t *len)
{
    csv_buf b = {0};
    size_t i, k;
    json_t *r;

    for (k = 0; cols[k]; k++) {
        if (k)
            put(&b, ",", 1);
        put_cell(&b, cols[k]);
    }
    put(&b, "\r\n", 2);
    json_array_foreach(rows, i, r)
    {
        for (k = 0; cols[k]; k++) {
            char *t = cell_text(r, cols[k]);
            if (!t) {
                b.oom = 1;
                break;
            }
            if (k)
                put(&b, ",", 1);
            put_cell(&b, t);
            free(t);
        }
        put(&b, "\r\n", 2);
    }
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    *len = b.len;
    return b.buf;
}

int http_want_csv(const http_ctx *c)
{
    char buf[16];
    const char *f = http_query(c, "format", buf, sizeof(buf));
    return f && !strcmp(f, "csv");
}

void http_csv(http_ctx *c, json_t *rows, const char *const *cols, const char *filename)
{
    size_t len = 0;
    char *body = cin_csv_from_json(rows, cols, &len), disp[128];

    json_decref(rows);
    if (!body) {
        http_fail(c, CIN_ENOMEM);
        return;
    }
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", filename);
    http_raw(c, 200, "text/csv; charset=utf-8", body, len);
    http_header(c->resp, "Content-Disposition", disp);
}
