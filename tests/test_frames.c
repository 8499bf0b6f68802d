/* The stack of open directories: its cap, its paths, what pop closes. */
#include "helpers.h"
#include "store/frames.h"
#include "util/error.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void push_past_the_cap_fails_as_too_deep(void **state)
{
	(void)state;
	arca_frames fs;
	assert_int_equal(arca_frames_init(&fs, sizeof(arca_frame), 2), 0);
	assert_non_null(arca_frames_push(&fs, "", 0));
	assert_non_null(arca_frames_push(&fs, "a", 1));
	assert_null(arca_frames_push(&fs, "a/b", 3));
	assert_string_equal(arca_error_last(), "tree too deep at a/b");
	assert_int_equal(fs.depth, 2);
	arca_frames_release(&fs);
}

static void frames_keep_their_paths_and_pop_closes(void **state)
{
	(void)state;
	arca_frames fs;
	arca_frame *f;
	size_t len;
	int fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(arca_frames_init(&fs, sizeof(arca_frame), ARCA_FRAMES_MAX), 0);
	assert_non_null(arca_frames_push(&fs, "", 0));
	assert_int_equal(arca_frames_join(&fs, "dir", 3, &len), 0);
	assert_string_equal(fs.path, "dir");
	f = arca_frames_push(&fs, fs.path, len);
	assert_non_null(f);
	assert_int_equal(f->fd, -1);
	f->fd = fd;
	assert_int_equal(arca_frames_join(&fs, "x", 1, &len), 0);
	assert_string_equal(fs.path, "dir/x");
	assert_ptr_equal(arca_frames_top(&fs), f);
	arca_frames_pop(&fs);
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
	assert_int_equal(arca_frames_join(&fs, "y", 1, &len), 0);
	assert_string_equal(fs.path, "y");
	arca_frames_release(&fs);
}

static void join_past_the_path_cap_fails(void **state)
{
	(void)state;
	arca_frames fs;
	char name[ARCA_MF_PATH_MAX + 1];
	size_t len;
	memset(name, 'n', sizeof(name));
	assert_int_equal(arca_frames_init(&fs, sizeof(arca_frame), 4), 0);
	assert_non_null(arca_frames_push(&fs, "d", 1));
	assert_int_equal(arca_frames_join(&fs, name, ARCA_MF_PATH_MAX - 2, &len), 0);
	assert_int_equal(len, ARCA_MF_PATH_MAX);
	assert_int_equal(arca_frames_join(&fs, name, ARCA_MF_PATH_MAX - 1, &len), ARCA_EUNSUPPORTED);
	arca_frames_release(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(push_past_the_cap_fails_as_too_deep),
		cmocka_unit_test(frames_keep_their_paths_and_pop_closes),
		cmocka_unit_test(join_past_the_path_cap_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
