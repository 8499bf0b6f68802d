/*
 * Walks a directory tree in manifest order: pre-order, the children of
 * each directory sorted bytewise, without following symlinks. Regular
 * files with several links are reported with the path first seen for the
 * same inode, so callers can record hardlinks.
 */
#ifndef ARCA_STORE_WALK_H
#define ARCA_STORE_WALK_H

#include <stddef.h>
#include <sys/stat.h>

typedef struct arca_walk arca_walk;

typedef struct {
	const char *path;      /* relative to the root; "" for the root itself */
	size_t len;
	const char *name;      /* last component ("" for the root) */
	int dirfd;             /* open directory holding `name` (root: its own fd) */
	struct stat st;        /* lstat */
	const char *first;     /* regular file: earlier path of the same inode */
	/* Not an entry: the directory returned last at `path` was removed or
	 * replaced (by a symlink, another directory...) before it could be
	 * opened; its children are not walked. */
	int dir_changed;
} arca_walk_entry;

int arca_walk_open(arca_walk **out, const char *root);

/** The names in directory `fd` (without . and ..), sorted bytewise; free
 *  with arca_dir_names_free(). -1 with errno on failure. */
int arca_dir_names(int fd, char ***names, size_t *n);
void arca_dir_names_free(char **names, size_t n);
/** Next entry: 1, 0 at the end, or an error. Strings are valid until the
 *  next call. A directory's children follow it. */
int arca_walk_next(arca_walk *w, arca_walk_entry *e);
/** Report directories that changed under the walk (dir_changed). */
void arca_walk_report_changes(arca_walk *w);
/** Do not descend into the directory returned last. */
void arca_walk_skip(arca_walk *w);
/** The regular file returned last was not stored (it vanished or was
 *  replaced): later links to its inode are not reported as hardlinks
 *  to it; the next one seen becomes the first. */
void arca_walk_forget_link(arca_walk *w, const struct stat *st);
void arca_walk_free(arca_walk *w);

#endif
