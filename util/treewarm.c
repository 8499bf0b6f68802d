/* Warming the caches of a directory tree from several threads. */
#include "util/treewarm.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define WARM_MAX_THREADS 8
/* directories waiting for a thread: beyond this, a thread goes down
 * into them itself, at most WARM_DEPTH deep (deeper ones stay cold), so
 * it holds at most WARM_QUEUE + threads x WARM_DEPTH descriptors (96
 * with rollback's 4 threads) beside the walk's own */
#define WARM_QUEUE 32
#define WARM_DEPTH 16

struct arca_treewarm {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int q[WARM_QUEUE];
	unsigned nq, busy;
	atomic_int stop;
	arca_mount_id mnt;   /* the tree's: a bind mount shares its st_dev */
	pthread_t threads[WARM_MAX_THREADS];
	unsigned nthreads;
};

/* 1 when queued for another thread; the caller keeps `fd` otherwise */
static int offer(arca_treewarm *w, int fd)
{
	int taken = 0;
	pthread_mutex_lock(&w->mu);
	if (w->nq < WARM_QUEUE) {
		w->q[w->nq++] = fd;
		pthread_cond_signal(&w->cv);
		taken = 1;
	}
	pthread_mutex_unlock(&w->mu);
	return taken;
}

/* Stats every entry of directory `fd` (closed here) and goes on into its
 * subdirectories on the same mount. */
static void warm_dir(arca_treewarm *w, int fd, int depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	if (!d) {
		close(fd);
		return;
	}
	while (!atomic_load(&w->stop) && (de = readdir(d)) != NULL) {
		struct stat st, sst;
		arca_mount_id m;
		int sub;
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) {
			fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW);
			continue;
		}
		/* a mount point is told by its stat, before anything is opened */
		if (arca_lstat_mnt(dirfd(d), de->d_name, &st, &m) < 0 || !S_ISDIR(st.st_mode) ||
		    !arca_mount_same(&m, &w->mnt) || depth >= WARM_DEPTH)
			continue;
		sub = openat(dirfd(d), de->d_name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (sub < 0)
			continue;
		/* the directory stat'ed, not one moved or mounted there since */
		if (fstat(sub, &sst) < 0 || sst.st_dev != st.st_dev || sst.st_ino != st.st_ino) {
			close(sub);
			continue;
		}
		if (!offer(w, sub))
			warm_dir(w, sub, depth + 1);
	}
	closedir(d);
}

static void *warm_main(void *arg)
{
	arca_treewarm *w = arg;
	for (;;) {
		int fd;
		pthread_mutex_lock(&w->mu);
		while (!w->nq && w->busy && !atomic_load(&w->stop))
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->nq || atomic_load(&w->stop)) {
			/* nothing queued and nobody left to queue more: done */
			pthread_cond_broadcast(&w->cv);
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		fd = w->q[--w->nq]; /* last in, first out: deep first, as walks go */
		w->busy++;
		pthread_mutex_unlock(&w->mu);
		warm_dir(w, fd, 0);
		pthread_mutex_lock(&w->mu);
		w->busy--;
		if (!w->busy)
			pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
}

arca_treewarm *arca_treewarm_start(int rootfd, unsigned nthreads)
{
	arca_treewarm *w;
	struct stat st;
	arca_mount_id mnt;
	int fd;

	if (nthreads > WARM_MAX_THREADS)
		nthreads = WARM_MAX_THREADS;
	if (!nthreads || arca_lstat_mnt(rootfd, "", &st, &mnt) < 0 || !S_ISDIR(st.st_mode))
		return NULL;
	if (!(w = calloc(1, sizeof(*w))))
		return NULL;
	if ((fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	atomic_init(&w->stop, 0);
	w->mnt = mnt;
	w->q[w->nq++] = fd;
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&w->threads[i], NULL, warm_main, w) != 0)
			break;
		w->nthreads++;
	}
	if (!w->nthreads) {
		arca_treewarm_stop(w);
		return NULL;
	}
	return w;
}

void arca_treewarm_stop(arca_treewarm *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, 1);
	pthread_mutex_lock(&w->mu);
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	while (w->nq)
		close(w->q[--w->nq]);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
