/*
 * Chunk index scaling: per-operation cost of inserts and lookups in the
 * LMDB chunk index as it grows to 10 million entries. Inserts are done in
 * transactions of 100k (like one big snapshot each), lookups are random
 * ids of which half exist. Prints a Markdown table.
 *
 *   arca-bench-index DIR [MAX_ENTRIES]
 */
#include "arca/arca.h"
#include "cas/cas_impl.h"
#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TXN_BATCH 100000
#define LOOKUPS 200000

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void key_for(uint8_t k[32], uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull + 12345;
	for (int j = 0; j < 4; j++) {
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdull;
		x ^= x >> 29;
		memcpy(k + 8 * j, &x, 8);
	}
}

int main(int argc, char **argv)
{
	arca_cas *cas;
	uint64_t max = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000ull;
	const uint64_t points[] = { 10000, 100000, 1000000, 10000000, 100000000 };
	uint64_t have = 0;
	uint8_t v[ARCA_LOC_GROUP_LEN];
	arca_chunk_loc loc = { 1, 16, 100, 200, 1, 0, 0, 0, 0 };

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [MAX_ENTRIES]\n", argv[0]);
		return 2;
	}
	if (arca_cas_open(&cas, argv[1]) != 0) {
		fprintf(stderr, "open %s: %s\n", argv[1], arca_error_last());
		return 1;
	}
	arca_chunk_loc_encode(v, &loc);
	printf("| entries | insert ns/op (last batch) | lookup ns/op (50%% hits) | index MiB |\n");
	printf("|---:|---:|---:|---:|\n");
	for (size_t p = 0; p < sizeof(points) / sizeof(points[0]) && points[p] <= max; p++) {
		double ins_ns = 0, t;
		while (have < points[p]) {
			MDB_txn *txn;
			uint64_t n = points[p] - have < TXN_BATCH ? points[p] - have : TXN_BATCH;
			mdb_txn_begin(cas->env, NULL, 0, &txn);
			t = now();
			for (uint64_t i = 0; i < n; i++) {
				uint8_t k[32];
				MDB_val kv = { 32, k }, vv = { 24, v };
				key_for(k, have + i);
				if (mdb_put(txn, cas->dbi_chunks, &kv, &vv, MDB_NOOVERWRITE) != 0) {
					fprintf(stderr, "put failed\n");
					return 1;
				}
			}
			if (mdb_txn_commit(txn) != 0) {
				fprintf(stderr, "commit failed\n");
				return 1;
			}
			ins_ns = (now() - t) * 1e9 / (double)n;
			have += n;
		}
		{
			MDB_txn *txn;
			uint64_t hits = 0;
			mdb_txn_begin(cas->env, NULL, MDB_RDONLY, &txn);
			t = now();
			for (uint64_t i = 0; i < LOOKUPS; i++) {
				uint8_t k[32];
				arca_chunk_loc l;
				/* odd i: a present key, even i: an absent one */
				key_for(k, i & 1 ? (i * 7919) % have : have + i);
				hits += arca_cas_lookup(cas, txn, k, &l) == 0;
			}
			double look_ns = (now() - t) * 1e9 / LOOKUPS;
			mdb_txn_abort(txn);
			MDB_envinfo info;
			MDB_stat ms;
			mdb_env_info(cas->env, &info);
			mdb_env_stat(cas->env, &ms);
			printf("| %llu | %.0f | %.0f | %.0f |\n", (unsigned long long)have, ins_ns, look_ns,
				(double)(info.me_last_pgno + 1) * ms.ms_psize / 1048576.0);
			fflush(stdout);
			if (hits != LOOKUPS / 2)
				fprintf(stderr, "unexpected hit count %llu\n", (unsigned long long)hits);
		}
	}
	arca_cas_free(cas);
	return 0;
}
