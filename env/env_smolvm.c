/*
 * The smolvm backend: each env is one smolvm machine, driven through the
 * smolvm CLI (no shell: posix_spawnp). smolvm 0.8.x and 1.x differ only
 * in where the machine name goes (positional before 1.0.2, -n after); all
 * argv shapes are in sv_shapes below.
 *
 * Bulk data never travels through exec output (smolvm caps it at 11 MiB
 * per stream): a tree goes in through a read-only host mount and a guest
 * copy, comes out as a tar file in a writable host mount (extracted on
 * the host by libarchive, env/untar.c); an
 * image is the machine's disk, read and replaced in its data dir while the
 * machine is stopped, keeping the `.formatted` markers (without them
 * smolvm reformats the disk at start).
 *
 * ctx->dir holds tree/ (mounted at /mnt/arca:ro) and xfer/ (mounted at
 * /mnt/arca-xfer). No pause: `machine stop` ends the guest's processes,
 * which a pause must not do.
 */
#include "env/backends.h"
#include "env/untar.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fsutil.h"

extern char **environ;

#define SV_TREE_MNT "/mnt/arca"
#define SV_XFER_MNT "/mnt/arca-xfer"
#define SV_MAX_VOLUMES 16
#define SV_OUT_CAP (1u << 20)  /* status/ls/data-dir replies */
#define SV_ERR_CAP 4096

/* ---- argv shapes ---- */

enum { SV_VERSION, SV_CREATE, SV_START, SV_STOP, SV_DELETE, SV_STATUS, SV_LS, SV_DATA_DIR,
	SV_EXEC, SV_NSHAPES };

/* "@N" is the machine name, "@A" the operation's own arguments. */
static const struct {
	const char *op;
	const char *v0[8];  /* before 1.0.2 */
	const char *v1[8];  /* 1.0.2 on */
} sv_shapes[SV_NSHAPES] = {
	[SV_VERSION] = { "--version", { "--version" }, { "--version" } },
	[SV_CREATE] = { "machine create", { "machine", "create", "@N", "@A" },
		{ "machine", "create", "-n", "@N", "@A" } },
	[SV_START] = { "machine start", { "machine", "start", "-n", "@N" },
		{ "machine", "start", "-n", "@N" } },
	[SV_STOP] = { "machine stop", { "machine", "stop", "-n", "@N" },
		{ "machine", "stop", "-n", "@N" } },
	/* -f always: without it and without a TTY smolvm prints "Cancelled"
	 * and exits 0 having deleted nothing */
	[SV_DELETE] = { "machine delete", { "machine", "delete", "@N", "-f" },
		{ "machine", "delete", "-n", "@N", "-f" } },
	[SV_STATUS] = { "machine status", { "machine", "status", "-n", "@N", "--json" },
		{ "machine", "status", "-n", "@N", "--json" } },
	[SV_LS] = { "machine ls", { "machine", "ls", "--json" }, { "machine", "ls", "--json" } },
	[SV_DATA_DIR] = { "machine data-dir", { "machine", "data-dir", "@N" },
		{ "machine", "data-dir", "-n", "@N" } },
	/* @A: [--stream] [-w DIR] [--timeout Ns] -- ARGV */
	[SV_EXEC] = { "machine exec", { "machine", "exec", "--name", "@N", "@A" },
		{ "machine", "exec", "--name", "@N", "@A" } },
};

/* ---- settings ---- */

typedef struct {
	const char *bin, *image, *cpus, *mem, *path, *disk;
	int net;
	const char *volumes[SV_MAX_VOLUMES];
	size_t nvolumes;
	char name[129];     /* the machine's */
	int v1;             /* 1.0.2 or later */
} sv_env;

static int sv_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

static int sv_volume_ok(const char *v)
{
	const char *c = strchr(v, ':');
	if (!c || v[0] != '/' || c[1] != '/')
		return 0;
	c = strchr(c + 1, ':');
	return !c || strcmp(c, ":ro") == 0;
}

/* smolvm's validate_vm_name: [A-Za-z0-9_-], alphanumeric first, no "--",
 * no trailing '-', 128 bytes at most. A name that had to change gets a
 * hash of the original, so two envs never share a machine. */
