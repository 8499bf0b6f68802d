/*
 * cas-private: the chunk store's handle, its writer, and the helpers the
 * .c files of cas/ share. Only those include this; the layers above use
 * cas/cas.h.
 */
#ifndef ARCA_CAS_CAS_IMPL_H
#define ARCA_CAS_CAS_IMPL_H

#include "cas/cas.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <zstd.h>

#define ARCA_PACK_TARGET (64u * 1024 * 1024)

struct arca_cas {
	char *dir;
	char *packdir;
	MDB_env *env;
	MDB_dbi dbi_chunks;   /* id[32] -> location (24 bytes) */
	MDB_dbi dbi_packs;    /* pack number (u32 BE) -> committed length (u64 LE) */
	MDB_dbi dbi_meta;     /* string key -> value */
	MDB_dbi dbi_dead;     /* retired pack (u32 BE) -> txn id that retired it */
	MDB_dbi dbi_macs;     /* chunk id -> keyed fast MAC (16 bytes) */
	MDB_dbi dbi_journal;  /* seq (u64 BE) -> location of a meta record */
	MDB_dbi dbi_damaged;  /* chunk id -> u8 reason: known lost, never "present" */
	uint32_t pack_target;
	uint8_t params[48];   /* PARAMS payload put at the head of each new pack:
	                         4 x u64 params, then the 16-byte store id */
	int have_params;
	struct arca_cas_writer *active; /* the writer of the open write txn */
	pthread_mutex_t fd_lock;
	int *pack_fds;        /* read-only descriptors by pack number */
	size_t npack_fds;
	arca_writelock wlock; /* taken around every LMDB write transaction */
	int open_listed;      /* its index is in the process's list of open ones */
	dev_t index_dev;
	ino_t index_ino;
	pid_t open_pid;       /* the process that listed it (not a forked child) */
};

struct arca_cas_writer {
	arca_cas *cas;
	MDB_txn *txn;
	uint8_t mac_key[32];
	uint32_t pack_no;      /* current pack, 0 = none open yet */
	int fd;
	uint64_t pack_len;     /* logical length incl. buffered bytes */
	uint64_t kicked;       /* bytes of it the disk was told to start writing */
	/* full packs whose fdatasync waits for the commit (or for room here),
	 * so that filling the next one does not wait for the disk */
#define ARCA_WRITER_PENDING_MAX 8
	int pending[ARCA_WRITER_PENDING_MAX];
	uint32_t pending_no[ARCA_WRITER_PENDING_MAX];
	size_t npending;
	uint32_t next_pack;    /* number for the next new pack (never reused) */
	uint32_t begin_next;   /* next_pack when the writer began: packs from it on are ours */
	int force_new;         /* start a new pack before the next append */
	uint64_t first_pack_committed; /* committed length of the pack we appended to */
	uint32_t first_pack_no;
	int created_pack;
	uint8_t *wbuf;
	size_t wlen;
	int64_t d_chunks, d_unique, d_stored;
	ZSTD_CCtx *cctx;       /* for put_raw */
	uint8_t *cbuf;
	size_t cbuf_cap;
	uint64_t jseq;         /* next journal sequence number */
	uint64_t jseq_start;
	uint64_t ndamaged;     /* entries in `damaged` when we began */
	uint32_t jtag;         /* tag of this writer's meta records */
	arca_buf path;         /* scratch for pack paths */
};

/* One cursor over a cas table (chunks, packs, deadpacks, journal). */
struct arca_cas_iter {
	arca_cas *cas;
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, v;
	int started;
};

int arca_meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out);
int arca_meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v);
int arca_meta_add_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, int64_t delta);

/** mdb_txn_begin that adopts a map grown by another process. */
int arca_mdb_txn_begin(MDB_env *env, unsigned flags, MDB_txn **out);
/** mdb_txn_commit with the "commit" fault point; a short write on a full
 *  filesystem comes back as ENOSPC. Consumes the transaction. */
int arca_cas__commit(MDB_txn *txn);

/** Pack `no`'s path into `b`, for a caller that goes on to open it. */
int arca_cas__pack_path(arca_buf *b, const arca_cas *cas, uint32_t no);
/** Pack numbers of the pack files in `packdir`, ascending; caller frees. */
int arca_cas__list_packs(const char *packdir, uint32_t **nos, size_t *n);
/** The cached read-only descriptor of pack `no`. */
int arca_cas__pack_fd(arca_cas *cas, uint32_t no, int *out);
int arca_cas__ensure_cap(uint8_t **p, size_t *cap, size_t need);
/** The three below append to the writer's current pack. */
int arca_cas__make_room(arca_cas_writer *w, size_t rec_len);
int arca_cas__append(arca_cas_writer *w, const void *p, size_t n);
int arca_cas__append_meta(arca_cas_writer *w, uint8_t type, uint8_t flags, const void *a,
		size_t alen, const void *b, size_t blen, uint64_t *seq);
/** Opens a cursor on `dbi` for an iterator; `what` names it in errors. */
int arca_cas__iter_open(arca_cas_iter **out, arca_cas *cas, MDB_txn *txn, MDB_dbi dbi,
		const char *what);
/** Next entry into it->k / it->v: 0, ARCA_ITER_END, or an LMDB error. */
int arca_cas__iter_step(arca_cas_iter *it, const char *what);

#endif
