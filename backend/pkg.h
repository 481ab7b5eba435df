/*
 * Packages (SPEC §4.6): named deployments of stored charms on this host,
 * one Juju unit each (NAME/0), with the lifecycle of Deckhouse's package
 * store (agents.md D) and Juju's hook order (agents.md B.4 J2/J4/J5).
 *
 * A package has a version (a cs: URL with revision, stored canonical),
 * the user's settings (a JSON object, validated against the version's
 * config.yaml), an enabled flag, a workload status, opened ports, a log
 * and files beside the database (STOREDIR/packages/NAME/charm/, the
 * deployed tree, and state/, the hooks' persistent state).
 *
 * Each write that needs work records one change in the store's engine, in
 * the write's own transaction, and the package's `change` names the
 * newest. Its tasks: `deploy` (this module's, registered by the store),
 * PKG_TASK_HOOK (one hook each: the daemon registers the handler that runs
 * it, see "Hook handler" below) and `purge` (the end of a removal).
 * A package's changes run in order: no task of a later change starts
 * while an earlier change of the same package is unready, so a unit's
 * hooks never run at once (pkg_hook_begin() says -EAGAIN).
 *
 * Thread-safety: every function may be called from any thread, after
 * store_open() (the writes record changes: after store_start() they run).
 * Every mutation is committed before it returns. Not from inside a
 * db_write_begin() transaction. Errors are 0 or -errno; a write a user
 * must understand appends the reason to errors.
 *
 * Hook handler (the daemon's, for PKG_TASK_HOOK), calling sequence:
 *   engine_add_handler(store_engine(s), PKG_TASK_HOOK, fn, NULL, ud)  before store_start()
 *   fn(run):
 *     r = pkg_hook_begin(s, run, &h)
 *       -EAGAIN: return engine_run_retry(run, PKG_RETRY_MS)  (an earlier change runs, or aborted)
 *       -ENOENT: return 0                                   (package gone: nothing to do)
 *     run h.hook_path (NULL: the charm has no such hook, which is success) in
 *     h.charm_dir with JUJU_UNIT_NAME=h.unit, JUJU_MODEL_UUID=h.model_uuid,
 *     CHARMFS_STATE_DIR=h.state_dir, ...; feed its output to pkg_log_append();
 *     stop it when engine_run_stop_fd(run) becomes readable (an abort)
 *     r = pkg_hook_end(s, &h, exit_code, "exit status 1")   (0 for success)
 *     pkg_hook_free(&h)
 *     return success ? 0 : engine_run_fail(run, -EIO, "hook %s failed: ...", h.hook)
 */
#ifndef CHARMFS_PKG_H
#define CHARMFS_PKG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

struct engine_run;

/* The task kind of one hook run; its data is {"hook": HOOK, "package": NAME}. */
#define PKG_TASK_HOOK "run-hook"
/* How long a hook handler waits before asking again after -EAGAIN (ms). */
#define PKG_RETRY_MS 20

/* Largest settings JSON accepted (bytes). */
#define PKG_SETTINGS_MAX (64 * 1024)
/* Longest status message (bytes; longer ones are cut on a UTF-8 boundary). */
#define PKG_STATUS_MSG_MAX 1024
/* The log keeps about this many of the newest bytes (never more). */
#define PKG_LOG_MAX (1024 * 1024)
/* Longest juju-log line (bytes, before its newline). */
#define PKG_LOG_LINE_MAX 4096

/* ---- the user's files (fs/ packages/) ------------------------------------- */

/*
 * mkdir packages/NAME: a new package (enabled, no version, settings {}).
 * -EINVAL for a name outside SPEC §3's charm-name grammar, -EEXIST when it
 * exists. A package whose removal is still running is re-created, keeping
 * its entry and files (the removal then does not delete it, D9).
 */
int pkg_create(struct store *s, const char *name) WUR;
/* The packages (not those being removed), sorted by name; a callback error stops and is returned. */
int pkg_list(struct store *s, store_name_cb cb, void *ud) WUR;

