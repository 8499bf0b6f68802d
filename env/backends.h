/* The built-in env backends, one file each (env/env_<name>.c). */
#ifndef ARCA_ENV_BACKENDS_H
#define ARCA_ENV_BACKENDS_H

#include "arca/env.h"

/** The dir backend (env/env_dir.c); free with (*out)->free. */
int arca_env__dir_new(arca_env_backend **out);
/** The smolvm backend (env/env_smolvm.c): libkrun microVMs through the
 *  smolvm CLI. Settings: smolvm-bin, image, cpus, mem, net=0|1,
 *  volume=HOST:GUEST[:ro] (repeatable), path (the tree's place in the
 *  guest, default /arca), disk=overlay|storage (the disk an image
 *  artifact is, default overlay). */
int arca_env__smolvm_new(arca_env_backend **out);
/** The qemu backend (env/env_qemu.c): an image artifact booted as a VM
 *  with qemu-system-x86_64 and the host's kernel. Settings: qemu-bin,
 *  kernel, initrd (a path or none), agent (the guest agent binary,
 *  required), cpus, mem (MiB), accel=auto|kvm|tcg, root, fstype,
 *  boot-timeout (s), volume=HOST:GUEST[:ro] (repeatable); create adds
 *  machine, accel-used, kernel-used, initrd-used and cmdline. */
int arca_env__qemu_new(arca_env_backend **out);

/* The caller's progress (arca_env_ctx version 3) into a backend's restore
 * or rollback options. */
static inline void arca_env__restore_progress(const arca_env_ctx *e, arca_restore_options *o)
{
	if (e->version >= 3) {
		o->progress_cb = e->progress_cb;
		o->progress_payload = e->progress_payload;
	}
}

static inline void arca_env__rollback_progress(const arca_env_ctx *e, arca_rollback_options *o)
{
	if (e->version >= 3) {
		o->progress_cb = e->progress_cb;
		o->progress_payload = e->progress_payload;
	}
}

#endif
