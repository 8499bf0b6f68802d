/*
 * The one walk over every chunk an artifact needs: its manifest chunks,
 * then each data extent in manifest order. gc marks with it, verify and
 * repair find damage with it (and push and export will send with it).
 */
#include "store/reach.h"
#include "store/manifest.h"
#include "store/mfio.h"
#include "store/record.h"
#include "util/error.h"

int arca_store__reach(arca_store *s, const arca_artifact_rec *rec, arca_reach_fn fn, void *ctx)
{
	arca_mf_in *in = NULL;
	arca_mf_reader r;
	arca_mf_entry e;
	uint8_t id[32];
	uint64_t len;
	int kind, has_id, rc;

	for (uint32_t i = 0; i < rec->nchunks; i++)
		if ((rc = fn(rec->chunk_ids[i], rec->chunk_lens[i], 1, ctx)) != 0)
			return rc;
	if ((rc = arca_mf_in_new(&in, s, rec)) != 0)
		return rc;
	arca_mf_reader_init(&r, arca_mf_in_read, in);
	if ((rc = arca_mf_read_header(&r, &kind)) != 0)
		goto done;
	if (kind != (int)rec->a.kind) {
		rc = arca_err_set(ARCA_ECORRUPT, "manifest kind differs from the index");
		goto done;
	}
	for (;;) {
		if (kind == ARCA_KIND_TREE) {
			if ((rc = arca_mf_next_entry(&r, &e, NULL)) <= 0)
				break; /* 0: the end, checked by the reader */
			if (e.type != ARCA_MF_FILE)
				continue;
		}
		while ((rc = arca_mf_next_extent(&r, id, &len, &has_id)) == 1)
			if (has_id && (rc = fn(id, (uint32_t)len, 0, ctx)) != 0)
				goto done;
		if (rc < 0)
			goto done;
		if (kind == ARCA_KIND_IMAGE) {
			rc = arca_mf_read_finish(&r);
			break;
		}
	}
done:
	arca_mf_in_free(in);
	return rc;
}
