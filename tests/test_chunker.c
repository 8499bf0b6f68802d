/* Content-defined chunking: boundaries depend on content only. */
#include "helpers.h"
#include "cas/chunker.h"

#include <stdlib.h>
#include <string.h>

#define DATA_LEN (8u << 20)
#define MAX_CUTS 4096

static uint8_t *data;

static int setup(void **state)
{
	(void)state;
	data = malloc(DATA_LEN);
	th_fill_random(data, DATA_LEN, 42);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(data);
	return 0;
}

/* Chunks `p` feeding it in pieces of `step` bytes (0 = all at once);
 * returns the number of cut offsets written to cuts[]. */
static size_t chunk(const uint8_t *p, size_t n, size_t step, size_t *cuts)
{
	arca_chunker c;
	size_t off = 0, ncut = 0;
	arca_chunker_init(&c, ARCA_CHUNK_MIN_DEFAULT, ARCA_CHUNK_AVG_DEFAULT, ARCA_CHUNK_MAX_DEFAULT);
	while (off < n) {
		size_t piece = step ? step : n;
		if (piece > n - off)
			piece = n - off;
		size_t done = 0;
		while (done < piece) {
			int cut;
			done += arca_chunker_scan(&c, p + off + done, piece - done, &cut);
			if (cut) {
				assert_true(ncut < MAX_CUTS);
				cuts[ncut++] = off + done;
			}
		}
		off += piece;
	}
	return ncut;
}

static void boundaries_do_not_depend_on_read_size(void **state)
{
	static size_t whole[MAX_CUTS], split[MAX_CUTS];
	const size_t steps[] = { 1, 7, 4096, 65537, 1000003 };
	size_t nwhole = chunk(data, DATA_LEN / 4, 0, whole);
	(void)state;
	assert_true(nwhole > 10);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t nsplit = chunk(data, DATA_LEN / 4, steps[i], split);
		assert_int_equal(nsplit, nwhole);
		assert_memory_equal(split, whole, nwhole * sizeof(size_t));
	}
}

static void chunk_sizes_respect_min_max_and_average(void **state)
{
	static size_t cuts[MAX_CUTS];
	size_t n = chunk(data, DATA_LEN, 0, cuts), prev = 0;
	(void)state;
	for (size_t i = 0; i < n; i++) {
		size_t len = cuts[i] - prev;
		assert_true(len >= ARCA_CHUNK_MIN_DEFAULT);
		assert_true(len <= ARCA_CHUNK_MAX_DEFAULT);
		prev = cuts[i];
	}
	/* normalized chunking keeps the mean near the target */
	size_t mean = prev / n;
	assert_true(mean > ARCA_CHUNK_AVG_DEFAULT / 2);
	assert_true(mean < ARCA_CHUNK_AVG_DEFAULT * 2);
}

static void insertion_only_changes_nearby_chunks(void **state)
{
	static size_t a[MAX_CUTS], b[MAX_CUTS];
	size_t len = DATA_LEN / 2, ins = 100, at = len / 2;
	uint8_t *edited = malloc(len + ins);
	size_t na, nb, same = 0;
	(void)state;
	memcpy(edited, data, at);
	memset(edited + at, 0x5a, ins);
	memcpy(edited + at + ins, data + at, len - at);
	na = chunk(data, len, 0, a);
	nb = chunk(edited, len + ins, 0, b);
	/* cut points after the edit are the old ones shifted by `ins` */
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			if (b[j] == (a[i] < at ? a[i] : a[i] + ins))
				same++;
	assert_true(same + 3 >= na);
	free(edited);
}

static void invalid_sizes_are_refused(void **state)
{
	(void)state;
	assert_int_equal(arca_chunker_check(16384, 65536, 262144), 0);
	assert_int_equal(arca_chunker_check(16384, 60000, 262144), ARCA_EINVAL);
	assert_int_equal(arca_chunker_check(70000, 65536, 262144), ARCA_EINVAL);
	assert_int_equal(arca_chunker_check(16384, 65536, ARCA_CHUNK_MAX_LIMIT + 1), ARCA_EINVAL);
	assert_int_equal(arca_chunker_check(8, 64, 128), ARCA_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(boundaries_do_not_depend_on_read_size),
		cmocka_unit_test(chunk_sizes_respect_min_max_and_average),
		cmocka_unit_test(insertion_only_changes_nearby_chunks),
		cmocka_unit_test(invalid_sizes_are_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
