/* The one way index write transactions are committed. */
#include "cas/cas_impl.h"
#include "util/fault.h"

#include <errno.h>
#include <sys/statvfs.h>

/* LMDB reports a short write of its pages as EIO: on a (nearly) full
 * filesystem that is the disk filling up, and the user must hear so. */
static int nearly_full(int fd)
{
	struct statvfs sv;
	unsigned long long avail, total;
	if (fd < 0 || fstatvfs(fd, &sv) < 0)
		return 0;
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	total = (unsigned long long)sv.f_blocks * sv.f_frsize;
	return avail < (1ull << 20) || avail < total / 100;
}

int arca_cas__commit(MDB_txn *txn)
{
	mdb_filehandle_t fd = -1;
	int mrc;

	if ((mrc = arca_fault_check("commit")) != 0) {
		mdb_txn_abort(txn);
		return mrc;
	}
	mdb_env_get_fd(mdb_txn_env(txn), &fd);
	mrc = mdb_txn_commit(txn);
	if (mrc == EIO && nearly_full(fd))
		mrc = ENOSPC;
	return mrc;
}
