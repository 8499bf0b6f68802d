/*
 * Remotes the store knows by name (LMDB `remotes`, journaled), the sync
 * options, opening a remote's transport, its marker, and reading its refs.
 */
#include "sync/sync.h"
#include "store/journal.h"
#include "store/names.h"
#include "store/refs.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/hex.h"
#include "util/version.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX 8192
#define REF_PROBE_MAX 100000

uint64_t arca_sync__pack_target = ARCA_REMOTE_PACK_TARGET;

/* ---- config text ---- */

static int encode_config(arca_buf *out, const char *url, const char *region, int insecure)
{
	int rc = arca_buf_printf(out, "arca-remote-config 1\nurl %s\n", url);
	if (!rc && region)
		rc = arca_buf_printf(out, "region %s\n", region);
	if (!rc && insecure)
		rc = arca_buf_printf(out, "insecure-http 1\n");
	return rc;
}

static char *dup_n(const char *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static int decode_config(arca_remote_conf *c, const char *name, const void *pv, size_t n)
{
	const char *p = pv, *end = p + n;
	int line = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ln;
		if (!nl)
			goto bad;
		ln = (size_t)(nl - p);
		if (line == 0) {
			if (ln != 20 || memcmp(p, "arca-remote-config 1", 20) != 0)
				goto bad;
		} else if (ln > 4 && !memcmp(p, "url ", 4) && !c->url) {
			if (!(c->url = dup_n(p + 4, ln - 4)))
				goto oom;
		} else if (ln > 7 && !memcmp(p, "region ", 7) && !c->region) {
			if (!(c->region = dup_n(p + 7, ln - 7)))
				goto oom;
		} else if (ln == 15 && !memcmp(p, "insecure-http 1", 15)) {
			c->insecure_http = 1;
		} else {
			goto bad;
		}
		line++;
		p = nl + 1;
	}
	if (!c->url)
		goto bad;
	return 0;
oom:
	arca_remote_conf_clear(c);
	return arca_err_set(ARCA_ENOMEM, "out of memory");
bad:
	arca_remote_conf_clear(c);
	return arca_err_set(ARCA_ECORRUPT, "remote %s: its configuration is damaged", name);
}

void arca_remote_conf_clear(arca_remote_conf *c)
{
	free(c->url);
	free(c->region);
	memset(c, 0, sizeof(*c));
}

static int check_name(const char *name)
{
	if (!name)
		return arca_err_set(ARCA_EINVAL, "remote name missing");
	return arca_store__check_word("remote name", name, ARCA_NAME_MAX, 0);
}

/* A remote's URL: one line of text the backends accept. */
static int check_url(const char *url, const char *region, int insecure)
{
	arca_transport_config cfg;
	arca_transport *t = NULL;
	int rc;

	if (!url || !*url || strchr(url, '\n') || strlen(url) > 4096)
		return arca_err_set(ARCA_EINVAL, "remote URL '%.300s' is not valid", url ? url : "");
	if (region && (!*region || strchr(region, '\n') || strlen(region) > 64))
		return arca_err_set(ARCA_EINVAL, "region '%.64s' is not valid", region);
	memset(&cfg, 0, sizeof(cfg));
	cfg.version = ARCA_TRANSPORT_VERSION;
	cfg.region = region;
	cfg.insecure_http = insecure;
	if ((rc = arca_transport_open(&t, url, &cfg)) != 0)
		return rc;
	t->free(t);
	return 0;
}

/* ---- the remotes table ---- */

typedef struct {
	const char *name;
	const arca_buf *config;
} add_ctx;

static int add_in_txn(arca_store *s, MDB_txn *txn, void *ctx)
{
	add_ctx *a = ctx;
	MDB_val k = { strlen(a->name), (void *)a->name }, v;
	int mrc = mdb_get(txn, s->dbi_remotes, &k, &v);
	if (mrc == 0)
		return arca_err_set(ARCA_EEXISTS, "remote %s exists already", a->name);
	if (mrc != MDB_NOTFOUND)
		return arca_lmdb_error(mrc, "read remotes");
	return arca_store__remote_put(s, txn, a->name, a->config->ptr, a->config->len);
}

