#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] prune --keep-last N [--name NAME] [--json]\n"
		"\n"
		"For each artifact name (or only NAME), keeps the N artifacts most\n"
		"recently snapshotted under that name (also when a snapshot's content\n"
		"was already stored) and removes the older ones, except:\n"
		"  - anything a ref points to (NAME:latest and every other tag);\n"
		"  - with --name, anything another name has snapshotted too;\n"
		"  - without --name, anything among the N newest of any name.\n"
		"Prune never deletes refs. Unnamed artifacts are never pruned. Space is\n"
		"reclaimed by 'arca gc'.\n\n"
		"Examples:\n"
		"  arca prune --keep-last 5\n"
		"  arca prune --keep-last 1 --name app --json\n");
}

int cmd_prune(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-last", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_id *removed = NULL;
	size_t nremoved = 0;
	const char *name = NULL;
	long keep = -1;
	int json = 0, c, rc, status;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			keep = strtol(optarg, &end, 10);
			if (*end || keep < 0 || keep > 1000000)
				return cli_usage_error("prune", "--keep-last needs a number >= 0");
			break;
		case 'n': name = optarg; break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("prune", argc, argv);
		}
	}
	if (keep < 0)
		return cli_usage_error("prune", "--keep-last N is required");
	if (optind != argc)
		return cli_usage_error("prune", "unexpected argument '%s'", argv[optind]);
	if ((status = cli_open_store(ctx, "prune", &store, 0)) != 0)
		return status;
	if ((rc = arca_prune(store, name, (unsigned)keep, &removed, &nremoved)) != 0) {
		status = cli_fail("prune", rc);
	} else if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_arr_begin(&j, "removed");
		for (size_t i = 0; i < nremoved; i++)
			json_id(&j, NULL, &removed[i]);
		json_arr_end(&j);
		json_obj_end(&j);
	} else {
		for (size_t i = 0; i < nremoved; i++) {
			char s[ARCA_ID_STRLEN];
			arca_id_format(s, &removed[i]);
			printf("removed %s\n", s);
		}
		fprintf(stderr, "prune: removed %zu artifact%s\n", nremoved, nremoved == 1 ? "" : "s");
	}
	arca_ids_free(removed);
	arca_store_free(store);
	return status;
}
