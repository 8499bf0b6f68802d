/* Public API plumbing of the store layer: options initialisers and the
 * release of arrays the library returns. */
#include "arca/arca.h"
#include "util/error.h"
#include "util/version.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Copies the defaults. A caller of an older version has a shorter struct
 * (fields are added at the end): copy only the bytes its version has,
 * given for each version from 1 to `current`. */
#define OPTIONS_INIT(type, tmpl_init, current, ...) \
	int type##_init(type *opts, unsigned int version) \
	{ \
		static const size_t len[] = { 0, __VA_ARGS__ }; \
		type tmpl = tmpl_init; \
		int rc; \
		_Static_assert(sizeof(len) / sizeof(len[0]) == (current) + 1, \
			#type ": one length per version"); \
		if (!opts) \
			return arca_err_set(ARCA_EINVAL, #type "_init: NULL argument"); \
		if ((rc = arca__check_version(#type, version, current)) != 0) \
			return rc; \
		memcpy(opts, &tmpl, len[version]); \
		opts->version = version; \
		return 0; \
	}

OPTIONS_INIT(arca_store_options, ARCA_STORE_OPTIONS_INIT, ARCA_STORE_OPTIONS_VERSION,
	sizeof(arca_store_options))
/* version 2 added progress_cb and progress_payload */
OPTIONS_INIT(arca_snapshot_options, ARCA_SNAPSHOT_OPTIONS_INIT, ARCA_SNAPSHOT_OPTIONS_VERSION,
	offsetof(arca_snapshot_options, progress_cb), sizeof(arca_snapshot_options))
OPTIONS_INIT(arca_restore_options, ARCA_RESTORE_OPTIONS_INIT, ARCA_RESTORE_OPTIONS_VERSION,
	offsetof(arca_restore_options, progress_cb), sizeof(arca_restore_options))
/* ... and for rollback, version 3 keep_allocation and baseline */
OPTIONS_INIT(arca_rollback_options, ARCA_ROLLBACK_OPTIONS_INIT, ARCA_ROLLBACK_OPTIONS_VERSION,
	offsetof(arca_rollback_options, progress_cb),
	offsetof(arca_rollback_options, keep_allocation), sizeof(arca_rollback_options))
OPTIONS_INIT(arca_gc_options, ARCA_GC_OPTIONS_INIT, ARCA_GC_OPTIONS_VERSION,
	offsetof(arca_gc_options, progress_cb), sizeof(arca_gc_options))
OPTIONS_INIT(arca_verify_options, ARCA_VERIFY_OPTIONS_INIT, ARCA_VERIFY_OPTIONS_VERSION,
	sizeof(arca_verify_options))

void arca_ids_free(arca_id *ids)
{
	free(ids);
}
