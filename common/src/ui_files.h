/* ui_files.h - the embedded web page files (generated table in build/gen/ui_data.c). */
#ifndef CIN_UI_FILES_H
#define CIN_UI_FILES_H

#include <stddef.h>

struct cin_ui_file {
    const char *path; /* "/index.html" */
    const char *type;
    const char *etag; /* quoted */
    const unsigned char *data;
    size_t len;
};

/* Ends with an entry whose path is NULL. */
extern const struct cin_ui_file cin_ui_files[];

#endif
