/*
 * arca-agent: PID 1 of a qemu env's guest (rdinit=/arca/agent), from an
 * initramfs the backend appends; nothing of it is ever on the guest's
 * disk, so snapshots and diffs hold only what the guest changed.
 *
 * It loads the kernel modules listed in /arca/modules.order, mounts the
 * disk (/dev/vda, ext4 unless arca_fstype= says) at /newroot with /proc,
 * /sys and /dev on the disk's own mount points when it has them (never
 * making one), and then serves the protocol of guest/agent_proto.h on
 * the "arca.agent" virtio port: commands run chrooted in the disk, one
 * at a time, their output streamed back.
 *
 * Static, libc only: it runs before anything of the guest exists.
 */
#include "agent_proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROOT "/newroot"

static int port = -1;

static void say(const char *fmt, const char *a)
{
	/* the console (ttyS0): what the host shows when a boot fails */
	char line[512];
	int n = snprintf(line, sizeof line, "arca-agent: ");
	n += snprintf(line + n, sizeof line - (size_t)n, fmt, a ? a : "");
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	(void)!write(2, line, (size_t)n);
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- frames ---- */

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static void send_frame(char type, const void *p, size_t n)
{
	unsigned char h[AG_HDR];
	ag_header(h, type, (uint32_t)n);
	/* a host that is gone loses the frame; the next one pings first */
	if (write_all(port, h, sizeof h) == 0 && n)
		(void)write_all(port, p, n);
}

static void send_u32(char type, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
		(unsigned char)(v >> 8), (unsigned char)v };
	send_frame(type, b, 4);
}

static void send_fail(int err, const char *what)
{
	char b[600];
	uint32_t e = (uint32_t)err;
	b[0] = (char)(e >> 24);
	b[1] = (char)(e >> 16);
	b[2] = (char)(e >> 8);
	b[3] = (char)e;
	int n = snprintf(b + 4, sizeof b - 4, "%s: %s", what, strerror(err));
	if (n > (int)sizeof b - 5)
		n = (int)sizeof b - 5;
	send_frame(AG_FAIL, b, 4 + (size_t)n + 1);
}

/* The reader: bytes from the port, frames out of them. */
static unsigned char rbuf[AG_HDR + AG_PAYLOAD_MAX];
static size_t rlen;

static int take_frame(char *type, unsigned char **payload, uint32_t *len)
{
	if (!ag_take(rbuf, &rlen, type, len))
		return 0;
	*payload = rbuf + AG_HDR;
	return 1;
}

/* ---- the command ---- */

static pid_t child = -1;
static int cin = -1, cout = -1, cerr = -1;
static int child_status = -1;  /* set once reaped */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void reap(void)
{
	int w;
	pid_t p;
	/* PID 1: every orphan of the guest ends up here */
	while ((p = waitpid(-1, &w, WNOHANG)) > 0)
		if (p == child)
			child_status = WIFEXITED(w) ? WEXITSTATUS(w) :
				WIFSIGNALED(w) ? 128 + WTERMSIG(w) : 1;
}

static void kill_child(void)
{
	if (child > 0 && child_status < 0)
		kill(-child, SIGKILL);
}

/* The command's stdin as it comes, written as its pipe takes it: the
 * port is read on meanwhile (a kill, a ping) while at most INQ_CAP bytes
 * wait; past that, not until the command reads or ends (a command that
 * never reads nor ends holds a kill sent behind its stdin). */
#define INQ_CAP (1u << 20)
static unsigned char *inq;
static size_t inq_len, inq_cap;
static int in_eof;
static uint32_t in_taken; /* not yet credited to the host */

/* The host sends at most AG_STDIN_WINDOW bytes not credited back. */
static void credit_stdin(int now)
{
	if (in_taken && (now || in_taken >= 65536 || inq_len == 0)) {
		send_u32(AG_CREDIT, in_taken);
		in_taken = 0;
	}
}

static void drop_stdin(void)
{
	close_fd(&cin);
	in_taken += (uint32_t)inq_len;
	inq_len = 0;
	in_eof = 0;
	credit_stdin(1);
}