static int sv_machine_name(char *out, size_t cap, const char *env)
{
	size_t n = (size_t)snprintf(out, cap, "arca-");
	uint32_t h = 2166136261u;
	int changed = 0;
	for (const char *p = env; *p; p++) {
		h = (h ^ (unsigned char)*p) * 16777619u;
		char c = isalnum((unsigned char)*p) || *p == '_' ? *p : '-';
		changed |= c != *p;
		if (c == '-' && out[n - 1] == '-')
			continue;
		if (n + 1 >= 100) {
			changed = 1;
			break;
		}
		out[n++] = c;
	}
	while (out[n - 1] == '-')
		n--;
	out[n] = 0;
	if (changed && n + 10 < cap)
		snprintf(out + n, cap - n, "-%08x", h);
	return 0;
}

static int sv_parse(sv_env *s, const arca_env_ctx *e)
{
	memset(s, 0, sizeof *s);
	s->bin = "smolvm";
	s->path = "/arca";
	s->disk = "overlay";
	for (const char *const *kv = e->settings; kv && *kv; kv++) {
		const char *eq = strchr(*kv, '=');
		size_t kn = eq ? (size_t)(eq - *kv) : 0;
		const char *v = eq ? eq + 1 : "";
#define SV_KEY(k) (kn == sizeof(k) - 1 && memcmp(*kv, k, kn) == 0)
		if (!eq)
			return arca_err_set(ARCA_EINVAL, "smolvm: setting '%s' is not key=value", *kv);
		if (SV_KEY("smolvm-bin") && *v)
			s->bin = v;
		else if (SV_KEY("image") && *v)
			s->image = v;
		else if (SV_KEY("cpus") && sv_digits(v))
			s->cpus = v;
		else if (SV_KEY("mem") && sv_digits(v))
			s->mem = v;
		else if (SV_KEY("net") && (strcmp(v, "0") == 0 || strcmp(v, "1") == 0))
			s->net = v[0] == '1';
		else if (SV_KEY("path") && v[0] == '/' && v[1])
			s->path = v;
		else if (SV_KEY("disk") && (strcmp(v, "overlay") == 0 || strcmp(v, "storage") == 0))
			s->disk = v;
		else if (SV_KEY("volume") && sv_volume_ok(v)) {
			if (s->nvolumes == SV_MAX_VOLUMES)
				return arca_err_set(ARCA_EINVAL, "smolvm: more than %d volumes",
					SV_MAX_VOLUMES);
			s->volumes[s->nvolumes++] = v;
		} else if (SV_KEY("smolvm-bin") || SV_KEY("image") || SV_KEY("cpus") || SV_KEY("mem")
			|| SV_KEY("net") || SV_KEY("path") || SV_KEY("disk") || SV_KEY("volume"))
			return arca_err_set(ARCA_EINVAL, "smolvm: bad value in setting '%s'", *kv);
		else
			return arca_err_set(ARCA_EINVAL, "smolvm: unknown setting '%.*s'", (int)kn, *kv);
#undef SV_KEY
	}
	return sv_machine_name(s->name, sizeof s->name, e->name ? e->name : "env");
	return 0;
}

/* ---- running smolvm ---- */

typedef struct {
	char *out;          /* stdout when captured (NUL-ended), else NULL */
	size_t outlen;
	char err[SV_ERR_CAP];
	size_t errlen;
	int status;         /* exit status, 128 + signal when killed */
} sv_reply;

static void sv_reply_clear(sv_reply *r)
{
	free(r->out);
	r->out = NULL;
}

static int sv_argv(char **argv, size_t cap, const sv_env *s, int shape, const char *const *extra)
{
	const char *const *t = s->v1 ? sv_shapes[shape].v1 : sv_shapes[shape].v0;
	size_t n = 0;
	argv[n++] = (char *)s->bin;
	for (; *t; t++) {
		if (strcmp(*t, "@A") == 0) {
			for (const char *const *x = extra; x && *x; x++) {
				if (n + 1 >= cap)
					return arca_err_set(ARCA_EINVAL, "smolvm: too many arguments");
				argv[n++] = (char *)*x;
			}
			continue;
		}
		if (n + 1 >= cap)
			return arca_err_set(ARCA_EINVAL, "smolvm: too many arguments");
		argv[n++] = (char *)(strcmp(*t, "@N") == 0 ? s->name : *t);
	}
	argv[n] = NULL;
	return 0;
}

static int sv_status_of(int w)
{
	return WIFEXITED(w) ? WEXITSTATUS(w) : WIFSIGNALED(w) ? 128 + WTERMSIG(w) : 1;
}

/* Drains the pipes: stdout into r->out (capped), stderr into r->err
 * (first bytes kept) and, when fwd >= 0, also copied to fwd. */
