#include "store/frames.h"
#include "store/walk.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int arca_frames_init(arca_frames *fs, size_t frame_size, size_t max)
{
	fs->size = frame_size < sizeof(arca_frame) ? sizeof(arca_frame) : frame_size;
	fs->max = max;
	fs->depth = 0;
	fs->path[0] = '\0';
	if (!(fs->slots = calloc(max ? max : 1, fs->size)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	return 0;
}

void arca_frames_release(arca_frames *fs)
{
	while (fs->depth > 0)
		arca_frames_pop(fs);
	free(fs->slots);
	fs->slots = NULL;
}

void *arca_frames_at(arca_frames *fs, size_t i)
{
	return fs->slots + i * fs->size;
}

void *arca_frames_top(arca_frames *fs)
{
	return fs->depth ? arca_frames_at(fs, fs->depth - 1) : NULL;
}

void *arca_frames_push(arca_frames *fs, const char *path, size_t len)
{
	arca_frame *f;
	if (fs->depth == fs->max || len > ARCA_MF_PATH_MAX) {
		arca_err_set(ARCA_EUNSUPPORTED, "tree too deep at %.*s",
			(int)(len > 200 ? 200 : len), path);
		return NULL;
	}
	memmove(fs->path, path, len);
	fs->path[len] = '\0';
	f = arca_frames_at(fs, fs->depth++);
	memset(f, 0, fs->size);
	f->fd = -1;
	f->path_len = len;
	return f;
}

void arca_frames_pop(arca_frames *fs)
{
	arca_frame *f = arca_frames_top(fs);
	if (!f)
		return;
	arca_dir_names_free(f->names, f->n);
	if (f->fd >= 0)
		close(f->fd);
	memset(f, 0, fs->size);
	f->fd = -1;
	fs->depth--;
}

int arca_frames_list(arca_frame *f, const char *what)
{
	f->i = 0;
	if (arca_dir_names(f->fd, &f->names, &f->n) < 0)
		return what ? arca_err_sys("read directory %s", what) : arca_err_sys("read directory");
	return 0;
}

int arca_frames_join(arca_frames *fs, const char *name, size_t nlen, size_t *len)
{
	arca_frame *top = arca_frames_top(fs);
	size_t at = top ? top->path_len : 0;
	size_t n = at + (at ? 1 : 0) + nlen;

	if (n > ARCA_MF_PATH_MAX)
		return arca_err_set(ARCA_EUNSUPPORTED, "path too long (over %d bytes) under %.200s",
			ARCA_MF_PATH_MAX, fs->path);
	if (at)
		fs->path[at] = '/';
	memcpy(fs->path + n - nlen, name, nlen);
	fs->path[n] = '\0';
	*len = n;
	return 0;
}
