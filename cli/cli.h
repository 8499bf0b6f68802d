/* Shared pieces of the arca command line tool (public API only). */
#ifndef ARCA_CLI_H
#define ARCA_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "arca/arca.h"

typedef struct {
	const char *store_path;
	const char *prog;
	int lock_timeout_ms;  /* --wait / --no-wait; -1 = forever */
} cli_ctx;

/* Exit statuses (documented in `arca --help`). */
enum {
	EXIT_OK_ = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_NOTFOUND = 3,
	EXIT_CORRUPT = 4,
	EXIT_EXISTS = 5,
	EXIT_AMBIGUOUS = 6,
	EXIT_UNSAFE = 7,
	EXIT_NOSPACE = 8,
	EXIT_REFERENCED = 9,
	EXIT_AUTH = 10,
	EXIT_CONFLICT = 11,
	EXIT_LOCKED = 12
};

/* Prints "arca <cmd>: <library error>" ("arca: ..." when cmd is NULL, for
 * messages that name their operation) and returns the exit status. */
int cli_fail(const char *cmd, int code);
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_open_store(cli_ctx *ctx, const char *cmd, arca_store **out, int create);
const char *cli_store_path(cli_ctx *ctx);
void cli_human_size(char *out, size_t n, uint64_t v);
void cli_format_time(char *out, size_t n, int64_t ns);
/*
 * Parses the options of commands that take only --json, --store and
 * --help, and checks that between `min` and `max` positional arguments
 * follow (they start at argv[optind]). Returns -1 to go on, or the exit
 * status to return.
 */
int cli_parse_common(cli_ctx *ctx, const char *cmd, int argc, char **argv,
		void (*help)(FILE *), int *json, int min, int max);

typedef struct {
	FILE *f;
	int depth;
	int need_comma[32];
} json_w;

void json_init(json_w *j, FILE *f);
void json_obj_begin(json_w *j, const char *key);
void json_obj_end(json_w *j);
void json_arr_begin(json_w *j, const char *key);
void json_arr_end(json_w *j);
void json_str(json_w *j, const char *key, const char *v);
void json_u64(json_w *j, const char *key, uint64_t v);
void json_i64(json_w *j, const char *key, int64_t v);
void json_num(json_w *j, const char *key, double v);
void json_bool(json_w *j, const char *key, int v);
void json_null(json_w *j, const char *key);
void json_id(json_w *j, const char *key, const arca_id *id);
/* Writes the shared fields of one artifact into the current object. */
void json_artifact_fields(json_w *j, const arca_artifact *a);

int cmd_snapshot(cli_ctx *ctx, int argc, char **argv);
int cmd_restore(cli_ctx *ctx, int argc, char **argv);
int cmd_ls(cli_ctx *ctx, int argc, char **argv);
int cmd_show(cli_ctx *ctx, int argc, char **argv);
int cmd_stats(cli_ctx *ctx, int argc, char **argv);
int cmd_verify(cli_ctx *ctx, int argc, char **argv);
int cmd_repair(cli_ctx *ctx, int argc, char **argv);
int cmd_tag(cli_ctx *ctx, int argc, char **argv);
int cmd_log(cli_ctx *ctx, int argc, char **argv);
int cmd_rm(cli_ctx *ctx, int argc, char **argv);
int cmd_prune(cli_ctx *ctx, int argc, char **argv);
int cmd_gc(cli_ctx *ctx, int argc, char **argv);
int cmd_rollback(cli_ctx *ctx, int argc, char **argv);
int cmd_diff(cli_ctx *ctx, int argc, char **argv);
int cmd_hub(cli_ctx *ctx, int argc, char **argv);

#endif
