#include "cli.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] diff REF [REF2 | PATH] [--path] [--json]\n"
		"\n"
		"Shows what changed from artifact REF to artifact REF2, to the live\n"
		"directory or image at PATH, or (REF alone) what REF changed relative to its\n"
		"parent. Trees: one line per entry, A added, D deleted, M modified with what\n"
		"changed (type, content, mode, owner, mtime, target) and sizes. Images: the\n"
		"changed byte ranges and totals. A second argument that names an existing\n"
		"file or directory (or contains '/') is a PATH; --path forces it.\n"
		"Against a live tree, files whose stat matches the store's files cache are\n"
		"not read.\n\n"
		"Examples:\n"
		"  arca diff app:v1 app:v2\n"
		"  arca diff app:v1 ~/work/app\n"
		"  arca diff vm:v1 vm.img --json\n");
}

static void changes_str(char *buf, size_t n, unsigned c)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ ARCA_DIFF_TYPE, "type" }, { ARCA_DIFF_CONTENT, "content" },
		{ ARCA_DIFF_MODE, "mode" }, { ARCA_DIFF_OWNER, "owner" },
		{ ARCA_DIFF_MTIME, "mtime" }, { ARCA_DIFF_TARGET, "target" },
	};
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (c & names[i].bit)
			snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? "," : "", names[i].name);
}

int cli_diff_on_entry(const arca_diff_entry *e, void *payload)
{
	cli_diff_out *o = payload;
	const char *path = e->path[0] ? e->path : ".";
	char ch[64];
	changes_str(ch, sizeof(ch), e->changes);
	if (o->json) {
		char k[2] = { (char)e->kind, 0 };
		json_obj_begin(&o->j, NULL);
		json_str(&o->j, "change", k);
		json_str(&o->j, "path", path);
		if (e->kind == ARCA_DIFF_MODIFIED) {
			json_arr_begin(&o->j, "what");
			for (char *t = ch; *t;) {
				char *end = strchrnul(t, ',');
				int more = *end == ',';
				*end = '\0';
				json_str(&o->j, NULL, t);
				t = more ? end + 1 : end;
			}
			json_arr_end(&o->j);
		}
		if (e->type_a == 'F')
			json_u64(&o->j, "size_a", e->size_a);
		if (e->type_b == 'F')
			json_u64(&o->j, "size_b", e->size_b);
		json_obj_end(&o->j);
		return 0;
	}
	printf("%c  ", (char)e->kind);
	cli_put_name(stdout, path);
	if (e->kind == ARCA_DIFF_ADDED)
		printf("%s", e->type_b == 'D' ? "/" : "");
	else if (e->kind == ARCA_DIFF_DELETED)
		printf("%s", e->type_a == 'D' ? "/" : "");
	else
		printf("  [%s]", ch);
	if (e->kind == ARCA_DIFF_MODIFIED && (e->changes & ARCA_DIFF_CONTENT))
		printf("  %llu -> %llu bytes", (unsigned long long)e->size_a, (unsigned long long)e->size_b);
	else if (e->kind == ARCA_DIFF_ADDED && e->type_b == 'F')
		printf("  %llu byte%s", (unsigned long long)e->size_b, e->size_b == 1 ? "" : "s");
	else if (e->kind == ARCA_DIFF_DELETED && e->type_a == 'F')
		printf("  %llu byte%s", (unsigned long long)e->size_a, e->size_a == 1 ? "" : "s");
	printf("\n");
	return 0;
}

int cli_diff_on_range(uint64_t off, uint64_t len, void *payload)
{
	cli_diff_out *o = payload;
	if (o->json) {
		json_obj_begin(&o->j, NULL);
		json_u64(&o->j, "offset", off);
		json_u64(&o->j, "length", len);
		json_obj_end(&o->j);
	} else {
		printf("changed  %#014llx-%#014llx  %llu bytes\n", (unsigned long long)off,
			(unsigned long long)(off + len), (unsigned long long)len);
	}
	return 0;
}

int cmd_diff(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "path", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_store *store = NULL;
	arca_diff_stats st = ARCA_DIFF_STATS_INIT;
	cli_diff_out o;
	const char *ref_b = NULL, *path = NULL;
	int force_path = 0, c, rc, status, n;
	arca_id id;

	memset(&o, 0, sizeof(o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': force_path = 1; break;
		case 'j': o.json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("diff", argc, argv);
		}
	}
	n = argc - optind;
	if (n < 1 || n > 2)
		return cli_usage_error("diff", "expected REF [REF2 | PATH]");
	if ((status = cli_open_store(ctx, "diff", &store, 0)) != 0)
		return status;
	if (n == 2) {
		const char *arg = argv[optind + 1];
		struct stat sb;
		if (force_path || strchr(arg, '/') || !strcmp(arg, ".") ||
		    (stat(arg, &sb) == 0 && arca_resolve(&id, store, arg) != 0))
			path = arg;
		else
			ref_b = arg;
	}
	cli_diff_begin(&o);
	rc = arca_diff(store, argv[optind], ref_b, path, cli_diff_on_entry, cli_diff_on_range, &o,
		&st);
	status = cli_diff_end(&o, "diff", rc, &st);
	arca_store_free(store);
	return status;
}

void cli_diff_begin(cli_diff_out *o)
{
	if (o->json) {
		json_init(&o->j, stdout);
		json_obj_begin(&o->j, NULL);
		json_arr_begin(&o->j, "changes");
	}
}

int cli_diff_end(cli_diff_out *o, const char *cmd, int rc, const arca_diff_stats *st)
{
	if (o->json) {
		json_arr_end(&o->j);
		if (!rc) {
			json_u64(&o->j, "added", st->added);
			json_u64(&o->j, "deleted", st->deleted);
			json_u64(&o->j, "modified", st->modified);
			json_u64(&o->j, "ranges", st->ranges);
			json_u64(&o->j, "changed_bytes", st->changed_bytes);
			json_u64(&o->j, "bytes_read", st->bytes_read);
		}
		json_obj_end(&o->j);
	}
	if (rc)
		return cli_fail(cmd, rc);
	if (o->json)
		return 0;
	if (st->ranges || st->size_a || st->size_b)
		fprintf(stderr, "%s: %llu ranges, %llu bytes changed (sizes %llu -> %llu)\n", cmd,
			(unsigned long long)st->ranges, (unsigned long long)st->changed_bytes,
			(unsigned long long)st->size_a, (unsigned long long)st->size_b);
	else
		fprintf(stderr, "%s: %llu added, %llu deleted, %llu modified\n", cmd,
			(unsigned long long)st->added, (unsigned long long)st->deleted,
			(unsigned long long)st->modified);
	return 0;
}
