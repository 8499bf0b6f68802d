/* Growable byte buffer with a hard cap, for bytes of any origin. */
#ifndef ARCA_UTIL_BUF_H
#define ARCA_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint8_t *ptr;
	size_t len;
	size_t alloc;
	size_t max;   /* growth beyond this fails with ARCA_EINVAL */
} arca_buf;

#define ARCA_BUF_INIT(max_) { NULL, 0, 0, (max_) }

/** Makes room for `extra` more bytes. */
int arca_buf_grow(arca_buf *b, size_t extra);
int arca_buf_put(arca_buf *b, const void *p, size_t n);
/** Frees the memory; the buffer may be reused. */
void arca_buf_release(arca_buf *b);

/** Appends printf output and keeps the bytes NUL-terminated (the NUL is
 *  not counted in len); ARCA_EINVAL past the cap, with the buffer as it
 *  was. */
int arca_buf_printf(arca_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** Empties the buffer (keeps its memory), then arca_buf_printf. The
 *  checked way to build a path: ARCA_BUF_INIT(PATH_MAX), never a fixed
 *  array filled by snprintf. */
int arca_buf_setf(arca_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** The bytes as a C string ("" when empty). Valid until the next change. */
const char *arca_buf_cstr(const arca_buf *b);

static inline void arca_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
}
static inline void arca_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void arca_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t arca_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t arca_get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
	return v;
}
static inline uint64_t arca_get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
	return v;
}
/* Big-endian, for LMDB keys that must sort numerically. */
static inline void arca_put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static inline void arca_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static inline uint32_t arca_get_be32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) v = (v << 8) | p[i];
	return v;
}
static inline uint64_t arca_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
	return v;
}

#endif
