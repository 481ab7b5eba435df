/*
 * The hook runner (SPEC §4.6, §4.7): runs one executable — a charm hook or
 * an event hook — in a session and process group of its own, feeds it its
 * standard input, captures its output (bounded), enforces a timeout and a
 * stop request, and leaves nothing behind: every process of its group is
 * killed and reaped when it ends. Pure POSIX + Linux (posix_spawn, pidfd);
 * no FUSE, no SQLite.
 *
 * Guarantees of one run (hook_run()):
 *  - The child is spawned with posix_spawn() (vfork-fast) with
 *    POSIX_SPAWN_SETSID: it leads a new session and process group whose id
 *    is its pid (PGID). Its signal mask is empty and every signal has its
 *    default action (a SIG_IGN of the daemon's does not leak).
 *  - Only descriptors 0, 1 and 2 are open in it: 0 is /dev/null or a pipe
 *    carrying spec->input, 1 and 2 are one pipe, so stdout and stderr
 *    interleave in the order written.
 *  - When the child (the group leader) exits, every other process still in
 *    its group gets SIGKILL, the output is read to its end and every
 *    process of the group that is our child is reaped (waitpid(-PGID)).
 *    Processes the leader left behind are our children only when the daemon
 *    is a child subreaper: call hook_runner_init() once at start-up.
 *    A process that left the group (setsid(), setpgid()) escapes this:
 *    it is not killed at the end of the run, and if it keeps the output
 *    pipe open the run stops reading HOOK_DRAIN_MS after the leader's exit.
 *  - Timeout and stop: when timeout_ms passes, or stop_fd becomes readable,
 *    the group gets SIGTERM, and SIGKILL grace_ms later if the leader is
 *    still there. The run still returns 0; the result says why it ended.
 *  - No signal handler is installed and SIGCHLD is not used: the leader is
 *    watched through a pidfd (without pidfds — Linux < 5.3, a seccomp
 *    filter, valgrind — by waitid(WNOHANG) every 1, 2, 4 ... 50 ms). SIGPIPE from writing the input
 *to a child that does not read it is blocked and consumed in the calling thread.
 *
 * Thread-safety: hook_run() may be called from several threads at once;
 * each run is independent. A run blocks its thread until the hook ends.
 *
 * Calling sequence, e.g. in a change-engine task handler:
 *
 *	struct strv env = { 0 };
 *	r = hook_env_build(&(struct hook_env){ .tools_dir = dir, .vars = vars }, &env);
 *	struct hook_spec spec = { .path = p, .env = (const char *const *)env.v,
 *				  .timeout_ms = t, .stop_fd = engine_run_stop_fd(run),
 *				  .on_start = save_token, .ud = ctx };
 *	struct hook_result res;
 *	r = hook_run(&spec, &res);            // < 0: it never started
 *	... hook_result_ok(&res), hook_result_describe(&res, msg, sizeof(msg)),
 *	    res.output ...
 *	hook_result_free(&res);
 *	strv_clear(&env);
 *
 * and after a daemon restart, for a task whose token was saved by on_start
 * while it was Doing: hook_kill_token(token) before running it again.
 */
#ifndef CHARMFS_HOOK_RUN_H
#define CHARMFS_HOOK_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Output kept by default: the last 64 KiB. */
#define HOOK_CAPTURE_MAX (64 * 1024)
/* Default time between SIGTERM and SIGKILL. */
#define HOOK_GRACE_MS 5000
/* Longest line given to on_line; the rest of a longer line is dropped. */
#define HOOK_LINE_MAX 4096
/* How long output is still read after the leader exited and the rest of its
 * group was killed (only an escaped process can keep the pipe open). */
#define HOOK_DRAIN_MS 1000
/* Size of a token buffer: "PGID BOOT_ID START_TIME" and its NUL. */
#define HOOK_TOKEN_MAX 96

struct hook_spec {
	const char *path;	 /* the executable (no PATH search) */
	const char *const *argv; /* NULL: { path, NULL } */
	const char *const *env;	 /* the complete environment, NULL-terminated
				  * (hook_env_build()); NULL: an empty one */
	const char *cwd;	 /* NULL: "/" */
	const void *input;	 /* standard input (e.g. event JSON); NULL: /dev/null */
	size_t input_len;
	int64_t timeout_ms; /* <= 0: none */
	int64_t grace_ms;   /* <= 0: HOOK_GRACE_MS */
	int stop_fd;	    /* -1 (set it: 0 is a descriptor), or one that becomes
			     * readable when the run must stop (engine_run_stop_fd());
			     * polled, never read */
	size_t capture_max; /* 0: HOOK_CAPTURE_MAX */
	/* Called once, in the calling thread, as soon as the group exists, with
	 * its crash-recovery token (for hook_kill_token()); may be NULL. */
	void (*on_start)(const char *token, void *ud);
	/* Called in the calling thread for each line of output as it arrives,
	 * without its '\n', NUL-terminated, at most HOOK_LINE_MAX bytes (a longer
	 * line is cut); a last line without '\n' comes at the end. May be NULL. */
	void (*on_line)(const char *line, size_t len, void *ud);
	void *ud;
};

