/*
 * The qemu backend: an image artifact holding a root filesystem, booted
 * as a VM with qemu-system-x86_64 (`-M microvm`, KVM where it works,
 * TCG otherwise) and the host's kernel.
 *
 * ENV/ holds disk.img (the artifact, restored sparse: the VM's only
 * disk, raw), vmlinux and initrd.img (env/qemu_boot.c: made once at
 * create), console.log (the serial console while it boots), qemu.pid,
 * resetting (while a reset runs), agent.lock and the sockets agent.sock
 * (the guest agent, env/qemu_agent.c) and qmp.sock. qemu runs
 * daemonized with ENV as its working directory, so every path it is
 * given is relative (no store path meets qemu's ',' option syntax).
 *
 * The guest agent is PID 1, from the initrd (never on the disk): it
 * mounts the disk as the guest's root and runs commands in it. Snapshot
 * freezes the guest's filesystem and stops the VM while the disk is
 * read; reset stops qemu, rolls the disk back in place and boots again.
 */
#include "env/backends.h"
#include "env/qemu_agent.h"
#include "env/qemu_boot.h"
#include "agent_proto.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "util/fsutil.h"

extern char **environ;

#define QM_MAX_VOLUMES 8
#define QM_AGENT_WAIT_MS 10000
#define QM_STOP_WAIT_MS 10000

/* ---- settings ---- */

typedef struct {
	const char *bin, *kernel, *initrd, *agent, *cpus, *mem, *accel, *root, *fstype;
	unsigned boot_timeout;
	const char *volumes[QM_MAX_VOLUMES];
	size_t nvolumes;
	/* chosen at create, kept in the record */
	const char *accel_used, *cmdline;
} qm_env;

static int qm_digits(const char *s, unsigned long max)
{
	char *end;
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return 0;
	unsigned long v = strtoul(s, &end, 10);
	return v > 0 && v <= max;
}

/* HOST:GUEST[:ro], both absolute, no ',' (qemu's option separator) and
 * no ':' inside either. */
static int qm_volume_ok(const char *v)
{
	const char *c = strchr(v, ':');
	if (!c || v[0] != '/' || c[1] != '/' || strchr(v, ','))
		return 0;
	c = strchr(c + 1, ':');
	return !c || strcmp(c, ":ro") == 0;
}

static int qm_parse(qm_env *s, const arca_env_ctx *e)
{
	memset(s, 0, sizeof *s);
	s->bin = "qemu-system-x86_64";
	s->cpus = "1";
	s->mem = "512";
	s->accel = "auto";
	s->root = "/dev/vda";
	s->fstype = "ext4";
	s->boot_timeout = 120;
	for (const char *const *kv = e->settings; kv && *kv; kv++) {
		const char *eq = strchr(*kv, '=');
		size_t kn = eq ? (size_t)(eq - *kv) : 0;
		const char *v = eq ? eq + 1 : "";
#define QM_KEY(k) (kn == sizeof(k) - 1 && memcmp(*kv, k, kn) == 0)
		if (!eq)
			return arca_err_set(ARCA_EINVAL, "qemu: setting '%s' is not key=value", *kv);
		if (QM_KEY("qemu-bin") && *v)
			s->bin = v;
		else if (QM_KEY("kernel") && v[0] == '/')
			s->kernel = v;
		else if (QM_KEY("initrd") && (v[0] == '/' || strcmp(v, "none") == 0))
			s->initrd = v;
		else if (QM_KEY("agent") && v[0] == '/')
			s->agent = v;
		else if (QM_KEY("cpus") && qm_digits(v, 64))
			s->cpus = v;
		else if (QM_KEY("mem") && qm_digits(v, 1 << 20) && strtoul(v, NULL, 10) >= 64)
			s->mem = v;
		else if (QM_KEY("accel") && (!strcmp(v, "auto") || !strcmp(v, "kvm") || !strcmp(v, "tcg")))
			s->accel = v;
		else if (QM_KEY("root") && strncmp(v, "/dev/vd", 7) == 0 && !strpbrk(v, " ,"))
			s->root = v;
		else if (QM_KEY("fstype") && *v && strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(v))
			s->fstype = v;
		else if (QM_KEY("boot-timeout") && qm_digits(v, 3600))
			s->boot_timeout = (unsigned)strtoul(v, NULL, 10);
		else if (QM_KEY("volume") && qm_volume_ok(v)) {
			if (s->nvolumes == QM_MAX_VOLUMES)
				return arca_err_set(ARCA_EINVAL, "qemu: more than %d volumes", QM_MAX_VOLUMES);
			s->volumes[s->nvolumes++] = v;
		}
		/* what create chose */
		else if (QM_KEY("accel-used") && (!strcmp(v, "kvm") || !strcmp(v, "tcg")))
			s->accel_used = v;
		else if (QM_KEY("cmdline") && *v)
			s->cmdline = v;
		else if (QM_KEY("machine") || QM_KEY("kernel-used") || QM_KEY("initrd-used"))
			;
		else if (QM_KEY("qemu-bin") || QM_KEY("kernel") || QM_KEY("initrd") || QM_KEY("agent") ||
			QM_KEY("cpus") || QM_KEY("mem") || QM_KEY("accel") || QM_KEY("root") ||
			QM_KEY("fstype") || QM_KEY("boot-timeout") || QM_KEY("volume") ||
			QM_KEY("accel-used") || QM_KEY("cmdline"))
			return arca_err_set(ARCA_EINVAL, "qemu: bad value in setting '%s'", *kv);
		else
			return arca_err_set(ARCA_EINVAL, "qemu: unknown setting '%.*s'", (int)kn, *kv);
#undef QM_KEY
	}
	return 0;
}

