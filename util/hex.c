#include "util/hex.h"

#include <string.h>

void arca_hex_encode(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int arca_hex_decode(uint8_t *out, size_t max, const char *in, size_t len)
{
	if (len > 2 * max)
		return -1;
	memset(out, 0, (len + 1) / 2);
	for (size_t i = 0; i < len; i++) {
		int v = nibble(in[i]);
		if (v < 0)
			return -1;
		out[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
	}
	return (int)len;
}
