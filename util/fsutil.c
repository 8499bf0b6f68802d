#include "util/fsutil.h"
#include "util/error.h"
#include "util/fault.h"

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

int arca_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	const char *c = p;
	if (faulted("write"))
		return -1;
	while (n) {
		ssize_t w = pwrite(fd, c, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w; n -= (size_t)w; off += w;
	}
	return 0;
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
		if (arca_mkdir_mode(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (arca_mkdir_mode(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
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

static int remove_at(int dirfd, const char *name, int depth);

static int empty_dir(int fd, int depth)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int rc = 0;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return arca_err_sys("read directory");
	}
	while (!rc && (de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = remove_at(fd, de->d_name, depth + 1);
	}
	closedir(d);
	return rc;
}

/* rm -rf of one name inside dirfd, never following symlinks. */
static int remove_at(int dirfd, const char *name, int depth)
{
	struct stat st;
	int fd, rc;

	if (depth > 4096)
		return arca_err_set(ARCA_EUNSUPPORTED, "directory nesting too deep to remove");
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : arca_err_sys("stat %s", name);
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ?
			arca_err_sys("remove %s", name) : 0;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return arca_err_sys("open %s", name);
	fchmod(fd, (st.st_mode & 07777) | 0700); /* so its entries can go */
	rc = empty_dir(fd, depth);
	close(fd);
	if (!rc && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		rc = arca_err_sys("remove directory %s", name);
	return rc;
}

int arca_rm_rf_at(int dirfd, const char *name)
{
	return remove_at(dirfd, name, 0);
}
