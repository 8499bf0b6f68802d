#include "cli.h"

#include <getopt.h>
#include <stdlib.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] gc [--threshold F] [--progress[=M]] [--json]\n"
		"\n"
		"Drops chunks that no artifact references and rewrites pack files whose\n"
		"live fraction is below F (default 0.75), then deletes the old pack files\n"
		"once no reader can still be using them. Safe to run while snapshots and\n"
		"restores are running in other processes. ^C before the commit cancels it\n"
		"(exit status 13) and leaves the store unchanged.\n"
		"\n"
		"  --threshold F  rewrite packs whose live fraction is below F\n"
		"  --progress[=line|json|none]\n"
		"                 progress on stderr: a live line (the default when stderr\n"
		"                 is a terminal), one JSON event a line, or none\n"
		"  --json         print a JSON object with counters\n\n"
		"Examples:\n"
		"  arca gc\n"
		"  arca gc --threshold 0.2 --json\n");
}

int cmd_gc(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threshold", required_argument, NULL, 't' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_gc_options go = ARCA_GC_OPTIONS_INIT;
	arca_store *store = NULL;
	arca_gc_result r = ARCA_GC_RESULT_INIT;
	int json = 0, show = 0, c, rc, status;
	cli_progress cp;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			go.repack_threshold = strtod(optarg, &end);
			if (*end || go.repack_threshold <= 0 || go.repack_threshold > 1)
				return cli_usage_error("gc", "--threshold needs a number in (0, 1]");
			break;
		case 'P':
			if (cli_progress_arg("gc", optarg, &show) != 0)
				return EXIT_USAGE;
			break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("gc", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("gc", "unexpected argument '%s'", argv[optind]);
	if ((status = cli_open_store(ctx, "gc", &store, 0)) != 0)
		return status;
	cli_progress_begin(&cp, "gc", show);
	go.progress_cb = cli_progress_cb;
	go.progress_payload = &cp;
	rc = arca_gc(&r, store, &go);
	if (rc == ARCA_EUSER && cli_interrupted()) {
		status = cli_fail_interrupted(&cp, "the store is unchanged");
		arca_store_free(store);
		return status;
	}
	cli_progress_end(&cp);
	if (rc) {
		status = cli_fail("gc", rc);
	} else if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_u64(&j, "artifacts", r.artifacts);
		json_u64(&j, "chunks_live", r.chunks_live);
		json_u64(&j, "chunks_removed", r.chunks_removed);
		json_u64(&j, "bytes_unreferenced", r.bytes_unreferenced);
		json_u64(&j, "packs_rewritten", r.packs_rewritten);
		json_u64(&j, "chunks_moved", r.chunks_moved);
		json_u64(&j, "bytes_moved", r.bytes_moved);
		json_u64(&j, "pack_bytes_before", r.pack_bytes_before);
		json_u64(&j, "pack_bytes_after", r.pack_bytes_after);
		json_u64(&j, "bytes_freed", r.pack_bytes_before - r.pack_bytes_after);
		json_u64(&j, "packs_deleted", r.packs_deleted);
		json_u64(&j, "packs_pending", r.packs_pending);
		json_obj_end(&j);
	} else {
		char a[32], b[32], f[32];
		cli_human_size(a, sizeof(a), r.pack_bytes_before);
		cli_human_size(b, sizeof(b), r.pack_bytes_after);
		cli_human_size(f, sizeof(f), r.pack_bytes_before - r.pack_bytes_after);
		printf("removed %llu unreferenced chunks, kept %llu for %llu artifacts\n",
			(unsigned long long)r.chunks_removed, (unsigned long long)r.chunks_live,
			(unsigned long long)r.artifacts);
		printf("rewrote %llu packs (moved %llu chunks); packs %s -> %s, freed %s\n",
			(unsigned long long)r.packs_rewritten, (unsigned long long)r.chunks_moved, a, b, f);
		if (r.packs_pending)
			printf("%llu old pack files are kept until running readers finish; "
				"the next gc deletes them\n", (unsigned long long)r.packs_pending);
	}
	arca_store_free(store);
	return status;
}
