/*
 * The store's writer lock: a POSIX record lock on one byte of the LMDB lock
 * file, taken before every LMDB write transaction.
 *
 * LMDB's own writer mutex cannot time out and does not say who holds it, so
 * a writer that is stopped (SIGSTOP, a debugger) would block every other
 * writer silently. This lock sits in front of it: a writer polls it, learns
 * the holder's pid from F_GETLK, reports the wait and gives up after the
 * configured timeout. The kernel drops it when its holder dies, like
 * LMDB's mutex.
 *
 * The byte locked (offset 2^40) is far beyond anything LMDB locks (offset 0
 * and one byte per reader pid). POSIX locks belong to the process, and
 * closing ANY descriptor of the file drops them all, so the descriptor is
 * opened once and kept for the cas's lifetime, and the lock is shared by
 * the process's threads (counted in `holders`; they serialise on LMDB's
 * mutex). As LMDB itself requires, a process opens a store only once.
 */
#ifndef ARCA_CAS_WRITELOCK_H
#define ARCA_CAS_WRITELOCK_H

#include <lmdb.h>
#include <pthread.h>

/** How a writer waits for another process's writer. */
typedef struct {
	int timeout_ms;  /* -1 wait forever, 0 fail at once, else give up after */
	/* called once, after a second of waiting, with the holder's pid */
	void (*on_wait)(long pid, double waited_s, void *payload);
	void *payload;
} arca_writelock_config;

#define ARCA_WRITELOCK_CONFIG_INIT { -1, NULL, NULL }

typedef struct {
	int fd;               /* the lock file, for the cas's lifetime; -1 = none */
	pthread_mutex_t mu;
	unsigned holders;     /* threads of this process holding it */
	arca_writelock_config cfg;
	const char *readonly; /* non-NULL: the store is read-only; its path */
} arca_writelock;

/** Prepares `l` (no descriptor yet); release with arca_writelock_release. */
void arca_writelock_init(arca_writelock *l, const arca_writelock_config *cfg);
/** Opens the lock file `path` (which LMDB has created). */
int arca_writelock_open(arca_writelock *l, const char *path);
/** Closes the descriptor; call only after the LMDB environment is closed
 *  (closing it drops LMDB's own record locks of this process too). */
void arca_writelock_release(arca_writelock *l);

/** Takes the lock, waiting as configured: 0, ARCA_ELOCKED on timeout, or
 *  ARCA_EIO when the store is read-only. */
int arca_writelock_acquire(arca_writelock *l);
/** Drops one hold; the lock goes when the last thread drops it. */
void arca_writelock_drop(arca_writelock *l);

/** Read-only stores: what a write attempt returns. */
int arca_writelock_readonly_error(const arca_writelock *l);

#endif
