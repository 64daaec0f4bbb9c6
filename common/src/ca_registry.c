/*
 * ca_registry.c - the CA connectors by kind ("local": ca_local.c, "acme":
 * acme*.c), a CA's kind from the store, and the result every connector fills.
 */
#include <stdlib.h>
#include <string.h>

#include "cin_ca.h"
#include "cin_store_ca.h"

void cin_ca_result_clear(cin_ca_result *r)
{
    if (!r)
        return;
    free(r->chain_pem);
    cin_problem_clear(&r->problem);
    memset(r, 0, sizeof(*r));
}

const cin_ca_ops *cin_ca_ops_for(const char *kind)
{
    if (kind && !strcmp(kind, "local"))
        return &cin_ca_local_ops;
    if (kind && !strcmp(kind, "acme"))
        return &cin_ca_acme_ops;
    return NULL;
}

int cin_store_ca_kind(cin_store *st, const char *ca_name, char **kind)
{
    cin_ca_config c;
    int rc = cin_store_ca_get(st, ca_name, &c);

    *kind = NULL;
    if (rc != CIN_OK)
        return rc;
    *kind = c.kind;
    c.kind = NULL;
    cin_ca_config_clear(&c);
    return CIN_OK;
}
