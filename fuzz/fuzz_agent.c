/*
 * fuzz_agent: what a hostile guest can send the host, through the qemu
 * backend's agent client (env/qemu_agent.c): the bytes arrive on a
 * socket as the answer to an exec, then the connection ends.
 *
 * arca_env__qa_exec must end (an exit status, an error for a failure or
 * a closed connection) without reading out of its frame buffer, and a
 * status it reports must be one the guest sent in an AG_EXIT frame.
 */
#include "arca/env.h"
#include "env/qemu_agent.h"
#include "agent_proto.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_agent.c:%d: property violated: %s\n", line, what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int devnull = -1;
	int sv[2], status = -1000;
	qa_conn *c;
	const char *argv[] = { "true", NULL };
	arca_env_exec_options o = ARCA_ENV_EXEC_OPTIONS_INIT;

	if (size > 32768)
		return 0; /* all of it must fit the socket's buffer */
	if (devnull < 0) {
		signal(SIGPIPE, SIG_IGN);
		devnull = open("/dev/null", O_WRONLY);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	int buf = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
	size_t off = 0;
	while (off < size) {
		ssize_t k = write(sv[0], data + off, size - off);
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	shutdown(sv[0], SHUT_WR);
	if (arca_env__qa_wrap(&c, sv[1]) != 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	o.argv = argv;
	o.stdout_fd = devnull;
	o.stderr_fd = devnull;
	if (arca_env__qa_exec(c, &o, &status) == 0)
		CHECK(status >= 0 && status <= 255 + 128);
	arca_env__qa_close(c);
	close(sv[0]);
	return 0;
}
