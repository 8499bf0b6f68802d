/* arca hub push | clone | pull */
#include "cli.h"
#include "arca/hub.h"
#include "arca/remote.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca hub push PATH --url URL --branch BRANCH [--message MSG] [--force]\n"
		"                [--exclude PATTERN]... [--no-default-excludes] [--json]\n"
		"       arca hub clone URL --branch BRANCH DEST\n"
		"       arca hub pull [PATH] [--url URL]\n"
		"   all: [--user USER] [--token-file FILE] [--cache DIR] [--progress[=M]]\n"
		"\n"
		"push builds a commit whose tree is the workspace at PATH (files with their\n"
		"executable bit, symlinks; empty directories are dropped) on top of BRANCH's\n"
		"tip on the Hub, and pushes it. PATH need not be a git repository; if it is,\n"
		"its .gitignore rules apply. Always excluded: .git; by default also\n"
		"__pycache__ *.pyc .venv venv node_modules *.egg-info .pytest_cache\n"
		".mypy_cache .DS_Store *.swp *.swo, plus patterns in PATH/.arcaignore and\n"
		"--exclude (gitignore-like: NAME anywhere, a/b or /a from the root, trailing /\n"
		"for directories; no '!' and no '**'). An unchanged tree pushes nothing. If\n"
		"BRANCH moved on the Hub meanwhile, the push is refused (exit 11) unless\n"
		"--force.\n"
		"clone checks out BRANCH into the new directory DEST; pull fast-forwards a\n"
		"clone to the Hub's tip (refusing to overwrite local changes).\n"
		"\n"
		"Credentials: the first line of --token-file, else $ARCA_HUB_TOKEN, sent as\n"
		"HTTP basic auth with user USER (default arca). It is never printed. A\n"
		"rejected token fails at once (exit 10).\n"
		"The local object cache is --cache DIR, else $XDG_CACHE_HOME/arca/hub, else\n"
		"~/.cache/arca/hub. Commits are authored by $GIT_AUTHOR_NAME and\n"
		"$GIT_AUTHOR_EMAIL (default arca <arca@localhost>).\n"
		"Progress of the objects sent or received: a live line on stderr when it is\n"
		"a terminal; --progress=json for events, --progress=none for none.\n\n"
		"Examples:\n"
		"  arca hub push ~/work/app --url https://hub.example/me/app.git --branch wip\n"
		"  arca hub clone https://hub.example/me/app.git --branch wip ~/app\n");
}

int cli_hub_env(const char *cmd, arca_hub_remote *rm, arca_hub_push_options *po,
		char *cache, size_t ncache)
{
	const char *e;
	int n = -1;
	if (!rm->token)
		rm->token = getenv("ARCA_HUB_TOKEN");
	if (!po)
		return 0;
	if (!po->cache_dir) {
		if ((e = cli_env_dir("XDG_CACHE_HOME")) != NULL)
			n = snprintf(cache, ncache, "%s/arca/hub", e);
		else if ((e = cli_env_dir("HOME")) != NULL)
			n = snprintf(cache, ncache, "%s/.cache/arca/hub", e);
		if (n < 0 || (size_t)n >= ncache) {
			fprintf(stderr, "arca %s: no hub cache directory: %s"
				"set XDG_CACHE_HOME or HOME to an absolute path\n", cmd,
				!strcmp(cmd, "hub") ? "pass --cache DIR, or " : "");
			return EXIT_USAGE;
		}
		po->cache_dir = cache;
	}
	if ((e = getenv("GIT_AUTHOR_NAME")) != NULL && *e)
		po->author_name = e;
	if ((e = getenv("GIT_AUTHOR_EMAIL")) != NULL && *e)
		po->author_email = e;
	return 0;
}

void cli_hub_hint(int code, const arca_hub_remote *rm, int token_file, const char *force_hint)
{
	if (code == ARCA_EAUTH && (!rm->token || !*rm->token))
		cli_hint("%s", token_file ? "pass --token-file FILE, or set ARCA_HUB_TOKEN to the Hub's token" :
			"set ARCA_HUB_TOKEN to the Hub's token");
	else if (code == ARCA_ECONFLICT && force_hint)
		cli_hint("%s", force_hint);
}

