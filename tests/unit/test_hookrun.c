/*
 * Unit tests for hooks/run.c with real processes: sh scripts written into
 * a fresh temporary directory, /usr/bin/env, /bin/ls and /bin/sleep. The
 * test process is made a child subreaper (hook_runner_init()), as the
 * daemon is, so that what a hook leaves behind is its to reap; the checks
 * then look at /proc for leftovers: processes of a hook's group, zombie
 * children, open descriptors. Covers exit codes and signals, stdin from
 * /dev/null and from input, the environment, the output ring and lines,
 * timeout and stop (SIGTERM then SIGKILL), background processes, spawn
 * errors, crash-recovery tokens, and runs from several threads at once.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "run.h"
#include "banned.h"

/*
 * Times here are only lower bounds (a deadline is never early) and a bound
 * far above every deadline that says the run ended at all (these hooks
 * would run forever, or 100 s): how fast it ends is the flags' business
 * (timed_out, stopped, killed), not the clock's, so that a loaded machine
 * cannot fail the test.
 */
#define ENDED_MS 60000

static char tmpdir[64];

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes body as an executable (mode) script NAME in tmpdir; returns its path (static per name
 * slot). */
static const char *script(const char *name, const char *body, mode_t mode)
{
	static char paths[8][128];
	static unsigned slot;
	char *path = paths[slot++ % 8];
	FILE *f;

	snprintf(path, 128, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(body, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static const char *sh(const char *name, const char *body)
{
	char text[4096];

	snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	return script(name, text, 0755);
}

/* Runs path with no environment, input or callbacks beyond the defaults given. */
static void run_ok(const struct hook_spec *spec, struct hook_result *res)
{
	int r = hook_run(spec, res);
	if (r < 0)
		fail_msg("hook_run(%s): %s", spec->path, strerror(-r));
}

#define SPEC(p)                                                                                    \
	{                                                                                          \
		.path = (p), .stop_fd = -1                                                         \
	}

/* ---- /proc ---------------------------------------------------------------- */

static bool stat_fields(const char *pid, char *state, long *pgrp)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && sscanf(p + 1, " %c %*d %ld", state, pgrp) == 2;
}

/* Processes (any state) whose process group is pgid. */
static int procs_in_group(long pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char st;
		long pg;
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' &&
		    stat_fields(de->d_name, &st, &pg) && pg == pgid)
			n++;
	}
	closedir(d);
	return n;
}

/* Our children, and how many of them are zombies. */
static int children(int *ret_zombies)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0, z = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[300], buf[4096], *save = NULL;
		ssize_t len;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		for (char *w = strtok_r(buf, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
			char st;
			long pg;
			n++;
			if (stat_fields(w, &st, &pg) && st == 'Z')
				z++;
		}
	}
	closedir(d);
	if (ret_zombies)
		*ret_zombies = z;
	return n;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static long token_pgid(const char *token)
{
	long pgid = 0;

	assert_int_equal(sscanf(token, "%ld", &pgid), 1);
	return pgid;
}

/* ---- exit codes, signals, output ----------------------------------------------- */

static void test_exit_status(void **state)
{
	static const struct {
		const char *body;
		int exit_code, sig;
		const char *output, *describe;
	} cases[] = {
	    {"exit 0", 0, 0, "", "exit status 0"},
	    {"echo out; exit 3", 3, 0, "out\n", "exit status 3"},
	    {"exit 255", 255, 0, "", "exit status 255"},
	    {"echo a; echo b >&2; echo c", 0, 0, "a\nb\nc\n", "exit status 0"},
	    {"printf 'no newline'", 0, 0, "no newline", "exit status 0"},
	    {"kill -TERM $$", -1, SIGTERM, "", "killed by signal 15 (SIGTERM)"},
	    {"echo x; kill -KILL $$", -1, SIGKILL, "x\n", "killed by signal 9 (SIGKILL)"},
	    {"pwd", 0, 0, "/\n", "exit status 0"},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hook_spec spec = SPEC(sh("exit", cases[i].body));
		struct hook_result res;
		char desc[128];

		run_ok(&spec, &res);
		assert_int_equal(res.signal, cases[i].sig);
		if (!cases[i].sig)
			assert_int_equal(res.exit_code, cases[i].exit_code);
		assert_string_equal(res.output, cases[i].output);
		assert_int_equal(res.output_len, strlen(cases[i].output));
		assert_int_equal(res.output_total, strlen(cases[i].output));
		assert_false(res.timed_out);
		assert_false(res.stopped);
		assert_int_equal(hook_result_ok(&res), cases[i].exit_code == 0 && !cases[i].sig);
		hook_result_describe(&res, desc, sizeof(desc));
		assert_string_equal(desc, cases[i].describe);
		hook_result_free(&res);
		hook_result_free(&res); /* twice, and NULL: no-ops */
	}
	hook_result_free(NULL);
	assert_int_equal(hook_runner_init(), 0); /* again: harmless */
}

