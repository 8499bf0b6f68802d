/* Reachable chunks: every chunk an artifact needs (store/reach.c). */
#ifndef ARCA_STORE_REACH_H
#define ARCA_STORE_REACH_H

#include <stdint.h>

#include "store/store.h"
#include "store/record.h"

/** Called for each chunk an artifact needs (`manifest` set for its
 *  manifest's own chunks); a non-zero return stops the walk and is
 *  returned. */
typedef int (*arca_reach_fn)(const uint8_t id[32], uint32_t len, int manifest, void *ctx);
/**
 * Walks every chunk artifact `rec` needs: its manifest chunks, then every
 * data extent in manifest order (a chunk may come more than once). A
 * manifest that cannot be read or parsed ends the walk with its error
 * (ARCA_ECORRUPT for damage) after what could be read was reported.
 */
int arca_store__reach(arca_store *s, const arca_artifact_rec *rec, arca_reach_fn fn, void *ctx);

#endif
