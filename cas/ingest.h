/*
 * The ingest pipeline: a producer thread reads and chunks content, worker
 * threads hash and compress chunks, and the calling thread (which owns the
 * store's write transaction) appends new chunks to packs and hands every
 * event to a sink in the producer's order.
 *
 *   producer --batches--> workers (sha256, zero check, index probe, zstd)
 *            --in order--> caller: cas writer + sink
 *
 * Memory is bounded by a fixed number of batches in flight.
 */
#ifndef ARCA_CAS_INGEST_H
#define ARCA_CAS_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "cas/cas.h"

typedef struct arca_ingest arca_ingest;

typedef struct {
	uint32_t chunk_min, chunk_avg, chunk_max;
	int zstd_level;
	unsigned threads;
} arca_ingest_params;

typedef struct {
	/** A marker passed through in order (e.g. a tree entry); the sink
	 *  owns `payload` from here on. */
	int (*mark)(void *ctx, void *payload);
	/** A run of content: a chunk (`id` set) or a hole (`id` NULL, also
	 *  used for all-zero chunks, which are never stored). */
	int (*extent)(void *ctx, const uint8_t *id, uint64_t len);
	/** Frees a payload that never reached mark() (after a failure). */
	void (*free_payload)(void *payload);
} arca_ingest_sink;

typedef struct {
	uint64_t bytes_in;      /* data bytes fed (not holes) */
	uint64_t hole_bytes;    /* holes, explicit or all-zero chunks */
	uint64_t chunks;        /* data chunks (non-zero) */
	uint64_t chunks_new;
	uint64_t chunks_reused;  /* known extents passed in, not read */
	uint64_t new_raw_bytes;
	uint64_t new_stored_bytes;
} arca_ingest_stats;

/** Runs on the producer thread; returns 0 or an error code. */
typedef int (*arca_ingest_producer)(arca_ingest *ing, void *ctx);

/**
 * Runs the pipeline to completion on the calling thread. Returns the
 * first error of the producer, a worker, the writer or the sink; the
 * error text is carried over to the calling thread.
 */
int arca_ingest_run(arca_cas_writer *w, arca_cas *cas,
		const arca_ingest_params *params,
		arca_ingest_producer producer, void *producer_ctx,
		const arca_ingest_sink *sink, void *sink_ctx,
		arca_ingest_stats *stats);

/* Producer side (call only from the producer). Each returns 0, or an
 * error when the pipeline was aborted; the producer then returns it. */

/** Passes `payload` to the sink's mark() in order. */
int arca_ingest_mark(arca_ingest *ing, void *payload);
/** Space to read content into; *avail > 0 on success. */
int arca_ingest_buffer(arca_ingest *ing, uint8_t **p, size_t *avail);
/** `n` bytes were written into the space from arca_ingest_buffer(). */
int arca_ingest_commit(arca_ingest *ing, size_t n);
/** Copies and chunks `n` bytes (convenience for callers with a buffer). */
int arca_ingest_feed(arca_ingest *ing, const void *p, size_t n);
/** Ends the current data run: the pending chunk is cut here. */
int arca_ingest_end_run(arca_ingest *ing);
/** A chunk already in the store (e.g. a parent's unchanged file): no
 *  data is read; the writer checks the chunk exists. */
int arca_ingest_known(arca_ingest *ing, const uint8_t id[32], uint32_t len);
/** A hole of `len` bytes (ends the data run first). */
int arca_ingest_hole(arca_ingest *ing, uint64_t len);

#endif
