/* arca env: environments made from artifacts (include/arca/env.h). */
#include "cli.h"
#include "arca/env.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(FILE *f)
{
	fprintf(f,
		"usage: arca [--store DIR] env create REF [--backend dir|smolvm|qemu] [--name N]\n"
		"                                 [--label K=V]... [--set KEY=VALUE]... [--json]\n"
		"                                 [--kernel PATH] [--initrd PATH|none]\n"
		"                                 [-v HOST:GUEST[:ro]]... [--progress[=M]]\n"
		"       arca [--store DIR] env ls [--json]\n"
		"       arca [--store DIR] env show N [--json]\n"
		"       arca [--store DIR] env exec N [--timeout S] [-e K=V]... [-w DIR]\n"
		"                                 [--isolate [--net]] -- CMD...\n"
		"       arca [--store DIR] env snapshot N [--name NAME] [--tag T] [--json]\n"
		"       arca [--store DIR] env reset N [REF] [--progress[=M]]\n"
		"       arca [--store DIR] env diff N [--json]\n"
		"       arca [--store DIR] env pause N | resume N | rm N\n"
		"\n"
		"An env is an artifact restored into a new environment by a backend: 'dir'\n"
		"(the default: a directory, or a sparse file for an image, in the store's\n"
		"envs/ area), 'smolvm' (a microVM through the smolvm CLI) or 'qemu' (an\n"
		"image holding a root filesystem booted as a VM with qemu-system-x86_64 and\n"
		"the host's kernel; exec goes through a guest agent). exec runs a\n"
		"command in it and exits with the command's status (124 when --timeout\n"
		"expires); snapshot makes a new artifact whose parent is the env's current\n"
		"one; reset puts the env back in place to REF (default: the artifact it was\n"
		"created from); diff shows what changed since its current artifact. A\n"
		"backend that cannot pause, snapshot or reset refuses with exit status 14.\n"
		"\n"
		"  --backend B      dir (default), smolvm or qemu\n"
		"  --name N         the env's name (default: the artifact's name and a suffix)\n"
		"  --label K=V      a label of the env (repeatable)\n"
		"  --set KEY=VALUE  a backend setting (repeatable): dir takes bwrap; smolvm\n"
		"                   takes smolvm-bin, image, cpus, mem, net, path, disk,\n"
		"                   volume=HOST:GUEST[:ro]; qemu takes qemu-bin, kernel,\n"
		"                   initrd, agent, cpus, mem (MiB), accel=auto|kvm|tcg, root,\n"
		"                   fstype, boot-timeout (s), volume\n"
		"  --kernel PATH    qemu: the kernel (a bzImage; default: the newest\n"
		"                   /boot/vmlinuz-*)\n"
		"  --initrd PATH    qemu: the initrd the agent's is appended to (default:\n"
		"                   the kernel's /boot/initrd.img-*; 'none': only the agent's,\n"
		"                   which boots ~3 s faster under TCG)\n"
		"  -v HOST:GUEST[:ro]  smolvm, qemu: share a host directory (repeatable); the\n"
		"                   guest sees nothing else of the host\n"
		"  --timeout S      exec: kill the command after S seconds (status 124)\n"
		"  -e K=V           exec: an environment variable for the command\n"
		"  -w DIR           exec: the working directory inside the env\n"
		"  --isolate        exec, dir backend: run inside the env's tree as its root\n"
		"                   (bubblewrap; --set bwrap=PATH at create), with a clean\n"
		"                   environment and no network\n"
		"  --net            exec --isolate: keep the host's network\n"
		"  --tag T, --name  snapshot: the new artifact's tag and name\n"
		"  --progress[=line|json|none]\n"
		"                   create, reset: progress of the restore or rollback on\n"
		"                   stderr (a live line by default when it is a terminal)\n"
		"  --json           create, ls, show, snapshot, diff: print JSON\n\n"
		"Examples:\n"
		"  arca env create app:v1 --name dev\n"
		"  arca env exec dev --timeout 60 -- make test\n"
		"  arca env snapshot dev --tag wip && arca env reset dev\n"
		"  arca env create vm:v1 --backend qemu --name vm1 -v /srv/data:/data:ro\n");
}

