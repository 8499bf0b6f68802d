/*
 * References: id prefixes, NAME:TAG refs, and the operations that move or
 * drop them (tag, rm; prune is in prune.c). Each operation is one write
 * transaction.
 */
#include "store/store.h"
#include "util/error.h"
#include "util/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_KEY_MAX (2 * ARCA_NAME_MAX + 2)

static int valid_char(char c, int allow_slash)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '.' || c == '_' || c == '-' || (allow_slash && c == '/');
}

/* One word or one '/'-separated component of a name: non-empty, of valid
 * characters, not starting with '.' (so never "." or "..") or '-'. */
static int valid_part(const char *p, size_t n)
{
	if (n == 0 || p[0] == '-' || p[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!valid_char(p[i], 0))
			return 0;
	return 1;
}

int arca_store__check_word(const char *what, const char *v, size_t max, int allow_slash)
{
	size_t n = strlen(v), start = 0;
	if (n == 0 || n > max)
		goto bad;
	if (!allow_slash) {
		if (!valid_part(v, n))
			goto bad;
		return 0;
	}
	for (size_t i = 0; i <= n; i++) {
		if (i < n && v[i] != '/')
			continue;
		if (!valid_part(v + start, i - start))
			goto bad;
		start = i + 1;
	}
	return 0;
bad:
	if (allow_slash)
		return arca_err_set(ARCA_EINVAL,
			"invalid %s '%.*s': use 1-%zu characters in '/'-separated parts, each "
			"1 or more of [A-Za-z0-9._-] not starting with '.' or '-' (no empty, "
			"'.' or '..' parts, no leading or trailing '/')",
			what, (int)(n > 300 ? 300 : n), v, max);
	return arca_err_set(ARCA_EINVAL,
		"invalid %s '%.*s': use 1-%zu of [A-Za-z0-9._-], not starting with '.' or '-'",
		what, (int)(n > 300 ? 300 : n), v, max);
}

int arca_store__split_ref(const char *name_tag, char *name, char *tag)
{
	const char *colon = strrchr(name_tag, ':');
	size_t n;
	int rc;
	if (!colon)
		return arca_err_set(ARCA_EINVAL, "'%s' is not NAME:TAG", name_tag);
	n = (size_t)(colon - name_tag);
	if (n > ARCA_NAME_MAX)
		return arca_err_set(ARCA_EINVAL, "name too long");
	memcpy(name, name_tag, n);
	name[n] = '\0';
	if (strlen(colon + 1) > ARCA_TAG_MAX)
		return arca_err_set(ARCA_EINVAL, "tag too long");
	memcpy(tag, colon + 1, strlen(colon + 1) + 1);
	if ((rc = arca_store__check_word("name", name, ARCA_NAME_MAX, 1)) != 0)
		return rc;
	return arca_store__check_word("tag", tag, ARCA_TAG_MAX, 0);
}

static int is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
		      (p[i] >= 'A' && p[i] <= 'F')))
			return 0;
	return 1;
}

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

static int unknown_ref(arca_store *s, MDB_txn *txn, const char *ref)
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
	char key[REF_KEY_MAX + 8];

	if (n == 0)
		return arca_err_set(ARCA_EINVAL, "empty reference");
	if (n > 4 && memcmp(ref, "art_", 4) == 0) {
		hex = ref + 4;
		explicit_id = 1;
	}
	hn = strlen(hex);
	if (!strchr(ref, ':') && is_hex(hex, hn) && hn >= 8 && hn <= 64) {
		rc = resolve_prefix(out, s, txn, hex, hn);
		if (rc != ARCA_ENOTFOUND)
			return rc;
		if (explicit_id)
			return arca_err_set(rc, "no artifact matches '%s'", ref);
	} else if (explicit_id) {
		return arca_err_set(ARCA_EINVAL,
			"'%s' is not a valid artifact id (need 8 to 64 hex digits after art_)", ref);
	}
	if (n > REF_KEY_MAX)
		return arca_err_set(ARCA_EINVAL, "reference too long");
	if ((rc = check_ref_syntax(ref)) != 0)
		return rc;
	snprintf(key, sizeof(key), strchr(ref, ':') ? "%s" : "%s:latest", ref);
	rc = ref_get(out, s, txn, key);
	if (rc == ARCA_ENOTFOUND)
		return unknown_ref(s, txn, ref);
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

