/*
 * A remote in a local directory (or a mounted file system). Puts are
 * atomic: a temporary file beside the key, fsync'ed, then renamed over it
 * or, for create-only puts, link(2)ed to it (which fails when the key
 * exists: exactly one of two racing creators wins). Every path is opened
 * relative to the root's descriptor, and keys are checked so that none
 * can name anything outside the root.
 */
#include "sync/transport.h"
#include "cas/hash.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/hex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IO_CHUNK (1u << 20)
#define KEY_MAX 1024
#define LIST_DEPTH_MAX 64

typedef struct {
	arca_transport t;
	char *root;
	pthread_mutex_t mu;      /* guards rootfd's creation */
	int rootfd;              /* -1 until the directory exists */
} dir_transport;

static atomic_uint tmp_counter;

/* A key: '/'-separated parts of [A-Za-z0-9._-], none empty or starting
 * with '.' (so no "." or "..", and never one of our temporary names). */
static int check_key(const char *key)
{
	size_t n = key ? strlen(key) : 0, start = 0;
	if (n == 0 || n > KEY_MAX)
		goto bad;
	for (size_t i = 0; i <= n; i++) {
		char c = key[i];
		if (i < n && c != '/') {
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
				goto bad;
			continue;
		}
		if (i == start || key[start] == '.')
			goto bad;
		start = i + 1;
	}
	return 0;
bad:
	return arca_err_set(ARCA_EINVAL, "remote key '%.300s' is not valid", key ? key : "");
}

static int root_fd(dir_transport *d, int create, int *fd)
{
	int rc = 0;
	pthread_mutex_lock(&d->mu);
	if (d->rootfd < 0) {
		if (create && arca_mkdir_p(d->root, 0755) < 0 && errno != EEXIST) {
			rc = arca_err_sys("create remote directory %s", d->root);
			goto done;
		}
		d->rootfd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d->rootfd < 0) {
			rc = arca_err_sys("open remote directory %s", d->root);
			goto done;
		}
	}
	*fd = d->rootfd;
done:
	pthread_mutex_unlock(&d->mu);
	return rc;
}

static int missing(int e)
{
	return e == ENOENT || e == ENOTDIR;
}

/* Opens (with `create`, making it) the directory that holds `key`, never
 * following a symlink on the way; *base = the key's last part. Without
 * `create`, a missing directory is ARCA_ENOTFOUND. */
static int parent_dir(dir_transport *d, const char *key, int create, int *out, const char **base)
{
	char part[KEY_MAX + 1];
	const char *slash;
	int rc, fd = -1, next;

	if ((rc = root_fd(d, create, &fd)) != 0)
		return create ? rc : arca_err_set(ARCA_ENOTFOUND, "%s/%s: not found", d->root, key);
	if ((fd = dup(fd)) < 0)
		return arca_err_sys("dup");
	for (const char *p = key; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
		memcpy(part, p, (size_t)(slash - p));
		part[slash - p] = '\0';
		if (create && mkdirat(fd, part, 0755) == 0) {
			/* the new directory's entry must survive a crash as the file
			 * put into it does (the put syncs only the file's parent) */
			if (arca_fsync(fd) < 0) {
				rc = arca_err_sys("%s/%s: sync directory", d->root, key);
				close(fd);
				return rc;
			}
		} else if (create && errno != EEXIST) {
			rc = arca_err_sys("%s/%s: create directory", d->root, key);
			close(fd);
			return rc;
		}
		next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0 && !create && (missing(errno) || errno == ELOOP))
			return arca_err_set(ARCA_ENOTFOUND, "%s/%s: not found", d->root, key);
		if (next < 0 && (errno == ENOTDIR || errno == ELOOP))
			return arca_err_set(ARCA_EUNSAFE, "%s/%s: '%s' is not a directory (a "
				"symlink is never followed)", d->root, key, part);
		if (next < 0)
			return arca_err_sys("%s/%s: open directory", d->root, key);
		fd = next;
	}
	*base = strrchr(key, '/') ? strrchr(key, '/') + 1 : key;
	*out = fd;
	return 0;
}

static int dir_head(arca_transport *t, const char *key, uint64_t *size)
{
	dir_transport *d = (dir_transport *)t;
	struct stat st;
	const char *base;
	int rc, fd = -1, e;

	if ((rc = check_key(key)) != 0 || (rc = parent_dir(d, key, 0, &fd, &base)) != 0)
		return rc;
	rc = fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW);
	e = errno;
	close(fd);
	if (rc < 0) {
		if (missing(e))
			return arca_err_set(ARCA_ENOTFOUND, "%s/%s: not found", d->root, key);
		errno = e;
		return arca_err_sys("%s/%s", d->root, key);
	}
	if (!S_ISREG(st.st_mode))
		return arca_err_set(ARCA_ECORRUPT, "%s/%s: not a regular file", d->root, key);
	if (size)
		*size = (uint64_t)st.st_size;
	return 0;
}

