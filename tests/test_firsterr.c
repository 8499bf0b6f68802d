/* The first error of a group of threads reaches the thread that reports it. */
#include "helpers.h"
#include "util/error.h"
#include "util/firsterr.h"

#include <pthread.h>
#include <string.h>

static void first_error_wins_with_its_message(void **state)
{
	(void)state;
	arca_firsterr fe;
	arca_firsterr_init(&fe);
	assert_int_equal(arca_firsterr_code(&fe), 0);
	assert_int_equal(arca_firsterr_set(&fe, arca_err_set(ARCA_ECORRUPT, "pack 7: bad")), ARCA_ECORRUPT);
	assert_int_equal(arca_firsterr_set(&fe, arca_err_set(ARCA_EIO, "echo")), ARCA_EIO);
	assert_int_equal(arca_firsterr_code(&fe), ARCA_ECORRUPT);
	arca_err_set(ARCA_EINVAL, "overwritten");
	assert_int_equal(arca_firsterr_raise(&fe), ARCA_ECORRUPT);
	assert_string_equal(arca_error_last(), "pack 7: bad");
	arca_firsterr_release(&fe);
}

static void no_error_raises_nothing(void **state)
{
	(void)state;
	arca_firsterr fe;
	arca_firsterr_init(&fe);
	assert_int_equal(arca_firsterr_set(&fe, 0), 0);
	arca_err_set(ARCA_EINVAL, "kept");
	assert_int_equal(arca_firsterr_raise(&fe), 0);
	assert_string_equal(arca_error_last(), "kept");
	arca_firsterr_release(&fe);
}

static void *fail_in_thread(void *arg)
{
	arca_firsterr_set(arg, arca_err_set(ARCA_ENOSPC, "worker: disk full"));
	return NULL;
}

static void a_worker_error_reaches_the_caller_thread(void **state)
{
	(void)state;
	arca_firsterr fe;
	pthread_t t;
	arca_firsterr_init(&fe);
	arca_err_set(ARCA_OK, "caller");
	assert_int_equal(pthread_create(&t, NULL, fail_in_thread, &fe), 0);
	pthread_join(t, NULL);
	assert_string_equal(arca_error_last(), "caller");
	assert_int_equal(arca_firsterr_raise(&fe), ARCA_ENOSPC);
	assert_string_equal(arca_error_last(), "worker: disk full");
	arca_firsterr_release(&fe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_error_wins_with_its_message),
		cmocka_unit_test(no_error_raises_nothing),
		cmocka_unit_test(a_worker_error_reaches_the_caller_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
