/* arca: command line front end. Uses only the public API in include/arca. */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

static const struct command {
	const char *name;
	int (*fn)(cli_ctx *, int, char **);
	const char *summary;
} commands[] = {
	{ "snapshot", cmd_snapshot, "store a directory tree or disk image as an artifact" },
	{ "restore", cmd_restore, "restore an artifact into a new directory or file" },
	{ "rollback", cmd_rollback, "reset an existing directory or image to an artifact, in place" },
	{ "diff", cmd_diff, "what changed between artifacts, or against a live tree/image" },
	{ "ls", cmd_ls, "list artifacts" },
	{ "show", cmd_show, "show one artifact's metadata" },
	{ "hub", cmd_hub, "push a workspace to a branch on a git Hub; clone or pull it" },
	{ "remote", cmd_remote, "name, list or forget remotes (directory, S3, HTTP)" },
	{ "push", cmd_push, "upload artifacts and move refs on a remote" },
	{ "pull", cmd_pull, "fetch artifacts and refs from a remote" },
	{ "export", cmd_export, "write refs and what they need to one bundle file (tar)" },
	{ "import", cmd_import, "check a bundle and add its artifacts and refs" },
	{ "env", cmd_env, "make environments from artifacts; exec, snapshot, reset them" },
	{ "stats", cmd_stats, "store size, dedup and compression figures" },
	{ "verify", cmd_verify, "re-read and re-hash every chunk; name damaged artifacts" },
	{ "repair", cmd_repair, "rebuild the index from the packs; mark and name lost data" },
	{ "tag", cmd_tag, "set, move, delete or list NAME:TAG refs" },
	{ "log", cmd_log, "show an artifact's parent chain" },
	{ "rm", cmd_rm, "remove artifacts (their data goes at the next gc)" },
	{ "prune", cmd_prune, "remove all but the newest N artifacts of each name" },
	{ "gc", cmd_gc, "reclaim unreferenced chunks and compact pack files" },
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] [--wait SECONDS | --no-wait] <command> [options]\n"
		"\n"
		"arca stores directory trees and VM disk images as deduplicated,\n"
		"compressed, content-addressed artifacts.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\n"
		"Run 'arca <command> --help' for a command's options.\n"
		"\n"
		"Global options:\n"
		"  --store DIR   the store (default: $ARCA_STORE, else $XDG_DATA_HOME/arca,\n"
		"                else ~/.local/share/arca; an error when none is set, as\n"
		"                absolute paths); also accepted after the command\n"
		"  --wait SECONDS  give up after waiting SECONDS for another process\n"
		"                that is writing to the store (default: wait)\n"
		"  --no-wait     fail at once when another process is writing\n"
		"  -q, --quiet   no progress line (as --progress=none), whatever the command\n"
		"  --version     print the version, and those of the libraries it runs with\n"
		"\n"
		"References (REF): an artifact id (art_<hex>), a unique prefix of at least\n"
		"8 hex digits, NAME:TAG, or NAME (meaning NAME:latest).\n"
		"\n"
		"Exit status: 0 ok, 1 error, 2 usage, 3 not found, 4 damaged data,\n"
		"5 destination exists (or, for push and pull, a ref would not move\n"
		"forward: see --force), 6 ambiguous reference, 7 unsafe path, 8 no space,\n"
		"9 artifact still referenced by a tag, 10 authentication failed,\n"
		"11 conflict (the hub branch moved or history diverged), 12 the store is\n"
		"locked by another writer (see --wait), 13 interrupted (SIGINT or SIGTERM\n"
		"during snapshot, restore, rollback, gc, verify, push, pull, export or\n"
		"import: the operation was cancelled cleanly), 14 not supported by the\n"
		"env's backend.\n");
}

int cli_json_errors;
int cli_quiet;

/* An error on stderr: "arca CMD: MSG" or, when the command was given
 * --json, {"error": {"code": EXIT, "name": ..., "command": ..., "message": ...}}. */
static void report(const char *cmd, int exit_code, const char *msg)
{
	static const char *const names[] = { "ok", "error", "usage", "notfound", "corrupt",
		"exists", "ambiguous", "unsafe", "nospace", "referenced", "auth", "conflict",
		"locked", "interrupted", "notsup" };
	if (!cli_json_errors) {
		if (cmd)
			fprintf(stderr, "arca %s: ", cmd);
		else
			fputs("arca: ", stderr);
		cli_put_text(stderr, msg);
		fputc('\n', stderr);
		return;
	}
	json_w j;
	json_init(&j, stderr);
	json_obj_begin(&j, NULL);
	json_obj_begin(&j, "error");
	json_i64(&j, "code", exit_code);
	json_str(&j, "name", exit_code >= 0 && exit_code < (int)(sizeof(names) / sizeof(names[0])) ?
		names[exit_code] : "error");
	if (cmd)
		json_str(&j, "command", cmd);
	json_str(&j, "message", msg);
	json_obj_end(&j);
	json_obj_end(&j); /* ends the line */
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	char msg[2048];
	int n;
	/* one line: what was wrong and where the help is */
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, " (see 'arca %s --help')", cmd);
	report(cmd, EXIT_USAGE, msg);
	return EXIT_USAGE;
}

