/*
 * Boot files of a qemu env, made at create from the host's kernel:
 *
 * - vmlinux: qemu's microvm boots an ELF kernel through its PVH entry
 *   without decompressing it in the guest (under TCG that saves ~3 s a
 *   boot). A bzImage carries that ELF compressed at payload_offset;
 *   libarchive's raw format with every filter decompresses it.
 * - initrd: the host's (which the issue asks for, padded: the kernel
 *   unpacks concatenated archives) and a newc cpio after it with the
 *   agent and the modules it loads, from the host's /lib/modules. The
 *   kernel's own initrd lacks virtio_console, and the agent is PID 1
 *   (rdinit=/arca/agent), so what the host initrd holds is not used.
 */
#include "env/qemu_boot.h"
#include "arca/arca.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define VMLINUX_MAX (1ull << 30)
#define MODDEP_MAX (32u << 20)
#define MODS_MAX 64

/* ---- the kernel ---- */

typedef struct {
	uint32_t payload_off, payload_len;  /* from the file's start */
	char release[128];
} bz_header;

static int bz_read_header(int fd, const char *path, bz_header *h)
{
	unsigned char b[0x268];
	ssize_t n = pread(fd, b, sizeof b, 0);
	struct stat st;
	if (n < 0 || fstat(fd, &st) < 0)
		return arca_err_sys("qemu: read %s", path);
	/* boot protocol 2.08 on has payload_offset (setup is 512-byte sectors) */
	if (n < (ssize_t)sizeof b || memcmp(b + 0x202, "HdrS", 4) != 0 ||
	    (b[0x206] | b[0x207] << 8) < 0x208)
		return arca_err_set(ARCA_EINVAL, "qemu: %s is not a bzImage kernel", path);
	unsigned setup = b[0x1f1] ? b[0x1f1] : 4;
	uint64_t base = (uint64_t)(setup + 1) * 512;
	uint32_t po = (uint32_t)b[0x248] | (uint32_t)b[0x249] << 8 | (uint32_t)b[0x24a] << 16 |
		(uint32_t)b[0x24b] << 24;
	uint32_t pl = (uint32_t)b[0x24c] | (uint32_t)b[0x24d] << 8 | (uint32_t)b[0x24e] << 16 |
		(uint32_t)b[0x24f] << 24;
	if (base + po + pl > (uint64_t)st.st_size || pl == 0)
		return arca_err_set(ARCA_EINVAL, "qemu: %s: payload out of the file", path);
	h->payload_off = (uint32_t)(base + po);
	h->payload_len = pl;
	/* kernel_version: an offset from 0x200 of "RELEASE (builder) #..." */
	unsigned kv = b[0x20e] | b[0x20f] << 8;
	h->release[0] = 0;
	if (kv) {
		char v[sizeof h->release];
		ssize_t k = pread(fd, v, sizeof v - 1, (off_t)kv + 0x200);
		if (k > 0) {
			v[k] = 0;
			size_t len = strcspn(v, " ");
			int ok = len > 0 && len < sizeof v;
			for (size_t i = 0; ok && i < len; i++)
				ok = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'z') ||
					(v[i] >= 'A' && v[i] <= 'Z') || strchr(".-_+~", v[i]);
			if (ok)
				snprintf(h->release, sizeof h->release, "%.*s", (int)len, v);
		}
	}
	return 0;
}

/* A host file read at create (a kernel, an initrd): a regular one; a
 * FIFO would hang the open, /dev/zero fill ENV for ever. -1 on error. */
static int open_regular(const char *path, const char *what)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? arca_err_set(ARCA_ENOTFOUND, "qemu: no %s %s", what, path) :
			arca_err_sys("qemu: open %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return arca_err_set(ARCA_EINVAL, "qemu: %s %s is not a regular file", what, path);
	}
	return fd;
}

int arca_env__qemu_kernel_release(const char *kernel, char *out, size_t cap)
{
	bz_header h;
	int fd = open_regular(kernel, "kernel");
	if (fd < 0)
		return fd;
	int rc = bz_read_header(fd, kernel, &h);
	close(fd);
	if (rc)
		return rc;
	if (!h.release[0])
		return arca_err_set(ARCA_EINVAL, "qemu: %s names no kernel release", kernel);
	snprintf(out, cap, "%s", h.release);
	return 0;
}

typedef struct {
	int fd;
	uint64_t off, end;
	char buf[65536];
} range_src;

