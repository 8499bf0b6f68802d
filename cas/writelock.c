#include "cas/writelock.h"
#include "cas/cas_impl.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOCK_OFFSET ((off_t)1 << 40)
#define POLL_MS 50
#define NOTIFY_AFTER_S 1.0

void arca_writelock_init(arca_writelock *l, const arca_writelock_config *cfg)
{
	arca_writelock_config def = ARCA_WRITELOCK_CONFIG_INIT;
	memset(l, 0, sizeof(*l));
	l->cfg = cfg ? *cfg : def;
	l->fd = -1;
	pthread_mutex_init(&l->mu, NULL);
}

int arca_writelock_open(arca_writelock *l, const char *path)
{
	l->fd = open(path, O_RDWR | O_CLOEXEC);
	if (l->fd < 0)
		return arca_err_sys("open %s", path);
	return 0;
}

void arca_writelock_release(arca_writelock *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	pthread_mutex_destroy(&l->mu);
}

int arca_writelock_readonly_error(const arca_writelock *l)
{
	return arca_err_set(ARCA_EIO, "store %s is read-only", l->readonly ? l->readonly : "");
}

static double since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void nap(double max_s)
{
	double s = max_s < POLL_MS / 1000.0 ? max_s : POLL_MS / 1000.0;
	struct timespec ts;
	if (s <= 0)
		return;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(s * 1e9);
	nanosleep(&ts, NULL);
}

/* One attempt: 0 taken, 1 held by *pid, or an error. */
static int try_lock(int fd, long *pid)
{
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = LOCK_OFFSET;
	fl.l_len = 1;
	if (fcntl(fd, F_SETLK, &fl) == 0)
		return 0;
	if (errno == EINTR)
		return 1;
	if (errno != EACCES && errno != EAGAIN)
		return arca_err_sys("lock the store's writer lock");
	if (fcntl(fd, F_GETLK, &fl) < 0)
		return arca_err_sys("query the store's writer lock");
	*pid = fl.l_type == F_UNLCK ? 0 : (long)fl.l_pid; /* 0: just released */
	return 1;
}

int arca_writelock_acquire(arca_writelock *l)
{
	const arca_writelock_config *c = &l->cfg;
	struct timespec t0;
	int notified = 0, rc;
	long pid = 0;

	if (l->readonly)
		return arca_writelock_readonly_error(l);
	if (l->fd < 0)
		return 0;
	pthread_mutex_lock(&l->mu);
	if (l->holders > 0) {
		/* another thread of ours has it: wait on LMDB's mutex instead */
		l->holders++;
		pthread_mutex_unlock(&l->mu);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((rc = try_lock(l->fd, &pid)) == 1) {
		double waited = since(&t0), left = 1e9;
		if (pid == 0)
			continue;
		/* before the timeout check: a wait of a second or more is told */
		if (!notified && waited >= NOTIFY_AFTER_S) {
			notified = 1;
			if (c->on_wait)
				c->on_wait(pid, waited, c->payload);
		}
		if (c->timeout_ms >= 0) {
			left = c->timeout_ms / 1000.0 - waited;
			if (left <= 0) {
				rc = arca_err_set(ARCA_ELOCKED,
					"store is locked by writer pid %ld (waited %.1f s)", pid, waited);
				break;
			}
		}
		nap(left);
	}
	if (rc == 0)
		l->holders = 1;
	pthread_mutex_unlock(&l->mu);
	return rc;
}

void arca_writelock_drop(arca_writelock *l)
{
	struct flock fl;
	if (l->readonly || l->fd < 0)
		return;
	pthread_mutex_lock(&l->mu);
	if (l->holders > 0 && --l->holders == 0) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_UNLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = LOCK_OFFSET;
		fl.l_len = 1;
		fcntl(l->fd, F_SETLK, &fl);
	}
	pthread_mutex_unlock(&l->mu);
}

/* ---- LMDB write transactions of a cas ---- */

int arca_cas_write_txn_begin(arca_cas *cas, MDB_txn **out)
{
	int rc, mrc;
	if ((rc = arca_writelock_acquire(&cas->wlock)) != 0)
		return rc;
	if ((mrc = arca_mdb_txn_begin(cas->env, 0, out)) != 0) {
		arca_writelock_drop(&cas->wlock);
		return arca_lmdb_error(mrc, "begin write transaction");
	}
	return 0;
}

int arca_cas_write_txn_commit(arca_cas *cas, MDB_txn *txn)
{
	int mrc = arca_cas__commit(txn);
	arca_writelock_drop(&cas->wlock);
	return mrc ? arca_lmdb_error(mrc, "commit") : 0;
}

void arca_cas_write_txn_abort(arca_cas *cas, MDB_txn *txn)
{
	if (!txn)
		return;
	mdb_txn_abort(txn);
	arca_writelock_drop(&cas->wlock);
}

int arca_cas_lock_now(arca_cas *cas)
{
	cas->wlock.cfg.timeout_ms = 0;
	return arca_writelock_acquire(&cas->wlock);
}

void arca_cas_unlock(arca_cas *cas)
{
	arca_writelock_drop(&cas->wlock);
}
