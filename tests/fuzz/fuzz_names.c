/*
 * fuzz_names.c - cin_name_normalize() (common/src/names.c) under every flag
 * combination.
 *
 * Input: the name, as bytes (a NUL ends it early, as it would a C string).
 * Besides the sanitizers, each input checks the contract of cin_names.h:
 *   - a refusal has a message and no output; an acceptance has no message;
 *   - an accepted name is lower case, at most 253 characters, has no
 *     trailing dot, and normalising it again gives it back unchanged;
 *   - a flag only ever widens what is accepted, and never changes the result;
 *   - a name accepted without CIN_NAME_PRIVATE is not private, and one
 *     accepted without CIN_NAME_WILDCARD has no "*." label.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cin_names.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_names: %s:%d: %s failed for '%s' (flags %d)\n", __FILE__,        \
                    __LINE__, #cond, in, flags);                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const int all_flags[4] = {0, CIN_NAME_WILDCARD, CIN_NAME_PRIVATE,
                                 CIN_NAME_WILDCARD | CIN_NAME_PRIVATE};

/* Normalise in with flags and check one result; *out is the accepted name. */
static int one(const char *in, int flags, char **out)
{
    char *err = NULL, *again = NULL, *err2 = NULL;
    const char *p;
    int rc = cin_name_normalize(in, flags, out, &err);

    if (rc != 0) {
        CHECK(rc == CIN_EINVAL);
        CHECK(*out == NULL);
        CHECK(err != NULL && *err);
        free(err);
        return rc;
    }
    CHECK(*out != NULL && err == NULL);
    CHECK(strlen(*out) >= 1 && strlen(*out) <= 253);
    CHECK((*out)[strlen(*out) - 1] != '.');
    for (p = *out; *p; p++)
        CHECK(!(*p >= 'A' && *p <= 'Z'));
    CHECK(!cin_name_is_ip(*out));
    if (!(flags & CIN_NAME_WILDCARD))
        CHECK(strncmp(*out, "*.", 2) != 0);
    if (!(flags & CIN_NAME_PRIVATE))
        CHECK(!cin_name_is_private(!strncmp(*out, "*.", 2) ? *out + 2 : *out));
    CHECK(cin_name_matches(*out, *out));
    rc = cin_name_normalize(*out, flags, &again, &err2);
    CHECK(rc == CIN_OK && again && !strcmp(again, *out));
    free(again);
    free(err2);
    return CIN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    char *out[4] = {NULL, NULL, NULL, NULL};
    int rc[4], i, j, flags = 0;

    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    for (i = 0; i < 4; i++)
        rc[i] = one(in, all_flags[i], &out[i]);
    /* more flags accept a superset, with the same result */
    for (i = 0; i < 4; i++) {
        for (j = 0; j < 4; j++) {
            if ((all_flags[i] & all_flags[j]) != all_flags[i] || rc[i] != CIN_OK)
                continue;
            flags = all_flags[j];
            CHECK(rc[j] == CIN_OK && !strcmp(out[i], out[j]));
        }
    }
    for (i = 0; i < 4; i++)
        free(out[i]);
    free(in);
    return 0;
}
