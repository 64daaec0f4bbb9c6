/*
 * acme_http.c - the ACME connector's HTTP client (acme_int.h), as mod_md's
 * md_http: one request function behind a small ops struct.  libcurl's is the
 * default; a test or a fuzz target puts a scripted CA in its place, so that
 * every step of the client runs without a network.
 *
 * libcurl reads the response headers (curl_easy_header) and Retry-After
 * (CURLINFO_RETRY_AFTER, which takes both delay-seconds and an HTTP date):
 * no header parsing of our own but the Link values, whose rel="alternate"
 * targets are the CA's other chains.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "acme_int.h"

#if !CURL_AT_LEAST_VERSION(7, 83, 0)
#error "the ACME client needs libcurl 7.83 or later (curl_easy_header)"
#endif

static const acme_http_ops *impl = &acme_http_curl;

void acme_http_use(const acme_http_ops *ops)
{
    impl = ops ? ops : &acme_http_curl;
}

const acme_http_ops *acme_http_impl(void)
{
    return impl;
}

void acme_resp_clear(acme_http_resp *h)
{
    int i;

    for (i = 0; i < h->nlinks; i++)
        free(h->links[i]);
    free(h->body);
    free(h->location);
    free(h->nonce);
    free(h->ctype);
    memset(h, 0, sizeof(*h));
}

/* ---- libcurl ------------------------------------------------------------- */

typedef struct curl_client {
    CURL *curl;
    char *trust_pem;
} curl_client;

static void *curl_open(const char *trust_pem)
{
    curl_client *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->curl = curl_easy_init();
    c->trust_pem = trust_pem ? strdup(trust_pem) : NULL;
    if (!c->curl || (trust_pem && !c->trust_pem)) {
        curl_easy_cleanup(c->curl);
        free(c->trust_pem);
        free(c);
        return NULL;
    }
    return c;
}

static void curl_close(void *client)
{
    curl_client *c = client;

    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c->trust_pem);
    free(c);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    acme_http_resp *h = ud;
    size_t add = size * n;
    char *m;

    if (h->len + add > ACME_MAX_BODY)
        return 0; /* libcurl then fails the transfer */
    m = realloc(h->body, h->len + add + 1);
    if (!m)
        return 0;
    h->body = m;
    memcpy(h->body + h->len, data, add);
    h->len += add;
    h->body[h->len] = '\0';
    return add;
}

/* The value of the first header called name in the last answer, malloc'd. */
static char *header_dup(CURL *curl, const char *name)
{
    struct curl_header *hd;

    if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK || !hd->value)
        return NULL;
    return strdup(hd->value);
}

static void read_headers(CURL *curl, acme_http_resp *h)
{
    struct curl_header *hd;
    curl_off_t retry = 0;
    size_t i, amount = 1;

    h->location = header_dup(curl, "Location");
    h->nonce = header_dup(curl, "Replay-Nonce");
    h->ctype = header_dup(curl, "Content-Type");
    for (i = 0; i < amount && h->nlinks < ACME_MAX_LINKS; i++) {
        if (curl_easy_header(curl, "Link", i, CURLH_HEADER, -1, &hd) != CURLHE_OK)
            break;
        amount = hd->amount;
        if (hd->value && (h->links[h->nlinks] = strdup(hd->value)))
            h->nlinks++;
    }
    if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK)
        h->retry_after = (long long)retry;
}

static void set_options(curl_client *c, const char *method, const char *url, const char *body,
                        acme_http_resp *h, char *errbuf)
{
    CURL *curl = c->curl;
    struct curl_blob blob;

    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* agents run in server threads */
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "certinext-acme/1");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, h);
    if (c->trust_pem) {
        blob.data = c->trust_pem;
        blob.len = strlen(c->trust_pem);
        blob.flags = CURL_BLOB_COPY;
        curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
    }
}

