/*
 * ui.c - serves the web page embedded at build time: correct types, strong
 * ETags, revalidation for the page and long caching for nothing else (the
 * files are small and change with each release), and a strict CSP.
 */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "ui_files.h"

#define CSP                                                                                        \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

void cin_ui_serve(const cin_request *req, cin_response *resp)
{
    const struct cin_ui_file *f;
    const char *path = req->path, *inm;
    int head = !strcmp(req->method, "HEAD");

    if (!*path || !strcmp(path, "/"))
        path = "/index.html";
    for (f = cin_ui_files; f->path; f++)
        if (!strcmp(f->path, path))
            break;
    resp->status = 404;
    if (!f->path) {
        resp->content_type = strdup("text/plain; charset=utf-8");
        resp->body = strdup("not found\n");
        resp->body_len = strlen(resp->body);
        return;
    }
    if (strcmp(req->method, "GET") && !head) {
        resp->status = 405;
        http_header(resp, "Allow", "GET, HEAD");
        return;
    }
    http_header(resp, "ETag", f->etag);
    http_header(resp, "Cache-Control", "no-cache");
    http_header(resp, "X-Content-Type-Options", "nosniff");
    http_header(resp, "Referrer-Policy", "no-referrer");
    if (!strcmp(path, "/index.html")) {
        http_header(resp, "Content-Security-Policy", CSP);
        http_header(resp, "X-Frame-Options", "DENY");
    }
    inm = req->header ? req->header(req->header_ud, "If-None-Match") : NULL;
    if (inm && strstr(inm, f->etag)) {
        resp->status = 304;
        return;
    }
    resp->status = 200;
    resp->content_type = strdup(f->type);
    resp->body_len = f->len;
    if (!head) {
        resp->body = malloc(f->len + 1);
        if (resp->body)
            memcpy(resp->body, f->data, f->len + 1);
        else
            resp->body_len = 0;
    }
}
