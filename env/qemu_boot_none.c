/* Built without libarchive: the qemu backend cannot make its boot files. */
#include "env/qemu_boot.h"
#include "arca/arca.h"
#include "util/error.h"

static int none(const char *what)
{
	return arca_err_set(ARCA_ENOTSUP, "qemu: %s: arca was built without libarchive", what);
}

int arca_env__qemu_kernel_release(const char *kernel, char *out, size_t cap)
{
	(void)out;
	(void)cap;
	return none(kernel);
}

int arca_env__qemu_vmlinux(const char *kernel, const char *out)
{
	(void)out;
	return none(kernel);
}

int arca_env__qemu_initrd(const char *initrd, const char *agent, const char *moddir,
	const char *const *mods, const char *out)
{
	(void)initrd;
	(void)agent;
	(void)moddir;
	(void)mods;
	return none(out);
}