int arca_store__ref_set(arca_store *s, MDB_txn *txn, const char *name, const char *tag,
		const arca_id *id)
{
	char key[REF_KEY_MAX];
	int n = snprintf(key, sizeof(key), "%s:%s", name, tag);
	if (n < 0 || (size_t)n >= sizeof(key))
		return arca_err_set(ARCA_EINVAL, "ref too long");
	return arca_store__ref_put(s, txn, key, (size_t)n, id);
}

/* Runs `fn` inside the store's writer and commits it (journal first). */
static int in_write_txn(arca_store *s, int (*fn)(arca_store *, MDB_txn *, void *), void *ctx)
{
	arca_cas_writer *w;
	int rc = arca_store__writer_begin(&w, s);
	if (rc)
		return rc;
	if ((rc = fn(s, arca_cas_writer_txn(w), ctx)) != 0) {
		arca_cas_writer_abort(w);
		return rc;
	}
	return arca_cas_writer_commit(w);
}

typedef struct {
	const char *ref;
	char name[ARCA_NAME_MAX + 1];
	char tag[ARCA_TAG_MAX + 1];
	int bad; /* why name/tag is refused (arca_tag_delete) */
} tag_job;

static int do_tag(arca_store *s, MDB_txn *txn, void *ctx)
{
	tag_job *j = ctx;
	arca_id id;
	int rc = arca_store__resolve(&id, s, txn, j->ref);
	return rc ? rc : arca_store__ref_set(s, txn, j->name, j->tag, &id);
}

int arca_tag_set(arca_store *s, const char *ref, const char *name_tag)
{
	tag_job j;
	int rc;
	if (!s || !ref || !name_tag)
		return arca_err_set(ARCA_EINVAL, "arca_tag_set: NULL argument");
	if ((rc = arca_store__split_ref(name_tag, j.name, j.tag)) != 0)
		return rc;
	j.ref = ref;
	return in_write_txn(s, do_tag, &j);
}

static int do_untag(arca_store *s, MDB_txn *txn, void *ctx)
{
	tag_job *j = ctx;
	int rc = arca_store__ref_del(s, txn, j->ref, strlen(j->ref));
	if (rc == ARCA_ENOTFOUND)
		return j->bad ? j->bad : unknown_ref(s, txn, j->ref);
	return rc;
}

int arca_tag_delete(arca_store *s, const char *name_tag)
{
	tag_job j;
	if (!s || !name_tag)
		return arca_err_set(ARCA_EINVAL, "arca_tag_delete: NULL argument");
	if (strlen(name_tag) >= REF_KEY_MAX || !strchr(name_tag, ':'))
		return arca_store__split_ref(name_tag, j.name, j.tag);
	/* A ref whose name later rules refuse can still be deleted, by its
	 * exact key; any other invalid ref is reported as invalid. */
	j.bad = arca_store__split_ref(name_tag, j.name, j.tag);
	j.ref = name_tag;
	return in_write_txn(s, do_untag, &j);
}

/* Calls fn for each ref as (key, id); stops on non-zero. */
static int refs_walk(arca_store *s, MDB_txn *txn,
		int (*fn)(const char *key, size_t klen, const arca_id *id, void *ctx), void *ctx)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = 0, mrc = mdb_cursor_open(txn, s->dbi_refs, &cur);
	if (mrc)
		return arca_lmdb_error(mrc, "refs cursor");
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		arca_id id;
		if (v.mv_size != 32 || k.mv_size >= REF_KEY_MAX) {
			rc = arca_err_set(ARCA_ECORRUPT, "index: damaged ref");
			break;
		}
		memcpy(id.bytes, v.mv_data, 32);
		rc = fn(k.mv_data, k.mv_size, &id, ctx);
	}
	mdb_cursor_close(cur);
	if (!rc && mrc != MDB_NOTFOUND && mrc != 0)
		rc = arca_lmdb_error(mrc, "refs cursor");
	return rc;
}