int arca_remote_add(arca_store *s, const char *name, const char *url, const char *region,
		int insecure_http)
{
	arca_buf cfg = ARCA_BUF_INIT(CONFIG_MAX);
	add_ctx a;
	int rc;

	if (!s)
		return arca_err_set(ARCA_EINVAL, "arca_remote_add: NULL store");
	if ((rc = check_name(name)) != 0 || (rc = check_url(url, region, insecure_http)) != 0 ||
	    (rc = encode_config(&cfg, url, region, insecure_http)) != 0)
		return rc;
	a.name = name;
	a.config = &cfg;
	rc = arca_store__in_write_txn(s, add_in_txn, &a);
	arca_buf_release(&cfg);
	return rc;
}

static int remove_in_txn(arca_store *s, MDB_txn *txn, void *ctx)
{
	const char *name = ctx;
	int rc = arca_store__remote_del(s, txn, name);
	if (rc == ARCA_ENOTFOUND)
		return arca_err_set(ARCA_ENOTFOUND, "no remote named %s", name);
	return rc;
}

int arca_remote_remove(arca_store *s, const char *name)
{
	int rc;
	if (!s)
		return arca_err_set(ARCA_EINVAL, "arca_remote_remove: NULL store");
	if ((rc = check_name(name)) != 0)
		return rc;
	return arca_store__in_write_txn(s, remove_in_txn, (void *)name);
}

int arca_remote_foreach(arca_store *s, arca_remote_cb cb, void *payload)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	char name[ARCA_NAME_MAX + 1];
	int rc = 0, mrc;

	if (!s || !cb)
		return arca_err_set(ARCA_EINVAL, "arca_remote_foreach: NULL argument");
	if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
		return rc;
	if ((mrc = mdb_cursor_open(txn, s->dbi_remotes, &cur)) != 0) {
		mdb_txn_abort(txn);
		return arca_lmdb_error(mrc, "read remotes");
	}
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		arca_remote_conf c;
		memset(&c, 0, sizeof(c));
		if (k.mv_size == 0 || k.mv_size > ARCA_NAME_MAX) {
			rc = arca_err_set(ARCA_ECORRUPT, "remotes: damaged key");
			break;
		}
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		if ((rc = decode_config(&c, name, v.mv_data, v.mv_size)) != 0)
			break;
		rc = cb(name, c.url, c.region, c.insecure_http, payload);
		arca_remote_conf_clear(&c);
	}
	if (!rc && mrc != MDB_NOTFOUND && mrc != 0)
		rc = arca_lmdb_error(mrc, "read remotes");
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc;
}

int arca_sync__remote_conf(arca_remote_conf *c, arca_store *s, const char *remote)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc, mrc;

	memset(c, 0, sizeof(*c));
	if (!remote || !*remote)
		return arca_err_set(ARCA_EINVAL, "no remote given");
	if (strlen(remote) <= ARCA_NAME_MAX && !strchr(remote, '/') && !strchr(remote, ':')) {
		if (!s) /* no store: it knows no remote */
			return arca_err_set(ARCA_ENOTFOUND, "no remote named %s (arca remote add "
				"%s URL, or give a URL)", remote, remote);
		if ((rc = arca_cas_txn_read(s->cas, &txn)) != 0)
			return rc;
		k.mv_size = strlen(remote);
		k.mv_data = (void *)remote;
		mrc = mdb_get(txn, s->dbi_remotes, &k, &v);
		if (mrc == 0) {
			rc = decode_config(c, remote, v.mv_data, v.mv_size);
			mdb_txn_abort(txn);
			if (rc)
				return rc;
			memcpy(c->name, remote, strlen(remote) + 1);
			c->cache = c->name;
			return 0;
		}
		mdb_txn_abort(txn);
		if (mrc != MDB_NOTFOUND)
			return arca_lmdb_error(mrc, "read remotes");
		return arca_err_set(ARCA_ENOTFOUND,
			"no remote named %s (arca remote add %s URL, or give a URL)", remote, remote);
	}
	if (!(c->url = strdup(remote)))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	c->cache = NULL; /* only named remotes are cached */
	return 0;
}

/* ---- options, transport, marker ---- */

int arca_sync_options_init(arca_sync_options *opts, unsigned int version)
{
	arca_sync_options tmpl = ARCA_SYNC_OPTIONS_INIT;
	int rc;
	if (!opts)
		return arca_err_set(ARCA_EINVAL, "arca_sync_options_init: NULL argument");
	if ((rc = arca__check_version("arca_sync_options", version, ARCA_SYNC_OPTIONS_VERSION)) != 0)
		return rc;
	*opts = tmpl;
	opts->version = version;
	return 0;
}

