/* A guest's tree, carried out as a tar, made a host directory again. */
#ifndef ARCA_ENV_UNTAR_H
#define ARCA_ENV_UNTAR_H

/**
 * Extracts the tar file `tar` (written by a guest: hostile) into `dest`,
 * which must not exist; it is created 0700. Names must be relative and
 * stay below dest ("./" prefixes are taken off); nothing is written
 * through a symlink; device nodes and sockets are skipped (a snapshot does
 * not keep them). Owners are kept when run as root, modes and mtimes
 * always. ARCA_ECORRUPT names the first bad member; ARCA_ENOTSUP when
 * arca was built without libarchive.
 */
int arca_env__untar(const char *tar, const char *dest);

#endif