/* One package as its files show it (pkg_info_free()). Times are ns since the epoch. */
struct pkg_info {
	char *version;	/* canonical cs: URL with revision, "" when never set */
	char *settings; /* as shown: compact, keys sorted, defaults filled, no newline */
	char checksum[33]; /* lower-case hex MD5 of settings */
	bool enabled;
	char *status;	/* "maintenance: installing", "active", "unknown" ... */
	int64_t change_id; /* newest change, 0 when none */
	int64_t created_ns, version_ns, settings_ns, enabled_ns, status_ns, log_ns;
	uint64_t log_size;
};
/* -ENOENT when there is no such package (or it is being removed), -ENOMEM, -EIO. */
int pkg_get(struct store *s, const char *name, struct pkg_info *ret) WUR;
void pkg_info_free(struct pkg_info *pi);

/*
 * Writes version: `cs:[~user/]series/name-REV` (one trailing newline
 * allowed) naming a stored revision. -EINVAL when malformed or when the
 * stored settings do not fit that revision's config.yaml; -ENOENT for no
 * such package or revision. The same version with the same settings does
 * nothing (D5), unless the package is in error (the write retries). A new
 * version aborts the package's unready changes and records deploy, then
 * install (first version) or upgrade-charm, config-changed and start (if
 * enabled).
 */
int pkg_set_version(struct store *s, const char *name, const char *text, size_t len,
		    struct strv *errors) WUR;
/*
 * Writes settings: a JSON object of config values (at most
 * PKG_SETTINGS_MAX bytes), validated against the current version's
 * config.yaml (every key an option, every value of its type; null unsets
 * a key); before any version it is stored and validated at the version
 * write. -EINVAL with the reason (naming the key) in errors, -EFBIG past
 * PKG_SETTINGS_MAX, -ENOENT.
 * Records a change with config-changed unless the same settings are
 * stored, no version is set, or a config-changed of this package has not
 * begun yet (it will see these settings: late binding).
 */
int pkg_set_settings(struct store *s, const char *name, const char *json, size_t len,
		     struct strv *errors) WUR;
/*
 * A version and its settings at once (a release's packages.json, SPEC
 * §4.9, and the undo that restores what it replaced): version as
 * pkg_set_version() takes it, settings (NULL: keep the stored ones)
 * validated against that version's config.yaml, in one change: the
 * version plan with the new settings, or only config-changed when the
 * version is unchanged, or nothing when neither changed (D5); the
 * package's `change` (pkg_get()) names the change to wait for. Errors as
 * pkg_set_version() and pkg_set_settings(). pkg_set_version() is this
 * with the stored settings.
 */
int pkg_deploy(struct store *s, const char *name, const char *version, const char *settings,
	       struct strv *errors) WUR;
/*
 * Writes enabled. 1->0 records stop, 0->1 config-changed then start, each
 * aborting the other's unready change (with no version set, only the flag
 * changes). -ENOENT.
 */
int pkg_set_enabled(struct store *s, const char *name, bool enabled) WUR;
/*
 * rmdir packages/NAME: aborts the package's unready changes, clears
 * version and settings (D7) and records stop, remove and purge, which
 * deletes the entry and its files unless pkg_create() re-created it
 * meanwhile. A package that never had a version goes at once. -ENOENT.
 */
int pkg_remove(struct store *s, const char *name) WUR;

/* Bytes in the log file. -ENOENT. */
int pkg_log_size(struct store *s, const char *name, uint64_t *ret) WUR;
/*
 * Appends the bytes [off, off+len) of the log (the newest PKG_LOG_MAX
 * bytes or fewer, oldest first) to out. One read sees one state of the
 * log; the oldest bytes go as new ones come, so offsets move then. -ENOENT.
 */
int pkg_log_read(struct store *s, const char *name, uint64_t off, size_t len, struct buf *out) WUR;

enum pkg_dir { PKG_DIR_CHARM, PKG_DIR_STATE };
/*
 * A new O_PATH|O_DIRECTORY descriptor (caller closes) of the package's
 * charm/ or state/ directory, relative to which fs/ serves it. charm/ is
 * made from the store's tree of the version's revision when missing (a
 * restored backup); a package without a version has an empty one.
 * -ENOENT, -errno.
 */
int pkg_dir_at(struct store *s, const char *name, enum pkg_dir which, int *ret_dirfd) WUR;

