#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] push REMOTE REF... [--jobs N] [--force]\n"
		"                                [--progress[=M]] [--json]\n"
		"\n"
		"Uploads what REMOTE (a name from 'arca remote add', or a URL) lacks of each\n"
		"REF and moves the remote's refs: NAME:TAG and NAME (NAME:latest) move that\n"
		"ref, an artifact id uploads the artifact only. Data goes first, refs last,\n"
		"so an interrupted push leaves no ref pointing at missing data, and running\n"
		"it again sends only what is still missing. A remote ref that moved to an\n"
		"artifact ours does not descend from is refused (exit status 5) unless\n"
		"--force. S3 credentials come from $AWS_ACCESS_KEY_ID,\n"
		"$AWS_SECRET_ACCESS_KEY and $AWS_SESSION_TOKEN; pack objects are built in\n"
		"$TMPDIR (else /tmp).\n"
		"\n"
		"  --jobs N     parallel uploads (default 4)\n"
		"  --force      move refs even when the remote moved them meanwhile\n"
		"  --progress[=line|json|none]\n"
		"               progress on stderr: a live line (the default when stderr\n"
		"               is a terminal), one JSON event a line, or none\n"
		"  --json       print a JSON object with counters\n\n"
		"Examples:\n"
		"  arca push backup app:v1 app:v2\n"
		"  AWS_ACCESS_KEY_ID=K AWS_SECRET_ACCESS_KEY=S arca push s3 app:stable --jobs 8\n");
}

void cli_sync_env(arca_sync_options *o)
{
	const char *tmp = getenv("TMPDIR");
	o->access_key = getenv("AWS_ACCESS_KEY_ID");
	o->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
	o->session_token = getenv("AWS_SESSION_TOKEN");
	if (tmp && *tmp)
		o->tmp_dir = tmp;
}

void cli_sync_print(const char *verb, int json, const arca_sync_result *r)
{
	if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_u64(&j, "artifacts", r->artifacts);
		json_u64(&j, "chunks", r->chunks);
		json_u64(&j, "bytes", r->bytes);
		json_u64(&j, "objects", r->objects);
		json_u64(&j, "requests", r->requests);
		json_u64(&j, "refs_moved", r->refs_moved);
		json_obj_end(&j);
		return;
	}
	char sz[32];
	cli_human_size(sz, sizeof(sz), r->bytes);
	printf("%s %llu artifacts, %llu chunks, %s in %llu objects; %llu refs moved\n", verb,
		(unsigned long long)r->artifacts, (unsigned long long)r->chunks, sz,
		(unsigned long long)r->objects, (unsigned long long)r->refs_moved);
}

int cli_parse_jobs(const char *cmd, const char *arg, unsigned *jobs)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (*end || v < 1 || v > 64)
		return cli_usage_error(cmd, "--jobs needs a number from 1 to 64");
	*jobs = (unsigned)v;
	return 0;
}

int cli_sync_run(cli_ctx *ctx, int argc, char **argv, const cli_sync_verb *v)
{
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'J' },
		{ "force", no_argument, NULL, 'f' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	arca_store *store = NULL;
	int json = 0, show = 0, c, rc, status;
	cli_progress cp;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'J':
			if ((status = cli_parse_jobs(v->cmd, optarg, &so.jobs)) != 0)
				return status;
			break;
		case 'f': so.force = 1; break;
		case 'P':
			if (cli_progress_arg(v->cmd, optarg, &show) != 0)
				return EXIT_USAGE;
			break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': v->help(stdout); return 0;
		default: return cli_bad_option(v->cmd, argc, argv);
		}
	}
	if (argc - optind < 2)
		return cli_usage_error(v->cmd, "give a REMOTE and at least one REF");
	if ((status = cli_open_store(ctx, v->cmd, &store, v->create_store)) != 0)
		return status;
	cli_sync_env(&so);
	cli_progress_begin(&cp, v->cmd, show);
	so.progress_cb = cli_progress_cb;
	so.progress_payload = &cp;
	rc = v->run(&r, store, argv[optind], (const char *const *)argv + optind + 1,
		(size_t)(argc - optind - 1), &so);
	if (rc == ARCA_EUSER && cli_interrupted()) {
		status = cli_fail_interrupted(&cp, v->interrupted);
		arca_store_free(store);
		return status;
	}
	cli_progress_end(&cp);
	if (rc) {
		status = cli_fail(v->cmd, rc);
		if (rc == ARCA_EEXISTS)
			cli_hint("%s", v->conflict_hint);
	} else {
		cli_sync_print(v->done, json, &r);
	}
	arca_store_free(store);
	return status;
}

int cmd_push(cli_ctx *ctx, int argc, char **argv)
{
	static const cli_sync_verb push = { "push", "pushed", help, arca_push, 0,
		"run push again to send the rest",
		"pull the remote's ref and build on it, or push --force" };
	return cli_sync_run(ctx, argc, argv, &push);
}