static void test_argv_cwd(void **state)
{
	const char *argv[] = {"myname", "one", "two words", NULL};
	struct hook_spec spec = SPEC(sh("args", "echo \"$0|$1|$2|$#\"; pwd"));
	struct hook_result res;
	char want[256];

	(void)state;
	argv[0] = spec.path;
	spec.argv = argv;
	spec.cwd = tmpdir;
	run_ok(&spec, &res);
	snprintf(want, sizeof(want), "%s|one|two words|2\n%s\n", spec.path, tmpdir);
	assert_string_equal(res.output, want);
	hook_result_free(&res);
}

/* ---- standard input -------------------------------------------------------------- */

static void test_stdin_null(void **state)
{
	struct hook_spec spec = SPEC(sh("stdin", "readlink /proc/$$/fd/0; wc -c"));
	struct hook_result res;

	(void)state;
	run_ok(&spec, &res);
	assert_string_equal(res.output, "/dev/null\n0\n");
	hook_result_free(&res);
}

static void test_stdin_input(void **state)
{
	const size_t n = 300 * 1024; /* more than a pipe holds */
	char *in = malloc(n), *got = NULL, out[128];
	const char *argv[3] = {NULL, out, NULL};
	size_t got_len = 0;
	struct hook_result res;

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + (i * 7 + i / 1000) % 26);
	snprintf(out, sizeof(out), "%s/input.out", tmpdir);

	struct hook_spec spec = SPEC(sh("cat", "cat > \"$1\""));
	argv[0] = spec.path;
	spec.argv = argv;
	spec.input = in;
	spec.input_len = n;
	run_ok(&spec, &res);
	assert_true(hook_result_ok(&res));
	hook_result_free(&res);
	assert_int_equal(read_file(out, 2 * n, &got, &got_len), 0);
	assert_int_equal(got_len, n);
	assert_memory_equal(got, in, n);
	free(got);

	/* Empty input: a pipe at EOF at once. */
	struct hook_spec empty = SPEC(sh("wc", "wc -c"));
	empty.input = "";
	empty.input_len = 0;
	run_ok(&empty, &res);
	assert_string_equal(res.output, "0\n");
	hook_result_free(&res);

	/* A child that never reads: EPIPE is not an error, and no SIGPIPE kills us. */
	struct hook_spec deaf = SPEC(sh("deaf", "exit 4"));
	deaf.input = in;
	deaf.input_len = n;
	run_ok(&deaf, &res);
	assert_int_equal(res.signal, 0);
	assert_int_equal(res.exit_code, 4);
	hook_result_free(&res);
	free(in);
}

/* ---- the environment --------------------------------------------------------------- */

static void test_env_exact(void **state)
{
	const char *vars[] = {"JUJU_UNIT_NAME=wordpress/0", "CHARM_DIR=/srv/charm", "EMPTY=", NULL};
	const char *argv[] = {"env", NULL};
	struct hook_env he = {.tools_dir = "/var/lib/charmfs/tools", .home = "/root", .vars = vars};
	struct strv env = {0};
	struct hook_result res;
	char *want;

	(void)state;
	assert_int_equal(setenv("HOOKRUN_MARKER", "must-not-leak", 1), 0);
	assert_int_equal(hook_env_build(&he, &env), 0);
	assert_int_equal(env.n, 6);
	assert_string_equal(env.v[0],
			    "PATH=/var/lib/charmfs/tools:/usr/local/sbin:/usr/local/bin:/usr/sbin:"
			    "/usr/bin:/sbin:/bin");
	assert_string_equal(env.v[1], "HOME=/root");
	assert_string_equal(env.v[2], "LANG=C.UTF-8");
	assert_null(env.v[6]);

	struct hook_spec spec = SPEC("/usr/bin/env");
	spec.argv = argv;
	spec.env = (const char *const *)env.v;
	run_ok(&spec, &res);
	want = strv_join(&env, "\n");
	assert_non_null(want);
	assert_int_equal(res.output_len, strlen(want) + 1);
	assert_memory_equal(res.output, want, strlen(want));
	assert_null(strstr(res.output, "HOOKRUN_MARKER"));
	free(want);
	hook_result_free(&res);
	strv_clear(&env);

	/* NULL env: an empty environment, nothing inherited. */
	spec.env = NULL;
	run_ok(&spec, &res);
	assert_string_equal(res.output, "");
	hook_result_free(&res);
	unsetenv("HOOKRUN_MARKER");
}

