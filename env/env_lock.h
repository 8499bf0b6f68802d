/* Per-env locks and the env area's safety checks (env/env_lock.c). */
#ifndef ARCA_ENV_LOCK_H
#define ARCA_ENV_LOCK_H

#include "arca/arca.h"

/** The store's env area STORE/envs, opened without following a symlink
 *  there (made first when `create`); *fd, or an arca error code. */
int arca_env__area_open(int *fd, arca_store *s, int create);
/** Locks env `name` (flock of STORE/envs/.locks/NAME, never waited for):
 *  exclusive, or shared when `shared`. ARCA_ELOCKED when another call
 *  holds it. *fd (close-on-exec) is released by arca_env__unlock. */
int arca_env__lock(int *fd, int area_fd, const char *name, int shared);
/** Lets go of the lock; its file goes when no one else holds it. */
void arca_env__unlock(int fd, int area_fd, const char *name);
/** 0 when STORE/envs/NAME is missing or a real directory on the area's
 *  mount; ARCA_EUNSAFE (not followed) for a symlink, another mount or
 *  another type. */
int arca_env__check_dir(int area_fd, const char *name);

#endif
