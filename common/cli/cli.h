/* cli.h - what the certinext command's files share. */
#ifndef CIN_CLI_H
#define CIN_CLI_H

#include <getopt.h>
#include <stdarg.h>

#include <jansson.h>

#include "cin_account.h"
#include "cin_store.h"
#include "cin_store_order.h"

/* The CLI acts as the provider. */
extern const cin_actor cli_actor;
/* Print the problem's sentence to stderr; returns 1 (the exit code). */
int cli_problem(cin_problem *p);

const char *cli_store_path(void);
void cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One line from stdin, line ending dropped; NULL when there is none (a
 * secret typed or piped in, never in argv). */
char *read_password_line(void);
int cli_open(cin_store **st);
int cli_parse_int(const char *s, long long min, long long max, long long *out);
/* Parse --store, --help and the extra options (on_opt gets each); returns 0
 * to go on, 1 after --help was printed, 2 on a usage error. */
int cli_getopt(int argc, char **argv, const char *usage, const struct option *extra,
               int (*on_opt)(int c, const char *arg, void *ud), void *ud);

int cli_init_ca(cin_store *st, char **err);
void cli_remove_store(const char *path, const char *key_file);
int cli_valid_status(const char *s);
json_t *cli_order_json(cin_store *st, const cin_order *o);

int cli_cmd_agent(int argc, char **argv);
int cli_cmd_ca(int argc, char **argv);
int cli_cmd_product(int argc, char **argv);
int cli_cmd_settings(int argc, char **argv);
int cli_cmd_notifications(int argc, char **argv); /* issue 15 (cli_notify.c) */
int cli_cmd_acme(int argc, char **argv);          /* cli_acme.c (issue 13) */
int cli_account_autossl(cin_store *st, const char *account, const char *auto_product, int www,
                        cin_problem *p); /* cli_import.c (AutoSSL policy) */
int cli_cmd_import(int argc, char **argv);

#endif
