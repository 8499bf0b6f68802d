/* Name, tag and ref syntax. */
#ifndef ARCA_STORE_NAMES_H
#define ARCA_STORE_NAMES_H

#include <stddef.h>

#define ARCA_NAME_MAX 255
#define ARCA_TAG_MAX 128
/* Longest ref key "NAME:TAG" plus its NUL. */
#define ARCA_REF_KEY_MAX (2 * ARCA_NAME_MAX + 2)

/** Checks a name, tag or label key: 1..max of [A-Za-z0-9._-], not
 *  starting with '.' or '-'; with allow_slash, '/'-separated parts that
 *  are each such a word (no empty, "." or ".." parts, no leading or
 *  trailing '/'). */
int arca_store__check_word(const char *what, const char *v, size_t max, int allow_slash);
/** Splits and checks "NAME:TAG" into name (ARCA_NAME_MAX+1) and tag
 *  (ARCA_TAG_MAX+1) buffers. */
int arca_store__split_ref(const char *name_tag, char *name, char *tag);

#endif
