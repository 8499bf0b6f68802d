#ifndef ARCA_UTIL_HEX_H
#define ARCA_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/** Writes 2*n lowercase hex digits and a NUL to `out`. */
void arca_hex_encode(char *out, const uint8_t *in, size_t n);

/** Decodes up to `max` bytes from hex `in` of length `len`; an odd final
 *  digit fills the high nibble of the last byte. Returns the number of
 *  hex digits consumed or -1 when a non-hex character is found. */
int arca_hex_decode(uint8_t *out, size_t max, const char *in, size_t len);

#endif