static void test_env_rules(void **state)
{
	static const struct {
		const char *vars[4];
		int r;
		const char *first; /* env.v[0] on success */
		size_t n;
	} cases[] = {
	    {{"PATH=/only", NULL}, 0, "HOME=/h", 3},
	    {{"A=1", "B=2", NULL},
	     0,
	     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	     5},
	    {{"NOEQUALS", NULL}, -EINVAL, NULL, 0},
	    {{"=value", NULL}, -EINVAL, NULL, 0},
	    {{"A=1", "B=2", "A=3", NULL}, -EINVAL, NULL, 0},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hook_env he = {.home = "/h", .vars = cases[i].vars};
		struct strv env = {0};

		assert_int_equal(hook_env_build(&he, &env), cases[i].r);
		if (cases[i].r == 0) {
			assert_int_equal(env.n, cases[i].n);
			assert_string_equal(env.v[0], cases[i].first);
		}
		strv_clear(&env);
	}
	/* No home given: the user's, never the daemon's $HOME. */
	struct strv env = {0};
	assert_int_equal(setenv("HOME", "/nonexistent-home-marker", 1), 0);
	assert_int_equal(hook_env_build(&(struct hook_env){0}, &env), 0);
	assert_int_equal(env.n, 3);
	assert_string_not_equal(env.v[1], "HOME=/nonexistent-home-marker");
	assert_int_equal(strncmp(env.v[1], "HOME=/", 6), 0);
	strv_clear(&env);
}

/* ---- output ----------------------------------------------------------------------- */

struct lines {
	size_t n;
	long next; /* the number the next seq line must carry */
	bool in_order;
	char first[HOOK_LINE_MAX + 2];
	size_t first_len;
	char last[64];
};

static void count_seq(const char *line, size_t len, void *ud)
{
	struct lines *l = ud;
	char want[32];

	snprintf(want, sizeof(want), "%ld", l->next++);
	if (strlen(want) != len || memcmp(want, line, len) != 0 || line[len] != '\0')
		l->in_order = false;
	l->n++;
}

static void test_output_ring(void **state)
{
	const long N = 180000; /* ~1.1 MiB of "seq" output */
	struct lines l = {.next = 1, .in_order = true};
	struct buf all;
	struct hook_result res;
	const char *argv[] = {"seq", "1", "180000", NULL};
	int64_t t0;

	(void)state;
	buf_init(&all, 4 << 20);
	for (long i = 1; i <= N; i++)
		assert_int_equal(buf_addf(&all, "%ld\n", i), 0);
	assert_true(all.len > 1024 * 1024);

	struct hook_spec spec = SPEC("/usr/bin/seq");
	spec.argv = argv;
	spec.on_line = count_seq;
	spec.ud = &l;
	t0 = mono_ms();
	run_ok(&spec, &res);
	assert_true(hook_result_ok(&res));
	assert_int_equal(res.output_total, all.len);
	assert_int_equal(res.output_len, HOOK_CAPTURE_MAX);
	assert_memory_equal(res.output, all.data + all.len - HOOK_CAPTURE_MAX, HOOK_CAPTURE_MAX);
	assert_int_equal(res.output[res.output_len], '\0');
	assert_int_equal(l.n, (size_t)N);
	assert_true(l.in_order);
	assert_true(res.duration_ms >= 0 && res.duration_ms <= mono_ms() - t0);
	hook_result_free(&res);

	/* A small ring. */
	spec.on_line = NULL;
	spec.capture_max = 10;
	run_ok(&spec, &res);
	assert_int_equal(res.output_len, 10);
	assert_string_equal(res.output, "99\n180000\n");
	hook_result_free(&res);
	buf_free(&all);
}

