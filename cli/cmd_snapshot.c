#include "cli.h"
#include "arca/hub.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] snapshot PATH [--name NAME] [--tag TAG]\n"
		"                                   [--label KEY=VALUE]... [--parent REF]\n"
		"                                   [--kind tree|image]\n"
		"                                   [--progress[=M]] [--json] [--quiet]\n"
		"\n"
		"Stores PATH as a new artifact and prints its id (art_<sha256 of manifest>).\n"
		"A directory becomes a tree artifact; a regular file or block device becomes\n"
		"an image artifact, read sparse-aware (holes are neither read nor stored).\n"
		"Identical content gives the identical id and adds nothing to the store.\n"
		"^C cancels it (exit status 13): the store is left unchanged.\n"
		"\n"
		"  --name NAME        name the artifact; sets ref NAME:latest\n"
		"  --tag TAG          also set ref NAME:TAG (needs --name)\n"
		"  --parent REF       record REF as the parent (default: NAME:latest)\n"
		"  --label KEY=VALUE  attach a label (repeatable)\n"
		"  --kind KIND        force tree or image instead of detecting it\n"
		"  --hub-push         first push the tree to a Hub branch (see 'arca hub\n"
		"                     --help'; token from $ARCA_HUB_TOKEN) and label the\n"
		"                     artifact hub.commit, hub.branch and hub.url\n"
		"  --hub-url URL      the Hub repository for --hub-push\n"
		"  --hub-branch B     the branch for --hub-push\n"
		"  --progress[=line|json|none]\n"
		"                     progress on stderr: a live line (the default when stderr\n"
		"                     is a terminal), one JSON event a line, or none\n"
		"  --json             print a JSON object with the id and counters\n"
		"  --quiet            print only the id (no summary on stderr)\n\n"
		"Examples:\n"
		"  arca snapshot ~/work/app --name app --tag v1\n"
		"  arca snapshot vm.img --name vm --label os=debian12\n"
		"  arca snapshot . --name app --json | jq -r .id\n");
}

/* Paths reported by the snapshot's on_warning, for --json. */
typedef struct {
	char **paths;
	size_t n, cap;
	int oom;
} warnings;

