/* api_pkcs12.c - POST /api/v1/orders/{id}/pkcs12 {"password"}: the order's key,
 * certificate and chain as a PKCS#12 file (administrators; audited). */
#include <string.h>

#include "cin_util.h"
#include "http_int.h"

void api_order_pkcs12(http_ctx *c, int64_t id)
{
    cin_problem p = {0};
    const char *password = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    char disp[80];

    if (strcmp(c->req->method, "POST")) {
        http_problem(c, 405, "method_not_allowed", "use POST");
        return;
    }
    if (http_body_str(c, "password", 1, &password))
        return;
    if (cin_order_pkcs12(c->st, &c->actor, id, password, &der, &len, &p) != CIN_OK) {
        http_problem_from(c, &p);
        return;
    }
    http_raw(c, 200, "application/x-pkcs12", (char *)der, len);
    snprintf(disp, sizeof(disp), "attachment; filename=\"R-%06lld.p12\"", (long long)id);
    http_header(c->resp, "Content-Disposition", disp);
    c->resp->secret = 1;
}
