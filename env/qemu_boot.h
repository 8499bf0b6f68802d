/* Boot files of a qemu env: the kernel's ELF out of a bzImage, and the
 * initrd with the guest agent appended (env/qemu_boot.c). */
#ifndef ARCA_ENV_QEMU_BOOT_H
#define ARCA_ENV_QEMU_BOOT_H

#include <stddef.h>

/**
 * The kernel release of bzImage `kernel` ("6.1.0-57-amd64"), from its
 * boot header. ARCA_EINVAL when it is not a bzImage.
 */
int arca_env__qemu_kernel_release(const char *kernel, char *out, size_t cap);

/**
 * Writes the uncompressed ELF image (vmlinux, PVH entry) inside bzImage
 * `kernel` to the new file `out` (decompressed by libarchive: xz, zstd,
 * gzip ... as the kernel was built), at most 1 GiB.
 */
int arca_env__qemu_vmlinux(const char *kernel, const char *out);

/**
 * Writes the new file `out`: `initrd` (NULL: none) padded to 512 bytes,
 * then a newc cpio holding /dev/console, /arca/agent (a copy of `agent`)
 * and, from `moddir` (/lib/modules/RELEASE), the modules `mods`
 * (NULL-terminated names) with what they depend on (modules.dep), in
 * load order, listed in /arca/modules.order. A module the kernel has
 * built in, or lacks, is left out.
 */
int arca_env__qemu_initrd(const char *initrd, const char *agent, const char *moddir,
	const char *const *mods, const char *out);

#endif