int cli_bad_option(const char *cmd, int argc, char **argv)
{
	/* getopt_long (opterr off) leaves the culprit at argv[optind - 1]:
	 * optopt is 0 for an unknown long option, the option's value for one
	 * that lacks its argument or (with '=') has one it does not take */
	const char *arg = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "?";
	if (arg[0] == '-' && arg[1] == '-') {
		if (!optopt)
			return cli_usage_error(cmd, "unknown option '%s'", arg);
		if (strchr(arg, '='))
			return cli_usage_error(cmd, "option '%.*s' takes no value",
				(int)(strchr(arg, '=') - arg), arg);
		return cli_usage_error(cmd, "option '%s' needs a value", arg);
	}
	return cli_usage_error(cmd, "bad option '-%c' (unknown, or missing its value)",
		optopt ? optopt : '?');
}

static int exit_of(int code)
{
	switch (code) {
	case ARCA_EINVAL: return EXIT_USAGE;
	case ARCA_ENOTFOUND: return EXIT_NOTFOUND;
	case ARCA_ECORRUPT: return EXIT_CORRUPT;
	case ARCA_EEXISTS: return EXIT_EXISTS;
	case ARCA_EAMBIGUOUS: return EXIT_AMBIGUOUS;
	case ARCA_EUNSAFE: return EXIT_UNSAFE;
	case ARCA_ENOSPC: return EXIT_NOSPACE;
	case ARCA_EREFERENCED: return EXIT_REFERENCED;
	case ARCA_EAUTH: return EXIT_AUTH;
	case ARCA_ECONFLICT: return EXIT_CONFLICT;
	case ARCA_ELOCKED: return EXIT_LOCKED;
	case ARCA_EUSER: return EXIT_INTERRUPTED;
	case ARCA_ENOTSUP: return EXIT_NOTSUP;
	default: return EXIT_FAIL;
	}
}

int cli_fail(const char *cmd, int code)
{
	int e = exit_of(code);
	report(cmd, e, arca_error_last());
	return e;
}

int cli_parse_common(cli_ctx *ctx, const char *cmd, int argc, char **argv,
		void (*help)(FILE *), int *json, int min, int max)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c, n;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': *json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option(cmd, argc, argv);
		}
	}
	n = argc - optind;
	if (n < min || n > max) {
		if (max == 0)
			return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
		return cli_usage_error(cmd, "expected %d argument%s", max, max == 1 ? "" : "s");
	}
	return -1;
}

void cli_hint(const char *fmt, ...)
{
	va_list ap;
	if (cli_json_errors)
		return; /* stderr holds one JSON error, nothing else */
	fprintf(stderr, "hint: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* An environment variable naming a directory, ignored unless it is an
 * absolute path (as the XDG base directory spec asks of XDG_*). */
const char *cli_env_dir(const char *name)
{
	const char *e = getenv(name);
	return e && e[0] == '/' ? e : NULL;
}

static char default_store[4096];

/* NULL when there is no store location: never a store under ".". */
static const char *store_default(void)
{
	const char *e = getenv("ARCA_STORE");
	int n;
	if (e && *e)
		return e;
	if ((e = cli_env_dir("XDG_DATA_HOME")) != NULL)
		n = snprintf(default_store, sizeof(default_store), "%s/arca", e);
	else if ((e = cli_env_dir("HOME")) != NULL)
		n = snprintf(default_store, sizeof(default_store), "%s/.local/share/arca", e);
	else
		return NULL;
	return n > 0 && (size_t)n < sizeof(default_store) ? default_store : NULL;
}

const char *cli_store_path(cli_ctx *ctx, const char *cmd)
{
	const char *p = ctx->store_path ? ctx->store_path : store_default();
	if (!p)
		fprintf(stderr, "arca %s: no store location: pass --store DIR, or set ARCA_STORE, "
			"or XDG_DATA_HOME or HOME to an absolute path\n", cmd);
	return p;
}

static void on_wait(long pid, double waited_s, void *payload)
{
	(void)waited_s;
	(void)payload;
	fprintf(stderr, "arca: waiting for the store's writer (pid %ld)...\n", pid);
}

int cli_store_exists(cli_ctx *ctx)
{
	const char *path = ctx->store_path ? ctx->store_path : store_default();
	char idx[4096];
	struct stat st;
	return path && (size_t)snprintf(idx, sizeof(idx), "%s/index.lmdb", path) < sizeof(idx) &&
		stat(idx, &st) == 0;
}

int cli_open_store(cli_ctx *ctx, const char *cmd, arca_store **out, int create)
{
	arca_store_options o = ARCA_STORE_OPTIONS_INIT;
	const char *path = cli_store_path(ctx, cmd);
	int rc;
	if (!path)
		return EXIT_USAGE;
	o.no_create = !create;
	o.lock_timeout_ms = ctx->lock_timeout_ms;
	o.on_wait = on_wait;
	if ((rc = arca_store_open(out, path, &o)) != 0)
		return cli_fail(cmd, rc);
	return 0;
}

void cli_human_size(char *out, size_t n, uint64_t v)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)v;
	int u = 0;
	while (d >= 1024 && u < 5) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%llu B", (unsigned long long)v);
	else
		snprintf(out, n, "%.1f %s", d, units[u]);
}

