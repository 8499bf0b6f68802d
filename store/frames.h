/*
 * The stack of open directories a tree walk descends through (snapshot
 * walk, restore, rollback). Each frame holds a descriptor its caller
 * opened relative to the frame below (openat with O_NOFOLLOW), so the
 * walk never goes through a symlink or a path resolved twice; the stack
 * only keeps, lists and closes them, and tracks their paths.
 */
#ifndef ARCA_STORE_FRAMES_H
#define ARCA_STORE_FRAMES_H

#include <stddef.h>

#include "store/manifest.h"

/* A manifest path has at most this many components, plus the root. */
#define ARCA_FRAMES_MAX (ARCA_MF_PATH_MAX / 2 + 2)

/* The first member of every frame; callers needing more per directory
 * put it first in their own struct and give that size to init. */
typedef struct {
	int fd;            /* -1 until the caller opens the directory */
	char **names;      /* what it holds, sorted (arca_frames_list) */
	size_t n, i;       /* how many, and the next to look at */
	size_t path_len;   /* its path: the first path_len bytes of path */
} arca_frame;

typedef struct {
	unsigned char *slots;   /* max frames of `size` bytes */
	size_t size, max, depth;
	/* The path of the last push (or arca_frames_join); every frame's
	 * path is a prefix of it. */
	char path[ARCA_MF_PATH_MAX + 1];
} arca_frames;

/** An empty stack of at most `max` frames of `frame_size` bytes (at
 *  least sizeof(arca_frame)). ARCA_ENOMEM. */
int arca_frames_init(arca_frames *fs, size_t frame_size, size_t max);
/** Pops every frame and frees the stack. */
void arca_frames_release(arca_frames *fs);
/** Pushes a frame (zeroed, fd -1) for the directory at `path` (`len`
 *  bytes; may be fs->path itself) for the caller to open into.
 *  NULL with ARCA_EUNSUPPORTED when the tree is deeper than the cap. */
void *arca_frames_push(arca_frames *fs, const char *path, size_t len);
/** Closes the top frame's directory and frees its listing. */
void arca_frames_pop(arca_frames *fs);
/** The top frame, or NULL when empty. */
void *arca_frames_top(arca_frames *fs);
/** Frame `i` from the bottom (0: the root). */
void *arca_frames_at(arca_frames *fs, size_t i);
/** Reads the sorted names of f->fd into f (what: the path, for errors). */
int arca_frames_list(arca_frame *f, const char *what);
/** Sets fs->path to the top frame's path joined with `name`; *len gets
 *  its length. ARCA_EUNSUPPORTED past ARCA_MF_PATH_MAX. */
int arca_frames_join(arca_frames *fs, const char *name, size_t nlen, size_t *len);

#endif