static la_ssize_t range_read(struct archive *a, void *p, const void **out)
{
	range_src *r = p;
	size_t want = r->end - r->off < sizeof r->buf ? (size_t)(r->end - r->off) : sizeof r->buf;
	(void)a;
	*out = r->buf;
	if (want == 0)
		return 0;
	ssize_t n = pread(r->fd, r->buf, want, (off_t)r->off);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	r->off += (uint64_t)n;
	return n;
}

int arca_env__qemu_vmlinux(const char *kernel, const char *out)
{
	range_src *src = calloc(1, sizeof *src);
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	bz_header h;
	int ofd = -1, rc = 0;
	uint64_t total = 0;
	unsigned char head[4] = { 0 };

	if (src)
		src->fd = -1;
	if (!src || !a) {
		rc = arca_err_set(ARCA_ENOMEM, "qemu: out of memory");
		goto done;
	}
	if ((src->fd = open_regular(kernel, "kernel")) < 0) {
		rc = src->fd;
		src->fd = -1;
		goto done;
	}
	if ((rc = bz_read_header(src->fd, kernel, &h)) != 0)
		goto done;
	/* the payload ends with its decompressed size (le32, the kernel's
	 * size_append), which no decompressor expects */
	unsigned char sz[4];
	if (h.payload_len <= 4 || pread(src->fd, sz, 4, (off_t)h.payload_off + h.payload_len - 4) != 4) {
		rc = arca_err_set(ARCA_EINVAL, "qemu: %s: payload too short", kernel);
		goto done;
	}
	uint64_t want = (uint64_t)sz[0] | (uint64_t)sz[1] << 8 | (uint64_t)sz[2] << 16 |
		(uint64_t)sz[3] << 24;
	src->off = h.payload_off;
	src->end = (uint64_t)h.payload_off + h.payload_len - 4;
	if ((ofd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		rc = arca_err_sys("qemu: create %s", out);
		goto done;
	}
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open(a, src, NULL, range_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		rc = arca_err_set(ARCA_EINVAL, "qemu: %s: cannot decompress its payload: %s", kernel,
			archive_error_string(a) ? archive_error_string(a) : "unknown format");
		goto done;
	}
	for (;;) {
		const void *p;
		size_t n;
		la_int64_t o;
		int r = archive_read_data_block(a, &p, &n, &o);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			rc = arca_err_set(ARCA_EINVAL, "qemu: %s: payload: %s", kernel,
				archive_error_string(a));
			goto done;
		}
		if (total < 4)
			memcpy(head + total, p, n < 4 - total ? n : 4 - total);
		if ((total += n) > VMLINUX_MAX) {
			rc = arca_err_set(ARCA_EINVAL, "qemu: %s: payload over 1 GiB", kernel);
			goto done;
		}
		if (arca_write_all(ofd, p, n) < 0) {
			rc = arca_err_sys("qemu: write %s", out);
			goto done;
		}
	}
	if (total != want)
		rc = arca_err_set(ARCA_EINVAL, "qemu: %s: payload decompressed to %llu bytes, not %llu",
			kernel, (unsigned long long)total, (unsigned long long)want);
	else if (memcmp(head, "\177ELF", 4) != 0)
		rc = arca_err_set(ARCA_EINVAL, "qemu: %s: its payload is not an ELF kernel", kernel);
	else if (arca_fsync(ofd) < 0)
		rc = arca_err_sys("qemu: fsync %s", out);
done:
	if (a)
		archive_read_free(a);
	if (src && src->fd >= 0)
		close(src->fd);
	free(src);
	if (ofd >= 0) {
		close(ofd);
		if (rc)
			unlink(out);
	}
	return rc;
}

/* ---- modules ---- */

typedef struct {
	char *path;        /* relative to moddir */
	char *deps;        /* "a.ko b.ko" */
	char name[64];     /* '-' as '_' */
	int state;         /* 0 new, 1 visiting, 2 listed */
} mod_line;

typedef struct {
	mod_line *v;
	size_t n;
	char *text;
	const char *order[256];
	size_t norder;
} mod_set;

static void mod_name(char *out, size_t cap, const char *path, size_t len)
{
	const char *b = path;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			b = path + i + 1;
	size_t n = (size_t)(path + len - b);
	const char *ko = NULL;
	for (size_t i = 0; i + 3 <= n; i++)
		if (memcmp(b + i, ".ko", 3) == 0)
			ko = b + i;
	if (ko)
		n = (size_t)(ko - b);
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = b[i] == '-' ? '_' : b[i];
	out[n] = 0;
}

