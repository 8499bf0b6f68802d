/* Growing arrays: doubling, contents kept, sizes that would overflow refused. */
#include "helpers.h"
#include "util/array.h"
#include "util/error.h"

#include <stdint.h>
#include <stdlib.h>

static void grow_doubles_from_first_and_keeps_contents(void **state)
{
	(void)state;
	int *a = NULL;
	size_t cap = 0;
	assert_int_equal(arca_array_grow(&a, &cap, 1, sizeof(int), 4), 0);
	assert_int_equal(cap, 4);
	for (int i = 0; i < 4; i++)
		a[i] = i;
	assert_int_equal(arca_array_grow(&a, &cap, 4, sizeof(int), 4), 0);
	assert_int_equal(cap, 4);
	assert_int_equal(arca_array_grow(&a, &cap, 5, sizeof(int), 4), 0);
	assert_int_equal(cap, 8);
	assert_int_equal(arca_array_grow(&a, &cap, 33, sizeof(int), 4), 0);
	assert_int_equal(cap, 64);
	for (int i = 0; i < 4; i++)
		assert_int_equal(a[i], i);
	free(a);
}

static void grow_past_size_max_bytes_fails_and_keeps_the_array(void **state)
{
	(void)state;
	int *a = NULL, *before;
	size_t cap = 0;
	assert_int_equal(arca_array_grow(&a, &cap, 2, sizeof(int), 2), 0);
	before = a;
	/* the element count fits, its bytes do not */
	assert_int_equal(arca_array_grow(&a, &cap, SIZE_MAX / 2, sizeof(int), 2), ARCA_ENOMEM);
	assert_ptr_equal(a, before);
	assert_int_equal(cap, 2);
	/* doubling itself would overflow */
	assert_int_equal(arca_array_grow(&a, &cap, SIZE_MAX, 1, 2), ARCA_ENOMEM);
	assert_ptr_equal(a, before);
	assert_int_equal(cap, 2);
	free(a);
}

static void resize_gives_exactly_what_is_asked(void **state)
{
	(void)state;
	char *a = NULL;
	size_t cap = 0;
	assert_int_equal(arca_array_resize(&a, &cap, 100, 1), 0);
	assert_int_equal(cap, 100);
	assert_int_equal(arca_array_resize(&a, &cap, 50, 1), 0);
	assert_int_equal(cap, 100);
	assert_int_equal(arca_array_resize(&a, &cap, SIZE_MAX / 8 + 1, 8), ARCA_ENOMEM);
	assert_int_equal(cap, 100);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grow_doubles_from_first_and_keeps_contents),
		cmocka_unit_test(grow_past_size_max_bytes_fails_and_keeps_the_array),
		cmocka_unit_test(resize_gives_exactly_what_is_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
