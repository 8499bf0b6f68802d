/*
 * The S3 and HTTP backends in a build without them (ARCA_WITH_S3=OFF: no
 * libcurl): such URLs are refused with a message that says why.
 */
#include "sync/versions.h"
#include "sync/transport.h"
#include "util/error.h"

int arca_transport_s3_open(arca_transport **out, const char *url, const arca_transport_config *cfg)
{
	(void)cfg;
	*out = NULL;
	return arca_err_set(ARCA_EUNSUPPORTED, "remote %.300s: this arca was built without S3 "
		"support (ARCA_WITH_S3=OFF: no libcurl)", url);
}

int arca_transport_http_open(arca_transport **out, const char *url,
		const arca_transport_config *cfg)
{
	(void)cfg;
	*out = NULL;
	return arca_err_set(ARCA_EUNSUPPORTED, "remote %.300s: this arca was built without HTTP "
		"support (ARCA_WITH_S3=OFF: no libcurl)", url);
}

const char *arca_sync__curl_version(void)
{
	return NULL;
}
