#include "cli.h"

#include <getopt.h>
#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] ls [--remote REMOTE] [--json]\n"
		"\n"
		"Lists every artifact, oldest first: id prefix, kind, logical size,\n"
		"creation time (UTC), name and tag.\n"
		"\n"
		"  --remote REMOTE  list the refs REMOTE (a name from 'arca remote add', or\n"
		"                   a URL) holds instead: NAME:TAG and artifact id (not for\n"
		"                   static HTTP remotes, which cannot list)\n"
		"  --json           print a JSON array\n\n"
		"Examples:\n"
		"  arca ls\n"
		"  arca ls --json | jq -r \".[].id\"\n"
		"  arca ls --remote backup\n");
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

static int print_remote_ref(const char *name, const char *tag, const arca_id *id,
		void *payload)
{
	ls_state *ls = payload;
	char s[ARCA_ID_STRLEN];
	ls->n++;
	if (ls->json) {
		json_obj_begin(&ls->j, NULL);
		json_str(&ls->j, "name", name);
		json_str(&ls->j, "tag", tag);
		json_id(&ls->j, "id", id);
		json_obj_end(&ls->j);
		return 0;
	}
	arca_id_format(s, id);
	printf("%s:%s\t%s\n", name, tag, s);
	return 0;
}

static int ls_remote(arca_store *store, const char *remote, ls_state *ls)
{
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	int rc;
	cli_sync_env(&so);
	if (ls->json) {
		json_init(&ls->j, stdout);
		json_arr_begin(&ls->j, NULL);
	}
	rc = arca_remote_ref_foreach(store, remote, &so, print_remote_ref, ls);
	if (ls->json)
		json_arr_end(&ls->j);
	return rc ? cli_fail("ls", rc) : 0;
}

int cmd_ls(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "remote", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	const char *remote = NULL;
	ls_state ls;
	int rc, status, c;

	memset(&ls, 0, sizeof(ls));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': remote = optarg; break;
		case 'j': ls.json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("ls", argc, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error("ls", "unexpected argument '%s'", argv[optind]);
	if ((status = cli_open_store(ctx, "ls", &store, 0)) != 0)
		return status;
	if (remote) {
		status = ls_remote(store, remote, &ls);
		arca_store_free(store);
		return status;
	}
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
