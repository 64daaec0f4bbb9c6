/* names.c - validation and normalisation of DNS names in orders. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cin_names.h"
#include "cin_util.h"

int cin_name_is_ip(const char *name)
{
    unsigned char buf[16];
    const char *p = name;
    char tmp[64];
    size_t len = strlen(name);

    if (len >= 2 && name[0] == '[' && name[len - 1] == ']' && len - 2 < sizeof(tmp)) {
        memcpy(tmp, name + 1, len - 2);
        tmp[len - 2] = '\0';
        p = tmp;
    }
    if (inet_pton(AF_INET, p, buf) == 1 || inet_pton(AF_INET6, p, buf) == 1)
        return 1;
    /* all-numeric dotted forms (e.g. "10.1") are not valid host names either */
    for (p = name; *p; p++)
        if (!isdigit((unsigned char)*p) && *p != '.')
            return 0;
    return strchr(name, '.') != NULL;
}

int cin_name_is_private(const char *name)
{
    static const char *const reserved[] = {"test",      "example",  "invalid",
                                           "localhost", "internal", "lan"};
    const char *tld = strrchr(name, '.');
    size_t i;

    if (!tld)
        return 1; /* single label */
    tld++;
    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(tld, reserved[i]) == 0)
            return 1;
    return 0;
}

int cin_name_normalize(const char *in, int flags, char **out, char **err)
{
    char *n = NULL, *label;
    size_t len, i, llen;
    int wildcard = 0;

    *out = NULL;
    if (!in || !*in) {
        cin_seterr(err, "a name is empty");
        return CIN_EINVAL;
    }
    len = strlen(in);
    if (len > 254) {
        cin_seterr(err, "name is longer than 253 characters");
        return CIN_EINVAL;
    }
    n = strdup(in);
    if (!n)
        return CIN_ENOMEM;
    for (i = 0; i < len; i++)
        n[i] = (char)tolower((unsigned char)n[i]);
    if (len > 1 && n[len - 1] == '.')
        n[--len] = '\0';
    if (len > 253) {
        cin_seterr(err, "name '%s' is longer than 253 characters", in);
        goto bad;
    }
    if (cin_name_is_ip(n)) {
        cin_seterr(err, "'%s' is an IP address; certificates here are for DNS names", in);
        goto bad;
    }
    label = n;
    if (strncmp(n, "*.", 2) == 0) {
        if (!(flags & CIN_NAME_WILDCARD)) {
            cin_seterr(err, "'%s': this product does not allow wildcard names", in);
            goto bad;
        }
        wildcard = 1;
        label = n + 2;
    }
    if (!*label) {
        cin_seterr(err, "'%s' is not a valid DNS name", in);
        goto bad;
    }
    while (label) {
        char *dot = strchr(label, '.');
        llen = dot ? (size_t)(dot - label) : strlen(label);
        if (llen == 0) {
            cin_seterr(err, "'%s' has an empty label (two dots in a row or a leading dot)", in);
            goto bad;
        }
        if (llen > 63) {
            cin_seterr(err, "'%s' has a label longer than 63 characters", in);
            goto bad;
        }
        for (i = 0; i < llen; i++) {
            char c = label[i];
            if (c == '*') {
                cin_seterr(err, "'%s': '*' is allowed only as the whole leftmost label", in);
                goto bad;
            }
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
                cin_seterr(err,
                           "'%s' contains '%c': use letters, digits and hyphens (punycode "
                           "xn-- for international names)",
                           in, c);
                goto bad;
            }
        }
        if (label[0] == '-' || label[llen - 1] == '-') {
            cin_seterr(err, "'%s' has a label that starts or ends with a hyphen", in);
            goto bad;
        }
        label = dot ? dot + 1 : NULL;
    }
    if (!(flags & CIN_NAME_PRIVATE) && cin_name_is_private(wildcard ? n + 2 : n)) {
        cin_seterr(err,
                   "'%s' is a private or reserved name; only the intranet-ssl product "
                   "accepts it",
                   in);
        goto bad;
    }
    if (wildcard && !strchr(n + 2, '.') && !(flags & CIN_NAME_PRIVATE)) {
        cin_seterr(err, "'%s': a wildcard needs a registered parent domain", in);
        goto bad;
    }
    *out = n;
    return CIN_OK;
bad:
    free(n);
    return CIN_EINVAL;
}

int cin_name_matches(const char *pattern, const char *name)
{
    const char *dot;

    if (strcmp(pattern, name) == 0)
        return 1;
    if (strncmp(pattern, "*.", 2) != 0)
        return 0;
    dot = strchr(name, '.');
    return dot && dot != name && strcmp(dot + 1, pattern + 2) == 0;
}