/* ---- for the hook tools (the package the hook runs for) -------------------- */
/* These work while the package is being removed too (its stop and remove hooks). */

/* The settings as shown (defaults filled, compact, sorted) into a new string (caller frees). -ENOENT. */
int pkg_settings_json(struct store *s, const char *name, char **ret) WUR;
/*
 * status-set: state one of maintenance, blocked, waiting, active (the tool
 * checks Juju's four; error is the core's); message may be "" or NULL.
 * -EINVAL for another state, -ENOENT.
 */
int pkg_status_set(struct store *s, const char *name, const char *state, const char *message) WUR;
/* status-get: the state and message (new strings, caller frees). -ENOENT. */
int pkg_status_get(struct store *s, const char *name, char **ret_state, char **ret_message) WUR;
/*
 * Appends to the log: with level (juju-log) one line "TIME LEVEL text"
 * (text cut to PKG_LOG_LINE_MAX, newlines made spaces); with level NULL
 * the len bytes as they are (a chunk of hook output, kept byte for
 * byte). A juju-log text that is not UTF-8 is repaired. The oldest bytes
 * go past PKG_LOG_MAX. -ENOENT.
 */
int pkg_log_append(struct store *s, const char *name, const char *level, const char *text,
		   size_t len) WUR;
/*
 * open-port/close-port: the range from..to (1..65535, from <= to; icmp:
 * 0, 0) of proto tcp, udp or icmp. Opening an open range or closing a
 * closed one is fine; opening a range that overlaps another is -EEXIST.
 * -EINVAL, -ENOENT.
 */
int pkg_port(struct store *s, const char *name, bool open, int from, int to, const char *proto) WUR;
/* opened-ports: "80/tcp", "1000-2000/udp", "icmp", sorted (proto, from) into ret. -ENOENT. */
int pkg_ports(struct store *s, const char *name, struct strv *ret) WUR;

/* ---- for the hook handler ---------------------------------------------------- */

struct pkg_hook {
	char *package;	  /* NAME */
	char *hook;	  /* install, config-changed, ... */
	char *unit;	  /* NAME/0 */
	char *charm_dir;  /* STOREDIR/packages/NAME/charm */
	char *state_dir;  /* STOREDIR/packages/NAME/state */
	char *hook_path;  /* charm_dir/hooks/HOOK, NULL when the charm has none */
	char *model_uuid; /* the store's UUID */
	int64_t change_id, task_id; /* the run's: for JUJU_CONTEXT_ID */
	struct engine_run *run;	    /* the run it was begun for (valid while it runs) */
};

/*
 * Begins the hook of a PKG_TASK_HOOK run: checks the order (-EAGAIN while
 * an earlier change of the package is unready, or when the run was told
 * to stop, an abort: return engine_run_retry() and the engine holds the
 * aborted task instead of running it), makes sure charm/
 * and state/ exist, sets the status where Juju does (install:
 * "maintenance: installing", upgrade-charm "maintenance: upgrading", stop
 * "maintenance: stopping", remove "maintenance: removing") and fills ret.
 * From this point a settings write records a new config-changed. -ENOENT
 * when the package is gone, -EINVAL for bad task data, -errno.
 */
int pkg_hook_begin(struct store *s, struct engine_run *run, struct pkg_hook *ret) WUR;
/*
 * Ends it: exit_code 0 is success (after install or upgrade-charm the
 * version counts as installed, and an error status set by the core is
 * cleared); anything else puts the package in "error: hook HOOK failed"
 * and writes "hook HOOK failed: DESCRIBE" to its log (describe: "exit
 * status 2", "killed by signal 9", may be NULL), so that the next version
 * or settings write retries. A failure while the run is told to stop (an
 * abort: the handler killed the hook) is only logged ("hook HOOK
 * stopped"). 0 or -errno (-ENOENT: gone).
 */
int pkg_hook_end(struct store *s, const struct pkg_hook *h, int exit_code, const char *describe) WUR;
/* Frees what pkg_hook_begin() filled (not h itself); NULL fields are fine. */
void pkg_hook_free(struct pkg_hook *h);

#endif
