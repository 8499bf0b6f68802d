/* File helpers that retry short reads/writes and EINTR. */
#ifndef ARCA_UTIL_FSUTIL_H
#define ARCA_UTIL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/** Writes all `n` bytes at `off`; errno is set on failure (-1). */
int arca_pwrite_all(int fd, const void *p, size_t n, off_t off);
int arca_write_all(int fd, const void *p, size_t n);
/** Reads exactly `n` bytes at `off`; returns bytes read (short at EOF) or -1. */
ssize_t arca_pread_full(int fd, void *p, size_t n, off_t off);
/** Reads until `n` bytes or EOF; returns bytes read or -1. */
ssize_t arca_read_full(int fd, void *p, size_t n);
/** mkdir, then chmod to exactly `mode` whatever the umask; 0 or -1 with
 *  errno (EEXIST when it existed: its mode is left alone). */
int arca_mkdir_mode(const char *path, unsigned mode);
/** mkdir -p with mode 0700 for created parents, exact modes; 0 or -1 with
 *  errno. */
int arca_mkdir_p(const char *path, unsigned mode);
/** rm -rf of `name` inside `dirfd`, never following symlinks. 0, or an
 *  arca error code with detail. */
int arca_rm_rf_at(int dirfd, const char *name);
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
