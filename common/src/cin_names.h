/*
 * cin_names.h - DNS names as orders accept them (API.md, Input rules).
 */
#ifndef CIN_NAMES_H
#define CIN_NAMES_H

#include "cin_common.h"

#define CIN_NAME_WILDCARD 1 /* "*." allowed as the whole leftmost label */
#define CIN_NAME_PRIVATE  2 /* single-label and reserved names allowed */

/*
 * Check and normalise one name: lower-cased LDH labels of 1-63 characters
 * (no leading or trailing hyphen), punycode ("xn--") for IDNs, at most 253
 * characters in all, a trailing dot dropped.  IP literals are refused.
 * *out is malloc'd on CIN_OK; on CIN_EINVAL *err says what to fix.
 */
int cin_name_normalize(const char *in, int flags, char **out, char **err);
/* 1 when name is single-label or under .test .example .invalid .localhost
 * .internal .lan (accepted by intranet products only). */
int cin_name_is_private(const char *name);
/* 1 when name looks like an IPv4 or IPv6 literal. */
int cin_name_is_ip(const char *name);
/* 1 when pattern (exact or "*.parent") covers name. */
int cin_name_matches(const char *pattern, const char *name);

#endif