static void flush_stdin(void)
{
	while (cin >= 0 && inq_len) {
		ssize_t k = write(cin, inq, inq_len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN)
			return;
		if (k <= 0) {
			drop_stdin(); /* it closed its stdin */
			return;
		}
		memmove(inq, inq + k, inq_len - (size_t)k);
		inq_len -= (size_t)k;
		in_taken += (uint32_t)k;
	}
	if (cin >= 0 && in_eof)
		drop_stdin();
	credit_stdin(0);
}

static void queue_stdin(const unsigned char *p, uint32_t n)
{
	if (cin < 0) {
		in_taken += n; /* for a command that closed its stdin: dropped */
		credit_stdin(0);
		return;
	}
	if (n == 0) {
		in_eof = 1;
	} else {
		if (inq_len + n > inq_cap) {
			size_t cap = inq_cap ? inq_cap : 65536;
			while (cap < inq_len + n)
				cap *= 2;
			unsigned char *q = realloc(inq, cap);
			if (!q) {
				say("out of memory for stdin%s", "");
				kill_child();
				drop_stdin();
				return;
			}
			inq = q;
			inq_cap = cap;
		}
		memcpy(inq + inq_len, p, n);
		inq_len += n;
	}
	flush_stdin();
}

/* "u32 argc, u32 envc, cwd\0, argv..., env..." into pointers into p. */
static int parse_exec(unsigned char *p, uint32_t n, char **argv, size_t cap_argv, char **envp,
	size_t cap_env, char **cwd)
{
	if (n < 8 || p[n - 1] != 0)
		return -1;
	uint32_t argc = ag_u32(p), envc = ag_u32(p + 4);
	if (argc == 0 || argc >= cap_argv || envc >= cap_env)
		return -1;
	char *s = (char *)p + 8, *end = (char *)p + n;
	*cwd = s;
	s += strlen(s) + 1;
	for (uint32_t i = 0; i < argc + envc; i++) {
		if (s >= end)
			return -1;
		if (i < argc)
			argv[i] = s;
		else
			envp[i - argc] = s;
		s += strlen(s) + 1;
	}
	argv[argc] = NULL;
	envp[envc] = NULL;
	return s == end ? 0 : -1;
}

