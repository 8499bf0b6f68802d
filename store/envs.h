/* Env records: their text codec (store/env_record.c) and the LMDB `envs`
 * table, journaled (store/envs.c). */
#ifndef ARCA_STORE_ENVS_H
#define ARCA_STORE_ENVS_H

#include <stddef.h>

#include "arca/env.h"
#include "util/buf.h"

/* The env area, STORE/envs: one directory per env, the env layer's. */
#define ARCA_STORE_ENVS_DIR "envs"

/** *out = STORE/envs/NAME, or STORE/envs when name is NULL (free()). */
int arca_store__env_path(char **out, arca_store *s, const char *name);

/* Caps of a record; the decoder refuses anything past them. */
#define ARCA_ENV_REC_MAX (256u << 10)
#define ARCA_ENV_BACKEND_MAX 64
#define ARCA_ENV_LABELS_MAX 64
#define ARCA_ENV_LABEL_VALUE_MAX 1024
#define ARCA_ENV_SETTINGS_MAX 64
#define ARCA_ENV_SETTING_MAX 4096
#define ARCA_ENV_ERROR_MAX 1024

/** Checks what a record holds (name, backend, labels, settings; the
 *  error is not checked: the encoder tames it). */
int arca_store__env_check(const arca_env_info *e);
/** Appends the canonical record of `e` ("arca-env 1\n..."); its `error`
 *  is written with control bytes as spaces and cut at ARCA_ENV_ERROR_MAX. */
int arca_store__env_encode(arca_buf *out, const arca_env_info *e);
/** Decodes record `p` (n bytes) of env `name` into *e (zeroed first;
 *  dir and capabilities stay empty); ARCA_ECORRUPT unless it is exactly
 *  what the encoder writes. Release with arca_store__env_info_clear. */
int arca_store__env_decode(arca_env_info *e, const char *name, const void *p, size_t n);
/** Frees what *e holds and zeroes it. */
void arca_store__env_info_clear(arca_env_info *e);

/** Reads env `name`: ARCA_ENOTFOUND (with detail) when there is none. */
int arca_store__env_get(arca_env_info *out, arca_store *s, const char *name);
/** Calls cb for each env record in name order; non-zero stops. */
int arca_store__env_each(arca_store *s, int (*cb)(arca_env_info *e, void *ctx), void *ctx);
/** Writes e's record in one write transaction; with `create`, fails with
 *  ARCA_EEXISTS when the name has a record already, else with
 *  ARCA_ENOTFOUND when it has none. */
int arca_store__env_put(arca_store *s, const arca_env_info *e, int create);
/** Deletes env `name`'s record in one write transaction; ARCA_ENOTFOUND. */
int arca_store__env_delete(arca_store *s, const char *name);

#endif
