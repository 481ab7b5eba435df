/*
 * The upgrade agent (SPEC §4.9): follows the release publisher at
 * upgrade_url. This first part checks it: `check` reads the publisher's
 * `versions` and `latest` (upgrade/client.h, upgrade/release.h) and
 * records them in the store (upgstate.h); the status says what it is
 * doing or why the last check failed, and a failed check changes nothing
 * else. Applying releases comes next, as changes of the engine.
 *
 * Calling sequence (fs/main.c): release_client_global_init(), then
 * upgrader_new() after store_open(); upgrader_check() / upgrader_status()
 * from any thread; upgrader_free() before store_close().
 *
 * Thread-safety: any thread; checks run one at a time (a second waits).
 */
#ifndef CHARMFS_UPGRADER_H
#define CHARMFS_UPGRADER_H

#include <stddef.h>

#include "store.h"
#include "util.h"

struct upgrader_opts {
	const char *url;     /* upgrade_url, or NULL: no publisher */
	const char *ca_file; /* upgrade_ca, or NULL: the system's CAs */
	const char *key_file; /* upgrade_key (an Ed25519 public key PEM), or NULL */
};

struct upgrader;

/*
 * A new agent for store s. The key, when given, is loaded now: -EINVAL or
 * -errno with a message in err when it is not an Ed25519 public key.
 * *ret_unverified is set when there is a publisher but no key (the caller
 * warns: upgrades would not be verified). 0, -ENOMEM.
 */
int upgrader_new(struct store *s, const struct upgrader_opts *o, struct upgrader **ret,
		 bool *ret_unverified, char *err, size_t errlen) WUR;
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

/* The status line: "idle", "checking", or "error: MESSAGE" after a failed check (new string). */
int upgrader_status(struct upgrader *u, char **ret) WUR;

#endif
