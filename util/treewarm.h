/*
 * Warms the kernel's dentry and inode caches of a directory tree from a
 * few threads, ahead of a walk that stats every entry one at a time (a
 * rollback after the caches went cold). A cold stat waits for the disk;
 * several in flight overlap those waits. It only reads: directories are
 * opened with O_NOFOLLOW from descriptors it holds, never through a
 * symlink, and never on another mount. Best effort: any error just ends
 * that branch.
 */
#ifndef ARCA_UTIL_TREEWARM_H
#define ARCA_UTIL_TREEWARM_H

typedef struct arca_treewarm arca_treewarm;

/** Starts `nthreads` threads over the tree below directory `rootfd`
 *  (duplicated; the caller keeps its own). NULL when it could not start,
 *  which costs the caller nothing but the warming. */
arca_treewarm *arca_treewarm_start(int rootfd, unsigned nthreads);
/** Stops the threads at their next entry and frees everything. NULL is
 *  a no-op. */
void arca_treewarm_stop(arca_treewarm *w);

#endif