static char *read_token(const char *file)
{
	char buf[4096];
	FILE *f = fopen(file, "r");
	size_t n;
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

/* libgit2's transfer progress as the other commands' (cli/progress.c):
 * objects as items, their bytes as bytes done. */
static int show_progress(arca_hub_stage_t stage, uint64_t cur, uint64_t total, uint64_t bytes,
		void *payload)
{
	arca_progress p;
	memset(&p, 0, sizeof(p));
	p.version = 1;
	p.phase = stage == ARCA_HUB_PUSH ? ARCA_PROGRESS_UPLOAD : ARCA_PROGRESS_DOWNLOAD;
	p.phase_name = stage == ARCA_HUB_PUSH ? "upload" : "download";
	p.items_done = cur;
	p.items_total = total;
	p.bytes_done = bytes;
	p.phase_end = total && cur == total;
	return cli_progress_cb(&p, payload);
}

int cmd_hub(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "branch", required_argument, NULL, 'b' },
		{ "message", required_argument, NULL, 'm' },
		{ "force", no_argument, NULL, 'f' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "no-default-excludes", no_argument, NULL, 'N' },
		{ "user", required_argument, NULL, 'U' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "cache", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_hub_remote remote = ARCA_HUB_REMOTE_INIT;
	arca_hub_push_options po = ARCA_HUB_PUSH_OPTIONS_INIT;
	const char **ex = calloc((size_t)argc + 1, sizeof(char *));
	char *token = NULL, cache[4096];
	const char *verb;
	int json = 0, show = CLI_PROGRESS_AUTO, c, rc = 0, status = 0, n;
	cli_progress cp;

	if (!ex)
		return EXIT_FAIL;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		help(argc < 2 ? stderr : stdout);
		free(ex);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	verb = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'u': remote.url = optarg; break;
		case 'b': po.branch = optarg; break;
		case 'm': po.message = optarg; break;
		case 'f': po.force = 1; break;
		case 'x': ex[po.nexcludes++] = optarg; break;
		case 'N': po.no_default_excludes = 1; break;
		case 'U': remote.user = optarg; break;
		case 'T':
			free(token);
			if (!(token = read_token(optarg))) {
				free(ex);
				fprintf(stderr, "arca hub: cannot read token file %s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'C': po.cache_dir = optarg; break;
		case 'j': json = 1; break;
		case 'P':
			if (cli_progress_arg("hub", optarg, &show) != 0) {
				free(ex);
				free(token);
				return EXIT_USAGE;
			}
			break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); free(ex); free(token); return 0;
		default: free(ex); free(token); return cli_bad_option("hub", argc, argv);
		}
	}
	po.excludes = ex;
	remote.token = token;
	cli_progress_begin(&cp, "hub", show);
	remote.progress = show_progress;
	remote.payload = &cp;
	n = argc - optind;

	if (!strcmp(verb, "push")) {
		arca_hub_push_result r = ARCA_HUB_PUSH_RESULT_INIT;
		if (n != 1 || !remote.url || !po.branch) {
			status = cli_usage_error("hub", "push needs PATH, --url and --branch");
			goto out;
		}
		if ((status = cli_hub_env("hub", &remote, &po, cache, sizeof(cache))) != 0)
			goto out;
		if ((rc = arca_hub_push(&r, argv[optind], &remote, &po)) != 0) {
			status = cli_fail(NULL, rc);
			cli_hub_hint(rc, &remote, 1, po.force ? NULL :
				"'arca hub push --force' overwrites the Hub's branch with this tree");
			goto out;
		}
		if (json) {
			json_w j;
			json_init(&j, stdout);
			json_obj_begin(&j, NULL);
			json_str(&j, "commit", r.commit);
			json_str(&j, "parent", r.parent[0] ? r.parent : NULL);
			json_str(&j, "branch", po.branch);
			json_bool(&j, "pushed", r.pushed);
			json_u64(&j, "files", r.files);
			json_u64(&j, "excluded", r.excluded);
			json_u64(&j, "objects_sent", r.objects_sent);
			json_u64(&j, "bytes_sent", r.bytes_sent);
			json_obj_end(&j);
		} else {
			printf("%s\n", r.commit);
			if (r.pushed)
				fprintf(stderr, "hub push: %s -> %s (%llu files, %llu objects sent)\n",
					r.commit, po.branch, (unsigned long long)r.files,
					(unsigned long long)r.objects_sent);
			else
				fprintf(stderr, "hub push: tree unchanged; %s is already at %s, nothing pushed\n",
					po.branch, r.commit);
		}
	} else if (!strcmp(verb, "clone")) {
		if (n != 2 || !po.branch) {
			status = cli_usage_error("hub", "clone needs URL, --branch and DEST");
			goto out;
		}
		remote.url = argv[optind];
		cli_hub_env("hub", &remote, NULL, NULL, 0);
		if ((rc = arca_hub_clone(argv[optind + 1], po.branch, &remote)) != 0) {
			status = cli_fail(NULL, rc);
			cli_hub_hint(rc, &remote, 1, NULL);
		}
	} else if (!strcmp(verb, "pull")) {
		char commit[41];
		if (n > 1) {
			status = cli_usage_error("hub", "pull takes at most one PATH");
			goto out;
		}
		cli_hub_env("hub", &remote, NULL, NULL, 0);
		if ((rc = arca_hub_pull(n ? argv[optind] : ".", &remote, commit)) != 0) {
			status = cli_fail(NULL, rc);
			cli_hub_hint(rc, &remote, 1, NULL);
		} else
			printf("%s\n", commit);
	} else {
		status = cli_usage_error("hub", "unknown hub command '%s' (push, clone, pull)", verb);
	}
out:
	cli_progress_end(&cp);
	if (token) {
		memset(token, 0, strlen(token));
		free(token);
	}
	free(ex);
	return status;
}
