/* Artifact ids as text (arca_id_format and arca_kind_name are public). */
#ifndef ARCA_STORE_IDS_H
#define ARCA_STORE_IDS_H

#include <stddef.h>

#include "arca/arca.h"

/** 1 when the `n` bytes at `p` are all hex digits (either case). */
int arca_ids__is_hex(const char *p, size_t n);

#endif
