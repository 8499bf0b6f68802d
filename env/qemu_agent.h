/* The host side of the qemu guest agent's protocol (guest/agent_proto.h),
 * and qemu's QMP: both unix sockets in the env's directory. */
#ifndef ARCA_ENV_QEMU_AGENT_H
#define ARCA_ENV_QEMU_AGENT_H

#include "arca/env.h"

typedef struct qa_conn qa_conn;

/** Is the VM still there? 0: no (the wait ends with the caller's error). */
typedef int (*qa_alive_cb)(void *payload);

/**
 * Connects to the agent at dirfd/sock and pings it, waiting up to
 * wait_ms for its answer (a booting guest answers once up); `alive`
 * (may be NULL) is asked every 100 ms and ends the wait with ARCA_ERROR
 * when it says no, as it does when the agent does not answer in time.
 */
int arca_env__qa_open(qa_conn **out, int dirfd, const char *sock, int wait_ms,
	qa_alive_cb alive, void *payload);
/** A connection over fd, already past its ping (fuzzing and tests); it
 *  owns fd. */
int arca_env__qa_wrap(qa_conn **out, int fd);
/** A request answered by AG_DONE or AG_FAIL (ARCA_ERROR with its message). */
int arca_env__qa_call(qa_conn *c, char type, const void *p, size_t n, int wait_ms);
/** Runs a command as arca_env_exec does: output streamed, *status its own. */
int arca_env__qa_exec(qa_conn *c, const arca_env_exec_options *o, int *status);
void arca_env__qa_close(qa_conn *c);

/**
 * One QMP command ({"execute": cmd}) on dirfd/sock; its "return" object
 * (as text, at most cap - 1 bytes) into reply, which may be NULL. An
 * {"error": ...} reply is ARCA_ERROR with its "desc"; no socket or no
 * qemu behind it is ARCA_ENOTFOUND.
 */
int arca_env__qmp(int dirfd, const char *sock, const char *cmd, char *reply, size_t cap,
	int wait_ms);
/** The same with "arguments": args (a JSON object, as text; NULL: none). */
int arca_env__qmp_args(int dirfd, const char *sock, const char *cmd, const char *args, char *reply,
	size_t cap, int wait_ms);

#endif