static void keep_lines(const char *line, size_t len, void *ud)
{
	struct lines *l = ud;

	assert_int_equal(strlen(line), len);
	if (l->n == 0) {
		memcpy(l->first, line, len);
		l->first_len = len;
	} else {
		snprintf(l->last, sizeof(l->last), "%s", line);
	}
	l->n++;
}

static void test_long_line(void **state)
{
	struct hook_spec spec =
	    SPEC(sh("long", "head -c 10000 /dev/zero | tr '\\0' x; echo; printf after"));
	struct lines l = {0};
	struct hook_result res;

	(void)state;
	spec.on_line = keep_lines;
	spec.ud = &l;
	run_ok(&spec, &res);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.first_len, HOOK_LINE_MAX);
	for (size_t i = 0; i < l.first_len; i++)
		assert_int_equal(l.first[i], 'x');
	assert_string_equal(l.last, "after"); /* the last line, without '\n', at EOF */
	assert_int_equal(res.output_total, 10000 + 1 + 5);
	hook_result_free(&res);
}

/* ---- timeout and stop --------------------------------------------------------------- */

struct started {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char token[HOOK_TOKEN_MAX];
};

static void save_token(const char *token, void *ud)
{
	struct started *s = ud;

	pthread_mutex_lock(&s->mu);
	snprintf(s->token, sizeof(s->token), "%s", token);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void test_timeout(void **state)
{
	struct hook_spec spec = SPEC(sh("stubborn", "trap 'echo got TERM' TERM\n"
						    "echo started\n"
						    "while :; do sleep 1; done"));
	struct started s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, ""};
	struct hook_result res;
	char desc[128];
	int64_t t0 = mono_ms(), took;

	(void)state;
	spec.timeout_ms = 300;
	spec.grace_ms = 400;
	spec.on_start = save_token;
	spec.ud = &s;
	run_ok(&spec, &res);
	took = mono_ms() - t0;
	assert_true(res.timed_out);
	assert_false(res.stopped);
	assert_true(res.killed);
	assert_int_equal(res.signal, SIGKILL);
	assert_false(hook_result_ok(&res));
	assert_true(took >= 700);
	assert_true(took < ENDED_MS);
	assert_non_null(strstr(res.output, "started\n"));
	assert_non_null(strstr(res.output, "got TERM\n"));
	hook_result_describe(&res, desc, sizeof(desc));
	assert_string_equal(desc, "killed by signal 9 (SIGKILL) after a timeout of 300 ms");
	assert_int_equal(procs_in_group(token_pgid(s.token)), 0);
	hook_result_free(&res);

	/* A hook that obeys SIGTERM ends with it, before the grace is over. */
	struct hook_spec obey = SPEC(sh("obey", "sleep 100"));
	obey.timeout_ms = 2000;
	t0 = mono_ms();
	run_ok(&obey, &res);
	took = mono_ms() - t0;
	assert_true(res.timed_out);
	assert_false(res.killed);
	assert_int_equal(res.signal, SIGTERM);
	assert_true(took >= 2000 && took < ENDED_MS);
	hook_result_describe(&res, desc, sizeof(desc));
	assert_string_equal(desc, "killed by signal 15 (SIGTERM) after a timeout of 2 s");
	hook_result_free(&res);

	/* Output without end does not keep the run from its deadline. */
	const char *argv[] = {"yes", NULL};
	struct hook_spec flood = SPEC("/usr/bin/yes");
	flood.argv = argv;
	flood.timeout_ms = 300;
	t0 = mono_ms();
	run_ok(&flood, &res);
	took = mono_ms() - t0;
	assert_true(res.timed_out);
	assert_int_equal(res.signal, SIGTERM);
	assert_true(took >= 300 && took < ENDED_MS);
	assert_true(res.output_total > HOOK_CAPTURE_MAX);
	assert_int_equal(res.output_len, HOOK_CAPTURE_MAX);
	assert_int_equal(strspn(res.output, "y\n"), res.output_len);
	hook_result_free(&res);
}