int arca_sync__options(arca_sync_options *o, const arca_sync_options *opts)
{
	arca_sync_options def = ARCA_SYNC_OPTIONS_INIT;
	int rc;
	if (opts && (rc = arca__check_version("arca_sync_options", opts->version,
			ARCA_SYNC_OPTIONS_VERSION)) != 0)
		return rc;
	*o = opts ? *opts : def;
	if (o->jobs == 0)
		o->jobs = 4;
	if (o->jobs > 64)
		o->jobs = 64;
	return 0;
}

int arca_sync__open(arca_transport **t, const arca_remote_conf *c, const arca_sync_options *o)
{
	arca_transport_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.version = ARCA_TRANSPORT_VERSION;
	cfg.region = c->region;
	cfg.access_key = o->access_key;
	cfg.secret_key = o->secret_key;
	cfg.session_token = o->session_token;
	cfg.insecure_http = c->insecure_http;
	cfg.jobs = o->jobs;
	return arca_transport_open(t, c->url, &cfg);
}

int arca_sync__marker(arca_transport *t, int create)
{
	arca_buf b = ARCA_BUF_INIT(256);
	size_t n = strlen(ARCA_LAYOUT_MARKER);
	int rc = arca_transport_get_all(t, ARCA_LAYOUT_MARKER_KEY, &b);

	if (rc == ARCA_ENOTFOUND && create) {
		rc = arca_transport_put_buf(t, ARCA_LAYOUT_MARKER_KEY, ARCA_LAYOUT_MARKER, n, 1);
		if (rc == 0 || rc == ARCA_EEXISTS)
			rc = arca_transport_get_all(t, ARCA_LAYOUT_MARKER_KEY, &b);
	}
	if (rc == ARCA_ENOTFOUND)
		rc = arca_err_set(ARCA_ENOTFOUND, "%s is not an arca remote (it has no %s)", t->url,
			ARCA_LAYOUT_MARKER_KEY);
	else if (!rc && (b.len != n || memcmp(b.ptr, ARCA_LAYOUT_MARKER, n) != 0))
		rc = b.len > 12 && !memcmp(b.ptr, "arca-remote ", 12) ?
			arca_err_set(ARCA_EUNSUPPORTED, "%s: remote layout version not supported",
				t->url) :
			arca_err_set(ARCA_ECORRUPT, "%s: %s is damaged", t->url,
				ARCA_LAYOUT_MARKER_KEY);
	arca_buf_release(&b);
	return rc;
}

/* ---- refs on a remote ---- */

/* Entry `seq` of the ref: 1 with *e, 0 when there is none. */
static int get_entry(arca_transport *t, const char *name, const char *tag, uint64_t seq,
		arca_ref_entry *e)
{
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX), b = ARCA_BUF_INIT(ARCA_REF_ENTRY_MAX);
	int rc;

	if ((rc = arca_layout_ref_key(&key, name, tag, seq)) != 0)
		goto done;
	rc = arca_transport_get_all(t, arca_buf_cstr(&key), &b);
	if (rc == ARCA_ENOTFOUND) {
		rc = 0;
		goto done;
	}
	if (rc)
		goto done;
	if ((rc = arca_ref_entry_decode(e, b.ptr, b.len)) != 0) {
		arca_err_wrap(rc, "%s/%s", t->url, arca_buf_cstr(&key));
		goto done;
	}
	if (e->seq != seq || strcmp(e->name, name) != 0 || strcmp(e->tag, tag) != 0) {
		rc = arca_err_set(ARCA_ECORRUPT, "%s/%s: the entry names another ref or seq",
			t->url, arca_buf_cstr(&key));
		goto done;
	}
	rc = 1;
done:
	arca_buf_release(&key);
	arca_buf_release(&b);
	return rc;
}

