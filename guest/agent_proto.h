/*
 * The wire protocol between the qemu backend (env/qemu_agent.c) and its
 * guest agent (guest/arca-agent.c), over one virtio-serial port named
 * "arca.agent". Documented in docs/FORMAT.md ("qemu guest agent").
 *
 * A frame: 'A' 'G', a type byte, the payload's length (4 bytes, big
 * endian, at most AG_PAYLOAD_MAX), the payload. A reader that meets
 * other bytes skips to the next "AG" (a host that died mid-frame leaves
 * a partial one). One request at a time; the host sends a ping with a
 * fresh nonce before each and skips every frame until its pong, so what
 * a dead host left unread is never taken for a reply.
 */
#ifndef ARCA_AGENT_PROTO_H
#define ARCA_AGENT_PROTO_H

#define AG_MAGIC0 'A'
#define AG_MAGIC1 'G'
#define AG_HDR 7
#define AG_PAYLOAD_MAX 65536u
#define AG_ARGV_MAX 4095u /* arguments of one AG_EXEC */
#define AG_ENV_MAX 1023u  /* and its environment entries */
#define AG_VERSION 2   /* in every pong: a host refuses another */
/* stdin bytes a host may have sent and the guest not yet taken: the
 * guest can then always read on to a kill or a ping */
#define AG_STDIN_WINDOW (256u << 10)

/* host -> guest */
#define AG_PING 'P'    /* nonce (8 bytes); a command still running is killed */
#define AG_EXEC 'X'    /* u32 argc, u32 envc, cwd\0, argv[i]\0..., env[i]\0... */
#define AG_STDIN 'I'   /* bytes for the command's stdin; empty: EOF */
#define AG_KILL 'K'    /* SIGKILL the command's process group */
#define AG_SYNC 'Y'    /* sync(2); reply AG_DONE */
#define AG_FREEZE 'F'  /* sync, then FIFREEZE the root; reply AG_DONE */
#define AG_THAW 'T'    /* FITHAW the root; reply AG_DONE */
#define AG_MOUNT 'M'   /* u8 ro, tag\0, guest path\0: a 9p volume; reply AG_DONE */
#define AG_HALT 'H'    /* sync, unmount, power off; reply AG_DONE first */

/* guest -> host */
#define AG_PONG 'p'    /* the ping's nonce, u32 AG_VERSION */
#define AG_OUT 'o'     /* stdout bytes */
#define AG_ERR 'e'     /* stderr bytes */
#define AG_EXIT 'x'    /* u32: exit status, 128 + signal when killed */
#define AG_FAIL 'n'    /* u32 errno, message\0: the request failed */
#define AG_DONE 'y'    /* the request succeeded */
#define AG_CREDIT 'c'  /* u32: stdin bytes taken (written to the command, or
                          dropped as it closed its stdin or ended) */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One frame at the start of buf[0..*len), or 0 (more bytes needed).
 * Bytes before a magic are dropped; a header with an impossible length
 * is skipped past its magic. The frame is buf[0..AG_HDR + *plen). */
static inline int ag_take(unsigned char *buf, size_t *len, char *type, uint32_t *plen)
{
	for (;;) {
		size_t i = 0, n = *len;
		while (i + 1 < n && !(buf[i] == AG_MAGIC0 && buf[i + 1] == AG_MAGIC1))
			i++;
		if (i + 1 >= n) {
			/* no magic: keep a last byte that may start one */
			int keep = n && buf[n - 1] == AG_MAGIC0;
			buf[0] = AG_MAGIC0;
			*len = (size_t)keep;
			return 0;
		}
		if (i) {
			memmove(buf, buf + i, n - i);
			*len = n -= i;
		}
		if (n < AG_HDR)
			return 0;
		uint32_t k = (uint32_t)buf[3] << 24 | (uint32_t)buf[4] << 16 |
			(uint32_t)buf[5] << 8 | buf[6];
		if (k > AG_PAYLOAD_MAX) {
			memmove(buf, buf + 2, n - 2);
			*len = n - 2;
			continue;
		}
		if (n < AG_HDR + k)
			return 0;
		*type = (char)buf[2];
		*plen = k;
		return 1;
	}
}

/* Takes the frame ag_take found off the buffer. */
static inline void ag_drop(unsigned char *buf, size_t *len, uint32_t plen)
{
	size_t n = AG_HDR + plen;
	memmove(buf, buf + n, *len - n);
	*len -= n;
}

static inline void ag_header(unsigned char h[AG_HDR], char type, uint32_t n)
{
	h[0] = AG_MAGIC0;
	h[1] = AG_MAGIC1;
	h[2] = (unsigned char)type;
	h[3] = (unsigned char)(n >> 24);
	h[4] = (unsigned char)(n >> 16);
	h[5] = (unsigned char)(n >> 8);
	h[6] = (unsigned char)n;
}

static inline uint32_t ag_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
