#include "scenario.h"
#include "../helpers.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Artifacts of the template and where their sources are. */
typedef struct {
	arca_id id;
	char src[64];
	int image;
} sc_art;

static sc_art arts[8];
static size_t narts;

const char *sc_op_name(int op)
{
	static const char *names[] = { "snapshot-tree", "snapshot-image", "gc", "rm", "prune",
		"rollback", "tag" };
	return op >= 0 && op < SC_NOPS ? names[op] : "?";
}

static int shell(char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int shell(char *why, size_t n, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		snprintf(why, n, "failed: %s", cmd);
		return -1;
	}
	return 0;
}

static void write_seeded(const char *path, size_t len, uint64_t seed)
{
	uint8_t *p = malloc(len ? len : 1);
	FILE *f;
	th_fill_random(p, len, seed);
	/* half compressible, so both codecs and groups are exercised */
	if (seed % 2)
		memset(p, 'a', len / 2);
	f = fopen(path, "wb");
	if (f) {
		fwrite(p, 1, len, f);
		fclose(f);
	}
	free(p);
}

static void make_tree(const char *root, const char *name, uint64_t seed, int variant)
{
	char d[2048], p[4096];
	snprintf(d, sizeof(d), "%s/src/%s", root, name);
	mkdir(d, 0755);
	snprintf(p, sizeof(p), "%s/sub", d);
	mkdir(p, 0750);
	for (int i = 0; i < 6; i++) {
		/* each version changes some files and keeps the rest */
		uint64_t s = (i < variant) ? seed * 100 + (uint64_t)i : 7000 + (uint64_t)i;
		snprintf(p, sizeof(p), "%s/%sf%d", d, i % 2 ? "sub/" : "", i);
		write_seeded(p, 3000 + (size_t)i * 9000, s);
	}
	snprintf(p, sizeof(p), "%s/link", d);
	if (symlink("f0", p) < 0) { /* best effort */ }
	snprintf(p, sizeof(p), "%s/v%d", d, variant);
	write_seeded(p, 100, seed);
}

static int snap(arca_store *s, const char *root, const char *src, const char *name,
		const char *tag, int image, char *why, size_t n)
{
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	char p[4096];
	sc_art *a = &arts[narts];
	snprintf(p, sizeof(p), "%s/src/%s", root, src);
	o.name = name;
	o.tag = tag;
	if (arca_snapshot(&a->id, s, p, &o, NULL) != 0) {
		snprintf(why, n, "snapshot %s: %s", src, arca_error_last());
		return -1;
	}
	snprintf(a->src, sizeof(a->src), "%s", src);
	a->image = image;
	narts++;
	return 0;
}

int sc_build(const char *root, char *why, size_t n)
{
	char p[4096];
	arca_store *s;
	arca_id junk;
	int rc = -1;

	narts = 0;
	snprintf(p, sizeof(p), "%s/src", root);
	mkdir(p, 0755);
	make_tree(root, "t1", 11, 1);
	make_tree(root, "t2", 12, 3);
	make_tree(root, "t3", 13, 4);
	make_tree(root, "t4", 14, 6);
	make_tree(root, "x", 15, 6);
	make_tree(root, "junk", 16, 6);
	snprintf(p, sizeof(p), "%s/src/im1", root);
	write_seeded(p, 2500000, 21);
	snprintf(p, sizeof(p), "%s/src/im2", root);
	write_seeded(p, 2500000, 21);
	th_pwrite_random(p, 70000, 1800000, 22);

	snprintf(p, sizeof(p), "%s/template", root);
	if (arca_store_open(&s, p, NULL) != 0) {
		snprintf(why, n, "open template: %s", arca_error_last());
		return -1;
	}
	if (snap(s, root, "t1", "t", "v1", 0, why, n) || snap(s, root, "t2", "t", NULL, 0, why, n) ||
	    snap(s, root, "t3", "t", NULL, 0, why, n) || snap(s, root, "im1", "img", NULL, 1, why, n) ||
	    snap(s, root, "x", "x", NULL, 0, why, n) || snap(s, root, "junk", "junk", NULL, 0, why, n))
		goto done;
	junk = arts[--narts].id;
	if (arca_artifact_remove(s, &junk, 1, 1) != 0) {
		snprintf(why, n, "rm junk: %s", arca_error_last());
		goto done;
	}
	rc = 0;
done:
	arca_store_free(s);
	return rc;
}

int sc_fresh(const char *root, const char *work, int op, char *why, size_t n)
{
	char p[4096];
	arca_store *s;
	int rc;

	if (shell(why, n, "rm -rf '%s' && mkdir -p '%s' && cp -a '%s/template' '%s/store'", work, work,
			root, work))
		return -1;
	if (op != SC_ROLLBACK)
		return 0;
	snprintf(p, sizeof(p), "%s/store", work);
	if (arca_store_open(&s, p, NULL) != 0) {
		snprintf(why, n, "open: %s", arca_error_last());
		return -1;
	}
	snprintf(p, sizeof(p), "%s/dest", work);
	rc = arca_restore(s, "t:latest", p, NULL, NULL);
	if (rc)
		snprintf(why, n, "restore dest: %s", arca_error_last());
	arca_store_free(s);
	return rc ? -1 : 0;
}