void cli_format_time(char *out, size_t n, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Trees are walked with one open directory per level (paths up to 4095
 * bytes: 2048 levels), plus the packs: a soft limit of 1024 descriptors
 * would fail on deep trees that the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	cli_ctx ctx = { NULL, "arca", -1 };
	int i = 1;

	raise_fd_limit();
	/* --json anywhere in the command's options (not in an exec's command)
	 * makes errors JSON too */
	for (int k = 1; k < argc && strcmp(argv[k], "--"); k++)
		if (!strcmp(argv[k], "--json"))
			cli_json_errors = 1;
	opterr = 0; /* each command reports a bad option itself, in one line */

	while (i < argc && argv[i][0] == '-') {
		const char *wait = !strcmp(argv[i], "--wait") ? (i + 1 < argc ? argv[i + 1] : "") :
			!strncmp(argv[i], "--wait=", 7) ? argv[i] + 7 : NULL;
		if (wait) {
			char *end;
			double sec = strtod(wait, &end);
			if (!*wait || *end || !(sec >= 0)) {
				fprintf(stderr, "arca: --wait needs a number of seconds\n");
				return EXIT_USAGE;
			}
			/* milliseconds in an int: more would overflow into "forever" */
			if (sec * 1000 > INT_MAX) {
				fprintf(stderr, "arca: --wait takes at most %d seconds\n", INT_MAX / 1000);
				return EXIT_USAGE;
			}
			ctx.lock_timeout_ms = (int)(sec * 1000);
			i += argv[i][6] == '=' ? 1 : 2;
		} else if (!strcmp(argv[i], "--no-wait")) {
			ctx.lock_timeout_ms = 0;
			i++;
		} else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q")) {
			cli_quiet = 1;
			i++;
		} else if (!strcmp(argv[i], "--store") && i + 1 >= argc) {
			fprintf(stderr, "arca: --store needs a directory (see 'arca --help')\n");
			return EXIT_USAGE;
		} else if (!strcmp(argv[i], "--store")) {
			ctx.store_path = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--store=", 8)) {
			ctx.store_path = argv[i] + 8;
			i++;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			static const char *const deps[] = { "zstd", "lmdb", "openssl", "libgit2",
				"libcurl", "libarchive" };
			printf("arca %s\n", arca_version());
			for (size_t d = 0; d < sizeof(deps) / sizeof(deps[0]); d++)
				if (arca_dependency_version(deps[d]))
					printf("%s %s\n", deps[d], arca_dependency_version(deps[d]));
			return 0;
		} else {
			fprintf(stderr, "arca: unknown option '%s' (see 'arca --help')\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* `arca help CMD` is `arca CMD --help` */
	if (!strcmp(argv[i], "help")) {
		if (i + 1 >= argc) {
			usage(stdout);
			return 0;
		}
		for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
			if (!strcmp(argv[i + 1], commands[c].name)) {
				char *hv[] = { argv[i + 1], "--help", NULL };
				return commands[c].fn(&ctx, 2, hv);
			}
		fprintf(stderr, "arca: '%s' is not a command (see 'arca --help')\n", argv[i + 1]);
		return EXIT_USAGE;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(argv[i], commands[c].name))
			return commands[c].fn(&ctx, argc - i, argv + i);
	fprintf(stderr, "arca: '%s' is not a command. See 'arca --help'.\n", argv[i]);
	return EXIT_USAGE;
}
