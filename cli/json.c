#include "cli.h"

#include <inttypes.h>
#include <string.h>

void json_init(json_w *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0: overlongs,
 * surrogates and code points over U+10FFFF are invalid. */
size_t cli_utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
		(c & 0xf8) == 0xf0 ? 4 : 0;
	if (n <= 1)
		return n;
	uint32_t cp = c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* s in double quotes, escaped. JSON (json = 1): strings are Unicode and
 * names are bytes, so a byte that is not part of valid UTF-8 is the lone
 * surrogate U+DC00 + byte (Python's "surrogateescape"): any name
 * round-trips (docs/CLI.md). For people: C escapes, octal for such a byte
 * and for control bytes, as git quotes paths. */
static void put_quoted(FILE *f, const char *s, int json)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = cli_utf8_len(p);
		if (n > 1) {
			fwrite(p, 1, n, f);
			p += n;
			continue;
		}
		switch (n ? *p : 0) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (n && *p >= 0x20 && *p != 0x7f)
				fputc(*p, f);
			else if (json)
				fprintf(f, "\\u%04x", n ? *p : 0xdc00 + *p);
			else
				fprintf(f, "\\%03o", *p);
		}
		p++;
	}
	fputc('"', f);
}

static void put_string(FILE *f, const char *s)
{
	put_quoted(f, s, 1);
}

void cli_put_text(FILE *f, const char *s)
{
	/* a message may hold a name: its control bytes and invalid UTF-8 as
	 * octal escapes, never raw to a terminal */
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = cli_utf8_len(p);
		if (n > 1)
			fwrite(p, 1, n, f);
		else if (n == 1 && ((*p >= 0x20 && *p != 0x7f) || *p == '\t'))
			fputc(*p, f);
		else
			fprintf(f, "\\%03o", *p);
		p += n ? n : 1;
	}
}

void cli_put_name(FILE *f, const char *s)
{
	/* as is when plain, so a terminal never gets control bytes */
	int plain = *s != '"';
	for (const unsigned char *p = (const unsigned char *)s; *p && plain;) {
		size_t n = cli_utf8_len(p);
		plain = n > 1 || (n == 1 && *p >= 0x20 && *p != 0x7f && *p != '\\');
		p += n ? n : 1;
	}
	if (plain)
		fputs(s, f);
	else
		put_quoted(f, s, 0);
}

static void key(json_w *j, const char *k)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = 1;
	if (k) {
		put_string(j->f, k);
		fputc(':', j->f);
	}
}

void json_obj_begin(json_w *j, const char *k)
{
	if (j->depth > 0 || j->need_comma[0])
		key(j, k);
	fputc('{', j->f);
	j->depth++;
	j->need_comma[j->depth] = 0;
}

void json_obj_end(json_w *j)
{
	fputc('}', j->f);
	j->depth--;
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_arr_begin(json_w *j, const char *k)
{
	if (j->depth > 0 || j->need_comma[0])
		key(j, k);
	fputc('[', j->f);
	j->depth++;
	j->need_comma[j->depth] = 0;
}

void json_arr_end(json_w *j)
{
	fputc(']', j->f);
	j->depth--;
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_str(json_w *j, const char *k, const char *v)
{
	key(j, k);
	if (v)
		put_string(j->f, v);
	else
		fputs("null", j->f);
}

void json_u64(json_w *j, const char *k, uint64_t v)
{
	key(j, k);
	fprintf(j->f, "%" PRIu64, v);
}

void json_i64(json_w *j, const char *k, int64_t v)
{
	key(j, k);
	fprintf(j->f, "%" PRId64, v);
}

void json_num(json_w *j, const char *k, double v)
{
	key(j, k);
	fprintf(j->f, "%.4f", v);
}

void json_bool(json_w *j, const char *k, int v)
{
	key(j, k);
	fputs(v ? "true" : "false", j->f);
}

void json_null(json_w *j, const char *k)
{
	key(j, k);
	fputs("null", j->f);
}

void json_id(json_w *j, const char *k, const arca_id *id)
{
	char s[ARCA_ID_STRLEN];
	arca_id_format(s, id);
	json_str(j, k, s);
}

void json_artifact_fields(json_w *j, const arca_artifact *a)
{
	char t[64];
	json_id(j, "id", &a->id);
	json_str(j, "kind", arca_kind_name(a->kind));
	json_str(j, "name", a->name);
	json_str(j, "tag", a->tag);
	json_u64(j, "logical_bytes", a->logical_bytes);
	json_u64(j, "data_bytes", a->data_bytes);
	json_u64(j, "entries", a->entries);
	json_i64(j, "created_ns", a->created_ns);
	cli_format_time(t, sizeof(t), a->created_ns);
	json_str(j, "created", t);
	if (a->has_parent)
		json_id(j, "parent", &a->parent);
	else
		json_null(j, "parent");
	json_obj_begin(j, "labels");
	for (size_t i = 0; i < a->nlabels; i++)
		json_str(j, a->labels[i].key, a->labels[i].value);
	json_obj_end(j);
}