struct hook_result {
	int exit_code;	     /* valid when signal == 0 */
	int signal;	     /* the signal that ended it, 0 when it exited */
	bool timed_out;	     /* SIGTERM was sent because timeout_ms passed */
	bool stopped;	     /* SIGTERM was sent because stop_fd became readable */
	bool killed;	     /* SIGKILL was sent after the grace period */
	int64_t timeout_ms;  /* the spec's, for hook_result_describe() */
	int64_t duration_ms; /* from spawn to the leader's exit */
	char *output;	     /* the last capture_max bytes of stdout+stderr,
			      * NUL-terminated; owned by the result */
	size_t output_len;
	uint64_t output_total; /* bytes written in all; output_total - output_len were cut */
};

/*
 * Makes the calling process a child subreaper (prctl PR_SET_CHILD_SUBREAPER),
 * so that what a hook leaves behind becomes the daemon's child and is
 * reaped by the run (see above). Call once at start-up, after anything that
 * daemonises (it applies to the calling process). Consequence for the rest
 * of the daemon: any orphaned descendant becomes its child; the runner reaps
 * those of hook groups, and a process that escaped a hook's group leaves a
 * zombie when it exits until hook_reap_escaped() is called. 0 or -errno.
 */
int hook_runner_init(void) WUR;

/*
 * Runs spec->path and waits until it and its group are gone (see the
 * guarantees above). Returns 0 when it ran, whatever its exit status, with
 * the result in *ret (hook_result_free() it); otherwise *ret is untouched
 * and the error is the one of starting it: -ENOENT, -EACCES, -ENOEXEC,
 * -ENOTDIR, -E2BIG (posix_spawn()'s, including a cwd that cannot be
 * entered), -EINVAL (no path), -ENOMEM, -EMFILE.
 */
int hook_run(const struct hook_spec *spec, struct hook_result *ret) WUR;

/* Frees the output; accepts NULL and a zeroed result. */
void hook_result_free(struct hook_result *r);

/* True when it exited with status 0 and was neither timed out nor stopped. */
bool hook_result_ok(const struct hook_result *r);

/*
 * One line describing how it ended, for logs, into out[len] (cut to fit):
 * "exit status 3", "killed by signal 9 (SIGKILL)", "killed by signal 9
 * (SIGKILL) after a timeout of 300 s", "exit status 0 after being stopped".
 */
void hook_result_describe(const struct hook_result *r, char *out, size_t len);

/* The environment of a hook (hook_env_build()). */
struct hook_env {
	const char *tools_dir;	 /* first on PATH; NULL: none */
	const char *home;	 /* HOME; NULL: the effective user's home, or "/" */
	const char *const *vars; /* "NAME=value" entries, NULL-terminated; may be NULL */
};

/*
 * Builds a hook's complete environment into ret (appended; ret->v stays
 * NULL-terminated, ready for hook_spec.env): PATH=TOOLS_DIR:/usr/local/sbin:
 * /usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, HOME, LANG=C.UTF-8, then
 * he->vars in order. A var named PATH, HOME or LANG replaces that default.
 * Nothing is inherited from the daemon's environment. -EINVAL for an entry
 * without '=' or with an empty name, or a name given twice; -ENOMEM (ret
 * then holds part of it: strv_clear() it).
 */
int hook_env_build(const struct hook_env *he, struct strv *ret) WUR;

/*
 * Crash recovery: kills what is left of the group a token (from on_start)
 * names, after the daemon restarted. When the token is of this boot and
 * the group is still the one started (its leader is gone, or has the same
 * start time), every process in that process group or session gets SIGKILL.
 * Returns 1 when it signalled something, 0 when nothing was left (another
 * boot, the group gone, its id reused), -EINVAL for a malformed token,
 * -errno when /proc cannot be read. Never signals the calling process.
 * The processes are not waited for: they are not our children.
 */
int hook_kill_token(const char *token) WUR;

/*
 * Reaps zombie children that escaped a hook's group (see hook_runner_init()):
 * those in another session than the daemon's and in no running hook's group
 * or session. Never touches a child in the daemon's own session (what the
 * daemon forks itself stays its spawner's to wait for). Each hook_run() ends
 * with a non-blocking try at this; call it from housekeeping when hooks run
 * rarely. Returns how many it reaped, or -errno when /proc cannot be read.
 */
int hook_reap_escaped(void) WUR;

#endif
