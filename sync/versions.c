/* arca_dependency_version: what each library says of itself at run time
 * (the library loaded, not the headers built against). */
#include "arca/arca.h"
#include "sync/versions.h"

#include <lmdb.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

static char lmdb_v[32], openssl_v[32];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The first word after `prefix` in s ("LMDB 0.9.24: ..." -> "0.9.24"). */
static void word_after(char *out, size_t cap, const char *s, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (!s || strncmp(s, prefix, pl) != 0) {
		snprintf(out, cap, "%s", s ? s : "?");
		return;
	}
	s += pl;
	snprintf(out, cap, "%.*s", (int)strcspn(s, " :"), s);
}

static void init(void)
{
	word_after(lmdb_v, sizeof lmdb_v, mdb_version(NULL, NULL, NULL), "LMDB ");
	word_after(openssl_v, sizeof openssl_v, OpenSSL_version(OPENSSL_VERSION), "OpenSSL ");
}

const char *arca_dependency_version(const char *name)
{
	if (!name)
		return NULL;
	pthread_once(&once, init);
	if (!strcmp(name, "zstd"))
		return ZSTD_versionString();
	if (!strcmp(name, "lmdb"))
		return lmdb_v;
	if (!strcmp(name, "openssl"))
		return openssl_v;
	if (!strcmp(name, "libgit2"))
		return arca_sync__git2_version();
	if (!strcmp(name, "libcurl"))
		return arca_sync__curl_version();
	if (!strcmp(name, "libarchive"))
		return arca_sync__archive_version();
	return NULL;
}
