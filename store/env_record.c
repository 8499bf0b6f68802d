/*
 * The env record: canonical text, one `key value` line each in a fixed
 * order, so one env has exactly one encoding and the decoder can refuse
 * anything else (records come back from packs that may be damaged).
 */
#include "store/envs.h"
#include "store/names.h"
#include "util/error.h"
#include "util/hex.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define HEADER "arca-env 1"

static const char *const state_names[] = { NULL, "creating", "active", "paused", "destroyed",
	"failed" };

static int text_ok(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

/* "k=v": k a word, v text; 1 when good. */
static int pair_ok(const char *p, size_t n, size_t kmax, size_t vmax, int slash)
{
	const char *eq = memchr(p, '=', n);
	char key[256];
	size_t kl;
	if (!eq || (kl = (size_t)(eq - p)) == 0 || kl > kmax || kl >= sizeof(key) ||
	    memchr(p, 0, kl) ||
	    n - kl - 1 > vmax || !text_ok(eq + 1, n - kl - 1))
		return 0;
	memcpy(key, p, kl);
	key[kl] = '\0';
	return arca_store__check_word("key", key, kmax, slash) == 0;
}

int arca_store__env_check(const arca_env_info *e)
{
	int rc;
	if (!e->name || !e->backend)
		return arca_err_set(ARCA_EINVAL, "env: name or backend missing");
	if ((rc = arca_store__check_word("env name", e->name, ARCA_NAME_MAX, 0)) != 0 ||
	    (rc = arca_store__check_word("backend name", e->backend, ARCA_ENV_BACKEND_MAX, 0)) != 0)
		return rc;
	if (e->state < ARCA_ENV_CREATING || e->state > ARCA_ENV_FAILED)
		return arca_err_set(ARCA_EINVAL, "env %s: bad state %d", e->name, (int)e->state);
	if (e->kind != ARCA_KIND_TREE && e->kind != ARCA_KIND_IMAGE)
		return arca_err_set(ARCA_EINVAL, "env %s: bad kind", e->name);
	if (e->nlabels > ARCA_ENV_LABELS_MAX)
		return arca_err_set(ARCA_EINVAL, "too many labels (max %d)", ARCA_ENV_LABELS_MAX);
	for (size_t i = 0; i < e->nlabels; i++) {
		const arca_label *l = &e->labels[i];
		if (!l->key || !l->value)
			return arca_err_set(ARCA_EINVAL, "label %zu is incomplete", i);
		if ((rc = arca_store__check_word("label key", l->key, 128, 1)) != 0)
			return rc;
		if (strlen(l->value) > ARCA_ENV_LABEL_VALUE_MAX || !text_ok(l->value, strlen(l->value)))
			return arca_err_set(ARCA_EINVAL, "label %s: value too long or not one line of text",
				l->key);
	}
	if (e->nsettings > ARCA_ENV_SETTINGS_MAX)
		return arca_err_set(ARCA_EINVAL, "too many settings (max %d)", ARCA_ENV_SETTINGS_MAX);
	for (size_t i = 0; i < e->nsettings; i++)
		if (!e->settings[i] || !pair_ok(e->settings[i], strlen(e->settings[i]), 128,
				ARCA_ENV_SETTING_MAX, 0))
			return arca_err_set(ARCA_EINVAL, "setting '%.200s' is not key=value",
				e->settings[i] ? e->settings[i] : "");
	if (e->created_ns < 0)
		return arca_err_set(ARCA_EINVAL, "env %s: bad creation time", e->name);
	return 0;
}

int arca_store__env_encode(arca_buf *out, const arca_env_info *e)
{
	char src[65], cur[65];
	int rc;

	if ((rc = arca_store__env_check(e)) != 0)
		return rc;
	arca_hex_encode(src, e->source.bytes, 32);
	arca_hex_encode(cur, e->current.bytes, 32);
	rc = arca_buf_printf(out, HEADER "\nname %s\nbackend %s\nstate %s\nkind %s\nsource %s\n"
		"current %s\ncreated %" PRId64 "\n", e->name, e->backend, state_names[e->state],
		arca_kind_name(e->kind), src, cur, e->created_ns);
	for (size_t i = 0; !rc && i < e->nlabels; i++)
		rc = arca_buf_printf(out, "label %s=%s\n", e->labels[i].key, e->labels[i].value);
	for (size_t i = 0; !rc && i < e->nsettings; i++)
		rc = arca_buf_printf(out, "setting %s\n", e->settings[i]);
	if (!rc && e->error) {
		size_t n = strlen(e->error);
		if (n == 0)
			n = 1; /* an empty reason still says it failed */
		if (n > ARCA_ENV_ERROR_MAX)
			n = ARCA_ENV_ERROR_MAX;
		rc = arca_buf_put(out, "error ", 6);
		for (size_t i = 0; !rc && i < n; i++) {
			char c = e->error[i];
			if ((unsigned char)c < 0x20 || c == 0x7f)
				c = ' ';
			rc = arca_buf_put(out, &c, 1);
		}
		if (!rc)
			rc = arca_buf_put(out, "\n", 1);
	}
	return rc;
}

void arca_store__env_info_clear(arca_env_info *e)
{
	free(e->name);
	free(e->backend);
	for (size_t i = 0; i < e->nlabels; i++) {
		free((char *)e->labels[i].key);
		free((char *)e->labels[i].value);
	}
	free(e->labels);
	for (size_t i = 0; i < e->nsettings; i++)
		free(e->settings[i]);
	free(e->settings);
	free(e->dir);
	free(e->error);
	memset(e, 0, sizeof(*e));
}

typedef struct {
	const char *p, *end;
	const char *v; /* value of the current line */
	size_t vn;
} cursor;

/* Takes the next line if it is "key value" (a non-empty value). */
static int take(cursor *c, const char *key)
{
	size_t kl = strlen(key);
	const char *nl;
	if (c->p >= c->end || !(nl = memchr(c->p, '\n', (size_t)(c->end - c->p))))
		return 0;
	if ((size_t)(nl - c->p) <= kl + 1 || memcmp(c->p, key, kl) != 0 || c->p[kl] != ' ')
		return 0;
	c->v = c->p + kl + 1;
	c->vn = (size_t)(nl - c->v);
	c->p = nl + 1;
	return 1;
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

static int word(char **out, const cursor *c, size_t max)
{
	char *s;
	if (c->vn > max || memchr(c->v, 0, c->vn) || !(s = dup_n(c->v, c->vn)))
		return -1;
	if (arca_store__check_word("word", s, max, 0) != 0) {
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

static int id_of(arca_id *id, const cursor *c)
{
	for (size_t i = 0; i < c->vn; i++)
		if (!((c->v[i] >= '0' && c->v[i] <= '9') || (c->v[i] >= 'a' && c->v[i] <= 'f')))
			return -1;
	return c->vn == 64 && arca_hex_decode(id->bytes, 32, c->v, 64) == 64 ? 0 : -1;
}

static int time_of(int64_t *t, const cursor *c)
{
	uint64_t v = 0;
	if (c->vn == 0 || c->vn > 19 || (c->vn > 1 && c->v[0] == '0'))
		return -1;
	for (size_t i = 0; i < c->vn; i++) {
		if (c->v[i] < '0' || c->v[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(c->v[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*t = (int64_t)v;
	return 0;
}

static int decode(arca_env_info *e, const char *name, cursor *c)
{
	size_t hl = strlen(HEADER);
	int i;

	if ((size_t)(c->end - c->p) < hl + 1 || memcmp(c->p, HEADER "\n", hl + 1) != 0)
		return -1;
	c->p += hl + 1;
	if (!take(c, "name") || c->vn != strlen(name) || memcmp(c->v, name, c->vn) != 0 ||
	    word(&e->name, c, ARCA_NAME_MAX) != 0)
		return -1;
	if (!take(c, "backend") || word(&e->backend, c, ARCA_ENV_BACKEND_MAX) != 0 ||
	    !take(c, "state"))
		return -1;
	for (i = ARCA_ENV_CREATING; i <= ARCA_ENV_FAILED; i++)
		if (c->vn == strlen(state_names[i]) && !memcmp(c->v, state_names[i], c->vn))
			break;
	if (i > ARCA_ENV_FAILED || !take(c, "kind"))
		return -1;
	e->state = (arca_env_state_t)i;
	if (c->vn == 4 && !memcmp(c->v, "tree", 4))
		e->kind = ARCA_KIND_TREE;
	else if (c->vn == 5 && !memcmp(c->v, "image", 5))
		e->kind = ARCA_KIND_IMAGE;
	else
		return -1;
	if (!take(c, "source") || id_of(&e->source, c) != 0 || !take(c, "current") ||
	    id_of(&e->current, c) != 0 || !take(c, "created") || time_of(&e->created_ns, c) != 0)
		return -1;
	while (take(c, "label")) {
		const char *eq;
		arca_label *l;
		if (e->nlabels == ARCA_ENV_LABELS_MAX ||
		    !pair_ok(c->v, c->vn, 128, ARCA_ENV_LABEL_VALUE_MAX, 1))
			return -1;
		if (!(l = realloc(e->labels, (e->nlabels + 1) * sizeof(*l))))
			return -1;
		e->labels = l;
		eq = memchr(c->v, '=', c->vn);
		l[e->nlabels].key = dup_n(c->v, (size_t)(eq - c->v));
		l[e->nlabels].value = dup_n(eq + 1, c->vn - (size_t)(eq - c->v) - 1);
		e->nlabels++;
		if (!l[e->nlabels - 1].key || !l[e->nlabels - 1].value)
			return -1;
	}
	while (take(c, "setting")) {
		char **s;
		if (e->nsettings == ARCA_ENV_SETTINGS_MAX ||
		    !pair_ok(c->v, c->vn, 128, ARCA_ENV_SETTING_MAX, 0))
			return -1;
		if (!(s = realloc(e->settings, (e->nsettings + 1) * sizeof(*s))))
			return -1;
		e->settings = s;
		if (!(s[e->nsettings++] = dup_n(c->v, c->vn)))
			return -1;
	}
	if (take(c, "error")) {
		if (c->vn > ARCA_ENV_ERROR_MAX || !text_ok(c->v, c->vn) ||
		    !(e->error = dup_n(c->v, c->vn)))
			return -1;
	}
	return c->p == c->end ? 0 : -1;
}

int arca_store__env_decode(arca_env_info *e, const char *name, const void *p, size_t n)
{
	cursor c = { p, (const char *)p + n, NULL, 0 };
	memset(e, 0, sizeof(*e));
	e->version = ARCA_ENV_INFO_VERSION;
	if (n > ARCA_ENV_REC_MAX || decode(e, name, &c) != 0) {
		arca_store__env_info_clear(e);
		return arca_err_set(ARCA_ECORRUPT, "env %.255s: its record is damaged", name);
	}
	return 0;
}
