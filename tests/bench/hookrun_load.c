/*
 * Hook runner benchmark (tests/bench/hookrun.sh): N times, alternately,
 * `sh -c true` forked directly (fork + execve + waitpid, nothing else) and
 * the same through hook_run() (pipes, posix_spawn, pidfd, poll loop,
 * reaping). Prints the medians and p90s in microseconds and the ratio of
 * the medians (target < 2). With RSS_MB > 0 the process first allocates and
 * touches that much memory, as a daemon with a large heap would have: fork()
 * then copies its page tables, posix_spawn()'s vfork does not.
 *
 *   hookrun_load N RSS_MB
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *av[] = {"sh", "-c", "true", NULL};
	const char *ev[] = {"PATH=/usr/bin:/bin", NULL};
	uint64_t n = 300, rss = 0;
	double *fk, *hr;

	if ((argc > 1 && parse_u64(argv[1], &n) < 0) ||
	    (argc > 2 && parse_u64(argv[2], &rss) < 0) || n == 0 || n > 1000000) {
		fprintf(stderr, "usage: hookrun_load N RSS_MB\n");
		return 2;
	}
	if (rss) {
		char *heap = malloc(rss << 20);
		if (!heap)
			return 1;
		memset(heap, 1, rss << 20);
	}
	fk = calloc(n, sizeof(*fk));
	hr = calloc(n, sizeof(*hr));
	if (!fk || !hr || hook_runner_init() < 0)
		return 1;
	for (uint64_t i = 0; i < n; i++) {
		struct hook_spec s = {.path = "/bin/sh", .argv = av, .env = ev, .stop_fd = -1};
		struct hook_result r;
		double t0 = now_us();
		pid_t p = fork();
		int st;

		if (p == 0) {
			execve("/bin/sh", (char *const *)av, (char *const *)ev);
			_exit(127);
		}
		if (p < 0 || waitpid(p, &st, 0) != p)
			return 1;
		fk[i] = now_us() - t0;
		t0 = now_us();
		if (hook_run(&s, &r) < 0 || !hook_result_ok(&r))
			return 1;
		hr[i] = now_us() - t0;
		hook_result_free(&r);
	}
	qsort(fk, n, sizeof(*fk), cmp);
	qsort(hr, n, sizeof(*hr), cmp);
	printf("rss_mb %llu n %llu fork_median_us %.0f fork_p90_us %.0f hook_median_us %.0f "
	       "hook_p90_us %.0f ratio %.2f\n",
	       (unsigned long long)rss, (unsigned long long)n, fk[n / 2], fk[n * 9 / 10], hr[n / 2],
	       hr[n * 9 / 10], hr[n / 2] / fk[n / 2]);
	return 0;
}
