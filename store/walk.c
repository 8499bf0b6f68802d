#include "store/walk.h"
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

#define MAX_DEPTH (ARCA_MF_PATH_MAX / 2 + 1)

typedef struct {
	int fd;
	char **names;
	size_t n, i;
	size_t path_len;
} frame;

typedef struct {
	dev_t dev;
	ino_t ino;
	char *path;
	int gone;              /* the path was not stored: the next one replaces it */
} hardlink;

struct arca_walk {
	const char *root;
	frame *stack;
	size_t depth;
	int started;
	int report_changes;
	int pending_dir;       /* the last entry was a directory to descend into */
	char pending_name[256];
	dev_t pending_dev;     /* its lstat, to check what we open is still it */
	ino_t pending_ino;
	char path[ARCA_MF_PATH_MAX + 1];
	hardlink *links;
	size_t nlinks, links_cap;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void frame_release(frame *f)
{
	arca_dir_names_free(f->names, f->n);
	if (f->fd >= 0)
		close(f->fd);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
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

/* Reads and sorts the names in directory f->fd (which stays open). */
static int list_dir(frame *f, const char *what)
{
	f->i = 0;
	if (arca_dir_names(f->fd, &f->names, &f->n) < 0)
		return arca_err_sys("read directory %s", what);
	return 0;
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
	if (!w || !(w->stack = calloc(MAX_DEPTH, sizeof(frame)))) {
		free(w);
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	}
	w->root = root;
	*out = w;
	return 0;
}

void arca_walk_free(arca_walk *w)
{
	if (!w)
		return;
	while (w->depth > 0)
		frame_release(&w->stack[--w->depth]);
	free(w->stack);
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
	frame *parent = &w->stack[w->depth - 1], *child;
	size_t len = strlen(w->path);
	struct stat st;
	if (w->depth == MAX_DEPTH)
		return arca_err_set(ARCA_EUNSUPPORTED, "tree too deep at %.200s", w->path);
	child = &w->stack[w->depth];
	child->fd = openat(parent->fd, w->pending_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (child->fd < 0) {
		if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
			return 1;
		return arca_err_sys("open %s", w->path);
	}
	if (fstat(child->fd, &st) < 0) {
		int rc = arca_err_sys("stat %s", w->path);
		frame_release(child);
		return rc;
	}
	if (st.st_dev != w->pending_dev || st.st_ino != w->pending_ino) {
		frame_release(child);
		return 1;
	}
	child->path_len = len;
	w->depth++;
	return list_dir(child, w->path);
}

int arca_walk_next(arca_walk *w, arca_walk_entry *e)
{
	int rc;

	memset(e, 0, sizeof(*e));
	if (!w->started) {
		w->started = 1;
		w->stack[0].fd = open(w->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (w->stack[0].fd < 0)
			return arca_err_sys("open %s", w->root);
		w->depth = 1;
		if (fstat(w->stack[0].fd, &e->st) < 0)
			return arca_err_sys("stat %s", w->root);
		if ((rc = list_dir(&w->stack[0], w->root)) != 0)
			return rc;
		w->path[0] = '\0';
		e->path = e->name = w->path;
		e->dirfd = w->stack[0].fd;
		return 1;
	}
	if (w->pending_dir) {
		w->pending_dir = 0;
		if ((rc = descend(w)) < 0)
			return rc;
		if (rc == 1 && w->report_changes) {
			e->path = e->name = w->path;
			e->len = strlen(w->path);
			e->dirfd = -1;
			e->dir_changed = 1;
			return 1;
		}
	}
	while (w->depth > 0) {
		frame *f = &w->stack[w->depth - 1];
		const char *name;
		size_t len, nlen;

		if (f->i == f->n) {
			frame_release(f);
			w->depth--;
			continue;
		}
		name = f->names[f->i++];
		nlen = strlen(name);
		len = f->path_len + (f->path_len ? 1 : 0) + nlen;
		if (len > ARCA_MF_PATH_MAX)
			return arca_err_set(ARCA_EUNSUPPORTED, "path too long (over %d bytes) under %.200s",
				ARCA_MF_PATH_MAX, w->path);
		if (f->path_len)
			w->path[f->path_len] = '/';
		memcpy(w->path + len - nlen, name, nlen);
		w->path[len] = '\0';
		if (fstatat(f->fd, name, &e->st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* removed since we listed it */
			return arca_err_sys("stat %s", w->path);
		}
		e->path = w->path;
		e->len = len;
		e->name = name;
		e->dirfd = f->fd;
		if (S_ISDIR(e->st.st_mode)) {
			w->pending_dir = 1;
			memcpy(w->pending_name, name, nlen + 1);
			w->pending_dev = e->st.st_dev;
			w->pending_ino = e->st.st_ino;
		} else if (S_ISREG(e->st.st_mode) && e->st.st_nlink > 1) {
			if ((rc = hl_check(w, &e->st, w->path, &e->first)) != 0)
				return rc;
		}
		return 1;
	}
	return 0;
}
