/*
 * The upgrade agent's insides, shared by upgrader.c (checks, the watcher,
 * the ctl requests) and apply.c (the engine's handlers that apply one
 * version). Not for other modules: upgrader.h is the contract.
 */
#ifndef CHARMFS_UPGRADER_INT_H
#define CHARMFS_UPGRADER_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "charm.h"
#include "release.h"
#include "upgrader.h"

/* The change kind of one version's application, and its task kinds in order. */
#define UPG_CHANGE "upgrade"
#define UPG_TASK_FETCH "upgrade-fetch"
#define UPG_TASK_PRE "upgrade-pre"
#define UPG_TASK_PUBLISH "upgrade-publish"
#define UPG_TASK_PACKAGES "upgrade-packages"
#define UPG_TASK_POST "upgrade-post"
#define UPG_TASK_COMMIT "upgrade-commit"
/* The watcher: one change of one recurring task (engine_set_recurring()). */
#define UPG_WATCH "watch-releases"
/* How often the packages task looks at the package changes it waits for (ms). */
#define UPG_WAIT_MS 50

struct upgrader {
	struct store *store;
	struct hook_agent *agent;
	struct charm_limits limits;
	char *url, *ca_file;
	struct release_key *key;
	void (*log)(int prio, const char *msg);
	unsigned interval;
	bool autoapply;
	pthread_mutex_t check_lock; /* one check at a time */
	pthread_mutex_t apply_lock; /* one apply request at a time */
	pthread_mutex_t lock;	    /* guards what follows */
	char status[700];
	char announced[RELEASE_VERSION_MAX + 1]; /* the newest upgrade-available fired */
	bool watch_waited;   /* the watcher waited its first interval in this process */
	int64_t watch_change; /* this daemon's watcher (upgrader_start()) */
};

/* Sets the status line: prefix and text ("error: " and a message, or "" and a state). */
void upg_set_status(struct upgrader *u, const char *prefix, const char *text);
/* Registers apply.c's handlers on the store's engine (before store_start()). */
int upg_apply_register(struct upgrader *u) WUR;
/*
 * Adds the change that applies version (the store being at from); next
 * (n of them, ascending) are applied after it, each by the change its
 * predecessor's commit adds. The change id into *ret_id. -errno.
 */
int upg_apply_add(struct upgrader *u, const char *version, const char *from,
		  const char *const *next, size_t n, int64_t *ret_id) WUR;
/* The id of an unready upgrade change into *ret_id (0: none). -errno. */
int upg_apply_running(struct upgrader *u, int64_t *ret_id) WUR;
/* Fires event (upgrade-available, -applied, -failed) with version and one more fact. */
void upg_fire(struct upgrader *u, const char *event, const char *version, const char *key,
	      const char *value);

#endif