static int name_width; /* env ls: the NAME column */

static void print_info(const arca_env_info *e, int json, json_w *j)
{
	static const struct { unsigned bit; const char *name; } caps[] = {
		{ ARCA_ENV_CAP_SNAPSHOT, "snapshot" }, { ARCA_ENV_CAP_ROLLBACK, "rollback" },
		{ ARCA_ENV_CAP_PAUSE, "pause" }, { ARCA_ENV_CAP_STREAM, "stream" },
	};
	char src[ARCA_ID_STRLEN], cur[ARCA_ID_STRLEN], t[64];

	arca_id_format(src, &e->source);
	arca_id_format(cur, &e->current);
	if (json) {
		json_obj_begin(j, NULL);
		json_str(j, "name", e->name);
		json_str(j, "backend", e->backend);
		json_str(j, "state", arca_env_state_name(e->state));
		json_str(j, "kind", arca_kind_name(e->kind));
		json_str(j, "source", src);
		json_str(j, "current", cur);
		json_i64(j, "created_ns", e->created_ns);
		json_obj_begin(j, "labels");
		for (size_t i = 0; i < e->nlabels; i++)
			json_str(j, e->labels[i].key, e->labels[i].value);
		json_obj_end(j);
		json_arr_begin(j, "settings");
		for (size_t i = 0; i < e->nsettings; i++)
			json_str(j, NULL, e->settings[i]);
		json_arr_end(j);
		json_arr_begin(j, "capabilities");
		for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
			if (e->capabilities & caps[i].bit)
				json_str(j, NULL, caps[i].name);
		json_arr_end(j);
		if (e->dir)
			json_str(j, "dir", e->dir);
		else
			json_null(j, "dir");
		if (e->error)
			json_str(j, "error", e->error);
		else
			json_null(j, "error");
		json_obj_end(j);
		return;
	}
	cli_format_time(t, sizeof(t), e->created_ns);
	printf("%-*s  %-7s  %-9s  %s  %s\n", name_width, e->name, e->backend,
		arca_env_state_name(e->state), cur, t);
}

static int print_one(const arca_env_info *e, void *payload)
{
	json_w *j = payload;
	print_info(e, j != NULL, j);
	return 0;
}

/* The first of ls's two passes: the widest name, for aligned columns. */
static int measure_one(const arca_env_info *e, void *payload)
{
	(void)payload;
	if ((int)strlen(e->name) > name_width)
		name_width = (int)strlen(e->name);
	return 0;
}

static void show_info(const arca_env_info *e)
{
	char src[ARCA_ID_STRLEN], cur[ARCA_ID_STRLEN], t[64];
	arca_id_format(src, &e->source);
	arca_id_format(cur, &e->current);
	cli_format_time(t, sizeof(t), e->created_ns);
	printf("name:      %s\nbackend:   %s\nstate:     %s\nkind:      %s\n", e->name, e->backend,
		arca_env_state_name(e->state), arca_kind_name(e->kind));
	printf("source:    %s\ncurrent:   %s\ncreated:   %s\n", src, cur, t);
	if (e->dir)
		printf("dir:       %s\n", e->dir);
	for (size_t i = 0; i < e->nlabels; i++) {
		printf("label:     %s=", e->labels[i].key);
		cli_put_text(stdout, e->labels[i].value); /* any byte: escaped */
		putchar('\n');
	}
	for (size_t i = 0; i < e->nsettings; i++)
		printf("setting:   %s\n", e->settings[i]);
	if (e->error)
		printf("error:     %s\n", e->error);
}

/* Splits "K=V" into a label; 0, or -1 when there is no '='. */
static int parse_label(char *s, arca_label *l)
{
	char *eq = strchr(s, '=');
	if (!eq || eq == s)
		return -1;
	*eq = 0;
	l->key = s;
	l->value = eq + 1;
	return 0;
}

/* Grows a NULL-terminated list of strings by one; -1 when out of memory. */
static int push_str(const char ***list, size_t *n, const char *s)
{
	const char **p = realloc(*list, (*n + 2) * sizeof(**list));
	if (!p)
		return -1;
	p[(*n)++] = s;
	p[*n] = NULL;
	*list = p;
	return 0;
}

