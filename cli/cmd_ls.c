#include "cli.h"

#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] ls [--json]\n"
		"\n"
		"Lists every artifact, oldest first: id prefix, kind, logical size,\n"
		"creation time (UTC), name and tag.\n");
}

typedef struct {
	int json;
	json_w j;
	size_t n;
} ls_state;

static int print_one(const arca_artifact *a, void *payload)
{
	ls_state *ls = payload;
	char id[ARCA_ID_STRLEN], sz[32], t[64];
	ls->n++;
	if (ls->json) {
		json_obj_begin(&ls->j, NULL);
		json_artifact_fields(&ls->j, a);
		json_obj_end(&ls->j);
		return 0;
	}
	arca_id_format(id, &a->id);
	cli_human_size(sz, sizeof(sz), a->logical_bytes);
	cli_format_time(t, sizeof(t), a->created_ns);
	printf("%-20.20s  %-5s  %10s  %s  %s%s%s\n", id, arca_kind_name(a->kind), sz, t,
		a->name ? a->name : "-", a->tag ? ":" : "", a->tag ? a->tag : "");
	return 0;
}

int cmd_ls(cli_ctx *ctx, int argc, char **argv)
{
	arca_store *store = NULL;
	ls_state ls;
	int rc, status;

	memset(&ls, 0, sizeof(ls));
	if ((status = cli_parse_common(ctx, "ls", argc, argv, help, &ls.json, 0, 0)) >= 0)
		return status;
	if ((status = cli_open_store(ctx, "ls", &store, 0)) != 0)
		return status;
	if (ls.json) {
		json_init(&ls.j, stdout);
		json_arr_begin(&ls.j, NULL);
	} else {
		printf("%-20s  %-5s  %10s  %-20s  %s\n", "ID", "KIND", "SIZE", "CREATED", "NAME");
	}
	rc = arca_artifact_foreach(store, print_one, &ls);
	if (ls.json)
		json_arr_end(&ls.j);
	if (rc)
		status = cli_fail("ls", rc);
	arca_store_free(store);
	return status;
}
