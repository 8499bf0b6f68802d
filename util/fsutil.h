/* File helpers that retry short reads/writes and EINTR. */
#ifndef ARCA_UTIL_FSUTIL_H
#define ARCA_UTIL_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/** Writes all `n` bytes at `off`; errno is set on failure (-1). */
int arca_pwrite_all(int fd, const void *p, size_t n, off_t off);
/** Writes `an` bytes from `a`, then `bn` from `b`, at `off`, in one call
 *  where the kernel takes them all; errno is set on failure (-1). */
int arca_pwrite2_all(int fd, const void *a, size_t an, const void *b, size_t bn, off_t off);
int arca_write_all(int fd, const void *p, size_t n);
/** Reads exactly `n` bytes at `off`; returns bytes read (short at EOF) or -1. */
ssize_t arca_pread_full(int fd, void *p, size_t n, off_t off);
/** Reads until `n` bytes or EOF; returns bytes read or -1. */
ssize_t arca_read_full(int fd, void *p, size_t n);
/** mkdir, then chmod to exactly `mode` whatever the umask; 0 or -1 with
 *  errno (EEXIST when it existed: its mode is left alone). */
int arca_mkdir_mode(const char *path, unsigned mode);
/** mkdir -p with mode 0700 for created parents, exact modes, each
 *  directory it makes fsynced into its parent; 0 or -1 with errno. */
int arca_mkdir_p(const char *path, unsigned mode);
/** rm -rf of `name` inside `dirfd`, never following symlinks and never
 *  leaving the mount `dirfd` is on: anything mounted below is left alone
 *  and reported as ARCA_EUNSAFE. 0, or an arca error code with detail. */
int arca_rm_rf_at(int dirfd, const char *name);

/** The mount an entry is on: device and, when the kernel tells, mount id
 *  (a bind mount of the same filesystem has the same device). */
typedef struct {
	dev_t dev;
	uint64_t mnt;   /* 0: unknown */
} arca_mount_id;

/** lstat of `name` in `dirfd` ("" for dirfd itself) that also fills
 *  *mnt (may be NULL). 0 or -1 with errno. */
int arca_lstat_mnt(int dirfd, const char *name, struct stat *st, arca_mount_id *mnt);
/** 1 when both are the same mount (by mount id when both are known). */
int arca_mount_same(const arca_mount_id *a, const arca_mount_id *b);

/** What a guarded removal must not touch, and what it left. */
typedef struct {
	arca_mount_id mount;      /* never remove or descend outside it */
	int have_keep;            /* never remove this directory (the store) */
	dev_t keep_dev;
	ino_t keep_ino;
	uint64_t foreign;         /* entries left: on another mount */
	uint64_t kept;            /* entries left: the keep directory */
	char first_foreign[1024]; /* the first of them, relative to dirfd */
} arca_rm_guard;

/** 1 when an entry (`st`, on mount `m`) must be left alone by `g`; it is
 *  then counted, and `path` kept when it is the first foreign one. */
int arca_rm_guard_leaves(arca_rm_guard *g, const struct stat *st, const arca_mount_id *m,
		const char *path);
/** rm -rf of `name` in `dirfd` that leaves alone, and counts in `g`,
 *  entries on another mount than g->mount and the keep directory (with
 *  the directories holding them). 0 also when something was left. */
int arca_rm_rf_guarded(int dirfd, const char *name, arca_rm_guard *g);
/** openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC); when that is
 *  refused (EACCES) and the caller owns the entry, first adds `need` to
 *  its mode (through an O_PATH descriptor of that very inode, never a
 *  symlink) and tries again. For an entry about to be rewritten or
 *  removed, whose mode is set afterwards. -1 with errno on failure. */
int arca_openat_grant(int dirfd, const char *name, int flags, mode_t need);
/** The size of an image open at `fd` (fstat'ed into `st`): st_size for
 *  a regular file, the device's size for a block device (whose st_size
 *  is 0). 0 or -1 with errno. */
int arca_image_size(int fd, const struct stat *st, uint64_t *size);
/** fsync a directory so entries created in it are durable. */
int arca_fsync_dir(const char *path);

/* The durable-write steps, each a fault point of util/fault.h; same
 * contract as the system calls (-1 with errno). */
int arca_fsync(int fd);
int arca_fdatasync(int fd);
int arca_rename(const char *from, const char *to);
int arca_renameat(int fromfd, const char *from, int tofd, const char *to);
int arca_ftruncate(int fd, off_t len);
int arca_fallocate(int fd, int mode, off_t off, off_t len);

#endif
