/*
 * The upgrade agent (SPEC §4.9): follows the release publisher at
 * upgrade_url and applies its releases to the store and the packages.
 *
 *  - check: reads the publisher's `versions` and `latest`
 *    (upgrade/client.h, upgrade/release.h) and records them in the store
 *    (upgstate.h); a failed check changes nothing else.
 *  - apply: checks, then adds one change of the store's engine per version
 *    between current and the target, in ascending order (agents.md Z5),
 *    each applied whole or rolled back whole (upgrade/apply.c); a failed
 *    version stops the ones after it, the ones before stay applied.
 *  - the watcher: a recurring task of the engine (kind "watch-releases",
 *    one change that settle does not wait for): every interval, a check; a
 *    latest strictly greater than
 *    current and than the last one announced fires upgrade-available
 *    (Z13), and with autoapply it is applied then (once: a version that
 *    failed is tried again by a restart or an apply request, not every
 *    interval). Its errors go to the status and the log callback, never
 *    further.
 *  - the status line: idle | checking | downloading BYTES/TOTAL | verifying
 *    | applying VERSION | error: MESSAGE, memory only (a state of the
 *    running daemon).
 *
 * Calling sequence (fs/main.c): release_client_global_init(); after
 * store_open(), before store_start(): upgrader_new() (registers the
 * engine's handlers); after store_start(): upgrader_start() (the
 * watcher's change, unless a previous daemon's is resumed);
 * upgrader_check() / upgrader_apply() / upgrader_status() from any
 * thread; at the end store_close() (the engine stops its handlers), then
 * upgrader_free().
 *
 * Thread-safety: any thread; checks and apply requests run one at a time
 * (a second waits).
 */
#ifndef CHARMFS_UPGRADER_H
#define CHARMFS_UPGRADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "charm.h"
#include "store.h"
#include "util.h"

struct hook_agent;

struct upgrader_opts {
	const char *url;      /* upgrade_url, or NULL: no publisher */
	const char *ca_file;  /* upgrade_ca, or NULL: the system's CAs */
	const char *key_file; /* upgrade_key (an Ed25519 public key PEM), or NULL */
	struct hook_agent *agent; /* runs migrate/pre and migrate/post (NULL: a release with them fails) */
	const struct charm_limits *limits; /* of release archives; NULL: the defaults */
	unsigned interval;    /* upgrade_interval, seconds (0: no watcher) */
	bool autoapply;	      /* upgrade_auto */
	/* Where the watcher's problems go (syslog priorities); NULL: nowhere. Any thread. */
	void (*log)(int prio, const char *msg);
};

struct upgrader;

/*
 * A new agent for store s, with the engine's handlers of the upgrade
 * tasks registered on store_engine(s) (which must not be started). The
 * key, when given, is loaded now: -EINVAL or -errno with a message in err
 * when it is not an Ed25519 public key. *ret_unverified is set when there
 * is a publisher but no key (the caller warns: upgrades would not be
 * verified). 0, -ENOMEM, or the engine's error.
 */
int upgrader_new(struct store *s, const struct upgrader_opts *o, struct upgrader **ret,
		 bool *ret_unverified, char *err, size_t errlen) WUR;
/*
 * Adds the watcher's change (nothing without a publisher or an interval);
 * a previous daemon's unready watcher is ended (its next run would wait
 * that daemon's interval). After store_start(). 0 or -errno.
 */
int upgrader_start(struct upgrader *u) WUR;
/* Frees u, after store_close(). NULL is fine. */
void upgrader_free(struct upgrader *u);

/*
 * Checks the publisher: its latest version into *ret_latest (a new
 * string), its versions and latest recorded in the store. -ENOENT with
 * "no upgrade_url" when there is no publisher; the client's errors
 * (client.h: -ECONNREFUSED, -ETIMEDOUT, -ENOENT for a 404, -ELOOP, ...)
 * and -EBADMSG for a document that is not one, with the message in err
 * and in the status.
 */
int upgrader_check(struct upgrader *u, char **ret_latest, char *err, size_t errlen) WUR;

/*
 * upgrade/ctl "apply" (version NULL: up to latest) and "apply VERSION":
 * checks, then adds the change of the first version to apply and returns
 * its id in *ret_id at once (0: nothing to apply, current is the target).
 * The check's errors; -EBUSY while an upgrade change is unready ("change
 * N is applying"); for a version given, -EINVAL when it is not a version
 * or not greater than current, -ENOENT when the publisher does not list
 * it. Messages in err.
 */
int upgrader_apply(struct upgrader *u, const char *version, int64_t *ret_id, char *err,
		   size_t errlen) WUR;

/* The status line (see above), a new string. */
int upgrader_status(struct upgrader *u, char **ret) WUR;

#endif
