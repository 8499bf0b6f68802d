#include "cli.h"

#include <getopt.h>
#include <string.h>
#include <time.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] rollback REF DEST [--from BASE] [--checksum]\n"
		"            [--progress[=M]] [--json]\n"
		"\n"
		"Brings the existing directory or image DEST back to exactly artifact REF,\n"
		"rewriting only what differs. Trees: extra entries are removed, missing ones\n"
		"created, changed files patched chunk by chunk, metadata fixed; a file whose\n"
		"size and mtime match is taken as unchanged unless --checksum (or, with\n"
		"--from, unless BASE has a file there of that size and mtime too). Images:\n"
		"every chunk is hashed in place and rewritten only if it differs; holes are\n"
		"punched. Afterwards DEST equals a fresh restore. If interrupted, run it\n"
		"again: ^C stops between entries (exit status 13), leaving DEST partly\n"
		"rolled back.\n"
		"\n"
		"  --from BASE  the artifact DEST was restored or rolled back to before: its\n"
		"               files of the same size and mtime as REF's are compared, not\n"
		"               trusted (two builds that give every file one mtime)\n"
		"  --checksum   also compare the content of files whose size and mtime match\n"
		"  --progress[=line|json|none]\n"
		"               progress on stderr: a live line (the default when stderr\n"
		"               is a terminal), one JSON event a line, or none\n"
		"  --json       print a JSON object with counters\n\n"
		"Examples:\n"
		"  arca rollback app:v1 ~/work/app\n"
		"  arca rollback vm:clean /var/lib/vms/vm.img\n"
		"  arca rollback app:v1 ~/work/app --from app:v2\n");
}

int cmd_rollback(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "checksum", no_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_rollback_options ro = ARCA_ROLLBACK_OPTIONS_INIT;
	arca_store *store = NULL;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	struct timespec t0, t1;
	int json = 0, show = 0, c, rc, status;
	cli_progress cp;
	double secs;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ro.checksum = 1; break;
		case 'f': ro.baseline = optarg; break;
		case 'P':
			if (cli_progress_arg("rollback", optarg, &show) != 0)
				return EXIT_USAGE;
			break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("rollback", argc, argv);
		}
	}
	if (optind + 2 != argc)
		return cli_usage_error("rollback", "expected REF and DEST");
	if ((status = cli_open_store(ctx, "rollback", &store, 0)) != 0)
		return status;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cli_progress_begin(&cp, "rollback", show);
	ro.progress_cb = cli_progress_cb;
	ro.progress_payload = &cp;
	rc = arca_rollback(store, argv[optind], argv[optind + 1], &ro, &st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == ARCA_EUSER && cli_interrupted()) {
		status = cli_fail_interrupted(&cp, "the store is unchanged; DEST is partly rolled "
			"back: run the rollback again to finish");
		goto out;
	}
	cli_progress_end(&cp);
	/* filled also when a mount inside DEST was left alone */
	if ((!rc || rc == ARCA_EUNSAFE) && st.setid_dropped)
		fprintf(stderr, "arca rollback: warning: %llu setuid/setgid bits dropped "
			"(ownership could not be restored)\n", (unsigned long long)st.setid_dropped);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (rc) {
		status = cli_fail("rollback", rc);
	} else if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "dest", argv[optind + 1]);
		json_u64(&j, "logical_bytes", st.logical_bytes);
		json_u64(&j, "bytes_compared", st.bytes_compared);
		json_u64(&j, "bytes_written", st.bytes_written);
		json_u64(&j, "entries_changed", st.entries_changed);
		json_u64(&j, "entries_removed", st.entries_removed);
		json_u64(&j, "entries_foreign", st.entries_foreign);
		json_u64(&j, "setid_dropped", st.setid_dropped);
		json_num(&j, "seconds", secs);
		json_obj_end(&j);
	} else {
		char cmp[32], w[32];
		cli_human_size(cmp, sizeof(cmp), st.bytes_compared);
		cli_human_size(w, sizeof(w), st.bytes_written);
		fprintf(stderr, "rollback: %llu changed, %llu removed; compared %s, wrote %s in %.2fs\n",
			(unsigned long long)st.entries_changed, (unsigned long long)st.entries_removed,
			cmp, w, secs);
	}
out:
	arca_store_free(store);
	return status;
}