static void sv_drain(int ofd, int efd, int fwd, sv_reply *r, size_t *outcap)
{
	struct pollfd p[2] = { { ofd, POLLIN, 0 }, { efd, POLLIN, 0 } };
	char buf[16384];
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t k = read(p[i].fd, buf, sizeof buf);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				p[i].fd = -1;
				continue;
			}
			if (i == 0 && r->outlen + (size_t)k < *outcap) {
				memcpy(r->out + r->outlen, buf, (size_t)k);
				r->outlen += (size_t)k;
			} else if (i == 1) {
				size_t room = sizeof r->err - 1 - r->errlen;
				size_t c = (size_t)k < room ? (size_t)k : room;
				memcpy(r->err + r->errlen, buf, c);
				r->errlen += c;
				if (fwd >= 0)
					(void)arca_write_all(fwd, buf, (size_t)k);
			}
		}
	}
	if (r->out)
		r->out[r->outlen] = 0;
	r->err[r->errlen] = 0;
}

/* Runs one shape. capture: stdout into r->out; else stdout goes to
 * out_fd. stderr is always read (for "Error:"), and forwarded to err_fd
 * when err_fd >= 0. */
static int sv_run(const sv_env *s, int shape, const char *const *extra, int capture,
	int in_fd, int out_fd, int err_fd, sv_reply *r)
{
	char *argv[256];
	int op[2] = { -1, -1 }, ep[2] = { -1, -1 }, rc, devnull = -1;
	size_t outcap = SV_OUT_CAP;
	posix_spawn_file_actions_t fa;
	pid_t pid;

	memset(r, 0, sizeof *r);
	if ((rc = sv_argv(argv, sizeof argv / sizeof *argv, s, shape, extra)) != 0)
		return rc;
	if (capture && !(r->out = malloc(outcap)))
		return arca_err_set(ARCA_ENOMEM, "smolvm: out of memory");
	if ((capture && pipe2(op, O_CLOEXEC) < 0) || pipe2(ep, O_CLOEXEC) < 0) {
		rc = arca_err_sys("smolvm %s: pipe", sv_shapes[shape].op);
		goto done;
	}
	/* -1: no input, output dropped */
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		rc = arca_err_sys("smolvm %s: /dev/null", sv_shapes[shape].op);
		goto done;
	}
	if (in_fd < 0)
		in_fd = devnull;
	if (out_fd < 0)
		out_fd = devnull;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, capture ? op[1] : out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	int e = posix_spawnp(&pid, s->bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0) {
		rc = arca_err_set(e == ENOENT ? ARCA_ENOTFOUND : ARCA_EIO, "smolvm %s: cannot run '%s': %s",
			sv_shapes[shape].op, s->bin, strerror(e));
		goto done;
	}
	close(ep[1]);
	ep[1] = -1;
	if (capture) {
		close(op[1]);
		op[1] = -1;
	}
	sv_drain(capture ? op[0] : -1, ep[0], err_fd, r, &outcap);
	int w;
	while (waitpid(pid, &w, 0) < 0)
		if (errno != EINTR) {
			rc = arca_err_sys("smolvm %s: waitpid", sv_shapes[shape].op);
			goto done;
		}
	r->status = sv_status_of(w);
	rc = 0;
