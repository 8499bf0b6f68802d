#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] pull REMOTE REF... [--jobs N] [--force] [--progress]\n"
		"                                [--json]\n"
		"\n"
		"Fetches each REF (NAME:TAG, NAME for NAME:latest, or a full artifact id\n"
		"art_<64 hex>) from REMOTE (a name from 'arca remote add', or a URL) with\n"
		"plain GETs, only the chunks this store lacks, checking every chunk's hash\n"
		"and each manifest against its artifact id; then adds the artifacts and\n"
		"sets the local refs in one transaction. A local ref moves only to an\n"
		"artifact that descends from the one it points at (its parents), unless\n"
		"--force. Any error leaves the store as it was. S3 credentials come from $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY\n"
		"and $AWS_SESSION_TOKEN.\n"
		"\n"
		"  --force      move local refs even to artifacts that do not descend\n"
		"               from what they point at (the old artifact stays stored)\n"
		"  --jobs N     parallel GETs (default 4), each into a file in $TMPDIR\n"
		"               (else /tmp) until it is checked and taken in\n"
		"  --progress   print a progress line to stderr\n"
		"  --json       print a JSON object with counters\n");
}

int cmd_pull(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'J' },
		{ "force", no_argument, NULL, 'f' },
		{ "progress", no_argument, NULL, 'P' },
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
			if ((status = cli_parse_jobs("pull", optarg, &so.jobs)) != 0)
				return status;
			break;
		case 'f': so.force = 1; break;
		case 'P': show = 1; break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_usage_error("pull", "bad option");
		}
	}
	if (argc - optind < 2)
		return cli_usage_error("pull", "give a REMOTE and at least one REF");
	if ((status = cli_open_store(ctx, "pull", &store, 1)) != 0)
		return status;
	cli_sync_env(&so);
	cli_progress_begin(&cp, "pull", show);
	so.progress_cb = cli_progress_cb;
	so.progress_payload = &cp;
	rc = arca_pull(&r, store, argv[optind], (const char *const *)argv + optind + 1,
		(size_t)(argc - optind - 1), &so);
	if (rc == ARCA_EUSER && cli_interrupted()) {
		status = cli_fail_interrupted(&cp, "the store is unchanged");
		arca_store_free(store);
		return status;
	}
	cli_progress_end(&cp);
	if (rc) {
		status = cli_fail("pull", rc);
		if (rc == ARCA_EEXISTS)
			cli_hint("--force moves the local ref anyway (its artifact stays in the store)");
	}
	else
		cli_sync_print("pulled", json, &r);
	arca_store_free(store);
	return status;
}
