#include "util/fsutil.h"
#include "util/error.h"
#include "util/fault.h"

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

/* Fails the step when the test hook says so: -1 with errno set. */
static int faulted(const char *point)
{
	int e = arca_fault_check(point);
	if (!e)
		return 0;
	errno = e;
	return -1;
}

int arca_pwrite2_all(int fd, const void *a, size_t an, const void *b, size_t bn, off_t off)
{
	struct iovec v[2] = { { (void *)a, an }, { (void *)b, bn } };
	struct iovec *at = v;
	int cnt = 2;
	if (faulted("write"))
		return -1;
	while (cnt) {
		ssize_t w = pwritev(fd, at, cnt, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += w;
		for (; cnt && (size_t)w >= at->iov_len; at++, cnt--)
			w -= (ssize_t)at->iov_len;
		if (cnt) {
			at->iov_base = (char *)at->iov_base + w;
			at->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int arca_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	return arca_pwrite2_all(fd, p, n, NULL, 0, off);
}

int arca_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	if (faulted("write"))
		return -1;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w; n -= (size_t)w;
	}
	return 0;
}

ssize_t arca_pread_full(int fd, void *p, size_t n, off_t off)
{
	char *c = p;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, c + got, n - got, off + (off_t)got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

ssize_t arca_read_full(int fd, void *p, size_t n)
{
	char *c = p;
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, c + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int arca_mkdir_mode(const char *path, unsigned mode)
{
	/* mkdir's mode is narrowed by the umask; a store's directories must
	 * be exactly `mode` */
	if (mkdir(path, mode) < 0)
		return -1;
	return chmod(path, mode);
}

/* mkdir, then (when it made one) fsync of its parent: a store or remote
 * made here must not vanish in a crash after its first commit. */
static int mkdir_durable(char *path, unsigned mode)
{
	char *slash;
	int rc;
	if (arca_mkdir_mode(path, mode) < 0)
		return errno == EEXIST ? 0 : -1;
	slash = strrchr(path, '/');
	if (!slash)
		return arca_fsync_dir(".");
	if (slash == path)
		return arca_fsync_dir("/");
	*slash = '\0';
	rc = arca_fsync_dir(path);
	*slash = '/';
	return rc;
}

int arca_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir_durable(tmp, 0700) < 0)
			return -1;
		*s = '/';
	}
	return mkdir_durable(tmp, mode);
}

int arca_fsync_dir(const char *path)
{
	if (faulted("dirsync"))
		return -1;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int arca_fsync(int fd)
{
	return faulted("fsync") ? -1 : fsync(fd);
}

int arca_fdatasync(int fd)
{
	return faulted("fdatasync") ? -1 : fdatasync(fd);
}

int arca_rename(const char *from, const char *to)
{
	return faulted("rename") ? -1 : rename(from, to);
}

int arca_renameat(int fromfd, const char *from, int tofd, const char *to)
{
	return faulted("rename") ? -1 : renameat(fromfd, from, tofd, to);
}

int arca_ftruncate(int fd, off_t len)
{
	return faulted("truncate") ? -1 : ftruncate(fd, len);
}

int arca_fallocate(int fd, int mode, off_t off, off_t len)
{
	return faulted("fallocate") ? -1 : fallocate(fd, mode, off, len);
}

int arca_lstat_mnt(int dirfd, const char *name, struct stat *st, arca_mount_id *mnt)
{
	struct statx sx;
	int flags = AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT | (*name ? 0 : AT_EMPTY_PATH);

	if (statx(dirfd, name, flags, STATX_BASIC_STATS | STATX_MNT_ID, &sx) < 0) {
		if (errno != ENOSYS)
			return -1;
		if (fstatat(dirfd, name, st, flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) < 0)
			return -1;
		if (mnt) {
			mnt->dev = st->st_dev;
			mnt->mnt = 0;
		}
		return 0;
	}
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	st->st_ino = sx.stx_ino;
	st->st_mode = sx.stx_mode;
	st->st_nlink = sx.stx_nlink;
	st->st_uid = sx.stx_uid;
	st->st_gid = sx.stx_gid;
	st->st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
	st->st_size = (off_t)sx.stx_size;
	st->st_blksize = sx.stx_blksize;
	st->st_blocks = (blkcnt_t)sx.stx_blocks;
	st->st_atim.tv_sec = sx.stx_atime.tv_sec;
	st->st_atim.tv_nsec = sx.stx_atime.tv_nsec;
	st->st_mtim.tv_sec = sx.stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = sx.stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = sx.stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = sx.stx_ctime.tv_nsec;
	if (mnt) {
		mnt->dev = st->st_dev;
		mnt->mnt = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : 0;
	}
	return 0;
}

int arca_mount_same(const arca_mount_id *a, const arca_mount_id *b)
{
	if (a->dev != b->dev)
		return 0;
	return !a->mnt || !b->mnt || a->mnt == b->mnt;
}

typedef struct {
	arca_rm_guard *g;
	char path[1024];   /* of the entry being removed, relative to the top dirfd */
} rm_walk;

static int remove_at(rm_walk *w, int dirfd, const char *name, int depth);

static void path_push(rm_walk *w, size_t at, const char *name)
{
	snprintf(w->path + at, sizeof(w->path) - at, "%s%s", at ? "/" : "", name);
}

static int empty_dir(rm_walk *w, int fd, int depth)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	size_t at = strlen(w->path);
	int rc = 0;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return arca_err_sys("read directory");
	}
	while (!rc && (de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		path_push(w, at, de->d_name);
		rc = remove_at(w, fd, de->d_name, depth + 1);
		w->path[at] = '\0';
	}
	closedir(d);
	return rc;
}