static mod_line *mod_find(mod_set *s, const char *name)
{
	char want[64];
	mod_name(want, sizeof want, name, strlen(name));
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, want) == 0)
			return &s->v[i];
	return NULL;
}

static int mod_visit(mod_set *s, mod_line *m)
{
	if (m->state)
		return 0; /* listed, or a cycle (modules.dep has none) */
	m->state = 1;
	/* deps are listed in the order modprobe removes them: load from the end */
	size_t len = strlen(m->deps);
	while (len) {
		size_t end = len;
		while (end && m->deps[end - 1] == ' ')
			end--;
		size_t start = end;
		while (start && m->deps[start - 1] != ' ')
			start--;
		if (end > start) {
			char dep[512];
			snprintf(dep, sizeof dep, "%.*s", (int)(end - start), m->deps + start);
			mod_line *d = mod_find(s, dep);
			int rc = d ? mod_visit(s, d) : 0;
			if (rc)
				return rc;
		}
		len = start;
	}
	if (s->norder == sizeof s->order / sizeof *s->order)
		return arca_err_set(ARCA_EINVAL, "qemu: too many kernel modules");
	s->order[s->norder++] = m->path;
	m->state = 2;
	return 0;
}

static int mod_load(mod_set *s, const char *moddir)
{
	char p[4096];
	struct stat st;
	if ((size_t)snprintf(p, sizeof p, "%s/modules.dep", moddir) >= sizeof p)
		return arca_err_set(ARCA_EINVAL, "qemu: module dir path too long");
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? arca_err_set(ARCA_ENOTFOUND, "qemu: no %s (the kernel's "
			"modules are not installed)", p) : arca_err_sys("qemu: open %s", p);
	if (fstat(fd, &st) < 0 || st.st_size > MODDEP_MAX) {
		close(fd);
		return arca_err_set(ARCA_EINVAL, "qemu: %s: unreadable or too large", p);
	}
	if (!(s->text = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return arca_err_set(ARCA_ENOMEM, "qemu: out of memory");
	}
	ssize_t n = pread(fd, s->text, (size_t)st.st_size, 0);
	close(fd);
	if (n != st.st_size)
		return arca_err_sys("qemu: read %s", p);
	s->text[n] = 0;
	size_t lines = 1;
	for (char *c = s->text; *c; c++)
		lines += *c == '\n';
	if (!(s->v = calloc(lines, sizeof *s->v)))
		return arca_err_set(ARCA_ENOMEM, "qemu: out of memory");
	for (char *line = s->text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		char *colon = strchr(line, ':');
		if (colon) {
			mod_line *m = &s->v[s->n++];
			*colon = 0;
			m->path = line;
			m->deps = colon + 1;
			mod_name(m->name, sizeof m->name, line, strlen(line));
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

/* ---- the initrd ---- */

typedef struct {
	int fd;
	const char *path;
} cpio_out;

static la_ssize_t cpio_write(struct archive *a, void *p, const void *buf, size_t n)
{
	cpio_out *o = p;
	if (arca_write_all(o->fd, buf, n) < 0) {
		archive_set_error(a, errno, "write %s: %s", o->path, strerror(errno));
		return -1;
	}
	return (la_ssize_t)n;
}

static int cpio_entry(struct archive *a, const char *name, unsigned type, unsigned mode,
	int64_t size, dev_t rdev)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return arca_err_set(ARCA_ENOMEM, "qemu: out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, size);
	if (rdev)
		archive_entry_set_rdev(e, rdev);
	int r = archive_write_header(a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return arca_err_set(ARCA_EIO, "qemu: initrd %s: %s", name, archive_error_string(a));
	return 0;
}

/* A host file into the cpio, streamed. */
static int cpio_file(struct archive *a, const char *name, const char *src, unsigned mode)
{
	char buf[65536];
	struct stat st;
	int fd = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK), rc;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = fd < 0 && errno == ENOENT ? arca_err_set(ARCA_ENOTFOUND, "qemu: no %s", src) :
			arca_err_set(ARCA_EINVAL, "qemu: %s: not a readable file", src);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if ((rc = cpio_entry(a, name, AE_IFREG, mode, st.st_size, 0)) != 0)
		goto done;
	for (int64_t left = st.st_size; left > 0;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0) {
			rc = n < 0 ? arca_err_sys("qemu: read %s", src) :
				arca_err_set(ARCA_EIO, "qemu: %s shrank while read", src);
			goto done;
		}
		if (n > left)
			n = (ssize_t)left;
		if (archive_write_data(a, buf, (size_t)n) != n) {
			rc = arca_err_set(ARCA_EIO, "qemu: initrd %s: %s", name, archive_error_string(a));
			goto done;
		}
		left -= n;
	}
done:
	close(fd);
	return rc;
}

static int copy_padded(int ofd, const char *initrd)
{
	char buf[65536];
	int fd = open_regular(initrd, "initrd"), rc = 0;
	uint64_t total = 0;
	if (fd < 0)
		return fd;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			rc = arca_err_sys("qemu: read %s", initrd);
			break;
		}
		if (n == 0)
			break;
		if (arca_write_all(ofd, buf, (size_t)n) < 0) {
			rc = arca_err_sys("qemu: write initrd");
			break;
		}
		total += (uint64_t)n;
	}
	close(fd);
	if (rc == 0 && total % 512) {
		memset(buf, 0, 512);
		if (arca_write_all(ofd, buf, 512 - total % 512) < 0)
			rc = arca_err_sys("qemu: write initrd");
	}
	return rc;
}

int arca_env__qemu_initrd(const char *initrd, const char *agent, const char *moddir,
	const char *const *mods, const char *out)
{
	mod_set s;
	cpio_out o = { -1, out };
	struct archive *a = NULL;
	char order[16384], src[4096], name[4200];
	size_t olen = 0;
	int rc;

	memset(&s, 0, sizeof s);
	if ((rc = mod_load(&s, moddir)) != 0)
		goto done;
	for (const char *const *m = mods; m && *m; m++) {
		mod_line *l = mod_find(&s, *m);
		if (l && (rc = mod_visit(&s, l)) != 0)
			goto done;
	}
	if ((o.fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		rc = arca_err_sys("qemu: create %s", out);
		goto done;
	}
	if (initrd && (rc = copy_padded(o.fd, initrd)) != 0)
		goto done;
	if (!(a = archive_write_new())) {
		rc = arca_err_set(ARCA_ENOMEM, "qemu: out of memory");
		goto done;
	}
	if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_open(a, &o, NULL, cpio_write, NULL) != ARCHIVE_OK) {
		rc = arca_err_set(ARCA_EIO, "qemu: initrd: %s", archive_error_string(a));
		goto done;
	}
	if ((rc = cpio_entry(a, "dev", AE_IFDIR, 0755, 0, 0)) ||
	    (rc = cpio_entry(a, "dev/console", AE_IFCHR, 0600, 0, makedev(5, 1))) ||
	    (rc = cpio_entry(a, "arca", AE_IFDIR, 0755, 0, 0)) ||
	    (rc = cpio_file(a, "arca/agent", agent, 0755)) ||
	    (rc = cpio_entry(a, "arca/modules", AE_IFDIR, 0755, 0, 0)))
		goto done;
	for (size_t i = 0; i < s.norder; i++) {
		char base[128];
		mod_name(base, sizeof base, s.order[i], strlen(s.order[i]));
		const char *ext = strstr(s.order[i], ".ko");
		if ((size_t)snprintf(src, sizeof src, "%s/%s", moddir, s.order[i]) >= sizeof src) {
			rc = arca_err_set(ARCA_EINVAL, "qemu: module path too long");
			goto done;
		}
		snprintf(name, sizeof name, "arca/modules/%02zu-%s%s", i, base, ext ? ext : ".ko");
		if ((rc = cpio_file(a, name, src, 0644)) != 0)
			goto done;
		int k = snprintf(order + olen, sizeof order - olen, "/%s\n", name);
		if (k < 0 || (size_t)k >= sizeof order - olen) {
			rc = arca_err_set(ARCA_EINVAL, "qemu: too many kernel modules");
			goto done;
		}
		olen += (size_t)k;
	}
	if ((rc = cpio_entry(a, "arca/modules.order", AE_IFREG, 0644, (int64_t)olen, 0)) != 0)
		goto done;
	if (olen && archive_write_data(a, order, olen) != (la_ssize_t)olen) {
		rc = arca_err_set(ARCA_EIO, "qemu: initrd: %s", archive_error_string(a));
		goto done;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		rc = arca_err_set(ARCA_EIO, "qemu: initrd: %s", archive_error_string(a));
		goto done;
	}
	if (arca_fsync(o.fd) < 0)
		rc = arca_err_sys("qemu: fsync %s", out);
done:
	if (a)
		archive_write_free(a);
	if (o.fd >= 0) {
		close(o.fd);
		if (rc)
			unlink(out);
	}
	free(s.v);
	free(s.text);
	return rc;
}
