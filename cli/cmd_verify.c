#include "cli.h"

#include <getopt.h>
#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] verify [--progress[=M]] [--json]\n"
		"\n"
		"Re-reads every chunk from the pack files and re-hashes it, then checks every\n"
		"artifact's manifest and chunk references. Exits 0 when all is well and 4\n"
		"when anything is damaged, naming the damaged artifacts; 'arca repair' then\n"
		"rebuilds the index from the packs and marks what is lost. ^C stops it\n"
		"(exit status 13); verify changes nothing.\n"
		"\n"
		"  --progress[=line|json|none]\n"
		"              progress on stderr: a live line (the default when stderr\n"
		"              is a terminal), one JSON event a line, or none\n"
		"  --json      print a JSON object with the counters and damaged artifacts\n\n"
		"Examples:\n"
		"  arca verify\n"
		"  arca verify --progress=json 2>progress.log\n");
}

int cmd_verify(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "progress", optional_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	arca_verify_options vo = ARCA_VERIFY_OPTIONS_INIT;
	cli_progress cp;
	int json = 0, show = 0, c, rc, status;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (cli_progress_arg("verify", optarg, &show) != 0)
				return EXIT_USAGE;
			break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("verify", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("verify", "unexpected argument '%s'", argv[optind]);
	if ((status = cli_open_store(ctx, "verify", &store, 0)) != 0)
		return status;
	cli_progress_begin(&cp, "verify", show);
	vo.progress_cb = cli_progress_cb;
	vo.progress_payload = &cp;
	rc = arca_verify_ext(&vr, store, &vo);
	if (rc == ARCA_EUSER && cli_interrupted()) {
		status = cli_fail_interrupted(&cp, "verify did not finish; the store is unchanged");
		goto out;
	}
	cli_progress_end(&cp);
	if (rc && rc != ARCA_ECORRUPT) {
		status = cli_fail("verify", rc);
		goto out;
	}
	if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_bool(&j, "ok", rc == 0);
		json_u64(&j, "chunks_checked", vr.chunks_checked);
		json_u64(&j, "bytes_checked", vr.bytes_checked);
		json_u64(&j, "chunks_damaged", vr.chunks_damaged);
		json_u64(&j, "artifacts_checked", vr.artifacts_checked);
		json_u64(&j, "packs_damaged", vr.packs_damaged);
		json_arr_begin(&j, "damaged_artifacts");
		for (size_t i = 0; i < vr.ndamaged; i++) {
			arca_artifact *a = NULL;
			json_obj_begin(&j, NULL);
			json_id(&j, "id", &vr.damaged[i]);
			if (arca_artifact_lookup(&a, store, &vr.damaged[i]) == 0) {
				json_str(&j, "name", a->name);
				json_str(&j, "tag", a->tag);
			}
			arca_artifact_free(a);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
	} else {
		char b[32];
		cli_human_size(b, sizeof(b), vr.bytes_checked);
		printf("checked %llu chunks (%s) and %llu artifacts\n",
			(unsigned long long)vr.chunks_checked, b,
			(unsigned long long)vr.artifacts_checked);
		if (rc == 0) {
			printf("ok\n");
		} else {
			if (vr.packs_damaged)
				printf("DAMAGED: %llu pack headers\n",
					(unsigned long long)vr.packs_damaged);
			printf("DAMAGED: %llu chunks; %zu artifacts affected:\n",
				(unsigned long long)vr.chunks_damaged, vr.ndamaged);
			for (size_t i = 0; i < vr.ndamaged; i++) {
				char s[ARCA_ID_STRLEN];
				arca_artifact *a = NULL;
				arca_id_format(s, &vr.damaged[i]);
				arca_artifact_lookup(&a, store, &vr.damaged[i]);
				printf("  %s  %s%s%s\n", s, a && a->name ? a->name : "-",
					a && a->tag ? ":" : "", a && a->tag ? a->tag : "");
				arca_artifact_free(a);
			}
		}
	}
	if (rc)
		status = EXIT_CORRUPT;
	arca_verify_result_clear(&vr);
out:
	arca_store_free(store);
	return status;
}
