/*
 * The pieces the tasks of a version's change share (apply.c, applypub.c,
 * applypkg.c; applystep.c has them). Every function runs in the task
 * handler's own thread, on its own step; a failure that returns an int is
 * already the handler's return value (engine_run_fail(), with the status
 * set), so a handler passes it on.
 */
#ifndef CHARMFS_APPLY_INT_H
#define CHARMFS_APPLY_INT_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>

#include "upgrader_int.h"

struct engine_run;

/* One attempt of a task: its data decoded. */
struct upg_step {
	struct upgrader *u;
	struct engine_run *run;
	json_t *data;	     /* the task's data (an object) */
	const char *version; /* data.version */
	const char *from;    /* data.from */
	char dir[PATH_MAX];  /* the version's work directory, STOREDIR/run/upgrade/VERSION */
};

/* Decodes the run's data into st (ud: the upgrader). 0 or the handler's failure. */
int upg_step_open(struct upg_step *st, struct engine_run *run, void *ud) WUR;
void upg_step_close(struct upg_step *st);
/* A handler that is fn on its decoded step. */
int upg_step_run(struct engine_run *run, void *ud, int (*fn)(struct upg_step *st));
/* Commits st->data as the task's data. 0 or the handler's failure. */
int upg_step_save(struct upg_step *st) WUR;
/* The path of name inside the work directory, into out[len]. */
void upg_step_path(const struct upg_step *st, const char *name, char *out, size_t len);
/* The status while the version's tasks run: "applying VERSION". */
void upg_step_applying(struct upg_step *st);
/* The task fails with r: the status and the task's log say msg. Returns r. */
int upg_step_fail(struct upg_step *st, int r, const char *msg);

/*
 * The manifest (STOREDIR/run/upgrade/VERSION/manifest.json): what fetch
 * extracted — {"charms": [{url, path}], "packages": {NAME: {version,
 * settings (text), enabled}}, "pre": path, "post": path}.
 */
int upg_manifest_write(const struct upg_step *st, const struct release_contents *c) WUR;
/* The manifest into *ret (json_decref() it). 0 or the handler's failure. */
int upg_manifest_read(struct upg_step *st, json_t **ret) WUR;

/* The handlers of upgrade-publish (applypub.c) and upgrade-packages (applypkg.c). */
int upg_publish_do(struct engine_run *run, void *ud);
int upg_publish_undo(struct engine_run *run, void *ud);
int upg_packages_do(struct engine_run *run, void *ud);
int upg_packages_undo(struct engine_run *run, void *ud);

#endif
