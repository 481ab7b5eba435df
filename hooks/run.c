/*
 * The hook runner: one executable in a session and process group of its
 * own, watched by one poll loop until nothing of its group is left.
 *
 * A run is: pipes (all O_CLOEXEC and above descriptor 2, so that a spawn in
 * another thread never inherits them), posix_spawn() with POSIX_SPAWN_SETSID
 * and a close-from-3 file action, a pidfd of the child, then a poll loop
 * over the output pipe, the input pipe, stop_fd, the pidfd and the
 * deadlines. When the pidfd says the leader exited, its status is peeked
 * with WNOWAIT: the leader stays a zombie, so its pid — the group's id —
 * cannot be reused while the rest of the group gets SIGKILL. Then the
 * output is read to EOF (bounded by HOOK_DRAIN_MS), the leader is reaped
 * and waitpid(-PGID) reaps every other member that became our child.
 *
 * Each group is registered (runproc.c) from its spawn until every member
 * is reaped, so that the reaper of escaped zombies, which every run ends
 * with a try at, leaves it alone.
 *
 * Library code: nothing is logged, no signal handler is installed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "run_int.h"
#include "banned.h"

static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* ---- small helpers ---------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Moves a new O_CLOEXEC descriptor above 2, so that dup2() onto 0..2 in the
 * child never meets one of its own sources. Returns the descriptor or -errno. */
static int fd_above_stdio(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		nfd = -errno;
	close(fd);
	return nfd;
}

static int make_pipe(int p[2], int nonblock_end)
{
	int q[2];

	if (pipe2(q, O_CLOEXEC) < 0)
		return -errno;
	p[0] = fd_above_stdio(q[0]);
	p[1] = fd_above_stdio(q[1]);
	if (p[0] < 0 || p[1] < 0) {
		int r = p[0] < 0 ? p[0] : p[1];
		if (p[0] >= 0)
			close(p[0]);
		if (p[1] >= 0)
			close(p[1]);
		return r;
	}
	if (fcntl(p[nonblock_end], F_SETFL, O_NONBLOCK) < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	return 0;
}

#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _fd_ = (fd);                                                                   \
		(fd) = -1;                                                                         \
		_fd_;                                                                              \
	})

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- output: the ring and the lines ------------------------------------------ */

struct capture {
	char *ring; /* cap bytes; the newest byte before `head` */
	size_t cap, head, len;
	uint64_t total;
	char line[HOOK_LINE_MAX + 1];
	size_t line_len;
	bool line_cut; /* dropping the rest of a line longer than HOOK_LINE_MAX */
	void (*on_line)(const char *line, size_t len, void *ud);
	void *ud;
};

static void capture_line_end(struct capture *c)
{
	c->line[c->line_len] = '\0';
	if (!c->line_cut)
		c->on_line(c->line, c->line_len, c->ud);
	c->line_len = 0;
	c->line_cut = false;
}

static void capture_add(struct capture *c, const char *p, size_t n)
{
	c->total += n;
	if (c->on_line)
		for (size_t i = 0; i < n; i++) {
			if (p[i] == '\n') {
				capture_line_end(c);
			} else if (c->line_len < HOOK_LINE_MAX) {
				c->line[c->line_len++] = p[i];
			} else if (!c->line_cut) {
				c->line[c->line_len] = '\0';
				c->on_line(c->line, c->line_len, c->ud);
				c->line_cut = true;
			}
		}
	if (n >= c->cap) {
		memcpy(c->ring, p + n - c->cap, c->cap);
		c->head = 0;
		c->len = c->cap;
		return;
	}
	size_t first = c->cap - c->head < n ? c->cap - c->head : n;
	memcpy(c->ring + c->head, p, first);
	memcpy(c->ring, p + first, n - first);
	c->head = (c->head + n) % c->cap;
	c->len = c->len + n < c->cap ? c->len + n : c->cap;
}

