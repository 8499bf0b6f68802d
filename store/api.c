/* Public API plumbing of the store layer: options initialisers and the
 * release of arrays the library returns. */
#include "arca/arca.h"
#include "util/error.h"
#include "util/version.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Copies the defaults. A caller of an older version has a shorter struct
 * (fields are added at the end): copy only the `v1` bytes of version 1. */
#define OPTIONS_INIT(type, tmpl_init, current, v1) \
	int type##_init(type *opts, unsigned int version) \
	{ \
		type tmpl = tmpl_init; \
		int rc; \
		if (!opts) \
			return arca_err_set(ARCA_EINVAL, #type "_init: NULL argument"); \
		if ((rc = arca__check_version(#type, version, current)) != 0) \
			return rc; \
		memcpy(opts, &tmpl, version == 1 ? (v1) : sizeof(tmpl)); \
		opts->version = version; \
		return 0; \
	}

OPTIONS_INIT(arca_store_options, ARCA_STORE_OPTIONS_INIT, ARCA_STORE_OPTIONS_VERSION,
	sizeof(arca_store_options))
/* version 2 added progress_cb and progress_payload */
OPTIONS_INIT(arca_snapshot_options, ARCA_SNAPSHOT_OPTIONS_INIT, ARCA_SNAPSHOT_OPTIONS_VERSION,
	offsetof(arca_snapshot_options, progress_cb))
OPTIONS_INIT(arca_restore_options, ARCA_RESTORE_OPTIONS_INIT, ARCA_RESTORE_OPTIONS_VERSION,
	offsetof(arca_restore_options, progress_cb))
/* version 2 added progress_cb and progress_payload, 3 keep_allocation */
int arca_rollback_options_init(arca_rollback_options *opts, unsigned int version)
{
	static const size_t len[] = { 0, offsetof(arca_rollback_options, progress_cb),
		offsetof(arca_rollback_options, keep_allocation), sizeof(arca_rollback_options) };
	arca_rollback_options tmpl = ARCA_ROLLBACK_OPTIONS_INIT;
	int rc;
	if (!opts)
		return arca_err_set(ARCA_EINVAL, "arca_rollback_options_init: NULL argument");
	if ((rc = arca__check_version("arca_rollback_options", version,
			ARCA_ROLLBACK_OPTIONS_VERSION)) != 0)
		return rc;
	memcpy(opts, &tmpl, len[version]);
	opts->version = version;
	return 0;
}
OPTIONS_INIT(arca_gc_options, ARCA_GC_OPTIONS_INIT, ARCA_GC_OPTIONS_VERSION,
	offsetof(arca_gc_options, progress_cb))
OPTIONS_INIT(arca_verify_options, ARCA_VERIFY_OPTIONS_INIT, ARCA_VERIFY_OPTIONS_VERSION,
	sizeof(arca_verify_options))

void arca_ids_free(arca_id *ids)
{
	free(ids);
}
