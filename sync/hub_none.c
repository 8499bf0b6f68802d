/*
 * The Hub in a build without libgit2 (ARCA_WITH_HUB=OFF): the API is
 * there, checks its arguments like the real one, and says it is missing.
 */
#include "sync/versions.h"
#include "arca/hub.h"
#include "util/error.h"
#include "util/version.h"

#include <string.h>

static int missing(void)
{
	return arca_err_set(ARCA_EUNSUPPORTED,
		"this arca was built without the Hub (ARCA_WITH_HUB=OFF: no libgit2)");
}

int arca_hub_push(arca_hub_push_result *out, const char *path, const arca_hub_remote *remote,
		const arca_hub_push_options *opts)
{
	int rc;
	if (!out || !path || !remote || !opts)
		return arca_err_set(ARCA_EINVAL, "arca_hub_push: NULL argument");
	if ((rc = arca__result_start("arca_hub_push_result", out, sizeof(*out),
			ARCA_HUB_PUSH_RESULT_VERSION)) != 0 ||
	    (rc = arca__check_version("arca_hub_remote", remote->version,
			ARCA_HUB_REMOTE_VERSION)) != 0 ||
	    (rc = arca__check_version("arca_hub_push_options", opts->version,
			ARCA_HUB_PUSH_OPTIONS_VERSION)) != 0)
		return rc;
	return missing();
}

int arca_hub_clone(const char *dest, const char *branch, const arca_hub_remote *remote)
{
	int rc;
	if (!dest || !branch || !remote)
		return arca_err_set(ARCA_EINVAL, "arca_hub_clone: NULL argument");
	if ((rc = arca__check_version("arca_hub_remote", remote->version,
			ARCA_HUB_REMOTE_VERSION)) != 0)
		return rc;
	return missing();
}

int arca_hub_pull(const char *path, const arca_hub_remote *remote, char commit[41])
{
	int rc;
	(void)commit;
	if (!path || !remote)
		return arca_err_set(ARCA_EINVAL, "arca_hub_pull: NULL argument");
	if ((rc = arca__check_version("arca_hub_remote", remote->version,
			ARCA_HUB_REMOTE_VERSION)) != 0)
		return rc;
	return missing();
}

const char *arca_sync__git2_version(void)
{
	return NULL;
}
