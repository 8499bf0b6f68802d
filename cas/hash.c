#include "cas/hash.h"
#include "util/error.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>

struct arca_sha256 {
	EVP_MD_CTX *ctx;
};

/* Fetch the implementation once: EVP_sha256() would make OpenSSL 3 look
 * it up (under a lock) on every call. */
static EVP_MD *sha256_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_init(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int ossl_error(const char *what)
{
	char detail[256];
	unsigned long e = ERR_get_error();
	ERR_error_string_n(e, detail, sizeof(detail));
	ERR_clear_error();
	return arca_err_set(ARCA_ERROR, "openssl: %s: %s", what, detail);
}

static const EVP_MD *md_get(void)
{
	pthread_once(&md_once, md_init);
	return sha256_md;
}

int arca_sha256_new(arca_sha256 **out)
{
	const EVP_MD *md = md_get();
	arca_sha256 *h;

	if (!md)
		return ossl_error("fetch SHA256");
	h = malloc(sizeof(*h));
	if (!h)
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, md, NULL)) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return ossl_error("SHA256 init");
	}
	*out = h;
	return 0;
}

int arca_sha256_update(arca_sha256 *h, const void *p, size_t n)
{
	if (!EVP_DigestUpdate(h->ctx, p, n))
		return ossl_error("SHA256 update");
	return 0;
}

int arca_sha256_final(arca_sha256 *h, uint8_t out[ARCA_HASH_LEN])
{
	unsigned len = 0;
	if (!EVP_DigestFinal_ex(h->ctx, out, &len) || len != ARCA_HASH_LEN)
		return ossl_error("SHA256 final");
	return 0;
}

void arca_sha256_free(arca_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int arca_sha256_digest(uint8_t out[ARCA_HASH_LEN], const void *p, size_t n)
{
	const EVP_MD *md = md_get();
	unsigned len = 0;
	if (!md)
		return ossl_error("fetch SHA256");
	if (!EVP_Digest(p, n, out, &len, md, NULL) || len != ARCA_HASH_LEN)
		return ossl_error("SHA256 digest");
	return 0;
}
