#include "store/walk.h"
#include "store/frames.h"
#include "util/array.h"
#include "store/manifest.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the walk's cap, kept one frame below what a manifest allows */
#define MAX_DEPTH (ARCA_MF_PATH_MAX / 2 + 1)

typedef struct {
	dev_t dev;
	ino_t ino;
	char *path;
	int gone;              /* the path was not stored: the next one replaces it */
} hardlink;

struct arca_walk {
	const char *root;
	arca_frames dirs;      /* dirs.path: the path of the entry returned last */
	int started;
	int report_changes;
	int pending_dir;       /* the last entry was a directory to descend into */
	char pending_name[256];
	dev_t pending_dev;     /* its lstat, to check what we open is still it */
	ino_t pending_ino;
	hardlink *links;
	size_t nlinks, links_cap;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int arca_dir_names(int fd, char ***out, size_t *count)
{
	int dfd = dup(fd);
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	*count = 0;
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (arca_array_grow(&names, &cap, n + 1, sizeof(char *), 32) != 0)
			goto oom;
		if (!(names[n] = strdup(de->d_name)))
			goto oom;
		n++;
		errno = 0;
	}
	if (errno) {
		int e = errno;
		closedir(d);
		arca_dir_names_free(names, n);
		errno = e;
		return -1;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(char *), name_cmp);
	*out = names;
	*count = n;
	return 0;
oom:
	closedir(d);
	arca_dir_names_free(names, n);
	errno = ENOMEM;
	return -1;
}

void arca_dir_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static size_t hl_slot(const arca_walk *w, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)ino * 0xc2b2ae3d27d4eb4full);
	size_t i = (size_t)(h >> 17) & (w->links_cap - 1);
	while (w->links[i].path && (w->links[i].dev != dev || w->links[i].ino != ino))
		i = (i + 1) & (w->links_cap - 1);
	return i;
}

/* *first = the path first seen for this inode, or NULL (and it is
 * recorded as the first). */
static int hl_check(arca_walk *w, const struct stat *st, const char *path, const char **first)
{
	size_t i;
	*first = NULL;
	if (w->nlinks * 2 >= w->links_cap) {
		size_t ncap = w->links_cap ? w->links_cap * 2 : 256, ocap = w->links_cap;
		hardlink *old = w->links;
		w->links = calloc(ncap, sizeof(hardlink));
		if (!w->links) {
			w->links = old;
			return arca_err_set(ARCA_ENOMEM, "out of memory");
		}
		w->links_cap = ncap;
		for (size_t j = 0; j < ocap; j++)
			if (old[j].path)
				w->links[hl_slot(w, old[j].dev, old[j].ino)] = old[j];
		free(old);
	}
	i = hl_slot(w, st->st_dev, st->st_ino);
	if (w->links[i].path && w->links[i].gone) {
		char *p = strdup(path);
		if (!p)
			return arca_err_set(ARCA_ENOMEM, "out of memory");
		free(w->links[i].path);
		w->links[i].path = p;
		w->links[i].gone = 0;
		return 0;
	}
	if (w->links[i].path) {
		*first = w->links[i].path;
		return 0;
	}
	if (!(w->links[i].path = strdup(path)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	w->links[i].dev = st->st_dev;
	w->links[i].ino = st->st_ino;
	w->nlinks++;
	return 0;
}

int arca_walk_open(arca_walk **out, const char *root)
{
	arca_walk *w = calloc(1, sizeof(*w));
	if (!w)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	if (arca_frames_init(&w->dirs, sizeof(arca_frame), MAX_DEPTH) != 0) {
		free(w);
		return ARCA_ENOMEM;
	}
	w->root = root;
	*out = w;
	return 0;
}

void arca_walk_free(arca_walk *w)
{
	if (!w)
		return;
	arca_frames_release(&w->dirs);
	for (size_t i = 0; i < w->links_cap; i++)
		free(w->links[i].path);
	free(w->links);
	free(w);
}

void arca_walk_skip(arca_walk *w)
{
	w->pending_dir = 0;
}

void arca_walk_report_changes(arca_walk *w)
{
	w->report_changes = 1;
}

void arca_walk_forget_link(arca_walk *w, const struct stat *st)
{
	size_t i;
	if (!w->links_cap || st->st_nlink < 2)
		return;
	i = hl_slot(w, st->st_dev, st->st_ino);
	if (w->links[i].path)
		w->links[i].gone = 1;
}

/* Opens the directory returned last and lists it; 1 when it is no longer
 * the directory that was returned (removed, or replaced by a symlink or
 * another directory), and then it is not entered. */
static int descend(arca_walk *w)
{
	arca_frame *parent = arca_frames_top(&w->dirs), *child;
	const char *path = w->dirs.path;
	struct stat st;
	if (!(child = arca_frames_push(&w->dirs, path, strlen(path))))
		return ARCA_EUNSUPPORTED;
	child->fd = openat(parent->fd, w->pending_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (child->fd < 0) {
		int rc = errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? 1 :
			arca_err_sys("open %s", path);
		arca_frames_pop(&w->dirs);
		return rc;
	}
	if (fstat(child->fd, &st) < 0) {
		int rc = arca_err_sys("stat %s", path);
		arca_frames_pop(&w->dirs);
		return rc;
	}
	if (st.st_dev != w->pending_dev || st.st_ino != w->pending_ino) {
		arca_frames_pop(&w->dirs);
		return 1;
	}
	return arca_frames_list(child, path);
}

int arca_walk_next(arca_walk *w, arca_walk_entry *e)
{
	char *path = w->dirs.path;
	int rc;

	memset(e, 0, sizeof(*e));
	if (!w->started) {
		arca_frame *root;
		w->started = 1;
		if (!(root = arca_frames_push(&w->dirs, "", 0)))
			return ARCA_EUNSUPPORTED;
		root->fd = open(w->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (root->fd < 0)
			return arca_err_sys("open %s", w->root);
		if (fstat(root->fd, &e->st) < 0)
			return arca_err_sys("stat %s", w->root);
		if ((rc = arca_frames_list(root, w->root)) != 0)
			return rc;
		e->path = e->name = path;
		e->dirfd = root->fd;
		return 1;
	}
	if (w->pending_dir) {
		w->pending_dir = 0;
		if ((rc = descend(w)) < 0)
			return rc;
		if (rc == 1 && w->report_changes) {
			e->path = e->name = path;
			e->len = strlen(path);
			e->dirfd = -1;
			e->dir_changed = 1;
			return 1;
		}
	}
	while (w->dirs.depth > 0) {
		arca_frame *f = arca_frames_top(&w->dirs);
		const char *name;
		size_t len, nlen;

		if (f->i == f->n) {
			arca_frames_pop(&w->dirs);
			continue;
		}
		name = f->names[f->i++];
		nlen = strlen(name);
		if ((rc = arca_frames_join(&w->dirs, name, nlen, &len)) != 0)
			return rc;
		if (fstatat(f->fd, name, &e->st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* removed since we listed it */
			return arca_err_sys("stat %s", path);
		}
		e->path = path;
		e->len = len;
		e->name = name;
		e->dirfd = f->fd;
		if (S_ISDIR(e->st.st_mode)) {
			w->pending_dir = 1;
			memcpy(w->pending_name, name, nlen + 1);
			w->pending_dev = e->st.st_dev;
			w->pending_ino = e->st.st_ino;
		} else if (S_ISREG(e->st.st_mode) && e->st.st_nlink > 1) {
			if ((rc = hl_check(w, &e->st, path, &e->first)) != 0)
				return rc;
		}
		return 1;
	}
	return 0;
}
