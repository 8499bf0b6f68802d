/* Initialisers of the hub's public settings structs (see store/api.c on
 * copying defaults once a version adds fields). */
#include "arca/hub.h"
#include "util/error.h"
#include "util/version.h"

#include <string.h>

int arca_hub_remote_init(arca_hub_remote *remote, unsigned int version)
{
	arca_hub_remote tmpl = ARCA_HUB_REMOTE_INIT;
	int rc;
	if (!remote)
		return arca_err_set(ARCA_EINVAL, "arca_hub_remote_init: NULL argument");
	if ((rc = arca__check_version("arca_hub_remote", version, ARCA_HUB_REMOTE_VERSION)) != 0)
		return rc;
	memcpy(remote, &tmpl, sizeof(tmpl));
	remote->version = version;
	return 0;
}

int arca_hub_push_options_init(arca_hub_push_options *opts, unsigned int version)
{
	arca_hub_push_options tmpl = ARCA_HUB_PUSH_OPTIONS_INIT;
	int rc;
	if (!opts)
		return arca_err_set(ARCA_EINVAL, "arca_hub_push_options_init: NULL argument");
	if ((rc = arca__check_version("arca_hub_push_options", version,
			ARCA_HUB_PUSH_OPTIONS_VERSION)) != 0)
		return rc;
	memcpy(opts, &tmpl, sizeof(tmpl));
	opts->version = version;
	return 0;
}