done:
	for (int i = 0; i < 2; i++) {
		if (op[i] >= 0)
			close(op[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	if (devnull >= 0)
		close(devnull);
	if (rc)
		sv_reply_clear(r);
	return rc;
}

/* The failure of a finished run, from its "Error: <msg>" line. */
static int sv_fail(const sv_env *s, int shape, const sv_reply *r)
{
	const char *m = strstr(r->err, "Error: ");
	int len;
	if (m && (m == r->err || m[-1] == '\n'))
		m += 7;
	else
		m = r->err;
	len = (int)strcspn(m, "\n");
	if (len == 0)
		return arca_err_set(r->status == 2 ? ARCA_EINVAL : ARCA_ERROR,
			"smolvm %s %s: exit status %d", sv_shapes[shape].op, s->name, r->status);
	return arca_err_set(r->status == 2 ? ARCA_EINVAL : ARCA_ERROR, "smolvm %s %s: %.*s",
		sv_shapes[shape].op, s->name, len, m);
}

/* Runs a shape whose failure is an error; r may be NULL. */
static int sv_call(const sv_env *s, int shape, const char *const *extra, sv_reply *r)
{
	sv_reply tmp;
	sv_reply *p = r ? r : &tmp;
	int rc = sv_run(s, shape, extra, 1, -1, -1, -1, p);
	if (rc == 0 && p->status != 0) {
		rc = sv_fail(s, shape, p);
		sv_reply_clear(p);
	}
	if (!r)
		sv_reply_clear(&tmp);
	return rc;
}

/* `smolvm --version` prints "smolvm X.Y.Z". */
static int sv_detect(sv_env *s)
{
	sv_reply r;
	unsigned a = 0, b = 0, c = 0;
	int rc = sv_call(s, SV_VERSION, NULL, &r);
	if (rc)
		return rc;
	const char *v = r.out;
	while (*v && !isdigit((unsigned char)*v))
		v++;
	if (sscanf(v, "%u.%u.%u", &a, &b, &c) < 2) {
		rc = arca_err_set(ARCA_EUNSUPPORTED, "smolvm --version: cannot read '%.60s'", r.out);
	} else {
		s->v1 = a > 1 || (a == 1 && (b > 0 || c >= 2));
	}
	sv_reply_clear(&r);
	return rc;
}

static int sv_open(sv_env *s, const arca_env_ctx *e)
{
	int rc = sv_parse(s, e);
	return rc ? rc : sv_detect(s);
}

/* The value of "key": "..." in a JSON object, or NULL. Only for smolvm's
 * own flat replies; enough for name and state. */
static const char *sv_json_str(const char *j, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	for (const char *p = j; (p = strchr(p, '"')) != NULL; p++) {
		if (strncmp(p + 1, key, kl) != 0 || p[1 + kl] != '"')
			continue;
		const char *q = p + 2 + kl;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q++ != ':')
			continue;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q++ != '"')
			return NULL;
		size_t n = strcspn(q, "\"");
		if (n >= cap)
			n = cap - 1;
		memcpy(out, q, n);
		out[n] = 0;
		return out;
	}
	return NULL;
}

static int sv_exists(const sv_env *s, int *exists)
{
	sv_reply r;
	char v[256];
	int rc = sv_call(s, SV_LS, NULL, &r);
	if (rc)
		return rc;
	*exists = 0;
	/* each machine's object starts with its name */
	for (const char *p = r.out; p && (p = strstr(p, "\"name\"")) != NULL; p += 6)
		if (sv_json_str(p, "name", v, sizeof v) && strcmp(v, s->name) == 0)
			*exists = 1;
	sv_reply_clear(&r);
	return 0;
}

static int sv_state_str(const sv_env *s, char *out, size_t cap)
{
	sv_reply r;
	int rc = sv_call(s, SV_STATUS, NULL, &r);
	if (rc)
		return rc;
	if (!sv_json_str(r.out, "state", out, cap))
		rc = arca_err_set(ARCA_ECORRUPT, "smolvm machine status %s: no state in its reply",
			s->name);
	sv_reply_clear(&r);
	return rc;
}

/* ---- host files ---- */

static int sv_path(char *out, size_t cap, const char *a, const char *b)
{
	if ((size_t)snprintf(out, cap, "%s/%s", a, b) >= cap)
		return arca_err_set(ARCA_EINVAL, "smolvm: path too long: %s/%s", a, b);
	return 0;
}

static int sv_rm(const char *dir, const char *name)
{
	/* never through a symlink: what it points to is not the env's */
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno == ELOOP || errno == ENOTDIR ?
			arca_err_set(ARCA_EUNSAFE, "smolvm: %s is not a directory (a symlink?); not "
				"followed", dir) :
			arca_err_sys("smolvm: open %s", dir);
	int rc = arca_rm_rf_at(fd, name);
	close(fd);
	return rc == ARCA_ENOTFOUND ? 0 : rc;
}

/* The disk of an image env in the machine's data dir. */
static int sv_disk(const sv_env *s, char *raw, char *marker, size_t cap)
{
	sv_reply r;
	int rc = sv_call(s, SV_DATA_DIR, NULL, &r);
	if (rc)
		return rc;
	r.out[strcspn(r.out, "\n")] = 0;
	if (r.out[0] != '/')
		rc = arca_err_set(ARCA_ECORRUPT, "smolvm machine data-dir %s: not a path: '%.80s'",
			s->name, r.out);
	else if ((size_t)snprintf(raw, cap, "%s/%s.raw", r.out, s->disk) >= cap
		|| (size_t)snprintf(marker, cap, "%s/%s.formatted", r.out, s->disk) >= cap)
		rc = arca_err_set(ARCA_EINVAL, "smolvm: data dir path too long");
	sv_reply_clear(&r);
	return rc;
}