static void *poke_later(void *arg)
{
	int fd = *(int *)arg;
	uint64_t one = 1;

	(void)poll(NULL, 0, 100);
	assert_int_equal(write(fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	return NULL;
}

static void test_stop_fd(void **state)
{
	const char *argv[] = {"sleep", "100", NULL};
	struct hook_spec spec = SPEC("/bin/sleep");
	struct started s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, ""};
	struct hook_result res;
	pthread_t th;
	int efd = eventfd(0, EFD_CLOEXEC);
	int64_t t0 = mono_ms(), took;
	char desc[128];

	(void)state;
	assert_true(efd >= 0);
	spec.argv = argv;
	spec.stop_fd = efd;
	spec.on_start = save_token;
	spec.ud = &s;
	assert_int_equal(pthread_create(&th, NULL, poke_later, &efd), 0);
	run_ok(&spec, &res);
	took = mono_ms() - t0;
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(res.stopped);
	assert_false(res.timed_out);
	assert_int_equal(res.signal, SIGTERM);
	assert_true(took >= 100 && took < ENDED_MS);
	assert_int_equal(procs_in_group(token_pgid(s.token)), 0);
	hook_result_describe(&res, desc, sizeof(desc));
	assert_string_equal(desc, "killed by signal 15 (SIGTERM) after being stopped");
	hook_result_free(&res);

	/* The hook ignores SIGTERM: SIGKILL after the grace. */
	close(efd);
	efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	struct hook_spec deaf = SPEC(sh("deafterm", "trap '' TERM; while :; do sleep 1; done"));
	deaf.stop_fd = efd;
	assert_int_equal(pthread_create(&th, NULL, poke_later, &efd), 0);
	deaf.grace_ms = 200;
	deaf.on_start = save_token;
	deaf.ud = &s;
	t0 = mono_ms();
	run_ok(&deaf, &res);
	took = mono_ms() - t0;
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(res.stopped);
	assert_true(res.killed);
	assert_int_equal(res.signal, SIGKILL);
	assert_true(took >= 300 && took < ENDED_MS);
	assert_int_equal(procs_in_group(token_pgid(s.token)), 0);
	hook_result_free(&res);
	close(efd);
}

/* ---- what a hook leaves behind ------------------------------------------------------- */

static void test_background_killed(void **state)
{
	struct hook_spec spec = SPEC(sh("bg", "sleep 100 &\necho $!\n(sleep 100; echo late) &\n"
					      "echo leader done"));
	struct started s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, ""};
	struct hook_result res;
	int64_t t0 = mono_ms();
	long bg = 0;
	int zombies = -1;

	(void)state;
	spec.on_start = save_token;
	spec.ud = &s;
	run_ok(&spec, &res);
	assert_true(mono_ms() - t0 < 3000);
	assert_true(hook_result_ok(&res));
	assert_int_equal(sscanf(res.output, "%ld", &bg), 1);
	assert_non_null(strstr(res.output, "leader done\n"));
	assert_null(strstr(res.output, "late"));
	assert_int_equal(kill((pid_t)bg, 0), -1);
	assert_int_equal(errno, ESRCH); /* killed and reaped: not even a zombie */
	assert_int_equal(procs_in_group(token_pgid(s.token)), 0);
	assert_int_equal(children(&zombies), 0);
	assert_int_equal(zombies, 0);
	hook_result_free(&res);
}

/* Waits until pid is a zombie (true) or gone (false). */
static bool wait_zombie(long pid)
{
	char name[24];

	snprintf(name, sizeof(name), "%ld", pid);
	for (int i = 0; i < 500; i++) {
		char st = 0;
		long pg;
		if (!stat_fields(name, &st, &pg))
			return false;
		if (st == 'Z')
			return true;
		(void)poll(NULL, 0, 10);
	}
	return false;
}

static void test_escaped(void **state)
{
	/* A grandchild in a session of its own is not the group's: it lives on,
	 * becomes our zombie when it exits, and hook_reap_escaped() reaps it. */
	struct hook_spec spec = SPEC(
	    sh("escape", "rm -f m1\n"
			 "setsid sh -c 'touch m1; exec sleep 0.3' </dev/null >/dev/null 2>&1 &\n"
			 "echo $!\n"
			 "while [ ! -e m1 ]; do sleep 0.01; done"));
	struct hook_result res;
	long esc = 0;
	int zombies = -1;
	int64_t t0;

	(void)state;
	spec.cwd = tmpdir;
	run_ok(&spec, &res);
	assert_int_equal(sscanf(res.output, "%ld", &esc), 1);
	hook_result_free(&res);
	assert_true(wait_zombie(esc));
	assert_int_equal(children(&zombies), 1);
	assert_int_equal(zombies, 1);
	assert_int_equal(hook_reap_escaped(), 1);
	assert_int_equal(children(&zombies), 0);

	/* One that keeps the output open: the run stops reading HOOK_DRAIN_MS
	 * after the leader's exit, with what came before. */
	struct hook_spec holder = SPEC(sh("holder", "rm -f m2\n"
						    "setsid sh -c 'touch m2; exec sleep 30' &\n"
						    "echo $!\n"
						    "while [ ! -e m2 ]; do sleep 0.01; done"));
	holder.cwd = tmpdir;
	t0 = mono_ms();
	run_ok(&holder, &res);
	assert_true(mono_ms() - t0 >= HOOK_DRAIN_MS && mono_ms() - t0 < HOOK_DRAIN_MS + 2000);
	assert_int_equal(sscanf(res.output, "%ld", &esc), 1);
	assert_true(hook_result_ok(&res));
	hook_result_free(&res);
	assert_int_equal(kill((pid_t)esc, SIGKILL), 0);
	assert_true(wait_zombie(esc));
	assert_int_equal(hook_reap_escaped(), 1);
	assert_int_equal(children(&zombies), 0);
}

