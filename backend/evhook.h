/*
 * Event hooks (SPEC §4.7), a component of the store: executables that
 * root copies into hooks/EVENT/ (or hooks/any/) and that run when EVENT
 * happens, in name order, the hooks of any/ after them, the first failure
 * ending the run (gocharm's registry, agents.md B4).
 *
 * Files: STOREDIR/hooks/EVENT/NAME are the hooks (fs/ serves the folder
 * as a real directory); STOREDIR/hookstate/EVENT/NAME/ is each hook's
 * persistent state directory (CHARMFS_STATE_DIR), made before its run.
 *
 * Firing an event never delays the call that caused it: the store's code
 * that records the event records, in the same write transaction, a change
 * of one EVHOOK_TASK task (when some hook for it exists), and the hooks
 * run later on the engine (the daemon's handler, hooks/agent.c). Whether
 * hooks exist is answered from memory: every change to hooks/ through the
 * mount calls evhook_touch().
 *
 * Calling sequence (the store core owns it):
 *   evhooks_new(&env, &h)
 *   in a write transaction: evhook_record_tx(h, event, json, facts, n, &recorded)
 *   after the commit, when recorded: engine_notice()
 *   the handler: evhook_plan(h, task data, &plan) ... evhook_plan_free(&plan)
 *   evhooks_free(h)                  after the engine is closed
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef CHARMFS_EVHOOK_H
#define CHARMFS_EVHOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct db;
struct evhooks;

/* The task kind that runs an event's hooks; its data is JSON (evhook_plan() reads it). */
#define EVHOOK_TASK "run-event-hooks"
/* The change kind of an event's hook run. */
#define EVHOOK_CHANGE "event"
/* The folder whose hooks run for every event. */
#define EVHOOK_ANY "any"

/* The events, in SPEC §4.7's order, NULL-terminated (without "any"). */
extern const char *const evhook_events[];
/* Whether name is an event, or "any" too when with_any. */
bool evhook_event_valid(const char *name, bool with_any);

struct evhook_env {
	const char *dir; /* STOREDIR */
	struct db *db;	 /* where the changes are recorded */
};

/* A new component; env is copied. 0 or -ENOMEM. */
int evhooks_new(const struct evhook_env *env, struct evhooks **ret) WUR;
void evhooks_free(struct evhooks *h);

/*
 * A new O_PATH|O_DIRECTORY descriptor (caller closes) of hooks/EVENT
 * (EVENT may be "any"), made when missing. -ENOENT for no such event.
 */
int evhook_dir_at(struct evhooks *h, const char *event, int *ret_dirfd) WUR;
/* Something under hooks/ changed: the next event looks again. */
void evhook_touch(struct evhooks *h);

/*
 * Copies hooks/ and hookstate/ into dir (a backup snapshot's STOREDIR), so
 * that a mounted copy has the same event hooks and their state. 0 or -errno.
 */
int evhook_snapshot(struct evhooks *h, const char *dir) WUR;

/*
 * Whether event has a hook (its own or any/'s), from memory: callers ask
 * before they build an event's JSON and facts, so that events nobody
 * hooks cost nothing.
 */
bool evhook_wanted(struct evhooks *h, const char *event);

/* One fact of an event: the hook sees CHARMFS_<KEY>=value (KEY upper-cased, '-' as '_'). */
struct evhook_fact {
	const char *key;
	const char *value;
};

/*
 * Inside the caller's write transaction: when a hook for event (or any/)
 * exists, records the change that runs them with json (a JSON object,
 * their standard input) and the n facts, and sets *ret_recorded; the
 * caller calls engine_notice() after its commit. Nothing when there is no
 * hook. 0 or -errno (the caller's transaction should go on: a hook run
 * that could not be recorded is logged, not the caller's failure).
 */
int evhook_record_tx(struct evhooks *h, const char *event, const char *json,
		     const struct evhook_fact *facts, size_t n, bool *ret_recorded) WUR;

/*
 * Outside any write transaction: as evhook_record_tx(), as a change of its
 * own added to e (for events found after their transaction, e.g. a lock
 * found expired when it is taken over). 0 or -errno.
 */
struct engine;
int evhook_fire(struct evhooks *h, struct engine *e, const char *event, const char *json,
		const struct evhook_fact *facts, size_t n);

/* What an EVHOOK_TASK runs, in order (evhook_plan()). */
struct evhook_plan {
	char *event;
	char *input;	  /* the JSON for standard input, with a newline */
	struct strv vars; /* CHARMFS_EVENT=..., CHARMFS_<FACT>=... */
	size_t n;
	struct evhook_step {
		char *name;	 /* "EVENT/NAME" or "any/NAME" */
		char *path;	 /* the executable */
		char *state_dir; /* made */
	} *steps;
};
/*
 * The hooks to run for a task's data, as they are now: hooks/EVENT/ in
 * name order, then hooks/any/ (regular files; names starting with '.'
 * are skipped), each with its state directory made. -EINVAL for bad data.
 */
int evhook_plan(struct evhooks *h, const char *data, struct evhook_plan *ret) WUR;
void evhook_plan_free(struct evhook_plan *p);

#endif
