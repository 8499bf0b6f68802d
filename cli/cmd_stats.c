#include "cli.h"

#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] stats [--json]\n"
		"\n"
		"Prints store figures: artifacts, chunks, logical bytes (sum of artifact\n"
		"sizes), data bytes (the same without holes), unique bytes (uncompressed\n"
		"chunks), stored bytes (compressed chunks), pack and index sizes, and the\n"
		"dedup (data/unique) and compression (unique/stored) ratios.\n\n"
		"Examples:\n"
		"  arca stats\n"
		"  arca stats --json\n");
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : 0.0;
}

int cmd_stats(cli_ctx *ctx, int argc, char **argv)
{
	arca_store *store = NULL;
	arca_store_stats st = ARCA_STORE_STATS_INIT;
	int json = 0, rc, status;

	if ((status = cli_parse_common(ctx, "stats", argc, argv, help, &json, 0, 0)) >= 0)
		return status;
	if ((status = cli_open_store(ctx, "stats", &store, 0)) != 0)
		return status;
	if ((rc = arca_store_stats_get(&st, store)) != 0) {
		status = cli_fail("stats", rc);
	} else if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_u64(&j, "artifacts", st.artifacts);
		json_u64(&j, "chunks", st.chunks);
		json_u64(&j, "logical_bytes", st.logical_bytes);
		json_u64(&j, "data_bytes", st.data_bytes);
		json_u64(&j, "unique_bytes", st.unique_bytes);
		json_u64(&j, "stored_bytes", st.stored_bytes);
		json_u64(&j, "pack_bytes", st.pack_bytes);
		json_u64(&j, "packs", st.packs);
		json_u64(&j, "index_bytes", st.index_bytes);
		json_num(&j, "dedup_ratio", ratio(st.data_bytes, st.unique_bytes));
		json_num(&j, "compression_ratio", ratio(st.unique_bytes, st.stored_bytes));
		json_obj_end(&j);
	} else {
		char a[32], a2[32], b[32], d[32], e[32], f[32];
		cli_human_size(a2, sizeof(a2), st.data_bytes);
		cli_human_size(a, sizeof(a), st.logical_bytes);
		cli_human_size(b, sizeof(b), st.unique_bytes);
		cli_human_size(d, sizeof(d), st.stored_bytes);
		cli_human_size(e, sizeof(e), st.pack_bytes);
		cli_human_size(f, sizeof(f), st.index_bytes);
		printf("artifacts:         %llu\n", (unsigned long long)st.artifacts);
		printf("chunks:            %llu\n", (unsigned long long)st.chunks);
		printf("logical bytes:     %s (holes included)\n", a);
		printf("data bytes:        %s (holes excluded)\n", a2);
		printf("unique bytes:      %s\n", b);
		printf("stored bytes:      %s\n", d);
		printf("pack files:        %llu (%s)\n", (unsigned long long)st.packs, e);
		printf("index:             %s\n", f);
		printf("dedup ratio:       %.2fx\n", ratio(st.data_bytes, st.unique_bytes));
		printf("compression ratio: %.2fx\n", ratio(st.unique_bytes, st.stored_bytes));
	}
	arca_store_free(store);
	return status;
}
