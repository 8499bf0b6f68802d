/*
 * Talking to a qemu env: its guest agent (frames of guest/agent_proto.h
 * on a virtio-serial port that qemu serves as a unix socket) and qemu's
 * own QMP socket. Both live in the env's directory; they are reached as
 * /proc/self/fd/DIRFD/NAME, so a deep store path never meets the 108
 * bytes a socket address holds.
 */
#include "env/qemu_agent.h"
#include "agent_proto.h"
#include "util/error.h"
#include "util/fsutil.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct qa_conn {
	int fd;
	size_t len;
	unsigned char buf[AG_HDR + AG_PAYLOAD_MAX];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected socket, or -1 with errno. */
static int sock_connect(int dirfd, const char *name)
{
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	if ((size_t)snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", dirfd, name) >=
	    sizeof a.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* the env's own socket, never one a symlink there names */
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = ENOTSOCK;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int send_frame(qa_conn *c, char type, const void *p, size_t n)
{
	unsigned char h[AG_HDR];
	if (n > AG_PAYLOAD_MAX)
		return arca_err_set(ARCA_EINVAL, "qemu agent: request over %u bytes", AG_PAYLOAD_MAX);
	ag_header(h, type, (uint32_t)n);
	if (arca_write_all(c->fd, h, sizeof h) < 0 || (n && arca_write_all(c->fd, p, n) < 0))
		return arca_err_sys("qemu agent: send");
	return 0;
}

/* The next frame (its payload at c->buf + AG_HDR; ag_drop it after), or
 * an error; waits until deadline (ms, monotonic; 0: forever) in slices
 * of 100 ms, asking `alive` between them. */
static int next_frame(qa_conn *c, char *type, uint32_t *len, int64_t deadline, qa_alive_cb alive,
	void *payload)
{
	for (;;) {
		if (ag_take(c->buf, &c->len, type, len))
			return 0;
		int64_t left = deadline ? deadline - now_ms() : 100;
		if (left <= 0)
			return arca_err_set(ARCA_ERROR, "qemu agent: no answer in time");
		struct pollfd p = { c->fd, POLLIN, 0 };
		int r = poll(&p, 1, left < 100 ? (int)left : 100);
		if (r < 0 && errno != EINTR)
			return arca_err_sys("qemu agent: poll");
		if (r <= 0) {
			if (alive && !alive(payload))
				return arca_err_set(ARCA_ERROR, "qemu agent: the VM is gone");
			continue;
		}
		ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return arca_err_sys("qemu agent: read");
		if (n == 0)
			return arca_err_set(ARCA_ERROR, "qemu agent: connection closed (the VM stopped?)");
		c->len += (size_t)n;
	}
}

/* AG_FAIL's payload as an error. */
static int agent_fail(qa_conn *c, uint32_t len, const char *what)
{
	const unsigned char *p = c->buf + AG_HDR;
	int e = len >= 4 ? (int)ag_u32(p) : 0;
	int n = len > 4 ? (int)strnlen((const char *)p + 4, len - 4) : 0;
	int code = e == ENOENT ? ARCA_ENOTFOUND : e == EINVAL ? ARCA_EINVAL : ARCA_ERROR;
	return arca_err_set(code, "qemu agent: %s: %.*s", what, n, n ? (const char *)p + 4 : "failed");
}

/* The ping, after a frame's worth of 0xff: a client that died (or left)
 * in the middle of a frame left the guest waiting for the rest of it,
 * which would swallow the ping; the padding ends any such frame, with a
 * last byte no request takes (their payloads end in a NUL, a stdin's
 * command is killed by the ping), and is skipped as bytes between
 * frames. Sent as the guest takes it, up to deadline. */
static int send_ping(qa_conn *c, const unsigned char nonce[8], int64_t deadline)
{
	unsigned char *b = malloc(AG_PAYLOAD_MAX + 2 * AG_HDR + 8);
	size_t n = AG_PAYLOAD_MAX + AG_HDR, off = 0;
	if (!b)
		return arca_err_set(ARCA_ENOMEM, "qemu agent: out of memory");
	memset(b, 0xff, n);
	ag_header(b + n, AG_PING, 8);
	memcpy(b + n + AG_HDR, nonce, 8);
	n += AG_HDR + 8;
	int rc = 0;
	while (rc == 0 && off < n) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { c->fd, POLLOUT, 0 };
		if (left <= 0) {
			rc = arca_err_set(ARCA_ERROR, "qemu agent: the guest takes no request");
			break;
		}
		int r = poll(&p, 1, left < 100 ? (int)left : 100);
		if (r < 0 && errno != EINTR)
			rc = arca_err_sys("qemu agent: poll");
		if (r <= 0)
			continue;
		ssize_t k = send(c->fd, b + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k < 0 && errno != EINTR && errno != EAGAIN)
			rc = arca_err_sys("qemu agent: send");
		if (k > 0)
			off += (size_t)k;
	}
	free(b);
	return rc;
}

int arca_env__qa_open(qa_conn **out, int dirfd, const char *sock, int wait_ms, qa_alive_cb alive,
	void *payload)
{
	int64_t deadline = now_ms() + wait_ms;
	unsigned char nonce[8];
	qa_conn *c = calloc(1, sizeof *c);
	int rc;

	*out = NULL;
	if (!c)
		return arca_err_set(ARCA_ENOMEM, "qemu agent: out of memory");
	/* qemu makes the socket before it daemonizes; wait only while it
	 * starts */
	while ((c->fd = sock_connect(dirfd, sock)) < 0) {
		if ((errno != ENOENT && errno != ECONNREFUSED) || now_ms() >= deadline ||
		    (alive && !alive(payload))) {
			rc = arca_err_sys("qemu agent: connect %s", sock);
			free(c);
			return rc;
		}
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	/* a fresh nonce: what an earlier client left unread is skipped */
	uint64_t v = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
	for (int i = 0; i < 8; i++)
		nonce[i] = (unsigned char)(v >> (8 * i));
	if ((rc = send_ping(c, nonce, deadline)) != 0)
		goto fail;
	for (;;) {
		char t = 0;
		uint32_t len = 0;
		if ((rc = next_frame(c, &t, &len, deadline, alive, payload)) != 0)
			goto fail;
		int match = t == AG_PONG && len == sizeof nonce + 4 &&
			memcmp(c->buf + AG_HDR, nonce, sizeof nonce) == 0;
		uint32_t version = match ? ag_u32(c->buf + AG_HDR + sizeof nonce) : 0;
		ag_drop(c->buf, &c->len, len);
		if (match && version != AG_VERSION) {
			rc = arca_err_set(ARCA_EUNSUPPORTED, "qemu agent: the guest's agent speaks "
				"protocol %u, this arca %u (make the env again)", version, AG_VERSION);
			goto fail;
		}
		if (match)
			break;
	}
	*out = c;
	return 0;
fail:
	close(c->fd);
	free(c);
	return rc;
}

int arca_env__qa_wrap(qa_conn **out, int fd)
{
	qa_conn *c = calloc(1, sizeof *c);
	if (!c)
		return arca_err_set(ARCA_ENOMEM, "qemu agent: out of memory");
	c->fd = fd;
	*out = c;
	return 0;
}

int arca_env__qa_call(qa_conn *c, char type, const void *p, size_t n, int wait_ms)
{
	int rc = send_frame(c, type, p, n);
	int64_t deadline = now_ms() + wait_ms;
	while (rc == 0) {
		char t = 0;
		uint32_t len = 0;
		if ((rc = next_frame(c, &t, &len, deadline, NULL, NULL)) != 0)
			break;
		if (t == AG_DONE) {
			ag_drop(c->buf, &c->len, len);
			return 0;
		}
		if (t == AG_FAIL) {
			rc = agent_fail(c, len, "request");
			ag_drop(c->buf, &c->len, len);
			return rc;
		}
		ag_drop(c->buf, &c->len, len);
	}
	return rc;
}

/* "u32 argc, u32 envc, cwd\0, argv..., env..." */
static int exec_request(const arca_env_exec_options *o, unsigned char **out, size_t *outlen)
{
	size_t argc = 0, envc = 0, n = 8;
	const char *cwd = o->cwd ? o->cwd : "/";
	while (o->argv[argc])
		n += strlen(o->argv[argc++]) + 1;
	while (o->envp && o->envp[envc]) {
		const char *kv = o->envp[envc++];
		if (!strchr(kv, '=') || kv[0] == '=')
			return arca_err_set(ARCA_EINVAL, "qemu exec: bad environment entry '%.60s'", kv);
		n += strlen(kv) + 1;
	}
	n += strlen(cwd) + 1 + (cwd[0] != '/');
	if (argc > AG_ARGV_MAX || envc > AG_ENV_MAX)
		return arca_err_set(ARCA_EINVAL, "qemu exec: over %u arguments or %u environment "
			"entries", AG_ARGV_MAX, AG_ENV_MAX);
	if (n > AG_PAYLOAD_MAX)
		return arca_err_set(ARCA_EINVAL, "qemu exec: command and environment over %u bytes",
			AG_PAYLOAD_MAX);
	unsigned char *p = malloc(n), *w = p + 8;
	if (!p)
		return arca_err_set(ARCA_ENOMEM, "qemu exec: out of memory");
	for (int i = 0; i < 4; i++) {
		p[i] = (unsigned char)(argc >> (24 - 8 * i));
		p[4 + i] = (unsigned char)(envc >> (24 - 8 * i));
	}
	/* relative to the guest's root, as on the other backends */
	if (cwd[0] != '/')
		*w++ = '/';
	w = (unsigned char *)stpcpy((char *)w, cwd) + 1;
	for (size_t i = 0; i < argc; i++)
		w = (unsigned char *)stpcpy((char *)w, o->argv[i]) + 1;
	for (size_t i = 0; i < envc; i++)
		w = (unsigned char *)stpcpy((char *)w, o->envp[i]) + 1;
	*out = p;
	*outlen = (size_t)(w - p);
	return 0;
}

int arca_env__qa_exec(qa_conn *c, const arca_env_exec_options *o, int *status)
{
	unsigned char *req = NULL, *out = NULL;
	size_t reqlen = 0, off = 0, len = 0;
	uint64_t inflight = 0; /* stdin sent, not yet credited by the guest */
	int64_t deadline = o->timeout_s ? now_ms() + (int64_t)o->timeout_s * 1000 : 0;
	int killed = 0, in_fd = o->stdin_fd, rc;

	if ((rc = exec_request(o, &req, &reqlen)) != 0)
		return rc;
	rc = send_frame(c, AG_EXEC, req, reqlen);
	free(req);
	if (rc == 0 && in_fd < 0)
		rc = send_frame(c, AG_STDIN, NULL, 0);
	/* stdin goes out only as the socket takes it, never blocking: the
	 * guest's output must be read meanwhile, or both sides wait on each
	 * other (a frame of stdin and a kill after it) */
	if (rc == 0 && !(out = malloc(AG_PAYLOAD_MAX + 2 * AG_HDR)))
		rc = arca_err_set(ARCA_ENOMEM, "qemu exec: out of memory");
	while (rc == 0) {
		char t = 0;
		uint32_t plen = 0;
		if (ag_take(c->buf, &c->len, &t, &plen)) {
			const unsigned char *p = c->buf + AG_HDR;
			if (t == AG_OUT && o->stdout_fd >= 0)
				(void)arca_write_all(o->stdout_fd, p, plen);
			else if (t == AG_ERR && o->stderr_fd >= 0)
				(void)arca_write_all(o->stderr_fd, p, plen);
			else if (t == AG_CREDIT && plen == 4)
				inflight -= ag_u32(p) < inflight ? ag_u32(p) : inflight;
			else if (t == AG_EXIT && plen == 4) {
				/* 0-255, or 128 + a signal */
				uint32_t v = ag_u32(p);
				if (v > 255 + 128) {
					rc = arca_err_set(ARCA_ECORRUPT, "qemu exec: the guest agent "
						"sent exit status %u", v);
					break;
				}
				*status = killed ? 124 : (int)v;
				ag_drop(c->buf, &c->len, plen);
				break;
			} else if (t == AG_FAIL) {
				rc = agent_fail(c, plen, "exec");
			}
			ag_drop(c->buf, &c->len, plen);
			continue;
		}
		int64_t now = now_ms();
		if (deadline && now >= deadline) {
			if (killed) {
				rc = arca_err_set(ARCA_ERROR, "qemu exec: the command outlived its kill");
				break;
			}
			/* the whole process group, as on the other backends; after
			 * the stdin frame under way, and no more stdin */
			ag_header(out + len, AG_KILL, 0);
			len += AG_HDR;
			in_fd = -1;
			killed = 1;
			deadline = now + 10000;
			continue;
		}
		/* more stdin only within the window the guest credits: then it
		 * reads its port on, and a kill never waits behind stdin */
		int more_in = off >= len && inflight + AG_PAYLOAD_MAX <= AG_STDIN_WINDOW;
		struct pollfd p[2] = { { c->fd, (short)(POLLIN | (off < len ? POLLOUT : 0)), 0 },
			{ more_in ? in_fd : -1, POLLIN, 0 } };
		int wait = deadline ? (int)(deadline - now < 1000 ? deadline - now : 1000) : 1000;
		int r = poll(p, 2, wait);
		if (r < 0 && errno != EINTR) {
			rc = arca_err_sys("qemu exec: poll");
			break;
		}
		if (r <= 0)
			continue;
		if (p[1].revents) {
			ssize_t k = read(in_fd, out + AG_HDR, AG_PAYLOAD_MAX);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				in_fd = -1;
			ag_header(out, AG_STDIN, k > 0 ? (uint32_t)k : 0);
			off = 0;
			len = AG_HDR + (k > 0 ? (size_t)k : 0);
			inflight += k > 0 ? (uint64_t)k : 0;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t k = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				rc = arca_err_sys("qemu exec: read");
			else if (k == 0)
				rc = arca_err_set(ARCA_ERROR, "qemu exec: the guest agent went away "
					"(the VM stopped?)");
			else
				c->len += (size_t)k;
		} else if (p[0].revents & POLLOUT) {
			ssize_t k = send(c->fd, out + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k < 0 && errno != EINTR && errno != EAGAIN)
				rc = arca_err_sys("qemu exec: send");
			if (k > 0 && (off += (size_t)k) == len)
				off = len = 0;
		}
	}
	free(out);
	return rc;
}

void arca_env__qa_close(qa_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

/* ---- QMP ---- */

/* One line (CRLF-ended JSON) from fd into line; 0 or an error. */
static int qmp_line(int fd, char *line, size_t cap, int64_t deadline)
{
	size_t n = 0;
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { fd, POLLIN, 0 };
		if (left <= 0)
			return arca_err_set(ARCA_ERROR, "qemu QMP: no answer in time");
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		char ch;
		ssize_t k = read(fd, &ch, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return arca_err_set(ARCA_ERROR, "qemu QMP: connection closed");
		if (ch == '\n') {
			line[n] = 0;
			return 0;
		}
		if (n + 1 < cap)
			line[n++] = ch;
	}
}

/* The "return" or "error" answer, events skipped. */
static int qmp_answer(int fd, char *reply, size_t cap, int64_t deadline, const char *cmd)
{
	char line[8192];
	for (;;) {
		int rc = qmp_line(fd, line, sizeof line, deadline);
		if (rc)
			return rc;
		char *r = strstr(line, "\"return\"");
		if (r && strncmp(line, "{\"event\"", 8) != 0) {
			if (reply && cap) {
				r = strchr(r + 8, ':');
				snprintf(reply, cap, "%s", r ? r + 1 : "");
			}
			return 0;
		}
		char *e = strstr(line, "\"error\"");
		if (e && strncmp(line, "{\"event\"", 8) != 0) {
			char *d = strstr(e, "\"desc\"");
			d = d ? strchr(d + 6, '"') : NULL;
			int len = d ? (int)strcspn(d + 1, "\"") : 0;
			return arca_err_set(ARCA_ERROR, "qemu QMP %s: %.*s", cmd, len, d ? d + 1 : "error");
		}
	}
}

int arca_env__qmp(int dirfd, const char *sock, const char *cmd, char *reply, size_t cap,
	int wait_ms)
{
	return arca_env__qmp_args(dirfd, sock, cmd, NULL, reply, cap, wait_ms);
}

int arca_env__qmp_args(int dirfd, const char *sock, const char *cmd, const char *args, char *reply,
	size_t cap, int wait_ms)
{
	char line[8192], req[512];
	int64_t deadline = now_ms() + wait_ms;
	int fd = sock_connect(dirfd, sock), rc;
	if (fd < 0)
		return errno == ENOENT || errno == ECONNREFUSED ?
			arca_err_set(ARCA_ENOTFOUND, "qemu QMP: no qemu on %s", sock) :
			arca_err_sys("qemu QMP: connect %s", sock);
	/* the greeting, then capabilities negotiation, then the command */
	if ((size_t)snprintf(req, sizeof req, "{\"execute\":\"%s\"%s%s}\r\n", cmd,
			args ? ",\"arguments\":" : "", args ? args : "") >= sizeof req) {
		close(fd);
		return arca_err_set(ARCA_EINVAL, "qemu QMP: %s: request too long", cmd);
	}
	if ((rc = qmp_line(fd, line, sizeof line, deadline)) == 0 &&
	    (rc = arca_write_all(fd, "{\"execute\":\"qmp_capabilities\"}\r\n", 32) < 0 ?
			arca_err_sys("qemu QMP: send") : 0) == 0 &&
	    (rc = qmp_answer(fd, NULL, 0, deadline, "qmp_capabilities")) == 0) {
		if (arca_write_all(fd, req, strlen(req)) < 0)
			rc = arca_err_sys("qemu QMP: send");
		else
			rc = qmp_answer(fd, reply, cap, deadline, cmd);
	}
	close(fd);
	return rc;
}
