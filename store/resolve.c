/* Resolving a reference (id, id prefix, NAME or NAME:TAG) to an artifact
 * id, with the hints an unknown one gets. */
#include "store/resolve.h"
#include "store/ids.h"
#include "store/names.h"
#include "store/store.h"
#include "util/error.h"
#include "util/hex.h"

#include <stdio.h>
#include <string.h>

static int resolve_prefix(arca_id *out, arca_store *s, MDB_txn *txn, const char *hex, size_t n)
{
	uint8_t key[32];
	MDB_cursor *cur;
	MDB_val k, v;
	size_t full = n / 2, matches = 0;
	char list[512] = "";
	int mrc;

	arca_hex_decode(key, 32, hex, n);
	if ((mrc = mdb_cursor_open(txn, s->dbi_artifacts, &cur)) != 0)
		return arca_lmdb_error(mrc, "artifacts cursor");
	k.mv_size = (n + 1) / 2;
	k.mv_data = key;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kb = k.mv_data;
		if (k.mv_size != 32 || memcmp(kb, key, full) != 0 ||
		    (n % 2 && (kb[full] >> 4) != (key[full] >> 4)))
			break;
		if (matches == 0)
			memcpy(out->bytes, kb, 32);
		if (matches < 5) {
			char one[ARCA_ID_STRLEN];
			arca_id id;
			memcpy(id.bytes, kb, 32);
			arca_id_format(one, &id);
			snprintf(list + strlen(list), sizeof(list) - strlen(list), " %.24s", one);
		}
		matches++;
	}
	mdb_cursor_close(cur);
	if (matches == 0)
		return ARCA_ENOTFOUND;
	if (matches > 1)
		return arca_err_set(ARCA_EAMBIGUOUS, "'%.*s' matches %zu artifacts:%s%s",
			(int)n, hex, matches, list, matches > 5 ? " ..." : "");
	return 0;
}

static int ref_get(arca_id *out, arca_store *s, MDB_txn *txn, const char *key)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int mrc = mdb_get(txn, s->dbi_refs, &k, &v);
	if (mrc == MDB_NOTFOUND)
		return ARCA_ENOTFOUND;
	if (mrc)
		return arca_lmdb_error(mrc, "ref lookup");
	if (v.mv_size != 32)
		return arca_err_set(ARCA_ECORRUPT, "index: ref %s is damaged", key);
	memcpy(out->bytes, v.mv_data, 32);
	return 0;
}

/* Lists refs starting with `prefix` into `out` (for error messages). */
static size_t list_refs(arca_store *s, MDB_txn *txn, const char *prefix, char *out, size_t n)
{
	MDB_cursor *cur;
	MDB_val k = { strlen(prefix), (void *)prefix }, v;
	size_t found = 0, plen = strlen(prefix);
	int mrc;

	out[0] = '\0';
	if (mdb_cursor_open(txn, s->dbi_refs, &cur) != 0)
		return 0;
	mrc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) :
		mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (; mrc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if (found < 8)
			snprintf(out + strlen(out), n - strlen(out), "%s%.*s", found ? ", " : "",
				(int)(k.mv_size > 120 ? 120 : k.mv_size), (const char *)k.mv_data);
		found++;
	}
	if (found > 8)
		snprintf(out + strlen(out), n - strlen(out), ", ...");
	mdb_cursor_close(cur);
	return found;
}

int arca_store__unknown_ref(arca_store *s, MDB_txn *txn, const char *ref)
{
	char name[ARCA_NAME_MAX + 2], list[768];
	const char *colon = strrchr(ref, ':');
	size_t n = colon ? (size_t)(colon - ref) : strlen(ref);

	if (n <= ARCA_NAME_MAX) {
		memcpy(name, ref, n);
		name[n] = ':';
		name[n + 1] = '\0';
		if (list_refs(s, txn, name, list, sizeof(list)))
			return arca_err_set(ARCA_ENOTFOUND, "no ref '%s'; %.*s has: %s", ref,
				(int)n, ref, list);
	}
	if (list_refs(s, txn, "", list, sizeof(list)))
		return arca_err_set(ARCA_ENOTFOUND, "no artifact or ref named '%s' (refs: %s)",
			ref, list);
	return arca_err_set(ARCA_ENOTFOUND, "no artifact or ref named '%s' (the store has no refs)", ref);
}

/* NAME or NAME:TAG, both parts valid. */
static int check_ref_syntax(const char *ref)
{
	char name[ARCA_NAME_MAX + 1], tag[ARCA_TAG_MAX + 1];
	if (strchr(ref, ':'))
		return arca_store__split_ref(ref, name, tag);
	return arca_store__check_word("name", ref, ARCA_NAME_MAX, 1);
}

int arca_store__resolve(arca_id *out, arca_store *s, MDB_txn *txn, const char *ref)
{
	size_t n = strlen(ref), hn;
	const char *hex = ref;
	int rc, explicit_id = 0;
	char key[ARCA_REF_KEY_MAX + 8];

	if (n == 0)
		return arca_err_set(ARCA_EINVAL, "empty reference");
	if (n > 4 && strncmp(ref, "art_", 4) == 0) {
		hex = ref + 4;
		explicit_id = 1;
	}
	hn = strlen(hex);
	if (!strchr(ref, ':') && arca_ids__is_hex(hex, hn) && hn >= 8 && hn <= 64) {
		rc = resolve_prefix(out, s, txn, hex, hn);
		if (rc != ARCA_ENOTFOUND)
			return rc;
		if (explicit_id)
			return arca_err_set(rc, "no artifact matches '%s'", ref);
	} else if (explicit_id) {
		return arca_err_set(ARCA_EINVAL,
			"'%s' is not a valid artifact id (need 8 to 64 hex digits after art_)", ref);
	}
	if (n > ARCA_REF_KEY_MAX)
		return arca_err_set(ARCA_EINVAL, "reference too long");
	if ((rc = check_ref_syntax(ref)) != 0)
		return rc;
	snprintf(key, sizeof(key), strchr(ref, ':') ? "%s" : "%s:latest", ref);
	rc = ref_get(out, s, txn, key);
	if (rc == ARCA_ENOTFOUND)
		return arca_store__unknown_ref(s, txn, ref);
	return rc;
}

int arca_resolve(arca_id *out, arca_store *s, const char *ref)
{
	MDB_txn *txn;
	int rc;
	if (!out || !s || !ref)
		return arca_err_set(ARCA_EINVAL, "arca_resolve: NULL argument");
	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	rc = arca_store__resolve(out, s, txn, ref);
	mdb_txn_abort(txn);
	return rc;
}