static void test_no_fd_leak(void **state)
{
	const char *argv[] = {"ls", "/proc/self/fd", NULL};
	struct hook_spec spec = SPEC("/bin/ls");
	struct hook_spec t = SPEC("/bin/true");
	struct hook_result res;
	int p[2], nul, before, efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	assert_int_equal(pipe(p), 0); /* no O_CLOEXEC: a careless fork would leak these */
	nul = open("/dev/null", O_RDONLY);
	assert_true(nul >= 0);
	spec.argv = argv;
	spec.input = "x";
	spec.input_len = 1;
	run_ok(&spec, &res);
	assert_string_equal(res.output, "0\n1\n2\n3\n"); /* 3: ls's own directory */
	hook_result_free(&res);

	before = open_fds();
	t.stop_fd = efd;
	t.on_start = save_token;
	struct started s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, ""};
	t.ud = &s;
	for (int i = 0; i < 100; i++) {
		t.input = i % 2 ? "in" : NULL;
		t.input_len = 2;
		run_ok(&t, &res);
		assert_true(hook_result_ok(&res));
		hook_result_free(&res);
	}
	assert_int_equal(open_fds(), before);
	close(p[0]);
	close(p[1]);
	close(nul);
	close(efd);
}

/* ---- spawn errors ---------------------------------------------------------------- */

static void test_spawn_errors(void **state)
{
	char missing[128], dir[128];
	struct hook_result res = {.exit_code = 77};

	(void)state;
	snprintf(missing, sizeof(missing), "%s/no-such-hook", tmpdir);
	snprintf(dir, sizeof(dir), "%s/subdir", tmpdir);
	assert_int_equal(mkdir_p(dir), 0);
	const struct {
		const char *path, *cwd;
		int r;
	} cases[] = {
	    {missing, NULL, -ENOENT},
	    {script("noexec", "#!/bin/sh\nexit 0\n", 0644), NULL, -EACCES},
	    {script("garbage", "\x7f\x01garbage, not a program\n", 0755), NULL, -ENOEXEC},
	    {dir, NULL, -EACCES},
	    {"/bin/true", missing, -ENOENT},
	    {"", NULL, -EINVAL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hook_spec spec = SPEC(cases[i].path);
		spec.cwd = cases[i].cwd;
		assert_int_equal(hook_run(&spec, &res), cases[i].r);
		assert_int_equal(res.exit_code, 77); /* untouched */
	}
	int zombies = -1;
	assert_int_equal(children(&zombies), 0);
}

/* ---- crash-recovery tokens -------------------------------------------------------------- */

struct bg_run {
	struct hook_spec spec;
	struct hook_result res;
	int r;
};

static void *run_thread(void *arg)
{
	struct bg_run *b = arg;

	b->r = hook_run(&b->spec, &b->res);
	return NULL;
}

static void test_kill_token(void **state)
{
	static const char *const malformed[] = {
	    "",
	    "abc",
	    "12",
	    "12 boot",
	    "-5 boot 7",
	    "1 boot 7",
	    "12 boot 7 extra",
	    " 12 boot 7",
	    "12 boot x",
	    "99999999999 boot 7",
	};
	struct started s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, ""};
	char other[HOOK_TOKEN_MAX], gone[HOOK_TOKEN_MAX];
	struct hook_result res;
	long pgid;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(malformed); i++)
		assert_int_equal(hook_kill_token(malformed[i]), -EINVAL);

	/* A group that ended. */
	struct hook_spec t = SPEC("/bin/true");
	t.on_start = save_token;
	t.ud = &s;
	run_ok(&t, &res);
	hook_result_free(&res);
	assert_true(s.token[0] != '\0');
	snprintf(gone, sizeof(gone), "%s", s.token);
	assert_int_equal(hook_kill_token(gone), 0);

	/* A live group: a thread runs sleep, the token kills it. */
	const char *argv[] = {"sleep", "100", NULL};
	struct bg_run b = {.spec = SPEC("/bin/sleep")};
	pthread_t th;
	s.token[0] = '\0';
	b.spec.argv = argv;
	b.spec.on_start = save_token;
	b.spec.ud = &s;
	assert_int_equal(pthread_create(&th, NULL, run_thread, &b), 0);
	pthread_mutex_lock(&s.mu);
	while (!s.token[0])
		pthread_cond_wait(&s.cv, &s.mu);
	pthread_mutex_unlock(&s.mu);
	pgid = token_pgid(s.token);
	assert_int_equal(procs_in_group(pgid), 1);

	/* Same group, another boot: left alone. */
	snprintf(other, sizeof(other), "%ld 00000000-0000-0000-0000-000000000000 %s", pgid,
		 strrchr(s.token, ' ') + 1);
	assert_int_equal(hook_kill_token(other), 0);
	/* Same boot, another start time (the pid reused): left alone. */
	snprintf(other, sizeof(other), "%.*s 1", (int)(strrchr(s.token, ' ') - s.token), s.token);
	assert_int_equal(hook_kill_token(other), 0);
	assert_int_equal(procs_in_group(pgid), 1);

	assert_int_equal(hook_kill_token(s.token), 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(b.r, 0);
	assert_int_equal(b.res.signal, SIGKILL);
	assert_false(b.res.stopped);
	assert_false(b.res.timed_out);
	hook_result_free(&b.res);
	assert_int_equal(procs_in_group(pgid), 0);
	assert_int_equal(hook_kill_token(s.token), 0);
}

