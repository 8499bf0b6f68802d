#include "cli.h"

#include <getopt.h>
#include <string.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] log REF [--json]\n"
		"\n"
		"Shows REF (e.g. NAME, meaning NAME:latest) and its ancestors, newest first,\n"
		"following each artifact's parent (the previous snapshot under the same\n"
		"name, or the one given with 'snapshot --parent'). A chain that loops\n"
		"(a damaged index) or exceeds 100000 artifacts ends with exit status 4.\n\n"
		"Examples:\n"
		"  arca log app\n"
		"  arca log app:v2 --json\n");
}

#define LOG_MAX 100000 /* longest chain shown; a longer one is an error */

/* A damaged index can make the parents loop: stop at the first repeated
 * id (Brent: `saved` is re-set at each power of two, so a loop is caught
 * within twice its length) or after LOG_MAX artifacts. */
typedef struct {
	arca_id saved;
	unsigned long power, lam;
} loop_guard;

static int loop_seen(loop_guard *g, const arca_id *id, int first)
{
	if (first) {
		g->saved = *id;
		g->power = 1;
		g->lam = 0;
		return 0;
	}
	if (!memcmp(g->saved.bytes, id->bytes, sizeof(id->bytes)))
		return 1;
	if (++g->lam == g->power) {
		g->saved = *id;
		g->power *= 2;
		g->lam = 0;
	}
	return 0;
}

int cmd_log(cli_ctx *ctx, int argc, char **argv)
{
	arca_store *store = NULL;
	arca_id id;
	loop_guard guard;
	json_w j;
	int json = 0, rc, status;

	if ((status = cli_parse_common(ctx, "log", argc, argv, help, &json, 1, 1)) >= 0)
		return status;
	if ((status = cli_open_store(ctx, "log", &store, 0)) != 0)
		return status;
	if ((rc = arca_resolve(&id, store, argv[optind])) != 0) {
		status = cli_fail("log", rc);
		goto out;
	}
	if (json) {
		json_init(&j, stdout);
		json_arr_begin(&j, NULL);
	}
	for (int i = 0;; i++) {
		arca_artifact *a = NULL;
		char s[ARCA_ID_STRLEN], t[64], sz[32];
		if (i == LOG_MAX || loop_seen(&guard, &id, i == 0)) {
			arca_id_format(s, &id);
			if (i == LOG_MAX)
				fprintf(stderr, "arca log: stopped after %d artifacts at %.24s "
					"(damaged index? run 'arca verify')\n", LOG_MAX, s);
			else
				fprintf(stderr, "arca log: the parents loop back to %.24s after %d "
					"artifacts (damaged index; run 'arca verify')\n", s, i);
			status = EXIT_CORRUPT;
			break;
		}
		if ((rc = arca_artifact_lookup(&a, store, &id)) != 0) {
			if (rc == ARCA_ENOTFOUND && i > 0) {
				arca_id_format(s, &id);
				if (!json)
					printf("%.24s  (parent removed)\n", s);
				break;
			}
			status = cli_fail("log", rc);
			break;
		}
		if (json) {
			json_obj_begin(&j, NULL);
			json_artifact_fields(&j, a);
			json_obj_end(&j);
		} else {
			arca_id_format(s, &a->id);
			cli_format_time(t, sizeof(t), a->created_ns);
			cli_human_size(sz, sizeof(sz), a->logical_bytes);
			printf("%.24s  %s  %-5s %10s  %s%s%s\n", s, t, arca_kind_name(a->kind), sz,
				a->name ? a->name : "-", a->tag ? ":" : "", a->tag ? a->tag : "");
		}
		int more = a->has_parent;
		id = a->parent;
		arca_artifact_free(a);
		if (!more)
			break;
	}
	if (json)
		json_arr_end(&j);
out:
	arca_store_free(store);
	return status;
}
