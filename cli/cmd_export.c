#include "cli.h"
#include "arca/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] export REF... -o FILE|- [--since BASE]...\n"
		"                          [--progress[=M]] [--json]\n"
		"\n"
		"Writes a bundle: one tar file holding everything needed to restore the\n"
		"refs REF (NAME:TAG, or NAME for NAME:latest) in another store, with\n"
		"'arca import'. With --since, only what the artifacts BASE (any reference)\n"
		"lack; the importing store must have those. The same refs of the same store\n"
		"give the same bytes. FILE is written under a temporary name beside it\n"
		"(FILE.tmp-XXXXXX) and renamed when complete; '-o -' writes to standard\n"
		"output (not to a terminal). Reads the store only; pack objects are built\n"
		"in $TMPDIR (else beside the store, else /tmp).\n"
		"\n"
		"  -o, --output FILE  where to write the bundle ('-': standard output)\n"
		"  --since BASE       leave out what artifact BASE has (repeatable)\n"
		"  --progress[=line|json|none]\n"
		"                     progress on stderr: a live line (the default when stderr\n"
		"                     is a terminal), one JSON event a line, or none\n"
		"  --json             print a JSON object with counters (not with '-o -')\n\n"
		"Examples:\n"
		"  arca export app:v2 -o app.bundle\n"
		"  arca export app:v3 --since app:v2 -o app-v3.bundle\n"
		"  arca export app:v2 -o - | ssh far arca import -\n");
}

/* FILE.tmp-XXXXXX beside FILE, made durable and renamed over it once
 * complete: a name of its own (O_EXCL), so two exports to one FILE never
 * write into one file, and a planted symlink is never followed. */
static int open_tmp(const char *file, char *tmp, size_t n)
{
	int fd;
	if ((size_t)snprintf(tmp, n, "%s.tmp-XXXXXX", file) >= n) {
		fprintf(stderr, "arca export: %s: name too long\n", file);
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "arca export: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	/* mkostemp makes it 0600; a bundle is as readable as any file made here */
	{
		mode_t um = umask(0);
		umask(um);
		(void)fchmod(fd, 0644 & ~um);
	}
	return fd;
}

static int finish_file(int fd, const char *tmp, const char *file)
{
	char dir[4096];
	int dfd;
	if (fsync(fd) < 0 || close(fd) < 0) {
		fprintf(stderr, "arca export: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (rename(tmp, file) < 0) {
		fprintf(stderr, "arca export: rename %s to %s: %s\n", tmp, file, strerror(errno));
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", file);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

int cmd_export(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "since", required_argument, NULL, 'S' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	arca_sync_options so = ARCA_SYNC_OPTIONS_INIT;
	arca_sync_result r = ARCA_SYNC_RESULT_INIT;
	arca_store *store = NULL;
	const char *output = NULL;
	const char **since = NULL;
	size_t nsince = 0;
	char tmp[4200];
	int json = 0, show = 0, c, rc, status, fd = -1, to_stdout;
	cli_progress cp;

	since = calloc((size_t)argc + 1, sizeof(*since));
	if (!since) {
		fprintf(stderr, "arca export: out of memory\n");
		return EXIT_FAIL;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'S': since[nsince++] = optarg; break;
		case 'P':
			if (cli_progress_arg("export", optarg, &show) != 0) {
				free(since);
				return EXIT_USAGE;
			}
			break;
		case 'j': json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); free(since); return 0;
		default: free(since); return cli_bad_option("export", argc, argv);
		}
	}
	status = -1;
	if (optind == argc)
		status = cli_usage_error("export", "expected at least one REF");
	else if (!output || !*output)
		status = cli_usage_error("export", "expected -o FILE (or -o - for standard output)");
	to_stdout = output && !strcmp(output, "-");
	if (status < 0 && to_stdout && isatty(STDOUT_FILENO))
		status = cli_usage_error("export", "refusing to write a bundle to a terminal; "
			"redirect standard output or give -o FILE");
	if (status < 0 && to_stdout && json)
		status = cli_usage_error("export", "--json needs -o FILE (standard output holds the bundle)");
	if (status >= 0) {
		free(since);
		return status;
	}
	if ((status = cli_open_store(ctx, "export", &store, 0)) != 0) {
		free(since);
		return status;
	}
	if (to_stdout)
		fd = STDOUT_FILENO;
	else if ((fd = open_tmp(output, tmp, sizeof(tmp))) < 0) {
		status = EXIT_FAIL;
		goto out;
	}
	if (getenv("TMPDIR") && *getenv("TMPDIR"))
		so.tmp_dir = getenv("TMPDIR");
	cli_progress_begin(&cp, "export", show);
	so.progress_cb = cli_progress_cb;
	so.progress_payload = &cp;
	rc = arca_export(&r, store, (const char *const *)argv + optind, (size_t)(argc - optind),
		since, nsince, fd, &so);
	if (rc && !to_stdout) {
		close(fd);
		unlink(tmp);
	}
	if (rc == ARCA_EUSER && cli_interrupted()) {
		status = cli_fail_interrupted(&cp, to_stdout ? "the bundle written is incomplete" :
			"no bundle written");
		goto out;
	}
	cli_progress_end(&cp);
	if (rc) {
		status = cli_fail("export", rc);
		goto out;
	}
	if (!to_stdout && finish_file(fd, tmp, output) < 0) {
		unlink(tmp);
		status = EXIT_FAIL;
		goto out;
	}
	status = 0;
	if (json) {
		json_w j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_u64(&j, "artifacts", r.artifacts);
		json_u64(&j, "chunks", r.chunks);
		json_u64(&j, "objects", r.objects);
		json_u64(&j, "bytes", r.bytes);
		json_u64(&j, "refs", r.refs_moved);
		json_obj_end(&j);
	} else if (!to_stdout) { /* else standard output is the bundle */
		char sz[32];
		cli_human_size(sz, sizeof(sz), r.bytes);
		printf("exported %llu refs, %llu artifacts, "
			"%llu chunks (%s)\n", (unsigned long long)r.refs_moved,
			(unsigned long long)r.artifacts, (unsigned long long)r.chunks, sz);
	}
out:
	arca_store_free(store);
	free(since);
	return status;
}
