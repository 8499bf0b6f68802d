#include "cli.h"

#include <getopt.h>
#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] tag REF NAME:TAG\n"
		"       arca [--store DIR] tag --delete NAME:TAG\n"
		"       arca [--store DIR] tag --list [--json]\n"
		"\n"
		"Points the ref NAME:TAG at artifact REF (creating or moving it atomically),\n"
		"deletes a ref, or lists every ref. NAME alone in a reference means\n"
		"NAME:latest, which each 'snapshot --name NAME' moves.\n"
		"\n"
		"NAME is one or more '/'-separated parts, TAG one part; a part is\n"
		"[A-Za-z0-9._-]+ not starting with '.' or '-' (so no empty, '.' or '..'\n"
		"parts, no leading or trailing '/').\n\n"
		"Examples:\n"
		"  arca tag app:v2 app:stable\n"
		"  arca tag --delete app:stable\n"
		"  arca tag --list --json\n");
}

typedef struct {
	int json;
	json_w j;
	int measure;   /* the first of two passes: the NAME:TAG column's width */
	int width;
} list_state;

static int print_ref(const char *name, const char *tag, const arca_id *id, void *payload)
{
	list_state *ls = payload;
	char s[ARCA_ID_STRLEN];
	arca_id_format(s, id);
	if (ls->json) {
		json_obj_begin(&ls->j, NULL);
		json_str(&ls->j, "name", name);
		json_str(&ls->j, "tag", tag);
		json_str(&ls->j, "id", s);
		json_obj_end(&ls->j);
	} else if (ls->measure) {
		int w = (int)(strlen(name) + 1 + strlen(tag));
		if (w > ls->width)
			ls->width = w;
	} else {
		printf("%s:%s%*s  %s\n", name, tag, ls->width - (int)(strlen(name) + 1 + strlen(tag)),
			"", s);
	}
	return 0;
}

int cmd_tag(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delete", no_argument, NULL, 'd' },
		{ "list", no_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	list_state ls;
	int del = 0, list = 0, c, rc = 0, status, n;

	memset(&ls, 0, sizeof(ls));
	optind = 1;
	while ((c = getopt_long(argc, argv, "dlh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': del = 1; break;
		case 'l': list = 1; break;
		case 'j': ls.json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("tag", argc, argv);
		}
	}
	n = argc - optind;
	if (del + list > 1 || (list && n != 0) || (del && n != 1) || (!del && !list && n != 2))
		return cli_usage_error("tag", "expected REF NAME:TAG, --delete NAME:TAG or --list");
	if ((status = cli_open_store(ctx, "tag", &store, 0)) != 0)
		return status;
	if (list) {
		if (ls.json) {
			json_init(&ls.j, stdout);
			json_arr_begin(&ls.j, NULL);
		}
		/* aligned: measured first (refs are few; a walk is one read txn) */
		if (!ls.json) {
			ls.measure = 1;
			rc = arca_ref_foreach(store, print_ref, &ls);
			ls.measure = 0;
		}
		if (!rc)
			rc = arca_ref_foreach(store, print_ref, &ls);
		if (ls.json)
			json_arr_end(&ls.j);
	} else if (del) {
		rc = arca_tag_delete(store, argv[optind]);
		if (rc == 0 && ls.json) {
			json_init(&ls.j, stdout);
			json_obj_begin(&ls.j, NULL);
			json_str(&ls.j, "deleted", argv[optind]);
			json_obj_end(&ls.j);
		}
	} else {
		arca_id id;
		char s[ARCA_ID_STRLEN];
		rc = arca_tag_set(store, argv[optind], argv[optind + 1]);
		/* what the ref points at now, for scripts */
		if (rc == 0 && ls.json && (rc = arca_resolve(&id, store, argv[optind + 1])) == 0) {
			arca_id_format(s, &id);
			json_init(&ls.j, stdout);
			json_obj_begin(&ls.j, NULL);
			json_str(&ls.j, "ref", argv[optind + 1]);
			json_str(&ls.j, "id", s);
			json_obj_end(&ls.j);
		}
	}
	if (rc)
		status = cli_fail("tag", rc);
	arca_store_free(store);
	return status;
}
