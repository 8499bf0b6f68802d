#include "cli.h"

#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] repair [--json]\n"
		"\n"
		"Rebuilds the store's index from its pack files, which are the source of\n"
		"truth: use it when the index is lost, truncated or damaged, or when verify\n"
		"found damaged chunks. Every record is re-read and checked; good chunks are\n"
		"indexed again, artifacts and refs are replayed from the metadata journaled\n"
		"in the packs, torn pack tails are cut and damaged pack headers rewritten.\n"
		"Chunks that artifacts need but no pack holds intact are marked lost and\n"
		"the artifacts that lose data are listed; a later snapshot of the same data\n"
		"stores good copies and makes them whole again. The new index replaces the\n"
		"old one only when it is complete. Run it while no other arca process uses\n"
		"the store.\n"
		"\n"
		"Exit status: 0 when nothing is lost, 4 when artifacts lose data.\n\n"
		"Examples:\n"
		"  arca repair\n"
		"  arca repair --json\n");
}

int cmd_repair(cli_ctx *ctx, int argc, char **argv)
{
	arca_repair_result rr = ARCA_REPAIR_RESULT_INIT;
	const char *path;
	int json = 0, rc, status;

	if ((status = cli_parse_common(ctx, "repair", argc, argv, help, &json, 0, 0)) >= 0)
		return status;
	if (!(path = cli_store_path(ctx, "repair")))
		return EXIT_USAGE;
	if ((rc = arca_repair(&rr, path)) != 0)
		return cli_fail("repair", rc);
	if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_bool(&j, "ok", rr.ndamaged == 0);
		json_u64(&j, "packs", rr.packs);
		json_u64(&j, "packs_retired", rr.packs_retired);
		json_u64(&j, "headers_fixed", rr.headers_fixed);
		json_u64(&j, "chunks", rr.chunks);
		json_u64(&j, "records_damaged", rr.records_damaged);
		json_u64(&j, "bytes_skipped", rr.bytes_skipped);
		json_u64(&j, "bytes_truncated", rr.bytes_truncated);
		json_u64(&j, "journal_records", rr.journal_records);
		json_u64(&j, "artifacts", rr.artifacts);
		json_u64(&j, "refs", rr.refs);
		json_u64(&j, "chunks_lost", rr.chunks_missing);
		json_bool(&j, "used_old_index", rr.used_old_index);
		json_arr_begin(&j, "damaged_artifacts");
		for (size_t i = 0; i < rr.ndamaged; i++)
			json_id(&j, NULL, &rr.damaged[i]);
		json_arr_end(&j);
		json_obj_end(&j);
	} else {
		printf("scanned %llu packs: %llu chunks indexed, %llu damaged records, "
			"%llu bytes skipped, %llu bytes of torn tails cut, %llu headers rewritten\n",
			(unsigned long long)rr.packs, (unsigned long long)rr.chunks,
			(unsigned long long)rr.records_damaged, (unsigned long long)rr.bytes_skipped,
			(unsigned long long)rr.bytes_truncated, (unsigned long long)rr.headers_fixed);
		printf("rebuilt %llu artifacts and %llu refs from %llu journal records\n",
			(unsigned long long)rr.artifacts, (unsigned long long)rr.refs,
			(unsigned long long)rr.journal_records);
		if (rr.ndamaged == 0) {
			printf("ok: no data lost\n");
		} else {
			printf("LOST: %llu chunks; %zu artifacts lose data (snapshot the same data "
				"again to make them whole):\n",
				(unsigned long long)rr.chunks_missing, rr.ndamaged);
			for (size_t i = 0; i < rr.ndamaged; i++) {
				char s[ARCA_ID_STRLEN];
				arca_id_format(s, &rr.damaged[i]);
				printf("  %s\n", s);
			}
		}
	}
	status = rr.ndamaged ? EXIT_CORRUPT : 0;
	arca_repair_result_clear(&rr);
	return status;
}
