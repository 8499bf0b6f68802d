/* The files cache: stat fields that let a snapshot trust unchanged files. */
#ifndef ARCA_STORE_FILESCACHE_H
#define ARCA_STORE_FILESCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "store/store.h"

/* What identifies a file's content without reading it. */
typedef struct {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
} arca_file_stat;

#define ARCA_FILE_STAT_LEN 40

void arca_file_stat_from(arca_file_stat *fs, const struct stat *st);
void arca_file_stat_encode(uint8_t out[ARCA_FILE_STAT_LEN], const arca_file_stat *fs);
/** 1 when the cache holds (artifact, path) with exactly this stat. */
int arca_files_cache_match(arca_store *s, MDB_txn *txn, const arca_id *artifact,
		const char *path, size_t len, const arca_file_stat *fs);
/** Key of the cache: artifact id + SHA-256 of the path. */
int arca_files_cache_key(uint8_t key[64], const arca_id *artifact, const char *path, size_t len);
/** Deletes every cache entry of `artifact`. */
int arca_files_cache_drop(arca_store *s, MDB_txn *txn, const arca_id *artifact);

#endif