typedef struct {
	const char *backend, *name, *tag, *cwd;
	unsigned timeout_s;
	int isolate, net;
	arca_label *labels;
	size_t nlabels;
	const char **settings, **envp;
	size_t nsettings, nenvp;
	int show;                 /* --progress (CLI_PROGRESS_*) */
	char *made[64];           /* settings made from options (freed) */
	size_t nmade;
	int json;
} env_opts;

/* "KEY=VALUE" from an option such as --kernel P, kept in o->made. */
static int push_setting(env_opts *o, const char *key, const char *value)
{
	size_t n = strlen(key) + strlen(value) + 2;
	char *kv;
	if (o->nmade == sizeof(o->made) / sizeof(o->made[0]) || !(kv = malloc(n)))
		return -1;
	snprintf(kv, n, "%s=%s", key, value);
	o->made[o->nmade++] = kv;
	return push_str(&o->settings, &o->nsettings, kv);
}

/* The qemu backend's guest agent: beside this arca (a build tree), else
 * where `make install` put it. */
static int default_agent(env_opts *o)
{
	char self[4096], path[4200];
	for (size_t i = 0; i < o->nsettings; i++)
		if (!strncmp(o->settings[i], "agent=", 6))
			return 0;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/arca-agent", self);
			if (access(path, X_OK) == 0)
				return push_setting(o, "agent", path);
		}
	}
	return push_setting(o, "agent", ARCA_LIBEXECDIR "/arca/arca-agent");
}

static int run_verb(cli_ctx *ctx, const char *verb, int nargs, char **args, env_opts *o)
{
	arca_store *store = NULL;
	int rc = 0, status, cmd_status = 0;
	const int create = !strcmp(verb, "create");
	json_w j;

	if ((status = cli_open_store(ctx, "env", &store, create)) != 0)
		return status;
	if (create) {
		arca_env_create_options co = ARCA_ENV_CREATE_OPTIONS_INIT;
		char *name = NULL;
		co.backend = o->backend;
		co.name = o->name;
		co.labels = o->labels;
		co.nlabels = o->nlabels;
		if (o->backend && !strcmp(o->backend, "qemu") && default_agent(o) != 0) {
			arca_store_free(store);
			return cli_usage_error("env", "out of memory");
		}
		co.settings = o->settings;
		cli_progress cp;
		cli_progress_begin(&cp, "env create", o->show);
		co.progress_cb = cli_progress_cb;
		co.progress_payload = &cp;
		rc = arca_env_create(store, args[0], &co, &name);
		cli_progress_end(&cp);
		if (rc == 0) {
			arca_env_info *e = NULL;
			if (o->json && (rc = arca_env_lookup(&e, store, name)) == 0) {
				json_init(&j, stdout);
				print_info(e, 1, &j);
			} else if (!o->json) {
				printf("%s\n", name);
			}
			arca_env_info_free(e);
		}
		free(name);
	} else if (!strcmp(verb, "ls")) {
		if (o->json) {
			json_init(&j, stdout);
			json_arr_begin(&j, NULL);
		}
		if (!o->json)
			rc = arca_env_foreach(store, measure_one, NULL);
		if (!rc)
			rc = arca_env_foreach(store, print_one, o->json ? &j : NULL);
		if (o->json) {
			json_arr_end(&j);
		}
	} else if (!strcmp(verb, "show")) {
		arca_env_info *e = NULL;
		if ((rc = arca_env_lookup(&e, store, args[0])) == 0) {
			if (o->json) {
				json_init(&j, stdout);
				print_info(e, 1, &j);
			} else {
				show_info(e);
			}
		}
		arca_env_info_free(e);
	} else if (!strcmp(verb, "exec")) {
		arca_env_exec_options eo = ARCA_ENV_EXEC_OPTIONS_INIT;
		eo.argv = (const char *const *)args + 1;
		eo.envp = o->envp;
		eo.cwd = o->cwd;
		eo.timeout_s = o->timeout_s;
		eo.isolate = o->isolate;
		eo.net = o->net;
		eo.stdin_fd = 0;
		fflush(stdout);
		rc = arca_env_exec(store, args[0], &eo, &cmd_status);
	} else if (!strcmp(verb, "snapshot")) {
		arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
		arca_id id;
		char s[ARCA_ID_STRLEN];
		so.name = o->name;
		so.tag = o->tag;
		if ((rc = arca_env_snapshot(store, args[0], &so, &id)) == 0) {
			arca_id_format(s, &id);
			if (o->json) {
				json_init(&j, stdout);
				json_obj_begin(&j, NULL);
				json_str(&j, "env", args[0]);
				json_str(&j, "id", s);
				json_obj_end(&j);
			} else {
				printf("%s\n", s);
			}
		}
	} else if (!strcmp(verb, "reset")) {
		arca_env_reset_options ro = ARCA_ENV_RESET_OPTIONS_INIT;
		cli_progress cp;
		cli_progress_begin(&cp, "env reset", o->show);
		ro.progress_cb = cli_progress_cb;
		ro.progress_payload = &cp;
		rc = arca_env_reset_ext(store, args[0], nargs > 1 ? args[1] : NULL, &ro);
		cli_progress_end(&cp);
	} else if (!strcmp(verb, "diff")) {
		cli_diff_out d;
		arca_diff_stats st = ARCA_DIFF_STATS_INIT;
		memset(&d, 0, sizeof(d));
		d.json = o->json;
		cli_diff_begin(&d);
		rc = arca_env_diff(store, args[0], cli_diff_on_entry, cli_diff_on_range, &d, &st);
		status = cli_diff_end(&d, "env diff", rc, &st);
		rc = 0;
	} else if (!strcmp(verb, "pause")) {
		rc = arca_env_pause(store, args[0]);
	} else if (!strcmp(verb, "resume")) {
		rc = arca_env_resume(store, args[0]);
	} else if (!strcmp(verb, "rm")) {
		rc = arca_env_remove(store, args[0]);
	}
	if (rc)
		status = cli_fail("env", rc);
	else if (!strcmp(verb, "exec"))
		status = cmd_status;
	arca_store_free(store);
	return status;
}

