/*
 * The hook agent: what the daemon runs hooks with (SPEC §4.6, §4.7). It
 * is the front end of the package core (pkg.h) towards processes: the
 * engine's handler for PKG_TASK_HOOK, which runs a charm hook with the
 * Juju environment (hooks/run.h), and the hook tool server
 * (hooks/toolsrv.h), whose answers are one pkg_ call each. Every rule of
 * what a hook's outcome means is the core's (pkg_hook_begin/_end); the
 * agent only runs the process and carries its output.
 *
 * A running hook's process group is recorded in its task's data (the
 * runner's token, key "pgroup"), so that after a kill -9 of the daemon the
 * next start kills what is left of it before running the hook again.
 *
 * Calling sequence (fs/main.c):
 *   hook_agent_open(store, &opts, &a)  after store_open(), before store_start()
 *   ... the daemon serves ...
 *   hook_agent_stop(a)                 stops the tool server (tools fail from now on)
 *   store_close(store)                 the engine stops: running hooks are killed
 *   hook_agent_free(a)
 *
 * Thread-safety: the handler runs on engine workers, the tool server on its
 * own threads; hook_agent_stop() may run while they do.
 */
#ifndef CHARMFS_HOOK_AGENT_H
#define CHARMFS_HOOK_AGENT_H

#include <stdint.h>

#include "store.h"
#include "util.h"

struct hook_agent_opts {
	const char *mountpoint;	 /* CHARMFS_MOUNT (absolute) */
	int64_t hook_timeout_ms; /* -o hook_timeout */
	/*
	 * Where the hook tools are (config-get ... as links to
	 * charmfs-hook-tool); NULL: found by hook_agent_tools_dir().
	 */
	const char *tools_dir;
};

struct hook_agent;

/*
 * Opens the tool server and registers the hook handler on the store's
 * engine (which must not be started yet). Messages for the user go to
 * err. 0, -ENOENT (no hook tools found), -errno.
 */
int hook_agent_open(struct store *s, const struct hook_agent_opts *o, struct hook_agent **ret,
		    char *err, size_t errlen) WUR;
/* Stops the tool server; hooks still running get errors from their tools. NULL is fine. */
void hook_agent_stop(struct hook_agent *a);
/* Frees a, after the store's engine is closed. NULL is fine. */
void hook_agent_free(struct hook_agent *a);

/*
 * Runs one script for the handler of another module's task (a release's
 * migrate/pre and migrate/post, SPEC §4.9), as the event hooks run: what a
 * previous daemon left of this task's run is killed first (the task data,
 * a JSON object, keeps the "pgroup" token; its other members are kept),
 * path runs in cwd with vars ("NAME=value", NULL-terminated; may be NULL)
 * and CHARMFS_MOUNT, with the hook timeout, and an abort or the engine's
 * close stops it. Its last output lines go to the task's log. Returns the
 * handler's value: 0 when it exited 0; engine_run_fail(-EIO, "NAME failed:
 * exit status 1") when it failed (also for a timeout); a retry when it was
 * stopped; the errno of starting it. From the handler's thread only.
 */
struct engine_run;
int hook_agent_run_script(struct hook_agent *a, struct engine_run *run, const char *name,
			  const char *path, const char *const *vars, const char *cwd) WUR;

/*
 * The directory of hook tools for the daemon at exe (its /proc/self/exe):
 * a build tree's hooks/charmfs-hook-tool gets links made in
 * STOREDIR/run/tools, an installed daemon uses PKGLIBEXECDIR. Into out.
 * 0, -ENOENT when neither exists, -errno.
 */
int hook_agent_tools_dir(struct store *s, char *out, size_t len) WUR;

#endif
