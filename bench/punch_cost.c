/*
 * What a hole punch costs on a filesystem: writes N pieces of 64 KiB,
 * 1 MiB apart, into a new sparse file, makes them durable, then times
 * fallocate(PUNCH_HOLE) on each. A rollback punches one such piece for
 * every place a guest wrote into a hole of its image, so on a mount with
 * online discard (each punch waits for the device) this is most of it.
 * Prints the microseconds per punch.
 *
 *   arca-bench-punch FILE [N]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PIECE 65536
#define STRIDE (1 << 20)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static unsigned char piece[PIECE];
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 600;
	double t0;
	int fd;

	if (argc < 2 || n < 1) {
		fprintf(stderr, "usage: arca-bench-punch FILE [N]\n");
		return 2;
	}
	if ((fd = open(argv[1], O_RDWR | O_CREAT | O_EXCL, 0600)) < 0) {
		perror(argv[1]);
		return 1;
	}
	for (size_t i = 0; i < sizeof(piece); i++)
		piece[i] = (unsigned char)(i * 131 + 7);
	for (long i = 0; i < n; i++) {
		if (pwrite(fd, piece, PIECE, (off_t)i * STRIDE) != PIECE) {
			perror("write");
			return 1;
		}
	}
	if (fsync(fd) < 0) {
		perror("fsync");
		return 1;
	}
	t0 = now();
	for (long i = 0; i < n; i++) {
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)i * STRIDE,
				PIECE) < 0) {
			perror("punch a hole");
			return 1;
		}
	}
	printf("%.1f\n", (now() - t0) * 1e6 / (double)n);
	close(fd);
	unlink(argv[1]);
	return 0;
}