static int curl_request(void *client, const char *method, const char *url,
                        const char *const *headers, const char *body, acme_http_resp *h, char *err,
                        size_t errlen)
{
    curl_client *c = client;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *list = NULL, *more;
    int i, rc = CIN_OK;
    CURLcode cc;

    memset(h, 0, sizeof(*h));
    set_options(c, method, url, body, h, errbuf);
    for (i = 0; headers && headers[i]; i++) {
        if (!(more = curl_slist_append(list, headers[i]))) {
            snprintf(err, errlen, "out of memory");
            rc = CIN_EIO;
            goto done;
        }
        list = more;
    }
    if (list)
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, list);
    cc = curl_easy_perform(c->curl);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        acme_resp_clear(h);
        rc = CIN_EIO;
        goto done;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &h->status);
    read_headers(c->curl, h);
done:
    curl_slist_free_all(list);
    return rc;
}

const acme_http_ops acme_http_curl = {curl_open, curl_request, curl_close};

/* ---- reading an answer ----------------------------------------------------- */

json_t *acme_resp_json(const acme_http_resp *h)
{
    return h->body ? json_loadb(h->body, h->len, 0, NULL) : NULL;
}

const char *acme_resp_problem(const acme_http_resp *h, char *buf, size_t len)
{
    static const char prefix[] = "urn:ietf:params:acme:error:";
    json_t *j = acme_resp_json(h);
    const char *t = json_string_value(json_object_get(j, "type"));

    buf[0] = '\0';
    if (t && !strncmp(t, prefix, sizeof(prefix) - 1))
        snprintf(buf, len, "%s", t + sizeof(prefix) - 1);
    json_decref(j);
    return buf;
}

int acme_retry_after(const acme_http_resp *h, int dflt)
{
    if (h->retry_after == 0)
        return dflt;
    if (h->retry_after < 1)
        return 1; /* a date already past: now, but never a busy loop */
    if (h->retry_after > ACME_RETRY_AFTER_MAX)
        return ACME_RETRY_AFTER_MAX;
    return (int)h->retry_after;
}

/* Is "alternate" one of the space-separated relation types in [v, end)? */
static int names_alternate(const char *v, const char *end)
{
    while (v < end) {
        const char *w = v;
        while (w < end && *w != ' ' && *w != '\t')
            w++;
        if (w - v == 9 && !strncasecmp(v, "alternate", 9))
            return 1;
        v = w + 1;
    }
    return 0;
}

/* Do a link's parameters [p, end) (";rel=alternate", "; rel=\"up alternate\"";
 * a quoted value may hold ';') name the relation type "alternate"? */
static int rel_alternate(const char *p, const char *end)
{
    while (p < end) {
        const char *name, *nend, *v, *vend;
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        name = p;
        while (p < end && *p != '=' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        nend = p;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= end || *p != '=')
            continue; /* a parameter without a value */
        for (p++; p < end && (*p == ' ' || *p == '\t'); p++)
            ;
        if (p < end && *p == '"') {
            for (v = ++p; p < end && *p != '"'; p++)
                ;
            vend = p++;
        } else {
            for (v = p; p < end && *p != ';'; p++)
                ;
            vend = p;
        }
        if (nend - name == 3 && !strncasecmp(name, "rel", 3) && names_alternate(v, vend))
            return 1;
    }
    return 0;
}

/* A Link value may hold several links: <url>; params, <url>; params. */
static int value_alternates(const char *v, char **urls, int n, int max)
{
    const char *p = v;

    while (*p && n < max) {
        const char *lt = strchr(p, '<'), *gt = lt ? strchr(lt + 1, '>') : NULL, *end;
        int quoted = 0;
        if (!gt)
            break;
        /* the parameters run to a comma outside a quoted string */
        for (end = gt + 1; *end && (quoted || *end != ','); end++)
            if (*end == '"')
                quoted = !quoted;
        if (gt > lt + 1 && rel_alternate(gt + 1, end) &&
            (urls[n] = strndup(lt + 1, (size_t)(gt - lt - 1))))
            n++;
        p = *end ? end + 1 : end;
    }
    return n;
}

int acme_resp_alternates(const acme_http_resp *h, char **urls, int max)
{
    int i, n = 0;

    for (i = 0; i < h->nlinks && n < max; i++)
        n = value_alternates(h->links[i], urls, n, max);
    return n;
}
