#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] remote add NAME URL [--region R] [--insecure-http]\n"
		"       arca [--store DIR] remote ls [--json]\n"
		"       arca [--store DIR] remote rm NAME\n"
		"\n"
		"Names the remotes that push, pull and 'ls --remote' use. A URL is a\n"
		"directory (a relative path is made absolute), file:///PATH,\n"
		"s3://HOST[:PORT]/BUCKET[/PREFIX] (an S3-compatible bucket) or\n"
		"http(s)://... (a static server: pull only). No credential is stored: push\n"
		"and pull take them from $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY and\n"
		"$AWS_SESSION_TOKEN.\n"
		"\n"
		"  --region R       the S3 region (default us-east-1)\n"
		"  --insecure-http  allow plain http:// to an S3 host that is not loopback\n"
		"  --json           ls: print a JSON array\n\n"
		"Examples:\n"
		"  arca remote add backup /mnt/backup/arca\n"
		"  arca remote add s3 s3://minio.local:9000/arca --region eu-west-1\n"
		"  arca remote ls --json\n");
}

typedef struct {
	int json;
	json_w j;
} ls_state;

static int print_remote(const char *name, const char *url, const char *region, int insecure,
		void *payload)
{
	ls_state *ls = payload;
	if (ls->json) {
		json_obj_begin(&ls->j, NULL);
		json_str(&ls->j, "name", name);
		json_str(&ls->j, "url", url);
		if (region)
			json_str(&ls->j, "region", region);
		else
			json_null(&ls->j, "region");
		json_bool(&ls->j, "insecure_http", insecure);
		json_obj_end(&ls->j);
		return 0;
	}
	printf("%s\t%s%s%s%s\n", name, url, region ? "\tregion=" : "", region ? region : "",
		insecure ? "\tinsecure-http" : "");
	return 0;
}

/* A directory URL as an absolute path (the store may be used from
 * elsewhere); other URLs as given. */
static int absolute_url(const char *url, char *out, size_t n)
{
	char cwd[PATH_MAX];
	if (strstr(url, "://") || url[0] == '/') {
		if (strlen(url) >= n)
			return -1;
		memcpy(out, url, strlen(url) + 1);
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	while (url[0] == '.' && url[1] == '/')
		url += 2;
	return snprintf(out, n, "%s/%s", cwd, url) < (int)n ? 0 : -1;
}

int cmd_remote(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "region", required_argument, NULL, 'r' },
		{ "insecure-http", no_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *region = NULL, *verb;
	arca_store *store = NULL;
	ls_state ls;
	int insecure = 0, c, rc = 0, status, nargs;
	char url[PATH_MAX + 16];

	memset(&ls, 0, sizeof(ls));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': region = optarg; break;
		case 'i': insecure = 1; break;
		case 'j': ls.json = 1; break;
		case 's': ctx->store_path = optarg; break;
		case 'h': help(stdout); return 0;
		default: return cli_bad_option("remote", argc, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("remote", "say add, ls or rm");
	verb = argv[optind++];
	nargs = argc - optind;
	if (!strcmp(verb, "add")) {
		if (nargs != 2)
			return cli_usage_error("remote", "add needs NAME and URL");
		if (absolute_url(argv[optind + 1], url, sizeof(url)) != 0)
			return cli_usage_error("remote", "URL too long");
	} else if (!strcmp(verb, "ls")) {
		if (nargs != 0)
			return cli_usage_error("remote", "unexpected argument '%s'", argv[optind]);
	} else if (!strcmp(verb, "rm")) {
		if (nargs != 1)
			return cli_usage_error("remote", "rm needs NAME");
	} else {
		return cli_usage_error("remote", "unknown subcommand '%s' (add, ls, rm)", verb);
	}
	if ((region || insecure) && strcmp(verb, "add") != 0)
		return cli_usage_error("remote", "--region and --insecure-http go with add");
	if ((status = cli_open_store(ctx, "remote", &store, !strcmp(verb, "add"))) != 0)
		return status;
	if (!strcmp(verb, "add")) {
		rc = arca_remote_add(store, argv[optind], url, region, insecure);
	} else if (!strcmp(verb, "rm")) {
		rc = arca_remote_remove(store, argv[optind]);
	} else {
		if (ls.json) {
			json_init(&ls.j, stdout);
			json_arr_begin(&ls.j, NULL);
		}
		rc = arca_remote_foreach(store, print_remote, &ls);
		if (ls.json)
			json_arr_end(&ls.j);
	}
	if (rc)
		status = cli_fail("remote", rc);
	arca_store_free(store);
	return status;
}