/* Without the marker smolvm formats the disk at start, over ours. */
static int sv_keep_marker(const char *marker)
{
	int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : arca_err_sys("smolvm: %s", marker);
	int rc = arca_write_all(fd, "1", 1) < 0 ? arca_err_sys("smolvm: write %s", marker) : 0;
	close(fd);
	return rc;
}

/* ---- guest steps ---- */

/* A guest command whose failure is an error (its output is discarded). */
static int sv_guest(const sv_env *s, const char *what, const char *const *cmd)
{
	const char *extra[24] = { "--" };
	size_t n = 1;
	for (; *cmd && n < 23; cmd++)
		extra[n++] = *cmd;
	extra[n] = NULL;
	sv_reply r;
	int rc = sv_run(s, SV_EXEC, extra, 1, -1, -1, -1, &r);
	if (rc == 0 && r.status != 0) {
		rc = sv_fail(s, SV_EXEC, &r);
		rc = arca_err_wrap(rc, "%s", what);
	}
	sv_reply_clear(&r);
	return rc;
}

/* The host tree (mounted read-only) copied to the guest path. */
static int sv_tree_in(const sv_env *s)
{
	const char *cmd[] = { "/bin/sh", "-c",
		"rm -rf \"$2\" && mkdir -p \"$2\" && cp -a \"$1\"/. \"$2\"/", "sh",
		SV_TREE_MNT, s->path, NULL };
	return sv_guest(s, "copying the tree into the guest", cmd);
}

static int sv_fmt_id(char *out, const arca_id *id)
{
	arca_id_format(out, id);
	return 0;
}

/* ---- operations ---- */

static unsigned sv_capabilities(arca_env_backend *b, const arca_env_ctx *e)
{
	(void)b;
	(void)e;
	return ARCA_ENV_CAP_SNAPSHOT | ARCA_ENV_CAP_ROLLBACK | ARCA_ENV_CAP_STREAM;
}

static int sv_check(arca_env_backend *b, const arca_env_ctx *e)
{
	sv_env s;
	(void)b;
	int rc = sv_parse(&s, e);
	if (rc == 0 && e->kind != ARCA_KIND_TREE && e->kind != ARCA_KIND_IMAGE)
		rc = arca_err_set(ARCA_EINVAL, "smolvm: unknown artifact kind");
	return rc;
}

static int sv_destroy_env(const sv_env *s, const arca_env_ctx *e)
{
	int exists = 0, rc = sv_exists(s, &exists);
	if (rc == 0 && exists) {
		sv_reply r;
		/* 0.8.x deletes a running machine without stopping it */
		if (sv_run(s, SV_STOP, NULL, 1, -1, -1, -1, &r) == 0)
			sv_reply_clear(&r);
		rc = sv_call(s, SV_DELETE, NULL, NULL);
	}
	int rc2 = sv_rm(e->dir, "tree");
	int rc3 = sv_rm(e->dir, "xfer");
	return rc ? rc : rc2 ? rc2 : rc3;
}

static int sv_destroy(arca_env_backend *b, arca_env_ctx *e)
{
	sv_env s;
	(void)b;
	int rc = sv_open(&s, e);
	return rc ? rc : sv_destroy_env(&s, e);
}

/* Restores the image into the stopped machine's disk, marker kept. */
static int sv_disk_put(const sv_env *s, const arca_env_ctx *e, const arca_id *id, int rollback)
{
	arca_store *st = e->store;
	char raw[4096], marker[4096], ref[ARCA_ID_STRLEN];
	int rc = sv_disk(s, raw, marker, sizeof raw);
	sv_fmt_id(ref, id);
	if (rc)
		return rc;
	if (rollback) {
		arca_rollback_options ro = ARCA_ROLLBACK_OPTIONS_INIT;
		arca_env__rollback_progress(e, &ro);
		rc = arca_rollback(st, ref, raw, &ro, NULL);
	} else {
		arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
		ro.force = 1;
		arca_env__restore_progress(e, &ro);
		rc = arca_restore(st, ref, raw, &ro, NULL);
	}
	if (rc)
		return arca_err_wrap(rc, "smolvm: disk %s", raw);
	return sv_keep_marker(marker);
}

