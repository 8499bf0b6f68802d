#include "cli.h"

#include <dirent.h>

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] restore [--from REMOTE] REF DEST [--force]\n"
		"                                  [--progress[=M]] [--json]\n"
		"\n"
		"Restores artifact REF to DEST: a tree into a new directory, an image into a\n"
		"new file that is sparse where the artifact has holes. Every chunk is checked\n"
		"against its SHA-256 id. Nothing is ever written outside DEST. ^C stops it\n"
		"(exit status 13) and leaves DEST partly written, as any failed restore does.\n"
		"\n"
		"  --from REMOTE  restore REF of REMOTE (a name from 'arca remote add', or a\n"
		"            URL) without adding it to the store: its records are downloaded\n"
		"            into unlinked temporary files in $TMPDIR (else /tmp) as the\n"
		"            restore reads them\n"
		"  --force   for trees: allow DEST to be an existing empty directory;\n"
		"            for images: overwrite an existing file or block device\n"
		"  --progress[=line|json|none]\n"
		"              progress on stderr: a live line (the default when stderr\n"
		"              is a terminal), one JSON event a line, or none\n"
		"  --json    print a JSON object with counters\n\n"
		"Examples:\n"
		"  arca restore app:v1 /tmp/app-v1\n"
		"  arca restore vm:latest /var/lib/vms/vm.img --force\n"
		"  arca restore --from backup app:v1 /tmp/app\n");
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;
	while (d && empty && (e = readdir(d)) != NULL)
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return d && empty;
}

int cmd_restore(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "from", required_argument, NULL, 'F' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	arca_store *store = NULL;
	arca_op_stats st = ARCA_OP_STATS_INIT;
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	const char *from = NULL;
	int json = 0, show = 0, c, rc, status = 0;
	struct timespec t0, t1;
	cli_progress cp;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': ro.force = 1; break;
		case 'F': from = optarg; break;
		case 'P':
			if (cli_progress_arg("restore", optarg, &show) != 0)
				return EXIT_USAGE;
			break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("restore", argc, argv);
		}
	}
	if (optind + 2 != argc)
		return cli_usage_error("restore", "expected REF and DEST");
	if (from && !cli_store_exists(ctx)) {
		store = NULL; /* a URL needs no store: nothing is kept */
	} else if ((status = cli_open_store(ctx, "restore", &store, 0)) != 0) {
		return status;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cli_progress_begin(&cp, "restore", show);
	ro.progress_cb = cli_progress_cb;
	ro.progress_payload = &cp;
	if (from) {
		cli_sync_env(&so);
		so.progress_cb = cli_progress_cb;
		so.progress_payload = &cp;
		rc = arca_remote_restore(&st, store, from, argv[optind], argv[optind + 1], &ro, &so,
			NULL);
	} else {
		rc = arca_restore(store, argv[optind], argv[optind + 1], &ro, &st);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == ARCA_EUSER && cli_interrupted()) {
		status = cli_fail_interrupted(&cp, "the store is unchanged; DEST may be partly "
			"written (remove it)");
		goto out;
	}
	cli_progress_end(&cp);
	if (!rc && st.setid_dropped)
		fprintf(stderr, "arca restore: warning: %llu setuid/setgid bits dropped "
			"(ownership could not be restored)\n", (unsigned long long)st.setid_dropped);
	if (rc) {
		struct stat ds;
		status = cli_fail("restore", rc);
		if (rc == ARCA_EEXISTS && !ro.force && stat(argv[optind + 1], &ds) == 0) {
			/* --force takes an empty directory only: for one with files
			 * the way in place is a rollback */
			if (!S_ISDIR(ds.st_mode))
				cli_hint("--force overwrites it");
			else if (dir_is_empty(argv[optind + 1]))
				cli_hint("--force restores into an existing empty directory");
			else
				cli_hint("restore into a new directory, or put this one in the "
					"artifact's state in place: arca rollback %s %s", argv[optind],
					argv[optind + 1]);
		}
	} else if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "dest", argv[optind + 1]);
		json_u64(&j, "entries", st.entries);
		json_u64(&j, "logical_bytes", st.logical_bytes);
		json_u64(&j, "bytes_written", st.bytes_written);
		json_u64(&j, "hole_bytes", st.hole_bytes);
		json_u64(&j, "setid_dropped", st.setid_dropped);
		json_num(&j, "seconds", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
		json_obj_end(&j);
	} else {
		char l[32], w[32];
		cli_human_size(l, sizeof(l), st.logical_bytes);
		cli_human_size(w, sizeof(w), st.bytes_written);
		fprintf(stderr, "restore: %s logical (%s written) to %s in %.2fs\n", l, w,
			argv[optind + 1],
			(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
out:
	arca_store_free(store);
	return status;
}
