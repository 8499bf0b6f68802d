/* Internal view of a store: the chunk store plus artifact metadata. */
#ifndef ARCA_STORE_STORE_H
#define ARCA_STORE_STORE_H

#include "arca/arca.h"
#include "cas/cas.h"

#define ARCA_STORE_FORMAT 1

struct arca_store {
	char *dir;
	arca_cas *cas;
	MDB_dbi dbi_artifacts;  /* id[32] -> artifact record */
	MDB_dbi dbi_refs;       /* "name:tag" -> id[32] */
	MDB_dbi dbi_files;      /* id[32] + sha256(path) -> file_stat (40) */
	MDB_dbi dbi_files_stage;/* sha256(path) -> file_stat, during a snapshot */
	MDB_dbi dbi_history;    /* name + 0 + u64be seq -> id[32] + i64le ns */
	MDB_dbi dbi_remotes;    /* remote name -> config text (journaled) */
	MDB_dbi dbi_remote_chunks; /* name + 0 + chunk id -> pack sha (a cache) */
	MDB_dbi dbi_envs;       /* env name -> env record text (journaled) */
	uint32_t chunk_min, chunk_avg, chunk_max;
	int zstd_level;
	unsigned threads;
};

#endif
