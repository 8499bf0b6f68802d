/*
 * Replays fuzz inputs through a fuzz target without libFuzzer, so the
 * normal build (gcc or clang, with or without sanitizers) runs every
 * corpus and reproducer as an ordinary test.
 *
 *   fuzz_<t>_replay [--only=PREFIX] DIR|FILE ...
 *
 * Each FILE, and each regular file of each DIR (in name order), is passed
 * once to LLVMFuzzerTestOneInput. --only=PREFIX limits the directories
 * after it to the files whose names start with PREFIX (fuzz/crashes holds
 * the reproducers of every target). A target that finds a problem
 * aborts; the name of the input is printed first. A missing argument
 * is an error, so a renamed corpus cannot pass silently.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define INPUT_MAX (64u << 20)

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	size_t n = 0, cap = 0, got;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (n == cap) {
			uint8_t *np;
			cap = cap ? 2 * cap : 65536;
			if (cap > INPUT_MAX || !(np = realloc(p, cap))) {
				fprintf(stderr, "%s: too large\n", path);
				free(p);
				fclose(f);
				return -1;
			}
			p = np;
		}
		got = fread(p + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f)) {
		perror(path);
		free(p);
		fclose(f);
		return -1;
	}
	fclose(f);
	fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
	/* an exact-size copy, so ASan sees reads past the input's end */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact) {
		free(p);
		return -1;
	}
	memcpy(exact, p, n);
	free(p);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir, const char *only, size_t *count)
{
	struct dirent **list;
	int n = scandir(dir, &list, NULL, by_name), rc = 0;

	if (n < 0) {
		perror(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		const char *name = list[i]->d_name;
		if (name[0] == '.' || (only && strncmp(name, only, strlen(only)) != 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (!rc && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = run_file(path);
			(*count)++;
		}
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return rc;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	size_t count = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s [--only=PREFIX] DIR|FILE ...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (!strncmp(argv[i], "--only=", 7)) {
			only = argv[i] + 7;
			continue;
		}
		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], only, &count) != 0 :
		    (count++, run_file(argv[i]) != 0))
			return 1;
	}
	printf("%s: %zu inputs replayed\n", argv[0], count);
	return 0;
}
