/* The capped buffer: printf into it never writes past its cap. */
#include "helpers.h"
#include "util/buf.h"
#include "util/error.h"

#include <string.h>

static void setf_builds_a_c_string(void **state)
{
	(void)state;
	arca_buf b = ARCA_BUF_INIT(64);
	assert_string_equal(arca_buf_cstr(&b), "");
	assert_int_equal(arca_buf_setf(&b, "%s/pack-%08u.arcp", "/s/packs", 7u), 0);
	assert_string_equal(arca_buf_cstr(&b), "/s/packs/pack-00000007.arcp");
	assert_int_equal(b.len, strlen("/s/packs/pack-00000007.arcp"));
	assert_int_equal(arca_buf_setf(&b, "%s", "x"), 0);
	assert_string_equal(arca_buf_cstr(&b), "x");
	assert_int_equal(arca_buf_printf(&b, "/%d", 12), 0);
	assert_string_equal(arca_buf_cstr(&b), "x/12");
	arca_buf_release(&b);
}

static void setf_past_the_cap_fails_and_keeps_the_old_value(void **state)
{
	(void)state;
	arca_buf b = ARCA_BUF_INIT(16);
	char long_name[64];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;

	assert_int_equal(arca_buf_setf(&b, "%s", "/short"), 0);
	assert_int_equal(arca_buf_setf(&b, "/dir/%s", long_name), ARCA_EINVAL);
	assert_string_equal(arca_buf_cstr(&b), "/short");
	/* exactly cap - 1 characters plus the NUL fit */
	assert_int_equal(arca_buf_setf(&b, "%.15s", long_name), 0);
	assert_int_equal(b.len, 15);
	assert_int_equal(arca_buf_printf(&b, "b"), ARCA_EINVAL);
	assert_int_equal(b.len, 15);
	arca_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(setf_builds_a_c_string),
		cmocka_unit_test(setf_past_the_cap_fails_and_keeps_the_old_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
