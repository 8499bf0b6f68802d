/*
 * Env locks: STORE/envs/.locks/NAME (names never start with '.', so no
 * env is called .locks), flock()ed by every call that works on env NAME
 * for as long as it works. flock goes with the process, so a `creating`
 * or `destroyed` record whose lock is free was left by a process that
 * died. The file exists while held: whoever can take it exclusively as it
 * lets go unlinks it (a crash leaves it, harmless); a locker that finds
 * it replaced between open and flock tries again.
 */
#include "env/env_lock.h"
#include "store/envs.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCKS_DIR ".locks"

int arca_env__area_open(int *fd, arca_store *s, int create)
{
	char *root = NULL;
	int rc;

	*fd = -1;
	if ((rc = arca_store__env_path(&root, s, NULL)) != 0)
		return rc;
	if (create && arca_mkdir_p(root, 0700) < 0 && errno != EEXIST)
		rc = arca_err_sys("create %s", root);
	else if ((*fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		rc = errno == ELOOP || errno == ENOTDIR ?
			arca_err_set(ARCA_EUNSAFE, "%s is not a directory (a symlink?); not followed",
				root) :
			arca_err_sys("open %s", root);
	free(root);
	return rc;
}

static int locks_dir(int area_fd)
{
	int fd;
	if (mkdirat(area_fd, LOCKS_DIR, 0700) < 0 && errno != EEXIST)
		return arca_err_sys("create envs/" LOCKS_DIR);
	fd = openat(area_fd, LOCKS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP || errno == ENOTDIR ?
			arca_err_set(ARCA_EUNSAFE, "envs/" LOCKS_DIR " is not a directory; not followed") :
			arca_err_sys("open envs/" LOCKS_DIR);
	return fd;
}

int arca_env__lock(int *out, int area_fd, const char *name, int shared)
{
	int dfd, fd = -1, rc = 0;

	*out = -1;
	if ((dfd = locks_dir(area_fd)) < 0)
		return dfd;
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = arca_err_sys("open the lock of env %s", name);
			break;
		}
		if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
			rc = errno == EWOULDBLOCK ?
				arca_err_set(ARCA_ELOCKED, "env %s is busy: another arca call is working "
					"on it", name) :
				arca_err_sys("lock env %s", name);
			break;
		}
		/* still the file at that name: else its holder unlinked it */
		if (fstat(fd, &a) == 0 && fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			*out = fd;
			fd = -1;
			break;
		}
		close(fd);
		fd = -1;
		rc = arca_err_set(ARCA_ELOCKED, "env %s is busy: its lock keeps changing", name);
	}
	if (fd >= 0)
		close(fd);
	close(dfd);
	return *out >= 0 ? 0 : rc;
}

void arca_env__unlock(int fd, int area_fd, const char *name)
{
	int dfd;
	if (fd < 0)
		return;
	/* the last holder (who alone can take it exclusively) removes it */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 &&
	    (dfd = openat(area_fd, LOCKS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		struct stat a, b;
		if (fstat(fd, &a) == 0 && fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			unlinkat(dfd, name, 0);
		close(dfd);
	}
	close(fd);
}

int arca_env__check_dir(int area_fd, const char *name)
{
	arca_mount_id am, dm;
	struct stat ast, st;

	if (arca_lstat_mnt(area_fd, name, &st, &dm) < 0)
		return errno == ENOENT ? 0 : arca_err_sys("stat envs/%s", name);
	if (!S_ISDIR(st.st_mode))
		return arca_err_set(ARCA_EUNSAFE, "env %s: envs/%s is not a directory (%s); not "
			"followed", name, name, S_ISLNK(st.st_mode) ? "a symlink" : "another type");
	if (arca_lstat_mnt(area_fd, "", &ast, &am) < 0)
		return arca_err_sys("stat envs");
	if (!arca_mount_same(&am, &dm))
		return arca_err_set(ARCA_EUNSAFE, "env %s: envs/%s is another mount; not followed",
			name, name);
	return 0;
}
