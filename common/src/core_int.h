/* core_int.h - what the core's own files may ask of a cin_core; not a public header. */
#ifndef CIN_CORE_INT_H
#define CIN_CORE_INT_H

#include "cin_core.h"
#include "cin_hostcache.h"

/* The configuration the core was made with (strings are the core's copies). */
const cin_core_config *cin_core_config_of(const cin_core *core);
/* Where mirror.c keeps this process's syncer state. */
void **cin_core_mirror_slot(cin_core *core);
/* The host id's buffer (33 bytes), filled by cin_mirror_prepare. */
char *cin_core_host_id_slot(cin_core *core);

/* The shared cache of what handshakes' cache misses read (cin_hostcache.h),
 * or NULL. */
cin_hostcache *cin_core_hostcache(const cin_core *core);

#endif
