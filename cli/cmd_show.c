#include "cli.h"

#include <getopt.h>

#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] show REF [--json]\n"
		"\n"
		"Shows an artifact's metadata: id, kind, sizes, name, tag, labels, parent.\n\n"
		"Examples:\n"
		"  arca show app:v1\n"
		"  arca show art_81a649a9 --json\n");
}

int cmd_show(cli_ctx *ctx, int argc, char **argv)
{
	arca_store *store = NULL;
	arca_artifact *a = NULL;
	arca_id id;
	int json = 0, rc, status;

	if ((status = cli_parse_common(ctx, "show", argc, argv, help, &json, 1, 1)) >= 0)
		return status;
	if ((status = cli_open_store(ctx, "show", &store, 0)) != 0)
		return status;
	if ((rc = arca_resolve(&id, store, argv[optind])) != 0 ||
	    (rc = arca_artifact_lookup(&a, store, &id)) != 0) {
		status = cli_fail("show", rc);
		goto out;
	}
	if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_artifact_fields(&j, a);
		json_u64(&j, "manifest_bytes", a->manifest_bytes);
		json_obj_end(&j);
	} else {
		char s[ARCA_ID_STRLEN], sz[32], t[64];
		arca_id_format(s, &a->id);
		cli_human_size(sz, sizeof(sz), a->logical_bytes);
		cli_format_time(t, sizeof(t), a->created_ns);
		printf("id:       %s\n", s);
		printf("kind:     %s\n", arca_kind_name(a->kind));
		printf("size:     %s (%llu bytes, %llu not holes)\n", sz,
			(unsigned long long)a->logical_bytes, (unsigned long long)a->data_bytes);
		if (a->kind == ARCA_KIND_TREE)
			printf("entries:  %llu\n", (unsigned long long)a->entries);
		printf("created:  %s\n", t);
		printf("name:     %s\n", a->name ? a->name : "-");
		printf("tag:      %s\n", a->tag ? a->tag : "-");
		if (a->has_parent) {
			arca_id_format(s, &a->parent);
			printf("parent:   %s\n", s);
		}
		/* a label's value may hold any byte (a bundle's or remote's
		 * too): escaped, never sent raw to a terminal */
		for (size_t i = 0; i < a->nlabels; i++) {
			printf("label:    %s=", a->labels[i].key);
			cli_put_text(stdout, a->labels[i].value);
			putchar('\n');
		}
		printf("manifest: %llu bytes\n", (unsigned long long)a->manifest_bytes);
	}
out:
	arca_artifact_free(a);
	arca_store_free(store);
	return status;
}