static void on_warning(const char *path, const char *message, void *payload)
{
	warnings *w = payload;
	fputs("arca snapshot: warning: ", stderr);
	cli_put_name(stderr, path);
	fprintf(stderr, " %s\n", message);
	if (w->n == w->cap) {
		size_t nc = w->cap ? 2 * w->cap : 16;
		char **np = realloc(w->paths, nc * sizeof(*np));
		if (!np) {
			w->oom = 1;
			return;
		}
		w->paths = np;
		w->cap = nc;
	}
	if (!(w->paths[w->n] = strdup(path)))
		w->oom = 1;
	else
		w->n++;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int cmd_snapshot(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "tag", required_argument, NULL, 't' },
		{ "label", required_argument, NULL, 'l' },
		{ "kind", required_argument, NULL, 'k' },
		{ "parent", required_argument, NULL, 'p' },
		{ "hub-push", no_argument, NULL, 'H' },
		{ "hub-url", required_argument, NULL, 'U' },
		{ "hub-branch", required_argument, NULL, 'B' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
	arca_label *labels = NULL;
	arca_store *store = NULL;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	arca_id id;
	char ids[ARCA_ID_STRLEN];
	int json = 0, quiet = 0, hub = 0, show = 0, c, rc, status = 0;
	cli_progress cp;
	const char *hub_url = NULL, *hub_branch = NULL;
	arca_hub_push_result hr = ARCA_HUB_PUSH_RESULT_INIT;
	warnings warns = { NULL, 0, 0, 0 };
	double t0;

	labels = calloc((size_t)argc + 3, sizeof(*labels));
	if (!labels)
		return EXIT_FAIL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'n': so.name = optarg; break;
		case 't': so.tag = optarg; break;
		case 'p': so.parent = optarg; break;
		case 'H': hub = 1; break;
		case 'U': hub_url = optarg; break;
		case 'B': hub_branch = optarg; break;
		case 'l': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				free(labels);
				return cli_usage_error("snapshot", "--label needs KEY=VALUE, got '%s'", optarg);
			}
			*eq = '\0';
			labels[so.nlabels].key = optarg;
			labels[so.nlabels].value = eq + 1;
			so.nlabels++;
			break;
		}
		case 'k':
			if (!strcmp(optarg, "tree"))
				so.kind = ARCA_KIND_TREE;
			else if (!strcmp(optarg, "image"))
				so.kind = ARCA_KIND_IMAGE;
			else {
				free(labels);
				return cli_usage_error("snapshot", "--kind must be tree or image");
			}
			break;
		case 'j': json = 1; break;
		case 'q': quiet = 1; break;
		case 'P':
			if (cli_progress_arg("snapshot", optarg, &show) != 0) {
				free(labels);
				return EXIT_USAGE;
			}
			break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); free(labels); return 0;
		default: free(labels); return cli_bad_option("snapshot", argc, argv);
		}
	}
	if (optind + 1 != argc) {
		free(labels);
		return cli_usage_error("snapshot", "expected exactly one PATH");
	}
	so.labels = labels;
	so.on_warning = on_warning;
	so.warning_payload = &warns;
	if (hub && (!hub_url || !hub_branch)) {
		free(labels);
		return cli_usage_error("snapshot", "--hub-push needs --hub-url and --hub-branch");
	}
	if ((status = cli_open_store(ctx, "snapshot", &store, 1)) != 0)
		goto out;
	if (hub) {
		arca_hub_remote hrm = ARCA_HUB_REMOTE_INIT;
		arca_hub_push_options hpo = ARCA_HUB_PUSH_OPTIONS_INIT;
		char cache[4096];
		hrm.url = hub_url;
		hpo.branch = hub_branch;
		if ((status = cli_hub_env("snapshot", &hrm, &hpo, cache, sizeof(cache))) != 0)
			goto out;
		if ((rc = arca_hub_push(&hr, argv[optind], &hrm, &hpo)) != 0) {
			status = cli_fail(NULL, rc);
			cli_hub_hint(rc, &hrm, 0, rc == ARCA_ECONFLICT ?
				"run the snapshot again to push on top of the Hub's branch" : NULL);
			goto out;
		}
		labels[so.nlabels].key = "hub.commit";
		labels[so.nlabels++].value = hr.commit;
		labels[so.nlabels].key = "hub.branch";
		labels[so.nlabels++].value = hub_branch;
		labels[so.nlabels].key = "hub.url";
		labels[so.nlabels++].value = hub_url;
	}
	t0 = now_s();
	cli_progress_begin(&cp, "snapshot", quiet && show == CLI_PROGRESS_AUTO ? CLI_PROGRESS_NONE : show);
	so.progress_cb = cli_progress_cb;
	so.progress_payload = &cp;
	rc = arca_snapshot(&id, store, argv[optind], &so, &st);
	if (rc == ARCA_EUSER && cli_interrupted()) {
		status = cli_fail_interrupted(&cp, "the store is unchanged");
		goto out;
	}
	cli_progress_end(&cp);
	if (rc) {
		status = cli_fail("snapshot", rc);
		goto out;
	}
	arca_id_format(ids, &id);
	if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "id", ids);
		json_u64(&j, "entries", st.entries);
		json_u64(&j, "entries_skipped", st.entries_skipped);
		json_u64(&j, "logical_bytes", st.logical_bytes);
		json_u64(&j, "bytes_read", st.bytes_read);
		json_u64(&j, "hole_bytes", st.hole_bytes);
		json_u64(&j, "chunks", st.chunks);
		json_u64(&j, "chunks_new", st.chunks_new);
		json_u64(&j, "new_raw_bytes", st.new_raw_bytes);
		json_u64(&j, "new_stored_bytes", st.new_stored_bytes);
		json_u64(&j, "files_unchanged", st.files_unchanged);
		json_u64(&j, "files_changed", st.files_changed);
		json_arr_begin(&j, "changed_paths");
		for (size_t i = 0; i < warns.n; i++)
			json_str(&j, NULL, warns.paths[i]);
		json_arr_end(&j);
		json_u64(&j, "entries_excluded", st.entries_excluded);
		json_num(&j, "seconds", now_s() - t0);
		json_obj_end(&j);
	} else {
		printf("%s\n", ids);
		if (!quiet) {
			char l[32], n[32];
			cli_human_size(l, sizeof(l), st.logical_bytes);
			cli_human_size(n, sizeof(n), st.new_stored_bytes);
			fprintf(stderr, "snapshot: %s logical, %llu chunks (%llu new), %s added to the store in %.2fs\n",
				l, (unsigned long long)st.chunks, (unsigned long long)st.chunks_new,
				n, now_s() - t0);
			if (st.files_changed)
				fprintf(stderr, "snapshot: %llu entries changed while being read (see the warnings)\n",
					(unsigned long long)st.files_changed);
			if (st.entries_skipped)
				fprintf(stderr, "snapshot: skipped %llu sockets/device nodes\n",
					(unsigned long long)st.entries_skipped);
		}
	}
out:
	arca_store_free(store);
	free(labels);
	for (size_t i = 0; i < warns.n; i++)
		free(warns.paths[i]);
	free(warns.paths);
	return status;
}
