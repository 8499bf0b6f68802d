/*
 * fuzz_env_rec: env records (the LMDB `envs` value, and what ENV_SET
 * journal records bring back through repair) on hostile bytes.
 *
 * arca_store__env_decode for the env "web-1"; on success the record must
 * hold only what the rules allow (a known state and kind, the key's name,
 * labels and settings within their caps, an error of one line) and
 * re-encode with arca_store__env_encode to exactly the input bytes (one
 * env, one encoding); arca_store__env_info_clear frees all of it.
 */
#include "arca/arca.h"
#include "store/envs.h"
#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) fail(__LINE__, #cond); } while (0)

static void fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_env_rec.c:%d: property violated: %s\n", line, what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	arca_env_info e;
	arca_buf out = ARCA_BUF_INIT(ARCA_ENV_REC_MAX);

	if (arca_store__env_decode(&e, "web-1", data, size) != 0)
		return 0;
	CHECK(!strcmp(e.name, "web-1"));
	CHECK(e.backend && e.backend[0] && strlen(e.backend) <= ARCA_ENV_BACKEND_MAX);
	CHECK(e.state >= ARCA_ENV_CREATING && e.state <= ARCA_ENV_FAILED);
	CHECK(e.kind == ARCA_KIND_TREE || e.kind == ARCA_KIND_IMAGE);
	CHECK(e.created_ns >= 0);
	CHECK(e.nlabels <= ARCA_ENV_LABELS_MAX && e.nsettings <= ARCA_ENV_SETTINGS_MAX);
	for (size_t i = 0; i < e.nlabels; i++)
		CHECK(e.labels[i].key[0] && !strchr(e.labels[i].value, '\n'));
	for (size_t i = 0; i < e.nsettings; i++)
		CHECK(strchr(e.settings[i], '=') && !strchr(e.settings[i], '\n'));
	CHECK(!e.error || (e.error[0] && !strchr(e.error, '\n') &&
		strlen(e.error) <= ARCA_ENV_ERROR_MAX));
	CHECK(arca_store__env_encode(&out, &e) == 0);
	CHECK(out.len == size && memcmp(out.ptr, data, size) == 0);
	arca_buf_release(&out);
	arca_store__env_info_clear(&e);
	return 0;
}