/* ---- the env's directory ---- */

static int qm_dirfd(const arca_env_ctx *e)
{
	int fd = open(e->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP || errno == ENOTDIR ?
			arca_err_set(ARCA_EUNSAFE, "qemu: %s is not a directory (a symlink?); not "
				"followed", e->dir) :
			arca_err_sys("qemu: open %s", e->dir);
	return fd;
}

static int qm_path(char *out, size_t cap, const arca_env_ctx *e, const char *name)
{
	if ((size_t)snprintf(out, cap, "%s/%s", e->dir, name) >= cap)
		return arca_err_set(ARCA_EINVAL, "qemu: path too long: %s/%s", e->dir, name);
	return 0;
}

/* Is pid this env's qemu: has it ENV/disk.img open? (A qemu.pid that is
 * a hard link to another program's locked pidfile names that program.)
 * Without a disk.img to tell, a process named qemu-*. */
static int qm_pid_ours(int envfd, pid_t pid)
{
	char path[64], comm[32] = "";
	struct stat disk, st;
	if (fstatat(envfd, "disk.img", &disk, AT_SYMLINK_NOFOLLOW) < 0) {
		snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
		FILE *f = fopen(path, "re");
		if (f) {
			if (!fgets(comm, sizeof comm, f))
				comm[0] = 0;
			fclose(f);
		}
		return strncmp(comm, "qemu", 4) == 0;
	}
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	struct dirent *de;
	int ours = 0;
	if (!d)
		return 0;
	while (!ours && (de = readdir(d)) != NULL)
		ours = de->d_name[0] != '.' && fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
			st.st_dev == disk.st_dev && st.st_ino == disk.st_ino;
	closedir(d);
	return ours;
}

/* qemu's pid, or 0 when it does not run: qemu holds a lock on its
 * pidfile (ENV/qemu.pid) while it runs, whose holder F_GETLK names (a
 * pid in the file may be stale or reused; the lock cannot). */
static pid_t qm_pid(int dirfd)
{
	struct flock fl;
	int fd = openat(dirfd, "qemu.pid", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	int r = fcntl(fd, F_GETLK, &fl);
	close(fd);
	return r == 0 && fl.l_type != F_UNLCK && fl.l_pid > 1 && qm_pid_ours(dirfd, fl.l_pid) ?
		fl.l_pid : 0;
}

/* ENV/disk.img is the env's own regular file: qemu, snapshot and diff
 * open it by name and would follow a symlink put there. */
static int qm_disk_ok(int dirfd, const arca_env_ctx *e)
{
	struct stat st;
	if (fstatat(dirfd, "disk.img", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return arca_err_sys("qemu: %s/disk.img", e->dir);
	if (!S_ISREG(st.st_mode))
		return arca_err_set(ARCA_EUNSAFE, "qemu: %s/disk.img is not a regular file (a "
			"symlink?); not followed", e->dir);
	return 0;
}

/* ENV/resetting exists from the start of a reset until its VM is up on
 * the new disk: a reset whose process died left a disk that is not the
 * record's current artifact (or no whole disk at all), maybe with a VM
 * booting on it. Nothing uses such a VM; the next reset mends it. */
#define QM_RESETTING "resetting"

static int qm_reset_left(int dirfd, const arca_env_ctx *e)
{
	struct stat st;
	if (fstatat(dirfd, QM_RESETTING, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return arca_err_set(ARCA_ERROR, "qemu: env %s: a reset did not finish (its process "
			"died, or it failed); its disk is not its current artifact's: reset it again",
			e->name);
	return 0;
}

/* A nested /dev/kvm may run qemu yet never the guest: under KVM a
 * kernel writes its first console line within a second, so a console
 * still empty after this long means KVM does not run guests here. */
#define QM_KVM_PROBE_MS 8000

typedef struct {
	int dirfd;
	int64_t probe_until_ms;       /* 0: no probe */
	int kvm_stuck;                /* the probe gave up on KVM */
} qm_alive;

static int64_t qm_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int qm_alive_cb(void *p)
{
	qm_alive *al = p;
	struct stat st;
	if (!qm_pid(al->dirfd))
		return 0;
	if (al->probe_until_ms && qm_now_ms() >= al->probe_until_ms) {
		if (fstatat(al->dirfd, "console.log", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_size > 0) {
			al->probe_until_ms = 0; /* the guest runs */
		} else {
			al->kvm_stuck = 1;
			return 0;
		}
	}
	return 1;
}

/* The console's last lines, for a boot that failed: "a | b | c". */
static void qm_console_tail(int dirfd, char *out, size_t cap)
{
	char buf[2048];
	struct stat st;
	out[0] = 0;
	int fd = openat(dirfd, "console.log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	off_t off = st.st_size > (off_t)sizeof buf - 1 ? st.st_size - (off_t)sizeof buf + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof buf - 1, off);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	/* the last 6 lines, printable bytes only */
	int lines = 0;
	char *start = buf + n;
	while (start > buf && lines < 7)
		if (*--start == '\n')
			lines++;
	size_t w = 0;
	for (char *c = start; *c && w + 4 < cap; c++) {
		if (*c == '\n' || *c == '\r') {
			if (w && strncmp(out + (w >= 3 ? w - 3 : 0), " | ", 3) != 0)
				w += (size_t)snprintf(out + w, cap - w, " | ");
		} else if (isprint((unsigned char)*c)) {
			out[w++] = *c;
		}
	}
	while (w >= 3 && strcmp(out + w - 3, " | ") == 0)
		w -= 3;
	out[w] = 0;
}

/* Whether qemu is gone within ms, looking every 20 ms. */
static int qm_gone_within(int dirfd, int ms)
{
	for (int i = 0; i <= ms / 20; i++) {
		if (!qm_pid(dirfd))
			return 1;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Waits for qemu to end (up to ms), then kills it. */
static void qm_wait_gone(int dirfd, int ms)
{
	pid_t pid;
	if (!qm_gone_within(dirfd, ms) && (pid = qm_pid(dirfd)) != 0) {
		kill(pid, SIGKILL);
		(void)qm_gone_within(dirfd, 5000);
	}
}

/* Ends the VM: qemu told to quit (the guest's unwritten cache is lost:
 * callers sync first when they care), killed if it will not. */
static void qm_kill(int dirfd)
{
	if (!qm_pid(dirfd))
		return;
	(void)arca_env__qmp(dirfd, "qmp.sock", "quit", NULL, 0, 3000);
	qm_wait_gone(dirfd, QM_STOP_WAIT_MS);
	(void)unlinkat(dirfd, "qemu.pid", 0);
}

/* ---- booting ---- */

/* The host's TSC rate in kHz ("cpu MHz" of /proc/cpuinfo): a TCG guest
 * that calibrates its TSC itself sometimes hangs doing it. 0: unknown. */
static unsigned long qm_tsc_khz(void)
{
	char line[256];
	unsigned long khz = 0;
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		double mhz;
		if (strncmp(line, "cpu MHz", 7) == 0 && sscanf(strchr(line, ':') ? strchr(line, ':') + 1 :
				"", "%lf", &mhz) == 1 && mhz > 1 && mhz < 100000) {
			khz = (unsigned long)(mhz * 1000.0 + 0.5);
			break;
		}
	}
	fclose(f);
	return khz;
}

/* The newest /boot/vmlinuz-* (version order), and its initrd. */
static int qm_default_kernel(char *kernel, size_t kcap, char *initrd, size_t icap)
{
	DIR *d = opendir("/boot");
	struct dirent *de;
	char best[256] = "";
	if (!d)
		return arca_err_sys("qemu: /boot");
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "vmlinuz-", 8) == 0 && strlen(de->d_name) < sizeof best &&
		    (!best[0] || strverscmp(de->d_name, best) > 0))
			snprintf(best, sizeof best, "%s", de->d_name);
	closedir(d);
	if (!best[0])
		return arca_err_set(ARCA_ENOTFOUND, "qemu: no /boot/vmlinuz-*: install a kernel "
			"(linux-image-amd64) or give --kernel");
	snprintf(kernel, kcap, "/boot/%s", best);
	snprintf(initrd, icap, "/boot/initrd.img-%s", best + 8);
	if (access(initrd, R_OK) != 0)
		initrd[0] = 0;
	return 0;
}

static int qm_kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* Runs qemu, which daemonizes once the VM is set up; its status says
 * whether it could. err gets what it printed. */
static int qm_spawn(const qm_env *s, const arca_env_ctx *e, const char *accel, char *err,
	size_t errcap, int *status)
{
	char *argv[96], mem[32], smp[32], drive[300], vols[QM_MAX_VOLUMES][2][4200];
	size_t n = 0;
	int ep[2], rc = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;

#define A(x) (argv[n++] = (char *)(x))
	A(s->bin);
	A("-M"); A("microvm,isa-serial=on");
	if (!strcmp(accel, "kvm")) {
		A("-accel"); A("kvm"); A("-cpu"); A("host");
	} else {
		A("-accel"); A("tcg"); A("-cpu"); A("max");
	}
	snprintf(mem, sizeof mem, "%sM", s->mem);
	snprintf(smp, sizeof smp, "%s", s->cpus);
	A("-m"); A(mem); A("-smp"); A(smp);
	A("-nodefaults"); A("-no-user-config"); A("-display"); A("none");
	A("-no-reboot");
	A("-serial"); A("file:console.log");
	A("-kernel"); A("vmlinux"); A("-initrd"); A("initrd.img");
	A("-append"); A(s->cmdline);
	snprintf(drive, sizeof drive, "id=disk0,file=disk.img,format=raw,if=none,cache=writeback,"
		"discard=unmap");
	A("-drive"); A(drive); A("-device"); A("virtio-blk-device,drive=disk0");
	A("-device"); A("virtio-serial-device");
	A("-chardev"); A("socket,id=agent,path=agent.sock,server=on,wait=off");
	A("-device"); A("virtserialport,chardev=agent,name=arca.agent");
	A("-qmp"); A("unix:qmp.sock,server=on,wait=off");
	for (size_t i = 0; i < s->nvolumes; i++) {
		const char *v = s->volumes[i], *c = strchr(v, ':');
		int ro = strstr(c + 1, ":ro") != NULL;
		snprintf(vols[i][0], sizeof vols[i][0], "local,id=vol%zu,path=%.*s,security_model=none%s",
			i, (int)(c - v), v, ro ? ",readonly=on" : "");
		snprintf(vols[i][1], sizeof vols[i][1], "virtio-9p-device,fsdev=vol%zu,mount_tag=arca%zu",
			i, i);
		A("-fsdev"); A(vols[i][0]); A("-device"); A(vols[i][1]);
	}
	A("-pidfile"); A("qemu.pid");
	A("-daemonize");
	argv[n] = NULL;
#undef A

	if (pipe2(ep, O_CLOEXEC) < 0)
		return arca_err_sys("qemu: pipe");
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addchdir_np(&fa, e->dir);
	posix_spawn_file_actions_adddup2(&fa, devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 1);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* the daemon outlives this process: none of its fds (the store's
	 * index, a caller's pipes a reader waits on to end) goes with it */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	int se = posix_spawnp(&pid, s->bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(ep[1]);
	if (devnull >= 0)
		close(devnull);
	if (se != 0) {
		close(ep[0]);
		return arca_err_set(se == ENOENT ? ARCA_ENOTFOUND : ARCA_EIO, "qemu: cannot run '%s': %s%s",
			s->bin, strerror(se), se == ENOENT ? " (install qemu-system-x86)" : "");
	}
	/* the daemon keeps the pipe open (qemu closes it once set up, but
	 * read only up to the parent's exit) */
	size_t len = 0;
	for (;;) {
		char buf[512];
		ssize_t k = read(ep[0], buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		size_t c = (size_t)k < errcap - 1 - len ? (size_t)k : errcap - 1 - len;
		memcpy(err + len, buf, c);
		len += c;
	}
	err[len] = 0;
	close(ep[0]);
	int w;
	while (waitpid(pid, &w, 0) < 0)
		if (errno != EINTR)
			return arca_err_sys("qemu: waitpid");
	*status = WIFEXITED(w) ? WEXITSTATUS(w) : 128 + (WIFSIGNALED(w) ? WTERMSIG(w) : 0);
	return rc;
}

/* The first line of what qemu printed, for an error. */
static const char *qm_first_line(char *err)
{
	char *m = strstr(err, "qemu-system-x86_64: ");
	m = m ? m + 20 : err;
	m[strcspn(m, "\n")] = 0;
	return *m ? m : "no message";
}

/* Starts the VM and waits for its agent; volumes are mounted then. On
 * failure nothing runs. `chosen` (may be NULL) gets accel-used. */
static int qm_boot(const qm_env *s, arca_env_ctx *e, int dirfd, char *chosen_accel, size_t cap)
{
	char err[4096], tail[1200];
	int status = 0, rc;
	const char *accel = s->accel_used ? s->accel_used : strcmp(s->accel, "auto") ? s->accel :
		qm_kvm_usable() ? "kvm" : "tcg";

	if ((rc = qm_disk_ok(dirfd, e)) != 0)
		return rc;

	qa_conn *c;
	qm_alive al = { dirfd, 0, 0 };
	struct timespec t0, t1;
	/* /dev/kvm that opens does not always run a guest (a nested
	 * hypervisor): qemu fails setting it up, or starts a guest that never
	 * prints. Under auto, either means TCG, with the whole bound. */
	int may_fall_back = !s->accel_used && !strcmp(s->accel, "auto");
	for (;;) {
		int kvm_auto = may_fall_back && !strcmp(accel, "kvm");
		(void)unlinkat(dirfd, "console.log", 0);
		(void)unlinkat(dirfd, "agent.sock", 0);
		(void)unlinkat(dirfd, "qmp.sock", 0);
		(void)unlinkat(dirfd, "qemu.pid", 0);
		if ((rc = qm_spawn(s, e, accel, err, sizeof err, &status)) != 0)
			return rc;
		if (status != 0 && kvm_auto) {
			accel = "tcg";
			continue;
		}
		if (status != 0)
			return arca_err_set(ARCA_ERROR, "qemu (accel %s) did not start: %s", accel,
				qm_first_line(err));
		al.probe_until_ms = kvm_auto ? qm_now_ms() + QM_KVM_PROBE_MS : 0;
		al.kvm_stuck = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = arca_env__qa_open(&c, dirfd, "agent.sock", (int)s->boot_timeout * 1000,
			qm_alive_cb, &al);
		if (rc && al.kvm_stuck) {
			qm_kill(dirfd);
			accel = "tcg";
			continue;
		}
		break;
	}
	if (chosen_accel)
		snprintf(chosen_accel, cap, "%s", accel);
	if (rc == ARCA_EUNSUPPORTED) {
		qm_kill(dirfd);
		return rc;
	}
	if (rc) {
		/* a guest that powered off may end its qemu a little after its
		 * socket: an answer missed before the bound is one it stopped */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		int gone = !qm_pid(dirfd) || t1.tv_sec - t0.tv_sec < (time_t)s->boot_timeout;
		qm_kill(dirfd);
		qm_console_tail(dirfd, tail, sizeof tail);
		return arca_err_set(ARCA_ERROR, "qemu: the guest %s within %u s (accel %s); console: %s",
			gone ? "stopped before its agent answered" : "did not come up", s->boot_timeout,
			accel, tail[0] ? tail : "(empty)");
	}
	for (size_t i = 0; rc == 0 && i < s->nvolumes; i++) {
		const char *v = s->volumes[i], *g = strchr(v, ':') + 1;
		const char *ro = strchr(g, ':');
		unsigned char req[4200];
		int k = snprintf((char *)req + 1, sizeof req - 1, "arca%zu", i);
		req[0] = ro != NULL;
		size_t glen = ro ? (size_t)(ro - g) : strlen(g);
		size_t off = 1 + (size_t)k + 1;
		if (off + glen + 1 > sizeof req) {
			rc = arca_err_set(ARCA_EINVAL, "qemu: volume path too long");
			break;
		}
		memcpy(req + off, g, glen);
		req[off + glen] = 0;
		if ((rc = arca_env__qa_call(c, AG_MOUNT, req, off + glen + 1, QM_AGENT_WAIT_MS)) != 0)
			rc = arca_err_wrap(rc, "qemu: volume %s", v);
	}
	arca_env__qa_close(c);
	if (rc)
		qm_kill(dirfd);
	/* the boot is in console.log; what the guest writes there after it
	 * goes to a ring in qemu (QMP ringbuf-read serial0), or the guest could
	 * fill the host's disk. A qemu that cannot change it keeps the file. */
	if (rc == 0)
		(void)arca_env__qmp_args(dirfd, "qmp.sock", "chardev-change", "{\"id\":\"serial0\","
			"\"backend\":{\"type\":\"ringbuf\",\"data\":{\"size\":65536}}}", NULL, 0, 3000);
	return rc;
}

/* The agent, for one request or command at a time: an exclusive flock
 * of ENV/agent.lock (held until qa_done). */
typedef struct {
	int lock;
	qa_conn *c;
} qm_agent;

static int qm_not_running(const arca_env_ctx *e)
{
	return arca_err_set(ARCA_ERROR, "qemu: env %s: its VM is not running (it powered off or "
		"was killed; reset boots it again)", e->name);
}

static int qm_agent_open(qm_agent *a, int dirfd, const arca_env_ctx *e)
{
	qm_alive al = { dirfd, 0, 0 };
	char st[256];
	a->c = NULL;
	a->lock = -1;
	int rc = qm_reset_left(dirfd, e);
	if (rc)
		return rc;
	if (!qm_pid(dirfd))
		return qm_not_running(e);
	/* the env layer asks only an active env: a VM stopped is one a
	 * snapshot left so when its process died */
	if (arca_env__qmp(dirfd, "qmp.sock", "query-status", st, sizeof st, 3000) == 0 &&
	    strstr(st, "\"status\": \"paused\""))
		(void)arca_env__qmp(dirfd, "qmp.sock", "cont", NULL, 0, 3000);
	a->lock = openat(dirfd, "agent.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (a->lock < 0)
		return arca_err_sys("qemu: agent.lock");
	while (flock(a->lock, LOCK_EX) < 0)
		if (errno != EINTR) {
			rc = arca_err_sys("qemu: lock agent.lock");
			close(a->lock);
			return rc;
		}
	rc = arca_env__qa_open(&a->c, dirfd, "agent.sock", QM_AGENT_WAIT_MS, qm_alive_cb, &al);
	if (rc && rc != ARCA_EUNSUPPORTED && !qm_pid(dirfd))
		rc = qm_not_running(e); /* it ended while asked */
	if (rc) {
		close(a->lock);
		a->lock = -1;
	}
	return rc;
}

static void qm_agent_done(qm_agent *a)
{
	arca_env__qa_close(a->c);
	if (a->lock >= 0)
		close(a->lock);
}

static int qm_agent_call(int dirfd, const arca_env_ctx *e, char type, int wait_ms)
{
	qm_agent a;
	int rc = qm_agent_open(&a, dirfd, e);
	if (rc == 0) {
		rc = arca_env__qa_call(a.c, type, NULL, 0, wait_ms);
		qm_agent_done(&a);
	}
	return rc;
}

/* ---- operations ---- */

static unsigned qm_capabilities(arca_env_backend *b, const arca_env_ctx *e)
{
	(void)b;
	(void)e;
	return ARCA_ENV_CAP_SNAPSHOT | ARCA_ENV_CAP_ROLLBACK | ARCA_ENV_CAP_PAUSE | ARCA_ENV_CAP_STREAM;
}

/* The settings into s, checked: check and create both come here. */
static int qm_check_env(qm_env *s, const arca_env_ctx *e)
{
	int rc = qm_parse(s, e);
	if (rc == 0 && e->kind != ARCA_KIND_IMAGE)
		rc = arca_err_set(ARCA_EINVAL, "qemu: boots an image artifact (a disk holding a root "
			"filesystem), not a tree");
	if (rc == 0 && !s->agent)
		rc = arca_err_set(ARCA_EINVAL, "qemu: no guest agent (setting agent=PATH)");
	for (size_t i = 0; rc == 0 && i < s->nvolumes; i++) {
		char host[4096];
		struct stat st;
		const char *v = s->volumes[i];
		snprintf(host, sizeof host, "%.*s", (int)(strchr(v, ':') - v), v);
		if (stat(host, &st) < 0 || !S_ISDIR(st.st_mode))
			rc = arca_err_set(ARCA_EINVAL, "qemu: volume %s: %s is not a directory", v, host);
	}
	return rc;
}

static int qm_check(arca_env_backend *b, const arca_env_ctx *e)
{
	qm_env s;
	(void)b;
	return qm_check_env(&s, e);
}

static int qm_create_env(qm_env *s, arca_env_ctx *e, int dirfd)
{
	char kernel[4096], initrd[4096], release[128], moddir[300], path[4200], vm[4200], ird[4200];
	char cmdline[512], accel[8] = "", ref[ARCA_ID_STRLEN];
	/* the last two only for volumes */
	static const char *const all_mods[] = { "virtio_mmio", "virtio_blk", "virtio_console",
		"crc32c_generic", "crc32c_intel", "ext4", "9pnet_virtio", "9p" };
	const char *mods[9];
	size_t nmods = s->nvolumes ? 8 : 6;
	int rc;

	memcpy(mods, all_mods, nmods * sizeof *mods);
	mods[nmods] = NULL;

	if (s->kernel) {
		snprintf(kernel, sizeof kernel, "%s", s->kernel);
		initrd[0] = 0;
	} else if ((rc = qm_default_kernel(kernel, sizeof kernel, initrd, sizeof initrd)) != 0) {
		return rc;
	}
	if (s->initrd)
		snprintf(initrd, sizeof initrd, "%s", strcmp(s->initrd, "none") ? s->initrd : "");
	if ((rc = arca_env__qemu_kernel_release(kernel, release, sizeof release)) != 0)
		return rc;
	snprintf(moddir, sizeof moddir, "/lib/modules/%s", release);
	if ((rc = qm_path(vm, sizeof vm, e, "vmlinux")) || (rc = qm_path(ird, sizeof ird, e, "initrd.img")) ||
	    (rc = qm_path(path, sizeof path, e, "disk.img")))
		return rc;
	/* the disk first: the slow part, and the one that can fail on data */
	arca_restore_options ro = ARCA_RESTORE_OPTIONS_INIT;
	arca_env__restore_progress(e, &ro);
	arca_id_format(ref, e->artifact);
	if ((rc = arca_restore(e->store, ref, path, &ro, NULL)) != 0)
		return arca_err_wrap(rc, "qemu: restoring the disk");
	if ((rc = arca_env__qemu_vmlinux(kernel, vm)) != 0 ||
	    (rc = arca_env__qemu_initrd(initrd[0] ? initrd : NULL, s->agent, moddir,
			mods, ird)) != 0)
		return rc;
	unsigned long khz = qm_tsc_khz();
	int n = snprintf(cmdline, sizeof cmdline, "console=ttyS0 rdinit=/arca/agent panic=-1 quiet "
		"arca_root=%s arca_fstype=%s", s->root, s->fstype);
	if (khz)
		snprintf(cmdline + n, sizeof cmdline - (size_t)n, " tsc_early_khz=%lu tsc=reliable", khz);
	s->cmdline = cmdline;
	if ((rc = qm_boot(s, e, dirfd, accel, sizeof accel)) != 0)
		return rc;
	if (e->version >= 2 && e->chosen && e->chosen_cap)
		snprintf(e->chosen, e->chosen_cap, "machine=microvm\naccel-used=%s\nkernel-used=%s\n"
			"initrd-used=%s\ncmdline=%s\n", accel, kernel, initrd[0] ? initrd : "none", cmdline);
	return 0;
}

static int qm_create(arca_env_backend *b, arca_env_ctx *e)
{
	qm_env s;
	int rc = qm_check_env(&s, e), dirfd;
	(void)b;
	if (rc)
		return rc;
	if ((dirfd = qm_dirfd(e)) < 0)
		return dirfd;
	if ((rc = qm_create_env(&s, e, dirfd)) != 0) {
		char why[1024];
		snprintf(why, sizeof why, "%s", arca_error_last());
		qm_kill(dirfd);
		arca_err_set(rc, "%s", why);
	}
	close(dirfd);
	return rc;
}

static int qm_destroy(arca_env_backend *b, arca_env_ctx *e)
{
	(void)b;
	struct stat st;
	if (lstat(e->dir, &st) < 0 && errno == ENOENT)
		return 0; /* nothing was made */
	int dirfd = qm_dirfd(e);
	if (dirfd < 0)
		return dirfd;
	qm_kill(dirfd);
	close(dirfd);
	return 0;
}

static int qm_exec(arca_env_backend *b, arca_env_ctx *e, const arca_env_exec_options *o, int *status)
{
	qm_agent a;
	(void)b;
	if (!o || !o->argv || !o->argv[0])
		return arca_err_set(ARCA_EINVAL, "qemu exec: no command");
	int dirfd = qm_dirfd(e), rc;
	if (dirfd < 0)
		return dirfd;
	if ((rc = qm_agent_open(&a, dirfd, e)) == 0) {
		rc = arca_env__qa_exec(a.c, o, status);
		qm_agent_done(&a);
	}
	close(dirfd);
	return rc;
}

static int qm_state(arca_env_backend *b, arca_env_ctx *e, arca_env_state_t *out)
{
	char reply[512];
	(void)b;
	int dirfd = qm_dirfd(e);
	if (dirfd < 0)
		return dirfd;
	/* a reset left unfinished: its VM is none to use */
	int rc = qm_reset_left(dirfd, e) == 0 && qm_pid(dirfd) ? arca_env__qmp(dirfd, "qmp.sock",
		"query-status", reply, sizeof reply, 3000) : ARCA_ENOTFOUND;
	close(dirfd);
	if (rc) {
		*out = ARCA_ENV_FAILED;  /* no qemu: nothing runs the env */
		return 0;
	}
	/* {"status": "running"|"paused"|"internal-error"|..., "running": B} */
	*out = strstr(reply, "\"status\": \"running\"") ? ARCA_ENV_ACTIVE :
		strstr(reply, "\"status\": \"paused\"") ? ARCA_ENV_PAUSED : ARCA_ENV_FAILED;
	return 0;
}

static int qm_pause(arca_env_backend *b, arca_env_ctx *e)
{
	(void)b;
	int dirfd = qm_dirfd(e);
	if (dirfd < 0)
		return dirfd;
	/* what the guest wrote reaches the disk, for a snapshot or diff while paused */
	int rc = qm_agent_call(dirfd, e, AG_SYNC, 60000);
	if (rc == 0)
		rc = arca_env__qmp(dirfd, "qmp.sock", "stop", NULL, 0, 10000);
	close(dirfd);
	return rc;
}

static int qm_resume(arca_env_backend *b, arca_env_ctx *e)
{
	(void)b;
	int dirfd = qm_dirfd(e);
	if (dirfd < 0)
		return dirfd;
	int rc = arca_env__qmp(dirfd, "qmp.sock", "cont", NULL, 0, 10000);
	close(dirfd);
	return rc;
}

static int qm_snapshot(arca_env_backend *b, arca_env_ctx *e, const arca_snapshot_options *o,
	arca_id *out)
{
	char parent[ARCA_ID_STRLEN], disk[4200];
	arca_snapshot_options so = ARCA_SNAPSHOT_OPTIONS_INIT;
	(void)b;
	int dirfd = qm_dirfd(e), rc, rc2;
	if (dirfd < 0)
		return dirfd;
	if (o)
		so = *o;
	if (!so.parent && e->artifact) {
		arca_id_format(parent, e->artifact);
		so.parent = parent;
	}
	so.kind = ARCA_KIND_IMAGE;
	if ((rc = qm_path(disk, sizeof disk, e, "disk.img")) != 0 || (rc = qm_disk_ok(dirfd, e)) != 0)
		goto done;
	/* quiesced: the guest's filesystem frozen (its cache written, its
	 * writes held), the VM stopped while the disk is read */
	if ((rc = qm_agent_call(dirfd, e, AG_FREEZE, 120000)) != 0)
		goto done;
	if ((rc = arca_env__qmp(dirfd, "qmp.sock", "stop", NULL, 0, 10000)) == 0) {
		rc = arca_snapshot(out, e->store, disk, &so, NULL);
		rc2 = arca_env__qmp(dirfd, "qmp.sock", "cont", NULL, 0, 10000);
		rc = rc ? rc : rc2;
	}
	rc2 = qm_agent_call(dirfd, e, AG_THAW, 60000);
	rc = rc ? rc : rc2;
done:
	close(dirfd);
	return rc;
}

static int qm_rollback(arca_env_backend *b, arca_env_ctx *e, const arca_id *to)
{
	qm_env s;
	char disk[4200], id[ARCA_ID_STRLEN], cur[ARCA_ID_STRLEN];
	arca_rollback_options ro = ARCA_ROLLBACK_OPTIONS_INIT;
	(void)b;
	int rc = qm_parse(&s, e), dirfd;
	if (rc)
		return rc;
	if (!s.cmdline)
		return arca_err_set(ARCA_ECORRUPT, "qemu: env %s has no kernel command line in its "
			"record", e->name);
	if ((dirfd = qm_dirfd(e)) < 0)
		return dirfd;
	if ((rc = qm_path(disk, sizeof disk, e, "disk.img")) != 0)
		goto done;
	int mk = openat(dirfd, QM_RESETTING, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (mk < 0 || fsync(mk) < 0 || fsync(dirfd) < 0) {
		rc = arca_err_sys("qemu: %s/%s", e->dir, QM_RESETTING);
		if (mk >= 0)
			close(mk);
		goto done;
	}
	close(mk);
	/* the guest's filesystem goes with the disk it had: no sync, qemu ends */
	qm_kill(dirfd);
	ro.keep_allocation = 1;
	arca_env__rollback_progress(e, &ro);
	if (e->artifact) {
		arca_id_format(cur, e->artifact);
		ro.baseline = cur;
	}
	arca_id_format(id, to);
	if ((rc = arca_rollback(e->store, id, disk, &ro, NULL)) != 0)
		goto done;
	if ((rc = qm_boot(&s, e, dirfd, NULL, 0)) == 0 && unlinkat(dirfd, QM_RESETTING, 0) < 0)
		rc = arca_err_sys("qemu: %s/%s", e->dir, QM_RESETTING);
done:
	close(dirfd);
	return rc;
}

static int qm_diff(arca_env_backend *b, arca_env_ctx *e, arca_diff_entry_cb on_entry,
	arca_diff_range_cb on_range, void *payload, arca_diff_stats *stats)
{
	char disk[4200], id[ARCA_ID_STRLEN], reply[256];
	(void)b;
	int dirfd = qm_dirfd(e), rc;
	if (dirfd < 0)
		return dirfd;
	if ((rc = qm_reset_left(dirfd, e)) != 0 || (rc = qm_disk_ok(dirfd, e)) != 0)
		goto done;
	/* a running guest first writes back what it holds (a paused one did
	 * when it was paused) */
	if (arca_env__qmp(dirfd, "qmp.sock", "query-status", reply, sizeof reply, 3000) == 0 &&
	    !strstr(reply, "\"status\": \"paused\"") &&
	    (rc = qm_agent_call(dirfd, e, AG_SYNC, 60000)) != 0)
		goto done;
	arca_id_format(id, e->artifact);
	if ((rc = qm_path(disk, sizeof disk, e, "disk.img")) == 0)
		rc = arca_diff(e->store, id, NULL, disk, on_entry, on_range, payload, stats);
done:
	close(dirfd);
	return rc;
}

static void qm_free(arca_env_backend *b)
{
	free(b);
}

int arca_env__qemu_new(arca_env_backend **out)
{
	arca_env_backend *b = calloc(1, sizeof *b);
	if (!b)
		return arca_err_set(ARCA_ENOMEM, "qemu: out of memory");
	b->version = ARCA_ENV_BACKEND_VERSION;
	b->name = "qemu";
	b->capabilities = qm_capabilities;
	b->check = qm_check;
	b->create = qm_create;
	b->destroy = qm_destroy;
	b->pause = qm_pause;
	b->resume = qm_resume;
	b->exec = qm_exec;
	b->state = qm_state;
	b->snapshot = qm_snapshot;
	b->rollback = qm_rollback;
	b->diff = qm_diff;
	b->free = qm_free;
	*out = b;
	return 0;
}
