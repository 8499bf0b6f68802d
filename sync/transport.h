/*
 * Where a remote's objects live: a directory, an S3-compatible bucket, or
 * a static HTTP server. The sync engine (push, pull, export) only ever
 * sees this vtable, in the manner of libgit2's git_odb_backend: a
 * versioned struct of operations on named objects. Object keys are the
 * remote layout's names (docs/FORMAT.md, "Remote layout"), relative to the
 * remote's root: "ARCA-REMOTE", "packs/<hex>.arcp", "refs/a/b/latest/...".
 *
 * Semantics every backend keeps (the engine's correctness rests on them):
 * - get of a missing object: ARCA_ENOTFOUND, with no detail printed by
 *   anyone; a range past the end: ARCA_ECORRUPT ("object shorter than
 *   expected"), since the engine asks only for ranges an index promised.
 * - put is atomic: a reader sees the whole object or none of it, never a
 *   prefix. With `create_only`, the put fails with ARCA_EEXISTS when the
 *   key exists (S3: `If-None-Match: *` -> 412; a directory: link(2)),
 *   and exactly one of two racing creators succeeds. A backend that
 *   cannot promise that fails create_only puts with ARCA_EUNSUPPORTED.
 * - list may be unsupported (static HTTP): ARCA_EUNSUPPORTED. Pulls never
 *   list.
 * - every failure sets arca_error_last() to one line naming the operation,
 *   the object and the cause ("s3://127.0.0.1:9000/b/packs/ab12..: 403
 *   SignatureDoesNotMatch"), credentials never included.
 * - retries (5xx, 429, timeouts, resets) happen inside the backend,
 *   bounded, with backoff; 4xx other than 404/412/416/429 never retry.
 * - operations on one transport may run on several threads at once (the
 *   engine's --jobs workers); a backend serialises what it must.
 */
#ifndef ARCA_SYNC_TRANSPORT_H
#define ARCA_SYNC_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define ARCA_TRANSPORT_VERSION 1

/** Receives an object's bytes in order; non-zero stops the transfer and is
 *  returned by get (so ARCA_EUSER cancels). */
typedef int (*arca_transport_sink)(void *ctx, const void *p, size_t n);

/** Fills up to `cap` bytes of the body at `p`; *n = 0 at the end. The
 *  engine knows bodies' lengths in advance (`len` of put). A call with
 *  p == NULL and cap == 0 rewinds to the body's first byte (a backend
 *  retrying a put); every source the engine passes supports it. */
typedef int (*arca_transport_source)(void *ctx, void *p, size_t cap, size_t *n);

/** Called per key by list; non-zero stops and is returned. */
typedef int (*arca_transport_list_cb)(const char *key, uint64_t size, void *ctx);

typedef struct arca_transport arca_transport;

struct arca_transport {
	unsigned int version;           /* ARCA_TRANSPORT_VERSION */
	/** For messages: the remote's URL, without credentials. */
	const char *url;
	/** 1 when the backend cannot write (static HTTP). */
	int readonly;

	/** Streams bytes [off, off + len) of `key` (len 0: to the end) to
	 *  sink. *size (may be NULL) receives the whole object's size when
	 *  the backend learns it. */
	int (*get)(arca_transport *t, const char *key, uint64_t off, uint64_t len,
		arca_transport_sink sink, void *ctx, uint64_t *size);
	/** 0 with *size when `key` exists, ARCA_ENOTFOUND when not. */
	int (*head)(arca_transport *t, const char *key, uint64_t *size);
	/** Stores `len` bytes read from src under `key`, atomically; see
	 *  create_only above. */
	int (*put)(arca_transport *t, const char *key, uint64_t len,
		arca_transport_source src, void *ctx, int create_only);
	/** Calls cb for every key under `prefix` (in any order). */
	int (*list)(arca_transport *t, const char *prefix, arca_transport_list_cb cb, void *ctx);
	/** Removes `key`; a missing key is not an error. (Tests, prune.) */
	int (*remove)(arca_transport *t, const char *key);
	void (*free)(arca_transport *t);
	/** Optional (NULL: arca_transport_put_fd reads the fd through put):
	 *  stores bytes [0, len) of `fd`, unchanged during the call, read with
	 *  pread so a retry can start over without a copy; `sha256` (may be
	 *  NULL) is their SHA-256 when the caller knows it (a pack's name). */
	int (*put_fd)(arca_transport *t, const char *key, int fd, uint64_t len,
		const uint8_t *sha256, int create_only);
};

/* ---- opening one (sync/transport.c picks the backend by URL) ---- */

/** What a transport needs besides its URL. Credentials are borrowed and
 *  never stored, logged or passed to a child process. */
typedef struct {
	unsigned int version;           /* ARCA_TRANSPORT_VERSION */
	const char *region;             /* S3; NULL: "us-east-1" */
	const char *access_key;         /* S3; NULL: anonymous (GETs only) */
	const char *secret_key;
	const char *session_token;      /* S3; may be NULL */
	int insecure_http;              /* allow http:// to a non-loopback S3 host */
	unsigned jobs;                  /* parallel transfers the engine may run (connections kept) */
	unsigned max_retries;           /* 0: the default (5) */
	unsigned retry_base_ms;         /* first backoff; 0: the default (200) */
	unsigned timeout_s;             /* per request without progress; 0: 60 */
} arca_transport_config;

/**
 * Opens the backend for `url`: a path ("/srv/mirror", "./m", "file:///x")
 * -> directory; "s3://HOST[:PORT]/BUCKET[/PREFIX]" -> S3 (path-style; TLS
 * unless the host is loopback or insecure_http); "http://" or "https://"
 * -> static HTTP (read-only). Does no I/O beyond what validating needs.
 */
int arca_transport_open(arca_transport **out, const char *url, const arca_transport_config *cfg);

/** The backends (sync/transport_dir.c, transport_s3.c, transport_http.c). */
int arca_transport_dir_open(arca_transport **out, const char *path);
int arca_transport_s3_open(arca_transport **out, const char *url, const arca_transport_config *cfg);
int arca_transport_http_open(arca_transport **out, const char *url, const arca_transport_config *cfg);

/** Convenience over get/put for small objects (refs, indexes): the whole
 *  object appended to `out`, whose cap bounds it (ARCA_ECORRUPT past
 *  it: a hostile server cannot make us buffer more); or put from memory. */
int arca_transport_get_all(arca_transport *t, const char *key, arca_buf *out);
int arca_transport_put_buf(arca_transport *t, const char *key, const void *p, size_t n,
		int create_only);
/** Stores bytes [0, len) of `fd` (see put_fd); sha256 may be NULL. */
int arca_transport_put_fd(arca_transport *t, const char *key, int fd, uint64_t len,
		const uint8_t *sha256, int create_only);

#endif
