/* Artifact ids and kinds as text: the "art_" form and its hex digits. */
#include "store/ids.h"
#include "util/hex.h"

#include <string.h>

void arca_id_format(char out[ARCA_ID_STRLEN], const arca_id *id)
{
	memcpy(out, "art_", 4);
	arca_hex_encode(out + 4, id->bytes, 32);
}

const char *arca_kind_name(arca_kind_t kind)
{
	switch (kind) {
	case ARCA_KIND_TREE: return "tree";
	case ARCA_KIND_IMAGE: return "image";
	default: return "unknown";
	}
}

int arca_ids__is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
		      (p[i] >= 'A' && p[i] <= 'F')))
			return 0;
	return 1;
}
