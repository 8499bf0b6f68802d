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

/*
 * Keyed fast MAC (AES-256-GMAC) of a chunk's bytes, keyed by a per-store
 * secret and with the chunk id as nonce. Rollback compares a destination's
 * bytes against it instead of re-computing SHA-256: several times faster,
 * and without the key nobody can make other bytes match.
 */
#define ARCA_MAC_KEY_LEN 32
#define ARCA_MAC_LEN 16

int arca_mac(uint8_t tag[ARCA_MAC_LEN], const uint8_t key[ARCA_MAC_KEY_LEN],
		const uint8_t id[32], const void *p, size_t n);
/** Fills `key` with random bytes (OpenSSL's CSPRNG). */
/** Fills `p` with `n` cryptographically random bytes. */
int arca_random_bytes(void *p, size_t n);
int arca_mac_keygen(uint8_t key[ARCA_MAC_KEY_LEN]);

#endif
