/* Extracting a guest's tar with libarchive, refusing what leaves DEST. */
#include "env/untar.h"
#include "arca/arca.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A member name: relative, no "." or ".." parts once "./" is taken off.
 * Returns what follows the prefix, or NULL when it must be refused. */
static const char *clean_name(const char *name)
{
	const char *p;
	while (name[0] == '.' && name[1] == '/')
		for (name += 2; *name == '/'; name++)
			;
	if (!*name || !strcmp(name, "."))
		return "";   /* the top directory itself */
	if (*name == '/')
		return NULL;
	for (p = name; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return NULL;
		p += n;
		if (*p == '/' && *++p == '\0')
			break; /* a trailing '/' (a directory) */
	}
	return name;
}

/* dest/name into buf, or an error */
static int join(char *buf, size_t cap, const char *dest, const char *name, const char *member)
{
	if ((size_t)snprintf(buf, cap, "%s%s%s", dest, *name ? "/" : "", name) >= cap)
		return arca_err_set(ARCA_ECORRUPT, "tar member %.200s: name too long", member);
	return 0;
}

int arca_env__untar(const char *tar, const char *dest)
{
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	struct archive_entry *e;
	char root[PATH_MAX], path[PATH_MAX], link[PATH_MAX];
	int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
		ARCHIVE_EXTRACT_SECURE_NODOTDOT |
		(geteuid() == 0 ? ARCHIVE_EXTRACT_OWNER : 0);
	int rc = 0, r;

	if (!in || !out) {
		rc = arca_err_set(ARCA_ENOMEM, "untar: out of memory");
		goto done;
	}
	if (mkdir(dest, 0700) < 0) {
		rc = arca_err_sys("untar: create %s", dest);
		goto done;
	}
	/* no symlink in the prefix: SECURE_SYMLINKS would refuse it */
	if (!realpath(dest, root)) {
		rc = arca_err_sys("untar: %s", dest);
		goto done;
	}
	archive_read_support_format_tar(in);
	archive_read_support_format_gnutar(in);
	archive_write_disk_set_options(out, flags);
	archive_write_disk_set_standard_lookup(out);
	if (archive_read_open_filename(in, tar, 64 * 1024) != ARCHIVE_OK) {
		rc = arca_err_set(ARCA_ECORRUPT, "untar %s: %s", tar, archive_error_string(in));
		goto done;
	}
	while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
		/* a copy: setting the entry's path frees what it pointed to */
		const char *raw = archive_entry_pathname(e), *name, *hl;
		char member[PATH_MAX];
		mode_t type = archive_entry_filetype(e);
		int top;
		if (!raw || (size_t)snprintf(member, sizeof(member), "%s", raw) >= sizeof(member) ||
		    !(name = clean_name(member))) {
			rc = arca_err_set(ARCA_ECORRUPT, "untar %s: member %.200s leaves the tree",
				tar, raw ? raw : "(no name)");
			break;
		}
		top = !*name;
		if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK)
			continue; /* not kept by a snapshot; never made on the host */
		if ((rc = join(path, sizeof(path), root, name, member)) != 0)
			break;
		archive_entry_set_pathname(e, path);
		if ((hl = archive_entry_hardlink(e)) != NULL) {
			const char *t = clean_name(hl);
			if (!t || !*t) {
				rc = arca_err_set(ARCA_ECORRUPT, "untar %s: hard link %.200s leaves the tree",
					tar, member);
				break;
			}
			if ((rc = join(link, sizeof(link), root, t, member)) != 0)
				break;
			archive_entry_set_hardlink(e, link);
		}
		if (top)
			archive_entry_set_perm(e, 0700 | (archive_entry_perm(e) & 0777));
		if (archive_read_extract2(in, e, out) != ARCHIVE_OK) {
			rc = arca_err_set(ARCA_ECORRUPT, "untar %s: %.200s: %s", tar, member,
				archive_error_string(out) ? archive_error_string(out) :
				archive_error_string(in));
			break;
		}
	}
	if (!rc && r != ARCHIVE_EOF)
		rc = arca_err_set(ARCA_ECORRUPT, "untar %s: %s", tar, archive_error_string(in));
	if (!rc && archive_write_close(out) != ARCHIVE_OK)
		rc = arca_err_set(ARCA_ERROR, "untar %s: %s", tar, archive_error_string(out));
done:
	if (in)
		archive_read_free(in);
	if (out)
		archive_write_free(out);
	return rc;
}