static int sv_create_env(const sv_env *s, arca_env_ctx *e)
{
	char tree[4096], xfer[4096], vt[4200], vx[4200], ref[ARCA_ID_STRLEN];
	const char *extra[16 + 2 * SV_MAX_VOLUMES];
	size_t n = 0;
	int rc;

	if ((rc = sv_path(tree, sizeof tree, e->dir, "tree")) || (rc = sv_path(xfer, sizeof xfer, e->dir, "xfer")))
		return rc;
	if (arca_mkdir_mode(xfer, 0700) < 0)
		return arca_err_sys("smolvm: mkdir %s", xfer);
	if (e->kind == ARCA_KIND_TREE) {
		arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
		arca_env__restore_progress(e, &ro);
		sv_fmt_id(ref, e->artifact);
		if ((rc = arca_restore(e->store, ref, tree, &ro, NULL)) != 0)
			return arca_err_wrap(rc, "smolvm: restoring the tree");
	}
	if (s->image) {
		extra[n++] = "--image";
		extra[n++] = s->image;
	}
	if (s->cpus) {
		extra[n++] = "--cpus";
		extra[n++] = s->cpus;
	}
	if (s->mem) {
		extra[n++] = "--mem";
		extra[n++] = s->mem;
	}
	if (s->net)
		extra[n++] = "--net";
	if (e->kind == ARCA_KIND_TREE) {
		snprintf(vt, sizeof vt, "%s:%s:ro", tree, SV_TREE_MNT);
		extra[n++] = "-v";
		extra[n++] = vt;
	}
	snprintf(vx, sizeof vx, "%s:%s", xfer, SV_XFER_MNT);
	extra[n++] = "-v";
	extra[n++] = vx;
	for (size_t i = 0; i < s->nvolumes; i++) {
		extra[n++] = "-v";
		extra[n++] = s->volumes[i];
	}
	extra[n] = NULL;
	if ((rc = sv_call(s, SV_CREATE, extra, NULL)) || (rc = sv_call(s, SV_START, NULL, NULL)))
		return rc;
	if (e->kind == ARCA_KIND_TREE)
		return sv_tree_in(s);
	/* the first start makes the disks; ours replaces one of them */
	if ((rc = sv_call(s, SV_STOP, NULL, NULL)) || (rc = sv_disk_put(s, e, e->artifact, 0)))
		return rc;
	return sv_call(s, SV_START, NULL, NULL);
}

static int sv_create(arca_env_backend *b, arca_env_ctx *e)
{
	sv_env s;
	int rc = sv_check(b, e);
	if (rc || (rc = sv_open(&s, e)))
		return rc;
	if ((rc = sv_create_env(&s, e)) != 0) {
		/* keep the first error, remove what was made */
		char why[1024];
		snprintf(why, sizeof why, "%s", arca_error_last());
		if (e->detail && e->detail_cap)
			snprintf(e->detail, e->detail_cap, "%s", why);
		(void)sv_destroy_env(&s, e);
		arca_err_set(rc, "%s", why);
	}
	return rc;
}

/* A number for names in xfer/ that no other call of this process uses
 * (with the pid: of any process). */
static unsigned sv_next(void)
{
	static unsigned counter;
	return __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

/* envp goes to the guest through a file (values never in argv). */
static int sv_env_file(const arca_env_ctx *e, const char *const *envp, char *path, size_t cap,
	char *guest, size_t gcap)
{
	unsigned k = sv_next();
	if ((size_t)snprintf(path, cap, "%s/xfer/env-%ld-%u", e->dir, (long)getpid(), k) >= cap)
		return arca_err_set(ARCA_EINVAL, "smolvm: path too long");
	snprintf(guest, gcap, "%s/env-%ld-%u", SV_XFER_MNT, (long)getpid(), k);
	FILE *f = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return arca_err_sys("smolvm exec: %s", path);
	}
	for (; *envp; envp++) {
		const char *eq = strchr(*envp, '=');
		size_t kn = eq ? (size_t)(eq - *envp) : 0;
		int ok = eq && kn > 0 && !isdigit((unsigned char)**envp);
		for (size_t i = 0; ok && i < kn; i++)
			ok = isalnum((unsigned char)(*envp)[i]) || (*envp)[i] == '_';
		if (!ok) {
			fclose(f);
			unlink(path);
			return arca_err_set(ARCA_EINVAL, "smolvm exec: bad environment entry '%.*s'",
				(int)(eq ? kn : strlen(*envp)), *envp);
		}
		fprintf(f, "export %.*s='", (int)kn, *envp);
		for (const char *v = eq + 1; *v; v++)
			if (*v == '\'')
				fputs("'\\''", f);
			else
				fputc(*v, f);
		fputs("'\n", f);
	}
	if (fclose(f) != 0) {
		unlink(path);
		return arca_err_sys("smolvm exec: write %s", path);
	}
	return 0;
}