typedef struct {
	arca_ref_cb cb;
	void *payload;
} foreach_ctx;

static int foreach_one(const char *key, size_t klen, const arca_id *id, void *ctx)
{
	foreach_ctx *fc = ctx;
	char buf[REF_KEY_MAX];
	char *colon;
	memcpy(buf, key, klen);
	buf[klen] = '\0';
	colon = strrchr(buf, ':');
	if (!colon)
		return arca_err_set(ARCA_ECORRUPT, "index: damaged ref");
	*colon = '\0';
	return fc->cb(buf, colon + 1, id, fc->payload);
}

int arca_store__refs_walk(arca_store *s, MDB_txn *txn, arca_ref_cb cb, void *payload)
{
	foreach_ctx fc = { cb, payload };
	return refs_walk(s, txn, foreach_one, &fc);
}

int arca_ref_foreach(arca_store *s, arca_ref_cb cb, void *payload)
{
	foreach_ctx fc = { cb, payload };
	MDB_txn *txn;
	int rc;
	if (!s || !cb)
		return arca_err_set(ARCA_EINVAL, "arca_ref_foreach: NULL argument");
	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	rc = refs_walk(s, txn, foreach_one, &fc);
	mdb_txn_abort(txn);
	return rc;
}

/* ---- removal ---- */

typedef struct {
	const arca_id *id;
	int force;
	char first[REF_KEY_MAX];
	size_t count;
	MDB_txn *txn;
	arca_store *s;
} ref_scan;

/* Counts refs pointing at scan->id; with force, deletes them. */
static int scan_ref(const char *key, size_t klen, const arca_id *id, void *ctx)
{
	ref_scan *rs = ctx;
	if (memcmp(id->bytes, rs->id->bytes, 32) != 0)
		return 0;
	if (rs->count++ == 0)
		snprintf(rs->first, sizeof(rs->first), "%.*s", (int)klen, key);
	return 0;
}

/* Without `force`, fails when a ref points at `id`; with it, deletes every
 * such ref (the walk restarts after each delete). */
static int drop_refs_to(arca_store *s, MDB_txn *txn, const arca_id *id, int force)
{
	for (;;) {
		ref_scan rs;
		char str[ARCA_ID_STRLEN];
		int rc;

		memset(&rs, 0, sizeof(rs));
		rs.id = id;
		if ((rc = refs_walk(s, txn, scan_ref, &rs)) != 0)
			return rc;
		if (!rs.count)
			return 0;
		if (!force) {
			arca_id_format(str, id);
			return arca_err_set(ARCA_EREFERENCED,
				"%.24s is still referenced by %s%s (removing with force deletes those refs too)",
				str, rs.first, rs.count > 1 ? " and other refs" : "");
		}
		if ((rc = arca_store__ref_del(s, txn, rs.first, strlen(rs.first))) != 0)
			return rc == ARCA_ENOTFOUND ? arca_err_set(ARCA_ECORRUPT, "index: ref vanished") : rc;
	}
}

typedef struct {
	const arca_id *ids;
	size_t n;
	int force;
} rm_job;

static int do_remove(arca_store *s, MDB_txn *txn, void *ctx)
{
	rm_job *j = ctx;
	for (size_t i = 0; i < j->n; i++) {
		int rc;
		if ((rc = drop_refs_to(s, txn, &j->ids[i], j->force)) != 0 ||
		    (rc = arca_store__art_del(s, txn, &j->ids[i])) != 0)
			return rc;
	}
	return arca_store__history_drop(s, txn, j->ids, j->n);
}

int arca_artifact_remove(arca_store *s, const arca_id *ids, size_t n, int force)
{
	rm_job j = { ids, n, force };
	if (!s || (!ids && n))
		return arca_err_set(ARCA_EINVAL, "arca_artifact_remove: NULL argument");
	return in_write_txn(s, do_remove, &j);
}
