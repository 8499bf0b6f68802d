/* Name, tag and ref syntax: the one rule for what users may call things. */
#include "store/names.h"
#include "util/error.h"

#include <string.h>

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