int sc_run(arca_store *s, const char *root, const char *work, int op)
{
	arca_snapshot_options o = ARCA_SNAPSHOT_OPTIONS_INIT;
	char p[4096];
	arca_id id;

	switch (op) {
	case SC_SNAP_TREE:
	case SC_SNAP_IMAGE:
		o.name = op == SC_SNAP_TREE ? "t" : "img";
		snprintf(p, sizeof(p), "%s/src/%s", root, op == SC_SNAP_TREE ? "t4" : "im2");
		return arca_snapshot(&id, s, p, &o, NULL);
	case SC_GC: {
		arca_gc_result r = ARCA_GC_RESULT_INIT;
		arca_gc_options g = ARCA_GC_OPTIONS_INIT;
		g.repack_threshold = 0.99; /* repack whatever lost data */
		return arca_gc(&r, s, &g);
	}
	case SC_RM:
		for (size_t i = 0; i < narts; i++)
			if (!strcmp(arts[i].src, "x"))
				return arca_artifact_remove(s, &arts[i].id, 1, 1);
		return ARCA_ENOTFOUND;
	case SC_PRUNE: {
		arca_id *removed = NULL;
		size_t nr = 0;
		int rc = arca_prune(s, "t", 1, &removed, &nr);
		arca_ids_free(removed);
		return rc;
	}
	case SC_ROLLBACK:
		snprintf(p, sizeof(p), "%s/dest", work);
		return arca_rollback(s, "t:v1", p, NULL, NULL);
	case SC_TAG:
		return arca_tag_set(s, "img", "img:golden");
	}
	return ARCA_EINVAL;
}

typedef struct {
	char *out;
	size_t n, len;
} sbuf;

static void put(sbuf *b, const char *s)
{
	size_t l = strlen(s);
	if (b->len + l + 1 > b->n)
		return;
	memcpy(b->out + b->len, s, l + 1);
	b->len += l;
}

static void put_id(sbuf *b, const arca_id *id)
{
	for (size_t i = 0; i < narts; i++)
		if (!memcmp(arts[i].id.bytes, id->bytes, sizeof(id->bytes))) {
			put(b, arts[i].src);
			return;
		}
	put(b, "NEW");
}

static int on_ref(const char *name, const char *tag, const arca_id *id, void *payload)
{
	sbuf *b = payload;
	put(b, " ");
	put(b, name);
	put(b, ":");
	put(b, tag);
	put(b, "=");
	put_id(b, id);
	return 0;
}

static int on_art(const arca_artifact *a, void *payload)
{
	sbuf *b = payload;
	put(b, " ");
	put_id(b, &a->id);
	return 0;
}

int sc_state(arca_store *s, const char *root, const char *work, int op, char *out, size_t n)
{
	sbuf b = { out, n, 0 };
	arca_store_stats st = ARCA_STORE_STATS_INIT;
	char num[64], p[4096], t[4096], why[512];

	out[0] = '\0';
	put(&b, "refs:");
	if (arca_ref_foreach(s, on_ref, &b) != 0)
		return -1;
	put(&b, " artifacts:");
	if (arca_artifact_foreach(s, on_art, &b) != 0)
		return -1;
	if (arca_store_stats_get(&st, s) != 0)
		return -1;
	snprintf(num, sizeof(num), " chunks:%llu", (unsigned long long)st.chunks);
	put(&b, num);
	if (op == SC_ROLLBACK) {
		snprintf(p, sizeof(p), "%s/dest", work);
		snprintf(t, sizeof(t), "%s/src/t1", root);
		put(&b, th_tree_equal(t, p, why, sizeof(why)) ? " dest:other" : " dest:target");
	}
	return 0;
}

int sc_check(arca_store *s, const char *root, const char *work, char *why, size_t n)
{
	arca_verify_result vr = ARCA_VERIFY_RESULT_INIT;
	char p[4096], src[4096], w[512];
	int rc;

	rc = arca_verify(&vr, s);
	if (rc || vr.ndamaged) {
		snprintf(why, n, "verify: %d %s (%zu damaged)", rc, arca_error_last(), vr.ndamaged);
		arca_verify_result_clear(&vr);
		return -1;
	}
	arca_verify_result_clear(&vr);
	for (size_t i = 0; i < narts; i++) {
		arca_artifact *a;
		char ref[ARCA_ID_STRLEN];
		if ((rc = arca_artifact_lookup(&a, s, &arts[i].id)) == ARCA_ENOTFOUND)
			continue; /* removed by the operation */
		if (rc) {
			snprintf(why, n, "lookup %s: %s", arts[i].src, arca_error_last());
			return -1;
		}
		arca_artifact_free(a);
		arca_id_format(ref, &arts[i].id);
		snprintf(p, sizeof(p), "%s/restored-%zu", work, i);
		snprintf(src, sizeof(src), "%s/src/%s", root, arts[i].src);
		if (arca_restore(s, ref, p, NULL, NULL) != 0) {
			snprintf(why, n, "restore %s: %s", arts[i].src, arca_error_last());
			return -1;
		}
		if (arts[i].image ? th_file_equal(src, p) != 0 : th_tree_equal(src, p, w, sizeof(w)) != 0) {
			snprintf(why, n, "restore %s differs: %s", arts[i].src, arts[i].image ? "" : w);
			return -1;
		}
		if (shell(why, n, "rm -rf '%s'", p))
			return -1;
	}
	return 0;
}
