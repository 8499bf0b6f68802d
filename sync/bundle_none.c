/*
 * Bundles in a build without libarchive (ARCA_WITH_BUNDLE=OFF): the API
 * is there, checks its arguments like the real one, and says it is
 * missing.
 */
#include "sync/versions.h"
#include "arca/remote.h"
#include "util/error.h"
#include "util/version.h"

static int missing(void)
{
	return arca_err_set(ARCA_EUNSUPPORTED,
		"built without bundle support (ARCA_WITH_BUNDLE=OFF: no libarchive)");
}

static int check(arca_sync_result *out, const arca_sync_options *opts)
{
	int rc;
	if (out && (rc = arca__result_start("arca_sync_result", out, sizeof(*out),
			ARCA_SYNC_RESULT_VERSION)) != 0)
		return rc;
	if (opts && (rc = arca__check_version("arca_sync_options", opts->version,
			ARCA_SYNC_OPTIONS_VERSION)) != 0)
		return rc;
	return 0;
}

int arca_export(arca_sync_result *out, arca_store *s, const char *const *refs, size_t n,
		const char *const *since, size_t n_since, int fd, const arca_sync_options *opts)
{
	int rc;
	if (!s || (!refs && n) || (!since && n_since) || fd < 0)
		return arca_err_set(ARCA_EINVAL, "arca_export: NULL argument");
	return (rc = check(out, opts)) != 0 ? rc : missing();
}

int arca_import(arca_sync_result *out, arca_store *s, int fd, const arca_sync_options *opts)
{
	int rc;
	if (!s || fd < 0)
		return arca_err_set(ARCA_EINVAL, "arca_import: NULL argument");
	return (rc = check(out, opts)) != 0 ? rc : missing();
}

const char *arca_sync__archive_version(void)
{
	return NULL;
}