/* ---- several threads --------------------------------------------------------------------- */

#define THREADS 6
#define RUNS 15

struct worker {
	int id;
	const char *path;
	int failures;
};

static void *worker(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < RUNS; i++) {
		char a[16], code[16], want[64];
		const char *argv[] = {w->path, a, code, NULL};
		struct hook_spec spec = SPEC(w->path);
		struct hook_result res;

		snprintf(a, sizeof(a), "w%d-%d", w->id, i);
		snprintf(code, sizeof(code), "%d", (w->id + i) % 7);
		spec.argv = argv;
		spec.input = a;
		spec.input_len = strlen(a);
		int r = hook_run(&spec, &res);
		if (r < 0) {
			fprintf(stderr, "worker %d run %d: %s\n", w->id, i, strerror(-r));
			w->failures++;
			continue;
		}
		snprintf(want, sizeof(want), "%s\n%s\n", a, a);
		if (strcmp(res.output, want) != 0 || res.signal != 0 ||
		    res.exit_code != (w->id + i) % 7) {
			fprintf(stderr, "worker %d run %d: exit %d signal %d output \"%s\"\n",
				w->id, i, res.exit_code, res.signal, res.output);
			w->failures++;
		}
		hook_result_free(&res);
	}
	return NULL;
}

static void test_threads(void **state)
{
	const char *path = sh("par", "echo \"$1\"; cat; echo; exit \"$2\"");
	struct worker w[THREADS];
	pthread_t th[THREADS];
	int zombies = -1;

	(void)state;
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.id = i, .path = path};
		assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(w[i].failures, 0);
	assert_int_equal(children(&zombies), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exit_status),	      cmocka_unit_test(test_argv_cwd),
	    cmocka_unit_test(test_stdin_null),	      cmocka_unit_test(test_stdin_input),
	    cmocka_unit_test(test_env_exact),	      cmocka_unit_test(test_env_rules),
	    cmocka_unit_test(test_output_ring),	      cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_timeout),	      cmocka_unit_test(test_stop_fd),
	    cmocka_unit_test(test_background_killed), cmocka_unit_test(test_escaped),
	    cmocka_unit_test(test_no_fd_leak),	      cmocka_unit_test(test_spawn_errors),
	    cmocka_unit_test(test_kill_token),	      cmocka_unit_test(test_threads),
	};
	int r;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_hookrun.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	if (hook_runner_init() < 0)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	(void)rm_rf(tmpdir);
	return r;
}
