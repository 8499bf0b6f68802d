#include "cli.h"
#include "arca/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] import FILE|- [--force] [--progress[=M]] [--json]\n"
		"\n"
		"Reads a bundle made by 'arca export' ('-': from standard input) in one\n"
		"pass, checks every object in it (each chunk against its id, each manifest\n"
		"against its artifact id), then adds its artifacts and sets its refs in one\n"
		"transaction. A damaged, truncated or hostile bundle is refused (exit 4),\n"
		"as is one made with --since whose base this store lacks (exit 3); the\n"
		"store is then left exactly as it was. As in a pull, a local ref moves only\n"
		"to an artifact that descends from the one it points at, unless --force\n"
		"(exit 5 otherwise). Creates the store if needed.\n"
		"\n"
		"  --force     move local refs even to artifacts that do not descend from\n"
		"              what they point at (the old artifact stays stored)\n"
		"  --progress[=line|json|none]\n"
		"              progress on stderr: a live line (the default when stderr\n"
		"              is a terminal), one JSON event a line, or none\n"
		"  --json      print a JSON object with counters\n\n"
		"Examples:\n"
		"  arca import app.bundle\n"
		"  arca import - < app.bundle\n");
}

int cmd_import(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	arca_store *store = NULL;
	int json = 0, show = 0, c, rc, status, fd;
	const char *file;
	cli_progress cp;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (cli_progress_arg("import", optarg, &show) != 0)
				return EXIT_USAGE;
			break;
		case 'f': so.force = 1; break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("import", argc, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("import", "expected one FILE (or - for standard input)");
	file = argv[optind];
	if (!strcmp(file, "-")) {
		if (isatty(STDIN_FILENO))
			return cli_usage_error("import", "refusing to read a bundle from a terminal");
		fd = STDIN_FILENO;
	} else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "arca import: %s: %s\n", file, strerror(errno));
		return errno == ENOENT ? EXIT_NOTFOUND : EXIT_FAIL;
	}
	if ((status = cli_open_store(ctx, "import", &store, 1)) != 0)
		goto out;
	cli_progress_begin(&cp, "import", show);
	so.progress_cb = cli_progress_cb;
	so.progress_payload = &cp;
	rc = arca_import(&r, store, fd, &so);
	if (rc == ARCA_EUSER && cli_interrupted()) {
		status = cli_fail_interrupted(&cp, "the store is unchanged");
		goto out;
	}
	cli_progress_end(&cp);
	if (rc) {
		status = cli_fail("import", rc);
		if (rc == ARCA_EEXISTS)
			cli_hint("--force moves the local ref anyway (its artifact stays in the store)");
		goto out;
	}
	if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_u64(&j, "artifacts", r.artifacts);
		json_u64(&j, "chunks", r.chunks);
		json_u64(&j, "objects", r.objects);
		json_u64(&j, "bytes", r.bytes);
		json_u64(&j, "refs_moved", r.refs_moved);
		json_obj_end(&j);
	} else {
		char sz[32];
		cli_human_size(sz, sizeof(sz), r.bytes);
		printf("imported %llu new artifacts and %llu new chunks from %s; %llu refs set\n",
			(unsigned long long)r.artifacts, (unsigned long long)r.chunks, sz,
			(unsigned long long)r.refs_moved);
	}
out:
	if (fd != STDIN_FILENO)
		close(fd);
	arca_store_free(store);
	return status;
}