int arca_rm_guard_leaves(arca_rm_guard *g, const struct stat *st, const arca_mount_id *m,
		const char *path)
{
	if (!arca_mount_same(m, &g->mount)) {
		if (!g->foreign++)
			snprintf(g->first_foreign, sizeof(g->first_foreign), "%s", path);
		return 1;
	}
	if (g->have_keep && st->st_dev == g->keep_dev && st->st_ino == g->keep_ino) {
		g->kept++;
		return 1;
	}
	return 0;
}

int arca_image_size(int fd, const struct stat *st, uint64_t *size)
{
	*size = (uint64_t)st->st_size;
	return S_ISBLK(st->st_mode) ? ioctl(fd, BLKGETSIZE64, size) : 0;
}

int arca_openat_grant(int dirfd, const char *name, int flags, mode_t need)
{
	char proc[64];
	struct stat st;
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC), pfd, ok;

	if (fd >= 0 || errno != EACCES)
		return fd;
	/* an owner (not root) who took away their own read or search
	 * access: O_PATH needs none of it, and chmod through /proc acts on
	 * the inode it names, not on whatever the name points to by then */
	if ((pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
		goto refused;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	ok = fstat(pfd, &st) == 0 && !S_ISLNK(st.st_mode) && st.st_uid == geteuid() &&
	     chmod(proc, (st.st_mode & 07777) | need) == 0;
	close(pfd);
	if (ok)
		return openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC);
refused:
	errno = EACCES;
	return -1;
}

/* rm -rf of one name inside dirfd, never following symlinks, never
 * leaving the guard's mount. */
static int remove_at(rm_walk *w, int dirfd, const char *name, int depth)
{
	struct stat st;
	arca_mount_id m;
	uint64_t left;
	int fd, rc;

	if (depth > 4096)
		return arca_err_set(ARCA_EUNSUPPORTED, "directory nesting too deep to remove");
	if (arca_lstat_mnt(dirfd, name, &st, &m) < 0)
		return errno == ENOENT ? 0 : arca_err_sys("stat %s", w->path);
	if (arca_rm_guard_leaves(w->g, &st, &m, w->path))
		return 0;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ?
			arca_err_sys("remove %s", w->path) : 0;
	fd = arca_openat_grant(dirfd, name, O_RDONLY | O_DIRECTORY, 0700);
	if (fd < 0)
		return arca_err_sys("open %s", w->path);
	/* what was opened, not what was looked at: a mount may have come */
	if (arca_lstat_mnt(fd, "", &st, &m) < 0) {
		rc = arca_err_sys("stat %s", w->path);
		close(fd);
		return rc;
	}
	if (arca_rm_guard_leaves(w->g, &st, &m, w->path)) {
		close(fd);
		return 0;
	}
	fchmod(fd, (st.st_mode & 07777) | 0700); /* so its entries can go */
	left = w->g->foreign + w->g->kept;
	rc = empty_dir(w, fd, depth);
	close(fd);
	if (!rc && left == w->g->foreign + w->g->kept &&
	    unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		rc = arca_err_sys("remove directory %s", w->path);
	return rc;
}

int arca_rm_rf_guarded(int dirfd, const char *name, arca_rm_guard *g)
{
	rm_walk w;
	w.g = g;
	w.path[0] = '\0';
	path_push(&w, 0, name);
	return remove_at(&w, dirfd, name, 0);
}

int arca_rm_rf_at(int dirfd, const char *name)
{
	arca_rm_guard g;
	struct stat st;
	int rc;

	memset(&g, 0, sizeof(g));
	if (arca_lstat_mnt(dirfd, "", &st, &g.mount) < 0)
		return arca_err_sys("stat directory holding %s", name);
	if ((rc = arca_rm_rf_guarded(dirfd, name, &g)) != 0)
		return rc;
	if (g.foreign)
		return arca_err_set(ARCA_EUNSAFE, "%s is on another mount; not removed (nor what holds it)",
			g.first_foreign);
	return 0;
}
