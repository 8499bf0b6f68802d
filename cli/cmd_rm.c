#include "cli.h"

#include <getopt.h>
#include <stdlib.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] rm REF... [--force] [--json]\n"
		"\n"
		"Removes artifacts (all or none). An artifact that a ref (NAME:TAG, including\n"
		"NAME:latest) still points to is refused unless --force, which also deletes\n"
		"those refs. The space is reclaimed by 'arca gc'.\n"
		"\n"
		"  --force  also delete the refs that point to them\n"
		"  --json   print {\"removed\": [ID...]} instead of the summary\n\n"
		"Examples:\n"
		"  arca rm app:v1\n"
		"  arca rm art_81a649a9 --force && arca gc\n");
}

int cmd_rm(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_id *ids = NULL;
	int force = 0, json = 0, c, rc = 0, status, n;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': force = 1; break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("rm", argc, argv);
		}
	}
	n = argc - optind;
	if (n < 1)
		return cli_usage_error("rm", "expected at least one REF");
	if ((status = cli_open_store(ctx, "rm", &store, 0)) != 0)
		return status;
	ids = calloc((size_t)n, sizeof(*ids));
	for (int i = 0; ids && i < n && !rc; i++)
		rc = arca_resolve(&ids[i], store, argv[optind + i]);
	if (!ids)
		status = EXIT_FAIL;
	else if (rc || (rc = arca_artifact_remove(store, ids, (size_t)n, force)) != 0) {
		status = cli_fail("rm", rc);
		if (rc == ARCA_EREFERENCED)
			cli_hint("delete those refs with 'arca tag --delete', or --force removes them too");
	} else if (json) {
		json_w j;
		char hex[ARCA_ID_STRLEN];
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_arr_begin(&j, "removed");
		for (int i = 0; i < n; i++) {
			arca_id_format(hex, &ids[i]);
			json_str(&j, NULL, hex);
		}
		json_arr_end(&j);
		json_obj_end(&j);
	} else
		fprintf(stderr, "rm: removed %d artifact%s; run 'arca gc' to reclaim space\n",
			n, n == 1 ? "" : "s");
	free(ids);
	arca_store_free(store);
	return status;
}