static void start(unsigned char *p, uint32_t n)
{
	static char *argv[AG_ARGV_MAX + 1], *envp[AG_ENV_MAX + 1];
	char *cwd;
	int in[2], out[2], err[2], ep[2];

	if (child > 0) {
		send_fail(EBUSY, "exec");
		return;
	}
	if (parse_exec(p, n, argv, AG_ARGV_MAX + 1, envp, AG_ENV_MAX + 1, &cwd) != 0) {
		send_fail(EINVAL, "exec: bad request");
		return;
	}
	int *fds[] = { in, out, err, ep };
	in[0] = in[1] = out[0] = out[1] = err[0] = err[1] = ep[0] = ep[1] = -1;
	int piped = pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
		pipe2(err, O_CLOEXEC) == 0 && pipe2(ep, O_CLOEXEC) == 0;
	pid_t pid = piped ? fork() : -1;
	if (pid < 0) {
		/* a guest out of processes or fds (a fork bomb) must not
		 * leak the agent's */
		int e = errno;
		for (size_t i = 0; i < 4; i++) {
			close_fd(&fds[i][0]);
			close_fd(&fds[i][1]);
		}
		send_fail(e, piped ? "exec: fork" : "exec: pipe");
		return;
	}
	if (pid == 0) {
		int e = 0;
		const char *what = "chroot";
		setsid();
		signal(SIGPIPE, SIG_DFL);
		if (chroot(ROOT) < 0 || (what = "chdir", chdir(*cwd ? cwd : "/") < 0))
			e = errno;
		if (!e) {
			dup2(in[0], 0);
			dup2(out[1], 1);
			dup2(err[1], 2);
			/* a clean environment, the request's entries over
			 * the defaults; PATH is searched as the command sees it */
			clearenv();
			setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
			setenv("HOME", "/root", 1);
			setenv("TERM", "dumb", 1);
			for (size_t i = 0; envp[i]; i++)
				putenv(envp[i]);
			execvp(argv[0], argv);
			e = errno;
			what = "exec";
		}
		(void)!write(ep[1], &e, sizeof e);
		(void)!write(ep[1], what, strlen(what));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	close(ep[1]);
	int e = 0;
	char what[32] = "";
	ssize_t k = read(ep[0], &e, sizeof e);
	if (k == (ssize_t)sizeof e) {
		ssize_t w = read(ep[0], what, sizeof what - 1);
		what[w > 0 ? w : 0] = 0;
	}
	close(ep[0]);
	if (k == (ssize_t)sizeof e) {
		char m[300];
		snprintf(m, sizeof m, "%s %s", what, argv[0]);
		close(in[1]);
		close(out[0]);
		close(err[0]);
		waitpid(pid, NULL, 0);
		send_fail(e, m);
		return;
	}
	child = pid;
	child_status = -1;
	cin = in[1];
	inq_len = 0;
	in_eof = 0;
	fcntl(cin, F_SETFL, O_NONBLOCK);
	cout = out[0];
	cerr = err[0];
	fcntl(cout, F_SETFL, O_NONBLOCK);
	fcntl(cerr, F_SETFL, O_NONBLOCK);
}

/* Output as it comes; the exit once the command is reaped and its
 * pipes are empty (a daemon it left may hold them open: not waited for). */
static void pump(int fd_is_out)
{
	static char buf[16384];
	int *fd = fd_is_out ? &cout : &cerr;
	for (;;) {
		ssize_t k = read(*fd, buf, sizeof buf);
		if (k > 0) {
			send_frame(fd_is_out ? AG_OUT : AG_ERR, buf, (size_t)k);
			continue;
		}
		if (k == 0 || (errno != EINTR && errno != EAGAIN))
			close_fd(fd);
		if (k < 0 && errno == EINTR)
			continue;
		return;
	}
}

static void finish_if_done(void)
{
	if (child <= 0 || child_status < 0)
		return;
	if (cout >= 0)
		pump(1);
	if (cerr >= 0)
		pump(0);
	drop_stdin();
	close_fd(&cout);
	close_fd(&cerr);
	send_u32(AG_EXIT, (uint32_t)child_status);
	child = -1;
}

/* ---- requests ---- */

static int root_fd(void)
{
	return open(ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Frozen by a snapshot: a new host thaws it (one that died mid-snapshot
 * must not leave the guest's writes held for ever; the snapshot itself
 * thaws on a connection of its own, after its read). */
static int frozen;

static void fs_ioctl(unsigned long req, const char *what)
{
	int fd = root_fd();
	if (req == FIFREEZE)
		sync();
	if (fd < 0 || ioctl(fd, req, 0) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		/* thawing what is not frozen is no failure */
		if (req == FITHAW && e == EINVAL) {
			frozen = 0;
			send_frame(AG_DONE, NULL, 0);
			return;
		}
		send_fail(e, what);
		return;
	}
	close(fd);
	frozen = req == FIFREEZE;
	send_frame(AG_DONE, NULL, 0);
}

static void thaw_quietly(void)
{
	int fd = root_fd();
	if (fd >= 0) {
		(void)ioctl(fd, FITHAW, 0);
		close(fd);
	}
	frozen = 0;
}

static void mount_volume(unsigned char *p, uint32_t n)
{
	if (n < 3 || p[n - 1] != 0 || memchr(p + 1, 0, n - 1) == (void *)(p + n - 1)) {
		send_fail(EINVAL, "mount: bad request");
		return;
	}
	const char *tag = (const char *)p + 1;
	const char *dir = tag + strlen(tag) + 1;
	if (dir[0] != '/' || strlen(dir) >= 4096) {
		send_fail(EINVAL, "mount: bad guest path");
		return;
	}
	/* resolved as the guest sees it, chrooted: a symlink or ".." on the
	 * disk cannot put it in the initramfs, out of the guest's sight */
	pid_t pid = fork();
	if (pid < 0) {
		send_fail(errno, "mount: fork");
		return;
	}
	if (pid == 0) {
		struct stat st;
		if (chroot(ROOT) < 0 || chdir("/") < 0)
			_exit(errno & 0xff);
		/* the mount point must be the disk's own: making one would change it */
		if (lstat(dir, &st) < 0)
			_exit(errno & 0xff);
		if (!S_ISDIR(st.st_mode))
			_exit(ENOTDIR);
		if (mount(tag, dir, "9p", p[0] ? MS_RDONLY : 0,
				"trans=virtio,version=9p2000.L,msize=262144,cache=none") < 0)
			_exit(errno & 0xff);
		_exit(0);
	}
	int w = 0;
	while (waitpid(pid, &w, 0) < 0 && errno == EINTR)
		;
	int e = WIFEXITED(w) ? WEXITSTATUS(w) : EIO;
	if (e) {
		send_fail(e, dir);
		return;
	}
	send_frame(AG_DONE, NULL, 0);
}

static void unmount_all(void)
{
	static const char *const sub[] = { "/dev", "/proc", "/sys" };
	char path[64];
	/* 9p volumes and anything the guest mounted: from /proc/mounts,
	 * deepest (last) first */
	for (int pass = 0; pass < 8; pass++) {
		FILE *f = fopen("/proc/mounts", "re");
		char line[4400], last[4200] = "";
		if (!f)
			break;
		while (fgets(line, sizeof line, f)) {
			char dev[256], mnt[4200];
			if (sscanf(line, "%255s %4199s", dev, mnt) == 2 &&
			    strncmp(mnt, ROOT "/", sizeof ROOT) == 0)
				snprintf(last, sizeof last, "%s", mnt);
		}
		fclose(f);
		if (!last[0] || umount2(last, MNT_DETACH) < 0)
			break;
	}
	for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
		snprintf(path, sizeof path, "%s%s", ROOT, sub[i]);
		(void)umount2(path, MNT_DETACH);
	}
	sync();
	(void)umount2(ROOT, 0);
}

static void handle(char type, unsigned char *p, uint32_t n)
{
	switch (type) {
	case AG_PING:
		if (frozen)
			thaw_quietly();
		kill_child(); /* its host is gone */
		if (child > 0) {
			/* wait for it: its exit is not for this host */
			while (child_status < 0) {
				nap_ms(5);
				reap();
			}
			drop_stdin();
			close_fd(&cout);
			close_fd(&cerr);
			child = -1;
		}
		if (n == 8) {
			unsigned char pong[12];
			memcpy(pong, p, 8);
			pong[8] = pong[9] = pong[10] = 0;
			pong[11] = AG_VERSION;
			send_frame(AG_PONG, pong, sizeof pong);
		} else {
			send_fail(EINVAL, "ping");
		}
		break;
	case AG_EXEC:
		start(p, n);
		break;
	case AG_STDIN:
		queue_stdin(p, n);
		break;
	case AG_KILL:
		kill_child();
		break;
	case AG_SYNC:
		sync();
		send_frame(AG_DONE, NULL, 0);
		break;
	case AG_FREEZE:
		fs_ioctl(FIFREEZE, "freeze");
		break;
	case AG_THAW:
		fs_ioctl(FITHAW, "thaw");
		break;
	case AG_MOUNT:
		mount_volume(p, n);
		break;
	case AG_HALT:
		kill_child();
		unmount_all();
		send_frame(AG_DONE, NULL, 0);
		nap_ms(50);
		reboot(RB_POWER_OFF);
		break;
	default:
		send_fail(EINVAL, "unknown request");
	}
}

/* ---- boot ---- */

static void load_modules(void)
{
	FILE *f = fopen("/arca/modules.order", "re");
	char line[512];
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		int fd = open(line, O_RDONLY | O_CLOEXEC);
		/* 4: MODULE_INIT_COMPRESSED_FILE, for a kernel whose modules are */
		int flags = strstr(line, ".ko.") ? 4 : 0;
		if (fd < 0 || (syscall(SYS_finit_module, fd, "", flags) < 0 && errno != EEXIST))
			say("cannot load %s", line);
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
}

/* "arca_KEY=VALUE" from the kernel command line. */
static int cmdline_arg(const char *key, char *out, size_t cap)
{
	char buf[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	size_t kl = strlen(key);
	for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
		if (strncmp(t, key, kl) == 0 && t[kl] == '=') {
			snprintf(out, cap, "%s", t + kl + 1);
			return 1;
		}
	return 0;
}

static int wait_path(const char *p, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (access(p, F_OK) == 0)
			return 0;
		nap_ms(10);
	}
	return -1;
}

/* /dev/vportNpM whose name is arca.agent */
static int find_port(char *out, size_t cap)
{
	for (int i = 0; i < 500; i++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *de;
		while (d && (de = readdir(d)) != NULL) {
			char p[300], name[64] = "";
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof p, "/sys/class/virtio-ports/%s/name", de->d_name);
			int fd = open(p, O_RDONLY | O_CLOEXEC);
			ssize_t k = fd < 0 ? -1 : read(fd, name, sizeof name - 1);
			if (fd >= 0)
				close(fd);
			if (k > 0) {
				name[k] = 0;
				name[strcspn(name, "\n")] = 0;
			}
			if (strcmp(name, "arca.agent") == 0) {
				snprintf(out, cap, "/dev/%s", de->d_name);
				closedir(d);
				return wait_path(out, 2000);
			}
		}
		if (d)
			closedir(d);
		nap_ms(10);
	}
	return -1;
}

static void halt_now(const char *why, const char *a)
{
	say(why, a);
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

int main(void)
{
	char dev[256] = "/dev/vda", fstype[32] = "ext4", portpath[300];
	static const char *const sub[][2] = { { "/proc", "proc" }, { "/sys", "sysfs" },
		{ "/dev", "devtmpfs" } };

	(void)mkdir("/dev", 0755);
	(void)mkdir("/proc", 0555);
	(void)mkdir("/sys", 0555);
	(void)mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	(void)mount("proc", "/proc", "proc", 0, NULL);
	(void)mount("sysfs", "/sys", "sysfs", 0, NULL);
	/* fds 0-2 on the console, so that no pipe ever lands there */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/console", O_RDWR) != fd)
			(void)open("/dev/null", O_RDWR);
	signal(SIGPIPE, SIG_IGN);
	load_modules();
	cmdline_arg("arca_root", dev, sizeof dev);
	cmdline_arg("arca_fstype", fstype, sizeof fstype);
	if (wait_path(dev, 10000) < 0)
		halt_now("no disk %s", dev);
	(void)mkdir(ROOT, 0755);
	if (mount(dev, ROOT, fstype, MS_NOATIME, NULL) < 0)
		halt_now("cannot mount the disk: %s", strerror(errno));
	for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
		char p[64];
		struct stat st;
		snprintf(p, sizeof p, "%s%s", ROOT, sub[i][0]);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			(void)mount(sub[i][1], p, sub[i][1], 0, NULL);
	}
	if (find_port(portpath, sizeof portpath) < 0 ||
	    (port = open(portpath, O_RDWR | O_CLOEXEC)) < 0)
		halt_now("no agent port%s", "");
	say("ready on %s", portpath);
	for (;;) {
		reap();
		finish_if_done();
		struct pollfd p[4] = { { port, inq_len > INQ_CAP ? 0 : POLLIN, 0 }, { cout, POLLIN, 0 },
			{ cerr, POLLIN, 0 }, { inq_len ? cin : -1, POLLOUT, 0 } };
		int r = poll(p, 4, 100);
		if (r < 0 && errno != EINTR)
			nap_ms(10);
		if (r <= 0)
			continue;
		if (p[1].revents)
			pump(1);
		if (p[2].revents)
			pump(0);
		if (p[3].revents)
			flush_stdin();
		if (p[0].revents & POLLIN) {
			ssize_t k = read(port, rbuf + rlen, sizeof rbuf - rlen);
			if (k > 0)
				rlen += (size_t)k;
			else if (k == 0)
				nap_ms(20); /* no host connected */
			char t = 0;
			unsigned char *pl;
			uint32_t n = 0;
			while (take_frame(&t, &pl, &n)) {
				handle(t, pl, n);
				ag_drop(rbuf, &rlen, n);
			}
		} else if (p[0].revents & (POLLHUP | POLLERR)) {
			nap_ms(20); /* no host connected */
		}
	}
}