static int dir_get(arca_transport *t, const char *key, uint64_t off, uint64_t len,
		arca_transport_sink sink, void *ctx, uint64_t *size)
{
	dir_transport *d = (dir_transport *)t;
	struct stat st;
	uint8_t *buf = NULL;
	const char *base;
	int rc, pfd = -1, fd = -1;

	if ((rc = check_key(key)) != 0 || (rc = parent_dir(d, key, 0, &pfd, &base)) != 0)
		return rc;
	/* O_NONBLOCK: a FIFO put where an object should be must not block the
	 * open (it is refused below; regular files ignore the flag) */
	fd = openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(pfd);
	if (fd < 0) {
		if (missing(errno))
			return arca_err_set(ARCA_ENOTFOUND, "%s/%s: not found", d->root, key);
		return arca_err_sys("open %s/%s", d->root, key);
	}
	if (fstat(fd, &st) < 0) {
		rc = arca_err_sys("stat %s/%s", d->root, key);
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = arca_err_set(ARCA_ECORRUPT, "%s/%s: not a regular file", d->root, key);
		goto done;
	}
	if (size)
		*size = (uint64_t)st.st_size;
	if (off > (uint64_t)st.st_size || (len && len > (uint64_t)st.st_size - off)) {
		rc = arca_err_set(ARCA_ECORRUPT, "%s/%s: object shorter than expected", d->root, key);
		goto done;
	}
	if (!len)
		len = (uint64_t)st.st_size - off;
	if (!(buf = malloc(IO_CHUNK))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	while (len) {
		size_t want = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
		ssize_t got = arca_pread_full(fd, buf, want, (off_t)off);
		if (got < 0) {
			rc = arca_err_sys("read %s/%s", d->root, key);
			goto done;
		}
		if ((size_t)got != want) {
			rc = arca_err_set(ARCA_ECORRUPT, "%s/%s: object shorter than expected",
				d->root, key);
			goto done;
		}
		if ((rc = sink(ctx, buf, want)) != 0)
			goto done;
		off += want;
		len -= want;
	}
done:
	free(buf);
	close(fd);
	return rc;
}

static int dir_put(arca_transport *t, const char *key, uint64_t len, arca_transport_source src,
		void *ctx, int create_only)
{
	dir_transport *d = (dir_transport *)t;
	char tmp[64];
	const char *base;
	uint8_t *buf = NULL;
	uint64_t total = 0;
	int rc, dfd = -1, fd = -1, made = 0;

	if ((rc = check_key(key)) != 0)
		return rc;
	if ((rc = parent_dir(d, key, 1, &dfd, &base)) != 0)
		return rc;
	/* random, not pid + count: a killed writer's leftover, or a writer on
	 * another machine (or in another pid namespace) with the same pid,
	 * must never hold the name this put needs */
	for (int tries = 0; tries < 16; tries++) {
		uint8_t r[12];
		char hex[25];
		if ((rc = arca_random_bytes(r, sizeof(r))) != 0)
			goto done;
		arca_hex_encode(hex, r, sizeof(r));
		snprintf(tmp, sizeof(tmp), ".tmp-%s-%u", hex, atomic_fetch_add(&tmp_counter, 1));
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		rc = arca_err_sys("%s/%s: create", d->root, key);
		goto done;
	}
	made = 1;
	if (!(buf = malloc(IO_CHUNK))) {
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
		goto done;
	}
	for (;;) {
		size_t n = 0;
		if ((rc = src(ctx, buf, IO_CHUNK, &n)) != 0)
			goto done;
		if (n == 0)
			break;
		if (arca_write_all(fd, buf, n) < 0) {
			rc = arca_err_sys("%s/%s: write", d->root, key);
			goto done;
		}
		total += n;
	}
	if (total != len) {
		rc = arca_err_set(ARCA_EIO, "%s/%s: %llu bytes to store, %llu given", d->root, key,
			(unsigned long long)len, (unsigned long long)total);
		goto done;
	}
	if (arca_fsync(fd) < 0) {
		rc = arca_err_sys("%s/%s: sync", d->root, key);
		goto done;
	}
	close(fd);
	fd = -1;
	if (create_only) {
		if (linkat(dfd, tmp, dfd, base, 0) < 0) {
			rc = errno == EEXIST ?
				arca_err_set(ARCA_EEXISTS, "%s/%s: exists already", d->root, key) :
				arca_err_sys("%s/%s: link", d->root, key);
			goto done;
		}
	} else {
		if (arca_renameat(dfd, tmp, dfd, base) < 0) {
			rc = arca_err_sys("%s/%s: rename", d->root, key);
			goto done;
		}
		made = 0;
	}
	if (fsync(dfd) < 0)
		rc = arca_err_sys("%s/%s: sync directory", d->root, key);
done:
	if (fd >= 0)
		close(fd);
	if (made)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	free(buf);
	return rc;
}

static int dir_remove(arca_transport *t, const char *key)
{
	dir_transport *d = (dir_transport *)t;
	const char *base;
	int rc, fd = -1;
	if ((rc = check_key(key)) != 0)
		return rc;
	if ((rc = parent_dir(d, key, 0, &fd, &base)) != 0)
		return rc == ARCA_ENOTFOUND ? 0 : rc;
	rc = unlinkat(fd, base, 0) < 0 && !missing(errno) ?
		arca_err_sys("remove %s/%s", d->root, key) : 0;
	close(fd);
	return rc;
}

/* Calls cb for every regular file below `dirfd` (its key: `prefix` plus
 * the path below), skipping dot names; symlinks are not followed. */
static int walk(dir_transport *d, int dirfd, arca_buf *key, const char *want,
		arca_transport_list_cb cb, void *ctx, int depth)
{
	DIR *dir;
	struct dirent *de;
	size_t keep = key->len;
	int rc = 0, fd;

	if (depth > LIST_DEPTH_MAX)
		return 0;
	if ((fd = dup(dirfd)) < 0)
		return arca_err_sys("dup");
	if (!(dir = fdopendir(fd))) {
		close(fd);
		return arca_err_sys("list %s", d->root);
	}
	while (!rc && (errno = 0, de = readdir(dir)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		key->len = keep;
		if ((rc = arca_buf_printf(key, "%s%s", keep ? "/" : "", de->d_name)) != 0)
			break;
		if (S_ISDIR(st.st_mode)) {
			size_t kl = key->len, wl = strlen(want);
			/* only directories that can hold keys with the prefix */
			if (strncmp(arca_buf_cstr(key), want, kl < wl ? kl : wl) != 0)
				continue;
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				O_CLOEXEC);
			if (sub < 0)
				continue;
			rc = walk(d, sub, key, want, cb, ctx, depth + 1);
			close(sub);
		} else if (S_ISREG(st.st_mode) && !strncmp(arca_buf_cstr(key), want, strlen(want))) {
			rc = cb(arca_buf_cstr(key), (uint64_t)st.st_size, ctx);
		}
	}
	if (!rc && errno)
		rc = arca_err_sys("list %s", d->root);
	key->len = keep;
	closedir(dir);
	return rc;
}

static int dir_list(arca_transport *t, const char *prefix, arca_transport_list_cb cb, void *ctx)
{
	dir_transport *d = (dir_transport *)t;
	arca_buf key = ARCA_BUF_INIT(4 * KEY_MAX);
	int rc, fd = -1;

	if (root_fd(d, 0, &fd) != 0)
		return 0; /* no directory: no keys */
	rc = walk(d, fd, &key, prefix ? prefix : "", cb, ctx, 0);
	arca_buf_release(&key);
	return rc;
}

static void dir_free(arca_transport *t)
{
	dir_transport *d = (dir_transport *)t;
	if (!d)
		return;
	if (d->rootfd >= 0)
		close(d->rootfd);
	pthread_mutex_destroy(&d->mu);
	free(d->root);
	free(d);
}

int arca_transport_dir_open(arca_transport **out, const char *path)
{
	dir_transport *d;
	size_t n;

	*out = NULL;
	if (!path || !*path)
		return arca_err_set(ARCA_EINVAL, "remote directory path is empty");
	if (!(d = calloc(1, sizeof(*d))) || !(d->root = strdup(path))) {
		free(d);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	n = strlen(d->root);
	while (n > 1 && d->root[n - 1] == '/')
		d->root[--n] = '\0';
	pthread_mutex_init(&d->mu, NULL);
	d->rootfd = -1;
	d->t.version = ARCA_TRANSPORT_VERSION;
	d->t.url = d->root;
	d->t.get = dir_get;
	d->t.head = dir_head;
	d->t.put = dir_put;
	d->t.list = dir_list;
	d->t.remove = dir_remove;
	d->t.free = dir_free;
	*out = &d->t;
	return 0;
}