static int sv_exec(arca_env_backend *b, arca_env_ctx *e, const arca_env_exec_options *o, int *status)
{
	sv_env s;
	char st[64], timeout[32], envfile[4096] = "", guestenv[256];
	size_t nargv = 0, n = 0;
	int rc;
	(void)b;

	if (!o || !o->argv || !o->argv[0])
		return arca_err_set(ARCA_EINVAL, "smolvm exec: no command");
	if ((rc = sv_open(&s, e)) || (rc = sv_state_str(&s, st, sizeof st)))
		return rc;
	if (strcmp(st, "running") != 0)
		return arca_err_set(ARCA_ERROR, "smolvm machine exec %s: machine is %s, not running",
			s.name, st);
	while (o->argv[nargv])
		nargv++;
	const char **extra = calloc(nargv + 16, sizeof *extra);
	if (!extra)
		return arca_err_set(ARCA_ENOMEM, "smolvm exec: out of memory");
	extra[n++] = "--stream";
	if (o->cwd) {
		extra[n++] = "-w";
		extra[n++] = o->cwd;
	}
	if (o->timeout_s) {
		snprintf(timeout, sizeof timeout, "%us", o->timeout_s);
		extra[n++] = "--timeout";
		extra[n++] = timeout;
	}
	extra[n++] = "--";
	if (o->envp && o->envp[0]) {
		if ((rc = sv_env_file(e, o->envp, envfile, sizeof envfile, guestenv, sizeof guestenv)))
			goto done;
		extra[n++] = "/bin/sh";
		extra[n++] = "-c";
		extra[n++] = ". \"$1\" && rm -f \"$1\" && shift && exec \"$@\"";
		extra[n++] = "sh";
		extra[n++] = guestenv;
	}
	for (size_t i = 0; i < nargv; i++)
		extra[n++] = o->argv[i];
	extra[n] = NULL;
	sv_reply r;
	if ((rc = sv_run(&s, SV_EXEC, extra, 0, o->stdin_fd, o->stdout_fd, o->stderr_fd, &r)) == 0)
		*status = r.status;
done:
	if (envfile[0])
		unlink(envfile);
	free(extra);
	return rc;
}

static int sv_state(arca_env_backend *b, arca_env_ctx *e, arca_env_state_t *out)
{
	sv_env s;
	char st[64];
	(void)b;
	int rc = sv_open(&s, e);
	if (rc || (rc = sv_state_str(&s, st, sizeof st)))
		return rc;
	/* stopped, failed, unreachable: nothing runs the env any more */
	*out = strcmp(st, "running") == 0 ? ARCA_ENV_ACTIVE : ARCA_ENV_FAILED;
	return 0;
}

/* The guest's tree brought to the host: a tar file the guest writes into
 * the writable mount, made a directory again by libarchive (a shared
 * mount may not keep owners and modes; the tar does). Names are unique
 * per call: a diff may run beside another. */
typedef struct {
	char xfer[4096], name[64], tarname[72];
	char dir[4200], tar[4200];
	int made;
} sv_out;

static int sv_tree_out(const sv_env *s, const arca_env_ctx *e, sv_out *t)
{
	unsigned k = sv_next();
	char guest[4200];
	int rc;
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof t->name, "out-%ld-%u", (long)getpid(), k);
	snprintf(t->tarname, sizeof t->tarname, "%s.tar", t->name);
	if ((rc = sv_path(t->xfer, sizeof t->xfer, e->dir, "xfer")) ||
	    (rc = sv_path(t->dir, sizeof t->dir, t->xfer, t->name)) ||
	    (rc = sv_path(t->tar, sizeof t->tar, t->xfer, t->tarname)) ||
	    (rc = sv_path(guest, sizeof guest, SV_XFER_MNT, t->tarname)))
		return rc;
	t->made = 1;
	if ((rc = sv_rm(t->xfer, t->name)) || (rc = sv_rm(t->xfer, t->tarname)))
		return rc;
	/* pax keeps mtimes to the nanosecond; a tar without it (busybox)
	 * keeps seconds, and then every file shows as touched */
	const char *cmd[] = { "/bin/sh", "-c",
		"tar --format=posix -C \"$1\" -cf \"$2\" . 2>/dev/null || tar -C \"$1\" -cf \"$2\" .",
		"sh", s->path, guest, NULL };
	if ((rc = sv_guest(s, "writing the guest tree as a tar", cmd)) != 0)
		return rc;
	return arca_env__untar(t->tar, t->dir);
}

