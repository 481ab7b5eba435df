/*
 * openread LIST DIR...: opens, reads to the end and closes every file LIST
 * names (paths relative to each DIR), in one process, PASSES times (21)
 * over the DIRs in turn (each pass starts with another one), and prints
 * the median, lowest and highest time per file of each DIR. The warm
 * small-file figure without a process start per batch (tests/bench
 * README.md, "Small-file reads (issue 15)"). Nothing is dropped between
 * passes, so all but the first pass are warm; with COLD=1 the kernel's
 * caches are dropped (sync, drop_caches, then 0.3 s for the FORGETs)
 * before each pass, as run.sh does for its cold runs (root only).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 100000

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* sync; echo 3 >/proc/sys/vm/drop_caches; sleep 0.3 */
static int drop_caches(void)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "3", 1) != 1) {
		perror("/proc/sys/vm/drop_caches");
		return -1;
	}
	close(fd);
	usleep(300000);
	return 0;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *env = getenv("PASSES"), *cold = getenv("COLD");
	int passes = env ? atoi(env) : 21, ndirs = argc - 2, n = 0;
	static char *files[MAX_FILES];
	char line[4096], buf[65536];
	long long *res;
	FILE *f;

	if (argc < 3 || passes < 1) {
		fprintf(stderr, "usage: [PASSES=N] openread LIST DIR...\n");
		return 2;
	}
	f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	while (n < MAX_FILES && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		files[n] = strdup(line);
		if (!files[n++])
			return 1;
	}
	fclose(f);
	res = calloc((size_t)ndirs * (size_t)passes, sizeof(*res));
	if (!res || n == 0)
		return 1;
	for (int p = 0; p < passes; p++) {
		for (int k = 0; k < ndirs; k++) {
			int d = (k + p) % ndirs;
			long long t0;
			if (chdir(argv[2 + d]) < 0) {
				perror(argv[2 + d]);
				return 1;
			}
			if (cold && strcmp(cold, "1") == 0 && drop_caches() < 0)
				return 1;
			t0 = now_ns();
			for (int i = 0; i < n; i++) {
				int fd = open(files[i], O_RDONLY);
				if (fd < 0) {
					perror(files[i]);
					return 1;
				}
				while (read(fd, buf, sizeof(buf)) > 0)
					;
				close(fd);
			}
			res[d * passes + p] = (now_ns() - t0) / n;
		}
	}
	for (int d = 0; d < ndirs; d++) {
		long long *v = res + d * passes;
		qsort(v, (size_t)passes, sizeof(*v), cmp_ll);
		printf("%s: median %.1f us per file (lowest %.1f, highest %.1f; %d files, %d passes)\n",
		       argv[2 + d], v[passes / 2] / 1000.0, v[0] / 1000.0, v[passes - 1] / 1000.0, n,
		       passes);
	}
	return 0;
}