int arca_sync__ref_current(arca_transport *t, const char *name, const char *tag,
		int trust_hint, arca_ref_entry *e, uint64_t *requests)
{
	arca_buf key = ARCA_BUF_INIT(ARCA_LAYOUT_KEY_MAX), b = ARCA_BUF_INIT(ARCA_REF_ENTRY_MAX);
	arca_ref_entry next;
	uint64_t seq = 0;
	int rc, found = 0;

	memset(e, 0, sizeof(*e));
	/* the hint only saves GETs: a missing or damaged one means start at 1 */
	if ((rc = arca_layout_ref_key(&key, name, tag, 0)) != 0)
		goto done;
	(*requests)++;
	if (arca_transport_get_all(t, arca_buf_cstr(&key), &b) != 0 ||
	    arca_ref_hint_decode(&seq, b.ptr, b.len) != 0)
		seq = 0;
	if (seq > 0) {
		(*requests)++;
		if ((rc = get_entry(t, name, tag, seq, &next)) < 0)
			goto done;
		if (rc == 1) {
			*e = next;
			found = 1;
			if (trust_hint || seq == UINT64_MAX) /* the caller's create-only put of seq+1 checks it */
				goto done;
			seq++;
		} else {
			seq = 1; /* a hint past the entries: start over */
		}
	} else if (trust_hint) {
		rc = 0;
		goto done;
	} else {
		seq = 1;
	}
	for (uint64_t i = 0; i < REF_PROBE_MAX; i++, seq++) {
		(*requests)++;
		if ((rc = get_entry(t, name, tag, seq, &next)) < 0)
			goto done;
		if (rc == 0)
			break;
		*e = next;
		found = 1;
		if (seq == UINT64_MAX)
			break; /* never wrap to 0, the hint's key */
	}
done:
	if (rc >= 0)
		rc = found;
	arca_buf_release(&key);
	arca_buf_release(&b);
	return rc;
}

typedef struct {
	arca_transport *t;
	char (*names)[ARCA_NAME_MAX + ARCA_TAG_MAX + 2];
	size_t n, cap;
} ref_list;

static int note_ref(const char *key, uint64_t size, void *ctx)
{
	ref_list *l = ctx;
	char name[ARCA_NAME_MAX + 1], tag[ARCA_TAG_MAX + 1];
	uint64_t seq;
	(void)size;
	if (arca_layout_parse_ref_key(key, name, sizeof(name), tag, sizeof(tag), &seq) != 0 ||
	    seq != 1)
		return 0; /* every ref has entry 1; anything else is skipped */
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *p = realloc(l->names, cap * sizeof(*l->names));
		if (!p)
			return arca_err_set(ARCA_ENOMEM, "out of memory");
		l->names = p;
		l->cap = cap;
	}
	snprintf(l->names[l->n++], sizeof(l->names[0]), "%s:%s", name, tag);
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int arca_remote_ref_foreach(arca_store *s, const char *remote, const arca_sync_options *opts,
		arca_remote_ref_cb cb, void *payload)
{
	arca_sync_options o;
	arca_remote_conf c;
	arca_transport *t = NULL;
	ref_list l = { NULL, NULL, 0, 0 };
	uint64_t nreq = 0; /* not reported */
	int rc;

	if (!s || !cb)
		return arca_err_set(ARCA_EINVAL, "arca_remote_ref_foreach: NULL argument");
	if ((rc = arca_sync__options(&o, opts)) != 0 ||
	    (rc = arca_sync__remote_conf(&c, s, remote)) != 0)
		return rc;
	if ((rc = arca_sync__open(&t, &c, &o)) != 0 || (rc = arca_sync__marker(t, 0)) != 0)
		goto done;
	if (!t->list) {
		rc = arca_err_set(ARCA_EUNSUPPORTED, "%s cannot list its refs", t->url);
		goto done;
	}
	l.t = t;
	if ((rc = t->list(t, "refs/", note_ref, &l)) != 0)
		goto done;
	if (l.n)
		qsort(l.names, l.n, sizeof(*l.names), key_cmp);
	for (size_t i = 0; i < l.n && !rc; i++) {
		char name[ARCA_NAME_MAX + 1], tag[ARCA_TAG_MAX + 1];
		arca_ref_entry e;
		if ((rc = arca_store__split_ref(l.names[i], name, tag)) != 0)
			break;
		if ((rc = arca_sync__ref_current(t, name, tag, 0, &e, &nreq)) < 0)
			break;
		rc = 0;
		if (e.seq && !e.deleted)
			rc = cb(name, tag, &e.id, payload);
	}
done:
	free(l.names);
	if (t)
		t->free(t);
	arca_remote_conf_clear(&c);
	return rc;
}