/* The kept bytes in order, NUL-terminated, into a new string (NULL on ENOMEM). */
static char *capture_take(struct capture *c)
{
	char *out = malloc(c->len + 1);
	size_t start = (c->head + c->cap - c->len) % c->cap;
	size_t first = c->cap - start < c->len ? c->cap - start : c->len;

	if (!out)
		return NULL;
	memcpy(out, c->ring + start, first);
	memcpy(out + first, c->ring, c->len - first);
	out[c->len] = '\0';
	return out;
}

/* Reads what is there, at most 256 KiB (a hook writing without end must not
 * keep the loop from its deadlines). 1 at EOF (or a read error), 0 otherwise. */
static int capture_read(struct capture *c, int fd)
{
	char buf[16384];

	for (int i = 0; i < 16; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			capture_add(c, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (c->on_line && (c->line_len > 0 || c->line_cut))
			capture_line_end(c);
		return 1;
	}
	return 0;
}

/* ---- input ------------------------------------------------------------------- */

/*
 * Writes what the pipe takes. SIGPIPE is blocked around the write, and the
 * one an EPIPE raised in this thread is consumed, unless one was pending
 * already. 1 when done (all written, or the reader is gone), 0 otherwise.
 */
static int input_write(int fd, const char *p, size_t n, size_t *off)
{
	sigset_t pipe_set, old, pending;
	bool was_pending;
	int done = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	while (*off < n) {
		ssize_t w = write(fd, p + *off, n - *off);
		if (w > 0) {
			*off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0 && errno == EPIPE && !was_pending) {
			const struct timespec zero = {0, 0};
			while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
				;
		}
		done = 1; /* EPIPE or another error: the child does not read */
		break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return done || *off == n;
}

/* ---- the run ----------------------------------------------------------------- */

static int spawn_attrs(posix_spawnattr_t *a)
{
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	if ((r = posix_spawnattr_init(a)) != 0)
		return -r;
	if ((r = posix_spawnattr_setflags(a, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
						 POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (r = posix_spawnattr_setsigmask(a, &none)) != 0 ||
	    (r = posix_spawnattr_setsigdefault(a, &all)) != 0) {
		posix_spawnattr_destroy(a);
		return -r;
	}
	return 0;
}

static int spawn_actions(posix_spawn_file_actions_t *fa, int in_fd, int out_fd, const char *cwd)
{
	int r;

	if ((r = posix_spawn_file_actions_init(fa)) != 0)
		return -r;
	if (in_fd >= 0)
		r = posix_spawn_file_actions_adddup2(fa, in_fd, 0);
	else
		r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(fa, out_fd, 1);
	if (r == 0)
		r = posix_spawn_file_actions_adddup2(fa, out_fd, 2);
	if (r == 0)
		r = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	if (r == 0)
		r = posix_spawn_file_actions_addchdir_np(fa, cwd ? cwd : "/");
	if (r != 0) {
		posix_spawn_file_actions_destroy(fa);
		return -r;
	}
	return 0;
}

struct run {
	const struct hook_spec *spec;
	pid_t pid;
	int pidfd, out_fd, in_fd, stop_fd;
	size_t in_off;
	int64_t start, deadline, kill_at, drain_until; /* ms; -1: none */
	int64_t next_check; /* without a pidfd: when to look at the leader again */
	int check_ms;
	bool exited, eof;
	siginfo_t si;
	struct capture cap;
	struct hook_result res;
};

static void group_signal(struct run *rn, int sig)
{
	(void)kill(-rn->pid, sig);
}

static void begin_termination(struct run *rn, int64_t now)
{
	group_signal(rn, SIGTERM);
	rn->kill_at = now + (rn->spec->grace_ms > 0 ? rn->spec->grace_ms : HOOK_GRACE_MS);
}

/* waitid() on the leader, through its pidfd when there is one. True when it
 * has exited (flags has WNOHANG) or on any return (without). */
static bool leader_wait(struct run *rn, siginfo_t *si, int flags)
{
	memset(si, 0, sizeof(*si));
	while ((rn->pidfd >= 0 ? waitid(P_PIDFD, (id_t)rn->pidfd, si, WEXITED | flags)
			       : waitid(P_PID, (id_t)rn->pid, si, WEXITED | flags)) < 0 &&
	       errno == EINTR)
		;
	return si->si_pid != 0;
}

/* The leader exited: peek its status (it stays a zombie), kill the rest. */
static void leader_exited(struct run *rn, int64_t now)
{
	(void)leader_wait(rn, &rn->si, WNOWAIT);
	rn->exited = true;
	rn->res.duration_ms = now - rn->start;
	group_signal(rn, SIGKILL);
	close_fd(&rn->in_fd);
	rn->drain_until = now + HOOK_DRAIN_MS;
}

static int64_t next_deadline(const struct run *rn)
{
	int64_t d = -1;
	const int64_t c[] = {rn->exited ? -1 : rn->deadline, rn->exited ? -1 : rn->kill_at,
			     rn->exited ? rn->drain_until : -1, rn->exited ? -1 : rn->next_check};

	for (size_t i = 0; i < ARRAY_SIZE(c); i++)
		if (c[i] >= 0 && (d < 0 || c[i] < d))
			d = c[i];
	return d;
}

static void run_loop(struct run *rn)
{
	const struct hook_spec *spec = rn->spec;

	while (!(rn->exited && rn->eof)) {
		struct pollfd p[4];
		int n = 0, i_out = -1, i_in = -1, i_stop = -1, i_pid = -1;
		int64_t now = now_ms(), d = next_deadline(rn);

		if (d >= 0 && now >= d) {
			if (rn->exited)
				break; /* an escaped process holds the output: stop reading */
			if (rn->next_check >= 0 && now >= rn->next_check) {
				siginfo_t si;
				if (leader_wait(rn, &si, WNOHANG | WNOWAIT)) {
					rn->next_check = -1;
					leader_exited(rn, now);
					continue;
				}
				rn->check_ms = rn->check_ms < 25 ? 2 * rn->check_ms : 50;
				rn->next_check = now + rn->check_ms;
			}
			if (rn->kill_at >= 0 && now >= rn->kill_at) {
				group_signal(rn, SIGKILL);
				rn->res.killed = true;
				rn->kill_at = -1;
			} else if (rn->deadline >= 0 && now >= rn->deadline) {
				rn->deadline = -1;
				if (!rn->res.stopped) {
					rn->res.timed_out = true;
					begin_termination(rn, now);
				}
			}
			continue;
		}
		if (!rn->eof) {
			i_out = n;
			p[n++] = (struct pollfd){.fd = rn->out_fd, .events = POLLIN};
		}
		if (rn->in_fd >= 0) {
			i_in = n;
			p[n++] = (struct pollfd){.fd = rn->in_fd, .events = POLLOUT};
		}
		if (rn->stop_fd >= 0 && !rn->exited) {
			i_stop = n;
			p[n++] = (struct pollfd){.fd = rn->stop_fd, .events = POLLIN};
		}
		if (!rn->exited && rn->pidfd >= 0) {
			i_pid = n;
			p[n++] = (struct pollfd){.fd = rn->pidfd, .events = POLLIN};
		}
		int64_t wait = d < 0 ? -1 : d - now;
		if (poll(p, (nfds_t)n, wait > INT32_MAX ? INT32_MAX : (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			(void)poll(NULL, 0, 10); /* ENOMEM: try again shortly */
			continue;
		}
		now = now_ms();
		if (i_out >= 0 && p[i_out].revents)
			rn->eof = capture_read(&rn->cap, rn->out_fd) == 1;
		if (i_in >= 0 && p[i_in].revents &&
		    input_write(rn->in_fd, spec->input, spec->input_len, &rn->in_off))
			close_fd(&rn->in_fd);
		if (i_stop >= 0 && p[i_stop].revents) {
			rn->stop_fd = -1; /* level-triggered and not ours to read */
			if (!rn->res.timed_out && rn->kill_at < 0) {
				rn->res.stopped = true;
				begin_termination(rn, now);
			}
		}
		if (i_pid >= 0 && p[i_pid].revents)
			leader_exited(rn, now);
	}
}

/* Reaps the leader, then every other member of its group that is our child. */
static void reap_group(struct run *rn)
{
	siginfo_t si;

	(void)leader_wait(rn, &si, 0);
	for (;;) {
		pid_t w = waitpid(-rn->pid, NULL, WNOHANG);
		if (w > 0 || (w < 0 && errno == EINTR))
			continue;
		if (w < 0)
			break; /* ECHILD: none left */
		/* One still dying, or one that rejoined the group after the kill. */
		group_signal(rn, SIGKILL);
		(void)poll(NULL, 0, 1);
	}
}

static void result_fill(struct run *rn)
{
	rn->res.timeout_ms = rn->spec->timeout_ms;
	if (rn->si.si_code == CLD_EXITED) {
		rn->res.exit_code = rn->si.si_status;
	} else {
		rn->res.signal = rn->si.si_status;
		rn->res.exit_code = -1;
	}
	rn->res.output_total = rn->cap.total;
	rn->res.output_len = rn->cap.len;
}

static int spawn(struct run *rn, int child_in, int child_out)
{
	const struct hook_spec *spec = rn->spec;
	const char *const argv0[] = {spec->path, NULL};
	const char *const env0[] = {NULL};
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	int r;

	if ((r = spawn_attrs(&attr)) < 0)
		return r;
	if ((r = spawn_actions(&fa, child_in, child_out, spec->cwd)) < 0) {
		posix_spawnattr_destroy(&attr);
		return r;
	}
	r = hook_spawn_begin();
	if (r == 0) {
		r = -posix_spawn(&rn->pid, spec->path, &fa, &attr,
				 (char *const *)(spec->argv ? spec->argv : argv0),
				 (char *const *)(spec->env ? spec->env : env0));
		hook_spawn_end(r == 0 ? rn->pid : 0);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return r;
}

static void announce(struct run *rn)
{
	char token[HOOK_TOKEN_MAX];

	/* Our unreaped child always has a /proc entry; 0 matches no start time. */
	if (hook_token_format(rn->pid, token) < 0)
		snprintf(token, sizeof(token), "%ld %s 0", (long)rn->pid, hook_boot_id());
	rn->spec->on_start(token, rn->spec->ud);
}

int hook_run(const struct hook_spec *spec, struct hook_result *ret)
{
	struct run rn = {.spec = spec,
			 .pidfd = -1,
			 .next_check = -1,
			 .out_fd = -1,
			 .in_fd = -1,
			 .stop_fd = spec ? spec->stop_fd : -1,
			 .deadline = -1,
			 .kill_at = -1,
			 .drain_until = -1};
	int out[2] = {-1, -1}, in[2] = {-1, -1}, r;

	if (!spec || !spec->path || !spec->path[0])
		return -EINVAL;
	rn.cap.cap = spec->capture_max ? spec->capture_max : HOOK_CAPTURE_MAX;
	rn.cap.on_line = spec->on_line;
	rn.cap.ud = spec->ud;
	rn.cap.ring = malloc(rn.cap.cap);
	if (!rn.cap.ring)
		return -ENOMEM;
	if ((r = make_pipe(out, 0)) < 0)
		goto out;
	if (spec->input && (r = make_pipe(in, 1)) < 0)
		goto out;
	rn.out_fd = TAKE_FD(out[0]);
	rn.in_fd = TAKE_FD(in[1]);
	r = spawn(&rn, in[0], out[1]);
	close_fd(&out[1]);
	close_fd(&in[0]);
	if (r < 0)
		goto out;
	rn.start = now_ms();
	rn.pidfd = (int)syscall(SYS_pidfd_open, rn.pid, 0);
	if (rn.pidfd < 0 && (errno == ENOSYS || errno == EPERM || errno == EINVAL)) {
		/* No pidfds (before Linux 5.3, a seccomp filter, valgrind): look
		 * at the leader with waitid(WNOHANG) every 1, 2, 4 ... 50 ms. */
		rn.check_ms = 1;
		rn.next_check = rn.start + 1;
	} else if (rn.pidfd < 0) {
		/* EMFILE/ENFILE/ENOMEM: do not leave the child running. */
		r = -errno;
		(void)kill(-rn.pid, SIGKILL);
		while (waitpid(rn.pid, NULL, 0) < 0 && errno == EINTR)
			;
		while (waitpid(-rn.pid, NULL, 0) > 0 || errno == EINTR)
			;
		hook_group_done(rn.pid);
		goto out;
	}
	if (spec->timeout_ms > 0)
		rn.deadline = rn.start + spec->timeout_ms;
	if (spec->on_start)
		announce(&rn);
	if (rn.in_fd >= 0 && spec->input_len == 0)
		close_fd(&rn.in_fd);
	run_loop(&rn);
	reap_group(&rn);
	hook_group_done(rn.pid);
	hook_reap_escaped_try();
	result_fill(&rn);
	rn.res.output = capture_take(&rn.cap);
	if (!rn.res.output) {
		r = -ENOMEM; /* it ran, but the result cannot be given */
		goto out;
	}
	*ret = rn.res;
	r = 0;
out:
	close_fd(&rn.pidfd);
	close_fd(&rn.out_fd);
	close_fd(&rn.in_fd);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&in[0]);
	close_fd(&in[1]);
	free(rn.cap.ring);
	return r;
}

void hook_result_free(struct hook_result *r)
{
	if (!r)
		return;
	free(r->output);
	r->output = NULL;
	r->output_len = 0;
}

bool hook_result_ok(const struct hook_result *r)
{
	return r->signal == 0 && r->exit_code == 0 && !r->timed_out && !r->stopped;
}

void hook_result_describe(const struct hook_result *r, char *out, size_t len)
{
	char how[64], why[64] = "";

	if (!out || len == 0)
		return;
	if (r->signal)
		snprintf(how, sizeof(how), "killed by signal %d (SIG%s)", r->signal,
			 sigabbrev_np(r->signal) ? sigabbrev_np(r->signal) : "?");
	else
		snprintf(how, sizeof(how), "exit status %d", r->exit_code);
	if (r->timed_out && r->timeout_ms % 1000 == 0)
		snprintf(why, sizeof(why), " after a timeout of %lld s",
			 (long long)(r->timeout_ms / 1000));
	else if (r->timed_out)
		snprintf(why, sizeof(why), " after a timeout of %lld ms", (long long)r->timeout_ms);
	else if (r->stopped)
		snprintf(why, sizeof(why), " after being stopped");
	snprintf(out, len, "%s%s", how, why);
}

/* ---- the environment ------------------------------------------------------------ */

static size_t var_name_len(const char *v)
{
	const char *eq = strchr(v, '=');
	return eq ? (size_t)(eq - v) : 0;
}

static bool var_is(const char *v, const char *name)
{
	size_t n = strlen(name);
	return var_name_len(v) == n && strncmp(v, name, n) == 0;
}

static bool vars_have(const char *const *vars, const char *name)
{
	for (size_t i = 0; vars && vars[i]; i++)
		if (var_is(vars[i], name))
			return true;
	return false;
}

static int push_home(struct strv *sv)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_dir &&
	    res->pw_dir[0])
		return strv_pushf(sv, "HOME=%s", res->pw_dir);
	return strv_push(sv, "HOME=/");
}

int hook_env_build(const struct hook_env *he, struct strv *ret)
{
	const char *const *vars = he ? he->vars : NULL;
	int r;

	for (size_t i = 0; vars && vars[i]; i++) {
		size_t n = var_name_len(vars[i]);
		if (n == 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (var_name_len(vars[j]) == n && strncmp(vars[i], vars[j], n) == 0)
				return -EINVAL;
	}
	if (!vars_have(vars, "PATH")) {
		if (he && he->tools_dir)
			r = strv_pushf(ret, "PATH=%s:%s", he->tools_dir, default_path);
		else
			r = strv_pushf(ret, "PATH=%s", default_path);
		if (r < 0)
			return r;
	}
	if (!vars_have(vars, "HOME")) {
		r = he && he->home ? strv_pushf(ret, "HOME=%s", he->home) : push_home(ret);
		if (r < 0)
			return r;
	}
	if (!vars_have(vars, "LANG") && (r = strv_push(ret, "LANG=C.UTF-8")) < 0)
		return r;
	for (size_t i = 0; vars && vars[i]; i++)
		if ((r = strv_push(ret, vars[i])) < 0)
			return r;
	return 0;
}
