/*
 * fuzz_acme.c - how the ACME connector (common/src/acme.c) reads a CA's
 * answers: header lines (Replay-Nonce, Location, Content-Type, Retry-After,
 * Link rel="alternate"), JSON bodies (directory, order, authorization,
 * account, problem documents) and certificate chains.
 *
 * Coupling, kept small on purpose (acme.c will be restructured): acme.c's
 * parsers are static, so this file includes acme.c (as h2o's t/00unit/ tests
 * include what they test) and uses exactly these of its internals:
 *   http_resp               the parsed answer, filled as libcurl fills it:
 *   on_header(), on_body()  libcurl's header and body callbacks;
 *   resp_json(), problem_type(), from_response()   body and problem reading;
 *   order_error()           the error of an invalid order or authorization;
 *   pick_chain()            the default chain vs Link alternates;
 *   resp_clear(), acme      (acme zeroed: it has no directory, so post() fails
 *                           before any network, as when the CA is unreachable).
 * When acme.c is split, point these at the new seams and keep the input format.
 * Not reached today: the reads of directory, order and authorization fields
 * that sit inline in acme_init(), advance() and authorize() (they need a store
 * and the network); such documents reach only the helpers above.  The link
 * takes nothing from libcertinext.a's acme.o: this file defines its symbols.
 *
 * Input, an HTTP answer as the CA sends it:
 *   STATUS\n            decimal, e.g. 201
 *   Name: value\n       header lines, up to an empty line
 *   \n
 *   body                bytes
 */
#include "fuzz_util.h"

#include "../../common/src/acme.c"

/* One header line to on_header, as libcurl hands it: with its CRLF, not
 * NUL-terminated, in a buffer of exactly its size. */
static void feed_header(http_resp *h, const char *line, size_t len)
{
    char *buf = malloc(len + 2);

    FUZZ_CHECK(buf);
    memcpy(buf, line, len);
    memcpy(buf + len, "\r\n", 2);
    FUZZ_CHECK(on_header(buf, 1, len + 2, h) == len + 2);
    free(buf);
}

/* The body to on_body in two writes (libcurl delivers it in pieces). */
static void feed_body(http_resp *h, const uint8_t *body, size_t len)
{
    size_t half = len / 2, parts[2] = {half, len - half}, off = 0;
    int i;

    for (i = 0; i < 2; i++) {
        char *buf;
        if (!parts[i])
            continue;
        buf = malloc(parts[i]);
        FUZZ_CHECK(buf);
        memcpy(buf, body + off, parts[i]);
        FUZZ_CHECK(on_body(buf, 1, parts[i], h) == parts[i]);
        free(buf);
        off += parts[i];
    }
    FUZZ_CHECK(h->len == len && (len == 0 || h->body[len] == '\0'));
}

/* A problem (ours or the CA's) as cin_ca_result carries it: a JSON object. */
static void check_problem(const char *problem)
{
    json_t *j = problem ? json_loads(problem, 0, NULL) : NULL;

    FUZZ_CHECK(json_is_object(j));
    json_decref(j);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_forbid_passphrase_prompts();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size, *nl;
    char type[64], *status;
    cin_ca_result r;
    http_resp h;
    acme a;
    json_t *doc;

    memset(&h, 0, sizeof(h));
    memset(&a, 0, sizeof(a));
    memset(&r, 0, sizeof(r));
    /* status line */
    nl = memchr(p, '\n', (size_t)(end - p));
    status = fuzz_cstring(p, nl ? (size_t)(nl - p) : (size_t)(end - p));
    h.status = strtol(status, NULL, 10) % 1000;
    free(status);
    p = nl ? nl + 1 : end;
    /* header lines up to an empty one */
    while (p < end) {
        const uint8_t *line = p;
        size_t len;
        nl = memchr(p, '\n', (size_t)(end - p));
        len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len && line[len - 1] == '\r')
            len--;
        p = nl ? nl + 1 : end;
        if (len == 0)
            break;
        feed_header(&h, (const char *)line, len);
    }
    feed_body(&h, p, (size_t)(end - p));
    FUZZ_CHECK(h.nalternates >= 0 && h.nalternates <= 8);

    problem_type(&h, type, sizeof(type));
    FUZZ_CHECK(strlen(type) < sizeof(type));

    from_response(&h, "fuzz", &r);
    FUZZ_CHECK(r.outcome ==
               (h.status >= 500 || h.status == 429 ? CIN_CA_TRANSIENT : CIN_CA_FAILED));
    check_problem(r.problem);
    cin_ca_result_clear(&r);

    /* as an order (or authorization) the CA declared invalid */
    doc = resp_json(&h);
    if (json_is_object(doc)) {
        char *e = order_error(&a, doc);
        check_problem(e);
        free(e);
    }
    json_decref(doc);

    /* as a certificate download, when the agent would take it (advance()) */
    if (h.status == 200 && h.body && strstr(h.body, "-----BEGIN CERTIFICATE-----")) {
        char *chain;
        a.cfg.preferred_chain = (char *)"Fuzz Preferred Root";
        chain = pick_chain(&a, &h);
        a.cfg.preferred_chain = NULL;
        FUZZ_CHECK(chain != NULL);
        free(chain);
    }
    resp_clear(&h);
    return 0;
}
