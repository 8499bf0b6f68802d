#include "cas/hash.h"
#include "util/error.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
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

static EVP_CIPHER *gcm_cipher;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

static void gcm_init(void)
{
	gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

int arca_mac(uint8_t tag[ARCA_MAC_LEN], const uint8_t key[ARCA_MAC_KEY_LEN],
		const uint8_t id[32], const void *p, size_t n)
{
	EVP_CIPHER_CTX *ctx;
	const uint8_t *c = p;
	int outl, ok;

	pthread_once(&gcm_once, gcm_init);
	if (!gcm_cipher)
		return ossl_error("fetch AES-256-GCM");
	if (!(ctx = EVP_CIPHER_CTX_new()))
		return arca_err_set(ARCA_ENOMEM, "out of memory");
	/* the chunk's bytes are authenticated data only: GHASH, no CTR */
	ok = EVP_EncryptInit_ex(ctx, gcm_cipher, NULL, key, id);
	while (ok && n) {
		int step = n > (1u << 30) ? (1 << 30) : (int)n;
		ok = EVP_EncryptUpdate(ctx, NULL, &outl, c, step);
		c += step;
		n -= (size_t)step;
	}
	ok = ok && EVP_EncryptFinal_ex(ctx, tag, &outl) &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ARCA_MAC_LEN, tag);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : ossl_error("AES-256-GMAC");
}

int arca_random_bytes(void *p, size_t n)
{
	return RAND_bytes(p, (int)n) == 1 ? 0 : ossl_error("random bytes");
}

int arca_mac_keygen(uint8_t key[ARCA_MAC_KEY_LEN])
{
	return RAND_bytes(key, ARCA_MAC_KEY_LEN) == 1 ? 0 : ossl_error("random key");
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