/* verb, its positional arguments (min, max; -1: any; as the usage says)
 * and the options it takes */
static const struct {
	const char *verb;
	int min, max;
	const char *args;
	const char *takes;        /* letters of the options it allows */
} verbs[] = {
	{ "create", 1, 1, "REF", "bnlSjKRvP" },
	{ "ls", 0, 0, "no argument", "j" },
	{ "show", 1, 1, "N", "j" },
	{ "exec", 2, -1, "N -- CMD...", "tewIN" },
	{ "snapshot", 1, 1, "N", "nTj" },
	{ "reset", 1, 2, "N [REF]", "P" },
	{ "diff", 1, 1, "N", "j" },
	{ "pause", 1, 1, "N", "" },
	{ "resume", 1, 1, "N", "" },
	{ "rm", 1, 1, "N", "" },
};

int cmd_env(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "name", required_argument, NULL, 'n' },
		{ "label", required_argument, NULL, 'l' },
		{ "set", required_argument, NULL, 'S' },
		{ "kernel", required_argument, NULL, 'K' },
		{ "initrd", required_argument, NULL, 'R' },
		{ "volume", required_argument, NULL, 'v' },
		{ "progress", optional_argument, NULL, 'P' },
		{ "tag", required_argument, NULL, 'T' },
		{ "timeout", required_argument, NULL, 't' },
		{ "isolate", no_argument, NULL, 'I' },
		{ "net", no_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	env_opts o;
	const char *verb;
	size_t vi, nverbs = sizeof(verbs) / sizeof(verbs[0]);
	int c, status = EXIT_USAGE, nargs;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			help(stdout);
			return 0;
		}
		return cli_usage_error("env", "say create, ls, show, exec, snapshot, reset, diff, "
			"pause, resume or rm");
	}
	verb = argv[1];
	for (vi = 0; vi < nverbs && strcmp(verbs[vi].verb, verb); vi++)
		;
	if (vi == nverbs)
		return cli_usage_error("env", "unknown subcommand '%s'", verb);
	/* exec: options go before "--" (or, without it, before N); the
	 * command after them is never parsed */
	int last = argc, dd = -1;
	if (!strcmp(verb, "exec")) {
		for (int i = 2; i < argc; i++)
			if (!strcmp(argv[i], "--")) {
				dd = i;
				break;
			}
		if (dd >= 0)
			last = dd;
	}
	optind = 2;
	while ((c = getopt_long(last, argv, !strcmp(verb, "exec") ? (dd >= 0 ? "he:w:" : "+he:w:") :
			!strcmp(verb, "create") ? "hv:" : "h", opts, NULL)) != -1) {
		if (c == 'h') {
			help(stdout);
			status = 0;
			goto out;
		}
		if (c == 's') {
			ctx->store_path = optarg;
			continue;
		}
		if (c == '?') {
			status = cli_bad_option("env", argc, argv);
			goto out;
		}
		if (!strchr(verbs[vi].takes, c)) {
			status = cli_usage_error("env", "%s: option not taken by env %s",
				argv[optind - 1], verb);
			goto out;
		}
		switch (c) {
		case 'b': o.backend = optarg; break;
		case 'n': o.name = optarg; break;
		case 'T': o.tag = optarg; break;
		case 'w': o.cwd = optarg; break;
		case 'j': o.json = 1; break;
		case 'I': o.isolate = 1; break;
		case 'N': o.net = 1; break;
		case 't': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			/* digits only: strtoul also takes " 5", "+5" and "-1" */
			if (*end || strspn(optarg, "0123456789") != strlen(optarg) || v == 0 ||
			    v > 86400 * 365) {
				status = cli_usage_error("env", "--timeout wants a number of seconds");
				goto out;
			}
			o.timeout_s = (unsigned)v;
			break;
		}
		case 'l': {
			arca_label *l = realloc(o.labels, (o.nlabels + 1) * sizeof(*l));
			if (!l || parse_label(optarg, &l[o.nlabels]) != 0) {
				if (l)
					o.labels = l;
				status = cli_usage_error("env", "--label wants KEY=VALUE");
				goto out;
			}
			o.labels = l;
			o.nlabels++;
			break;
		}
		case 'P':
			if (cli_progress_arg("env", optarg, &o.show) != 0) {
				status = EXIT_USAGE;
				goto out;
			}
			break;
		case 'K':
		case 'R':
		case 'v':
			if (push_setting(&o, c == 'K' ? "kernel" : c == 'R' ? "initrd" : "volume",
					optarg) != 0) {
				status = cli_usage_error("env", "out of memory");
				goto out;
			}
			break;
		case 'S':
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=') {
				status = cli_usage_error("env", "%s wants KEY=VALUE", c == 'S' ? "--set" : "-e");
				goto out;
			}
			if ((c == 'S' ? push_str(&o.settings, &o.nsettings, optarg) :
					push_str(&o.envp, &o.nenvp, optarg)) != 0) {
				status = cli_usage_error("env", "out of memory");
				goto out;
			}
			break;
		}
	}
	/* exec: "N [options] -- CMD..." (N the one argument before "--") or
	 * "[options] N CMD..." */
	if (dd >= 0) {
		if (dd - optind != 1) {
			status = cli_usage_error("env", "env exec: expected %s", verbs[vi].args);
			goto out;
		}
		memmove(&argv[dd], &argv[dd + 1], (size_t)(argc - dd - 1) * sizeof(*argv));
		argv[--argc] = NULL; /* the command's argv ends there */
	}
	if (o.net && !o.isolate) {
		status = cli_usage_error("env", "--net goes with --isolate");
		goto out;
	}
	nargs = argc - optind;
	if (nargs < verbs[vi].min || (verbs[vi].max >= 0 && nargs > verbs[vi].max)) {
		status = cli_usage_error("env", "env %s: expected %s", verb, verbs[vi].args);
		goto out;
	}
	status = run_verb(ctx, verb, nargs, argv + optind, &o);
out:
	free(o.labels);
	free(o.settings);
	free(o.envp);
	for (size_t i = 0; i < o.nmade; i++)
		free(o.made[i]);
	return status;
}