static int sv_tree_out_done(sv_out *t)
{
	int rc, rc2;
	if (!t->made)
		return 0;
	rc = sv_rm(t->xfer, t->name);
	rc2 = sv_rm(t->xfer, t->tarname);
	return rc ? rc : rc2;
}

static int sv_snapshot(arca_env_backend *b, arca_env_ctx *e, const arca_snapshot_options *o,
	arca_id *out)
{
	sv_env s;
	char parent[ARCA_ID_STRLEN], raw[4096], marker[4096];
	arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
	(void)b;
	int rc = sv_open(&s, e);
	if (rc)
		return rc;
	if (o)
		so = *o;
	if (!so.parent && e->artifact) {
		sv_fmt_id(parent, e->artifact);
		so.parent = parent;
	}
	so.kind = e->kind;
	if (e->kind == ARCA_KIND_IMAGE) {
		if ((rc = sv_call(&s, SV_STOP, NULL, NULL)) || (rc = sv_disk(&s, raw, marker, sizeof raw)))
			return rc;
		rc = arca_snapshot(out, e->store, raw, &so, NULL);
		int rc2 = sv_call(&s, SV_START, NULL, NULL);
		return rc ? rc : rc2;
	}
	sv_out t;
	if ((rc = sv_tree_out(&s, e, &t)) == 0)
		rc = arca_snapshot(out, e->store, t.dir, &so, NULL);
	int rc2 = sv_tree_out_done(&t);
	return rc ? rc : rc2;
}

/* What changed in the guest's tree: its copy on the host against the
 * artifact. An image is the running machine's disk, which only a stop
 * would make readable, and diff runs beside exec: refused. */
static int sv_diff(arca_env_backend *b, arca_env_ctx *e, arca_diff_entry_cb on_entry,
	arca_diff_range_cb on_range, void *payload, arca_diff_stats *stats)
{
	sv_env s;
	sv_out t;
	char id[ARCA_ID_STRLEN];
	(void)b;
	int rc = sv_open(&s, e);
	if (rc)
		return rc;
	if (e->kind == ARCA_KIND_IMAGE)
		return arca_err_set(ARCA_ENOTSUP, "smolvm: diff of an image env needs the machine "
			"stopped; snapshot it and diff the snapshot");
	sv_fmt_id(id, e->artifact);
	if ((rc = sv_tree_out(&s, e, &t)) == 0)
		rc = arca_diff(e->store, id, NULL, t.dir, on_entry, on_range, payload, stats);
	int rc2 = sv_tree_out_done(&t);
	return rc ? rc : rc2;
}

static int sv_rollback(arca_env_backend *b, arca_env_ctx *e, const arca_id *to)
{
	sv_env s;
	char tree[4096], ref[ARCA_ID_STRLEN];
	(void)b;
	int rc = sv_open(&s, e);
	if (rc)
		return rc;
	if (e->kind == ARCA_KIND_IMAGE) {
		if ((rc = sv_call(&s, SV_STOP, NULL, NULL)) || (rc = sv_disk_put(&s, e, to, 1)))
			return rc;
		return sv_call(&s, SV_START, NULL, NULL);
	}
	arca_rollback_options ro = ARCA_ROLLBACK_OPTIONS_INIT;
	char cur[ARCA_ID_STRLEN];
	if (e->artifact) {
		sv_fmt_id(cur, e->artifact);
		ro.baseline = cur; /* see env_dir.c */
	}
	arca_env__rollback_progress(e, &ro);
	sv_fmt_id(ref, to);
	if ((rc = sv_path(tree, sizeof tree, e->dir, "tree"))
		|| (rc = arca_rollback(e->store, ref, tree, &ro, NULL)))
		return rc;
	return sv_tree_in(&s);
}

static void sv_free(arca_env_backend *b)
{
	free(b);
}

int arca_env__smolvm_new(arca_env_backend **out)
{
	arca_env_backend *b = calloc(1, sizeof *b);
	if (!b)
		return arca_err_set(ARCA_ENOMEM, "smolvm: out of memory");
	b->version = ARCA_ENV_BACKEND_VERSION;
	b->name = "smolvm";
	b->capabilities = sv_capabilities;
	b->check = sv_check;
	b->create = sv_create;
	b->destroy = sv_destroy;
	b->exec = sv_exec;
	b->state = sv_state;
	b->snapshot = sv_snapshot;
	b->diff = sv_diff;
	b->rollback = sv_rollback;
	b->free = sv_free;
	*out = b;
	return 0;
}
