#include "cli.h"

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] pull REMOTE REF... [--jobs N] [--force]\n"
		"                                [--progress[=M]] [--json]\n"
		"\n"
		"Fetches each REF (NAME:TAG, NAME for NAME:latest, or a full artifact id\n"
		"art_<64 hex>) from REMOTE (a name from 'arca remote add', or a URL) with\n"
		"plain GETs, only the chunks this store lacks, checking every chunk's hash\n"
		"and each manifest against its artifact id; then adds the artifacts and\n"
		"sets the local refs in one transaction. A local ref moves only to an\n"
		"artifact that descends from the one it points at (its parents), unless\n"
		"--force. Any error leaves the store as it was. S3 credentials come from\n"
		"$AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY and $AWS_SESSION_TOKEN.\n"
		"\n"
		"  --force      move local refs even to artifacts that do not descend\n"
		"               from what they point at (the old artifact stays stored)\n"
		"  --jobs N     parallel GETs of about 8 MiB (default 4), each held in\n"
		"               memory and checked on its own thread\n"
		"  --progress[=line|json|none]\n"
		"               progress on stderr: a live line (the default when stderr\n"
		"               is a terminal), one JSON event a line, or none\n"
		"  --json       print a JSON object with counters\n\n"
		"Examples:\n"
		"  arca pull backup app:v2\n"
		"  arca pull https://mirror.example/arca app:stable\n");
}

int cmd_pull(cli_ctx *ctx, int argc, char **argv)
{
	static const cli_sync_verb pull = { "pull", "pulled", help, arca_pull, 1,
		"the store is unchanged",
		"--force moves the local ref anyway (its artifact stays in the store)" };
	return cli_sync_run(ctx, argc, argv, &pull);
}
