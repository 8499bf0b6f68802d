/* SHA-256 through OpenSSL EVP (SHA-NI where the CPU has it). */
#ifndef ARCA_CAS_HASH_H
#define ARCA_CAS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define ARCA_HASH_LEN 32

typedef struct arca_sha256 arca_sha256;

/** One-shot digest; thread-safe. Returns 0 or ARCA_ERROR. */
int arca_sha256_digest(uint8_t out[ARCA_HASH_LEN], const void *p, size_t n);

/** Streaming digest. */
int arca_sha256_new(arca_sha256 **out);
int arca_sha256_update(arca_sha256 *h, const void *p, size_t n);
int arca_sha256_final(arca_sha256 *h, uint8_t out[ARCA_HASH_LEN]);
void arca_sha256_free(arca_sha256 *h);

#endif
