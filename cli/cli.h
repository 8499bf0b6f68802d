/* Shared pieces of the arca command line tool (public API only). */
#ifndef ARCA_CLI_H
#define ARCA_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "arca/arca.h"
#include "arca/hub.h"
#include "arca/remote.h"

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
	EXIT_LOCKED = 12,
	EXIT_INTERRUPTED = 13, /* SIGINT/SIGTERM cancelled the operation */
	EXIT_NOTSUP = 14       /* the env's backend cannot do it */
};

/* Prints "arca <cmd>: <library error>" ("arca: ..." when cmd is NULL, for
 * messages that name their operation) and returns the exit status. */
int cli_fail(const char *cmd, int code);
/** Set when the command line holds --json: errors go to stderr as JSON. */
extern int cli_json_errors;
/** The global --quiet: no progress line unless a command asks for one. */
extern int cli_quiet;
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** The '?' of getopt_long (opterr is off): the option at fault, in one line. */
int cli_bad_option(const char *cmd, int argc, char **argv);
int cli_open_store(cli_ctx *ctx, const char *cmd, arca_store **out, int create);
/* The store's path: --store, $ARCA_STORE, $XDG_DATA_HOME/arca or
 * ~/.local/share/arca. NULL, after printing why, when none is usable. */
const char *cli_store_path(cli_ctx *ctx, const char *cmd);
/* Prints "hint: <text>" to stderr: what the user can do about an error. */
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* $name when it is an absolute path, else NULL. */
const char *cli_env_dir(const char *name);
/*
 * Fills what the hub library takes from the caller and the CLI takes from
 * the environment: the token ($ARCA_HUB_TOKEN) unless already set, and for
 * a push (po non-NULL) the cache directory ($XDG_CACHE_HOME/arca/hub, else
 * ~/.cache/arca/hub, into `cache`) unless set, and the author
 * ($GIT_AUTHOR_NAME, $GIT_AUTHOR_EMAIL). Returns 0, or prints why and
 * returns the exit status.
 */
int cli_hub_env(const char *cmd, arca_hub_remote *rm, arca_hub_push_options *po,
		char *cache, size_t ncache);
/* Prints a hint for a failed hub call: how to give a token (naming
 * --token-file when the command has it), or `force_hint` on a conflict. */
void cli_hub_hint(int code, const arca_hub_remote *rm, int token_file, const char *force_hint);
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
/* Length of the valid UTF-8 sequence at p (1-4), or 0 (cli/json.c). */
size_t cli_utf8_len(const unsigned char *p);
/* A name (path) for people: as is, or double-quoted with C escapes when
 * it holds control bytes, invalid UTF-8, a backslash or a leading quote. */
void cli_put_name(FILE *f, const char *s);
/* Free text (a message) for people: control bytes and invalid UTF-8 as
 * octal escapes, the rest as is. */
void cli_put_text(FILE *f, const char *s);

/* Writes the shared fields of one artifact into the current object. */
void json_artifact_fields(json_w *j, const arca_artifact *a);

/* Progress and ^C of one long library call (cli/progress.c). */
enum {
	CLI_PROGRESS_AUTO = 0,  /* no --progress: a line when stderr is a TTY */
	CLI_PROGRESS_LINE = 1,  /* --progress, --progress=line */
	CLI_PROGRESS_JSON = 2,  /* --progress=json: one JSON event a line */
	CLI_PROGRESS_NONE = 3   /* --progress=none, --quiet */
};

typedef struct {
	const char *cmd;
	int show;        /* CLI_PROGRESS_*, AUTO resolved by begin */
	int line_open;   /* that line awaits its newline */
	double t0, last; /* when the phase began; the last line drawn */
	int phase;
} cli_progress;

/* The value of --progress[=line|json|none] (NULL: line) into *show;
 * EXIT_USAGE with a message for another. */
int cli_progress_arg(const char *cmd, const char *arg, int *show);

/* Catches SIGINT and SIGTERM until cli_progress_end: once the operation
 * has called cli_progress_cb, the first one makes that callback cancel it
 * (the library returns ARCA_EUSER); before that, or a second one, has
 * the default effect. */
void cli_progress_begin(cli_progress *cp, const char *cmd, int show);
void cli_progress_end(cli_progress *cp);
/* The arca_progress_cb to pass with a cli_progress as its payload. */
int cli_progress_cb(const arca_progress *p, void *payload);
/* 1 once a signal asked to cancel. */
int cli_interrupted(void);
/* Ends `cp`, prints "arca <cmd>: interrupted; <what>" and returns
 * EXIT_INTERRUPTED. */
int cli_fail_interrupted(cli_progress *cp, const char *what);

/* The output of a diff (cli/cmd_diff.c), shared by diff and env diff:
 * lines or one JSON object; begin, the two callbacks, then end, which
 * prints the summary (or the error) and returns the exit status. */
typedef struct {
	int json;
	json_w j;
} cli_diff_out;
void cli_diff_begin(cli_diff_out *o);
int cli_diff_on_entry(const arca_diff_entry *e, void *payload);
int cli_diff_on_range(uint64_t off, uint64_t len, void *payload);
int cli_diff_end(cli_diff_out *o, const char *cmd, int rc, const arca_diff_stats *st);

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
int cmd_remote(cli_ctx *ctx, int argc, char **argv);
int cmd_push(cli_ctx *ctx, int argc, char **argv);
int cmd_pull(cli_ctx *ctx, int argc, char **argv);
int cmd_export(cli_ctx *ctx, int argc, char **argv);
int cmd_import(cli_ctx *ctx, int argc, char **argv);
int cmd_env(cli_ctx *ctx, int argc, char **argv);

/* Remotes (cli/cmd_push.c): credentials from $AWS_* and $TMPDIR into `o`;
 * a result line or JSON object; --jobs. */
void cli_sync_env(arca_sync_options *o);
/** What differs between push and pull at the command line. */
typedef struct {
	const char *cmd, *done;          /* "push", "pushed" */
	void (*help)(FILE *f);
	int (*run)(arca_sync_result *out, arca_store *s, const char *remote,
		const char *const *refs, size_t n, const arca_sync_options *opts);
	int create_store;                /* pull may start a store */
	const char *interrupted;         /* what ^C leaves */
	const char *conflict_hint;       /* for a ref that would not move forward */
} cli_sync_verb;
/** The push/pull command: options, the call, progress, ^C, the report. */
int cli_sync_run(cli_ctx *ctx, int argc, char **argv, const cli_sync_verb *v);
/** 1 when the store the command would open exists (no message either way). */
int cli_store_exists(cli_ctx *ctx);
void cli_sync_print(const char *verb, int json, const arca_sync_result *r);
int cli_parse_jobs(const char *cmd, const char *arg, unsigned *jobs);

#endif
