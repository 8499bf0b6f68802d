/*
 * Restore straight from a remote: the artifact's chunks go into a
 * throw-away store in the temporary directory, the restore reads them
 * from there, and the store is removed. The caller's store gains nothing
 * (it is only read, for the remote's URL).
 */
#include "arca/remote.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
	const char *want;
	char *url, *region;
	int insecure, found;
} remote_find;

static int find_remote(const char *name, const char *url, const char *region, int insecure,
		void *payload)
{
	remote_find *f = payload;
	if (strcmp(name, f->want) != 0)
		return 0;
	f->url = strdup(url);
	f->region = region ? strdup(region) : NULL;
	f->insecure = insecure;
	f->found = 1;
	return (!f->url || (region && !f->region)) ? ARCA_ENOMEM : 1;
}

/* The throw-away store knows the remote by the same name, with the same
 * settings, so the pull sees what a pull into `s` would. */
static int copy_remote(arca_store *tmp, arca_store *s, const char *remote)
{
	remote_find f = { remote, NULL, NULL, 0, 0 };
	int rc = arca_remote_foreach(s, find_remote, &f);
	if (rc == ARCA_ENOMEM)
		rc = arca_err_set(ARCA_ENOMEM, "out of memory");
	else if (rc == 1 || rc == 0)
		rc = f.found ? arca_remote_add(tmp, remote, f.url, f.region, f.insecure) : 0;
	free(f.url);
	free(f.region);
	return rc;
}

/* rm -rf of `path` ("PARENT/NAME"), never following symlinks. */
static int remove_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	arca_buf parent = ARCA_BUF_INIT(PATH_MAX);
	int fd, rc;

	if ((rc = arca_buf_setf(&parent, "%.*s", (int)(slash - path), path)) != 0)
		return rc;
	fd = open(parent.len ? arca_buf_cstr(&parent) : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		rc = arca_err_sys("open %s", arca_buf_cstr(&parent));
	else
		rc = arca_rm_rf_at(fd, slash + 1);
	if (fd >= 0)
		close(fd);
	arca_buf_release(&parent);
	return rc;
}

int arca_remote_restore(arca_op_stats *stats, arca_store *s, const char *remote, const char *ref,
		const char *dest, const arca_restore_options *ro, const arca_sync_options *so,
		arca_sync_result *pulled)
{
	arca_buf dir = ARCA_BUF_INIT(PATH_MAX);
	arca_store *tmp = NULL;
	arca_sync_result own = ARCA_SYNC_RESULT_INIT;
	int rc, rc2;

	if (!remote || !ref || !dest)
		return arca_err_set(ARCA_EINVAL, "arca_remote_restore: NULL argument");
	if (!pulled)
		pulled = &own;
	if ((rc = arca_buf_setf(&dir, "%s/arca-restore-XXXXXX",
			so && so->tmp_dir ? so->tmp_dir : "/tmp")) != 0)
		return rc;
	if (!mkdtemp((char *)dir.ptr)) {
		rc = arca_err_sys("restore from %s: temporary store in %s", remote,
			so && so->tmp_dir ? so->tmp_dir : "/tmp");
		arca_buf_release(&dir);
		return rc;
	}
	if ((rc = arca_store_open(&tmp, arca_buf_cstr(&dir), NULL)) == 0 &&
	    (!s || (rc = copy_remote(tmp, s, remote)) == 0) &&
	    (rc = arca_pull(pulled, tmp, remote, &ref, 1, so)) == 0)
		rc = arca_restore(tmp, ref, dest, ro, stats);
	arca_store_free(tmp);
	/* its failure must not hide the restore's */
	rc2 = remove_dir(arca_buf_cstr(&dir));
	if (!rc && rc2)
		rc = rc2;
	arca_buf_release(&dir);
	return rc;
}
