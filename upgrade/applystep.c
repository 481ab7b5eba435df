/*
 * What every task of a version's change shares (apply_int.h): its data
 * decoded and committed, its work directory, its status and failure, the
 * upgrade events, and the manifest that fetch writes and the later tasks
 * read.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply_int.h"
#include "engine.h"
#include "evhook.h"
#include "banned.h"

/* ---- shared pieces ------------------------------------------------------------ */


int upg_step_open(struct upg_step *st, struct engine_run *run, void *ud)
{
	const char *text = engine_run_data(run);

	memset(st, 0, sizeof(*st));
	st->u = ud;
	st->run = run;
	st->data = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_object(st->data) ||
	    !(st->version = json_string_value(json_object_get(st->data, "version"))) ||
	    !(st->from = json_string_value(json_object_get(st->data, "from")))) {
		json_decref(st->data);
		st->data = NULL;
		return engine_run_fail(run, -EINVAL, "the task's data names no version");
	}
	if ((size_t)snprintf(st->dir, sizeof(st->dir), "%s/run/upgrade/%s", store_dir(st->u->store),
			     st->version) >= sizeof(st->dir))
		return engine_run_fail(run, -ENAMETOOLONG, "the store's path is too long");
	return 0;
}

void upg_step_close(struct upg_step *st)
{
	json_decref(st->data);
}

/* One attempt of a task that is fn on its decoded data. */
int upg_step_run(struct engine_run *run, void *ud, int (*fn)(struct upg_step *st))
{
	struct upg_step st;
	int r = upg_step_open(&st, run, ud);

	if (r < 0)
		return r;
	r = fn(&st);
	upg_step_close(&st);
	return r;
}

/* Commits the step's data. */
int upg_step_save(struct upg_step *st)
{
	char *text = json_dumps(st->data, JSON_COMPACT | JSON_SORT_KEYS);
	int r = text ? engine_run_set_data(st->run, text) : -ENOMEM;

	free(text);
	return r < 0 ? engine_run_fail(st->run, r, "cannot record progress: %s", strerror(-r)) : 0;
}

/* The path of name inside the work directory into out. */
void upg_step_path(const struct upg_step *st, const char *name, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s/%s", st->dir, name) >= len)
		out[0] = '\0'; /* cannot happen: st->dir was checked with room to spare */
}

/* The status while the version's tasks run (also after a restart resumed them). */
void upg_step_applying(struct upg_step *st)
{
	char line[RELEASE_VERSION_MAX + 16];

	snprintf(line, sizeof(line), "applying %s", st->version);
	upg_set_status(st->u, "", line);
}

/* A step's failure: the status says why, the task's log too (its return value). */
int upg_step_fail(struct upg_step *st, int r, const char *msg)
{
	char line[700];

	snprintf(line, sizeof(line), "%s: %s", st->version, msg);
	upg_set_status(st->u, "error: ", line);
	return engine_run_fail(st->run, r, "%s", msg);
}

void upg_fire(struct upgrader *u, const char *event, const char *version, const char *key,
	      const char *value)
{
	struct evhooks *h = store_evhooks(u->store);
	struct evhook_fact facts[] = { { "version", version }, { key, value } };
	json_t *o;
	char *json;

	if (!evhook_wanted(h, event))
		return;
	o = json_pack("{s:s, s:s, s:s}", "event", event, "version", version, key, value);
	json = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (json && evhook_fire(h, store_engine(u->store), event, json, facts, 2) < 0 && u->log)
		u->log(4 /* LOG_WARNING */, "cannot run the hooks of an upgrade event");
	free(json);
	json_decref(o);
}

/* ---- the manifest: what fetch extracted --------------------------------------- */

/* packages.json as the manifest keeps it: NAME -> {version, settings (text), enabled}. */
static json_t *packages_json(const struct release_packages *pk)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < pk->n; i++) {
		const struct release_package *p = &pk->v[i];
		json_t *e = json_pack("{s:s}", "version", p->version);
		if (!e || (p->settings && json_object_set_new(e, "settings", json_string(p->settings)) < 0) ||
		    (p->enabled >= 0 && json_object_set_new(e, "enabled", json_boolean(p->enabled)) < 0) ||
		    json_object_set_new(o, p->name, e) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int upg_manifest_write(const struct upg_step *st, const struct release_contents *c)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	json_t *o = json_object(), *charms = json_array();
	int r = o && charms ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < c->n_charms; i++)
		r = json_array_append_new(charms, json_pack("{s:s, s:s}", "url", c->charms[i].url,
							    "path", c->charms[i].path));
	if (r == 0)
		r = json_object_set(o, "charms", charms);
	if (r == 0 && c->has_packages)
		r = json_object_set_new(o, "packages", packages_json(&c->packages));
	if (r == 0 && c->migrate_pre)
		r = json_object_set_new(o, "pre", json_string(c->migrate_pre));
	if (r == 0 && c->migrate_post)
		r = json_object_set_new(o, "post", json_string(c->migrate_post));
	upg_step_path(st, "manifest.json", path, sizeof(path));
	upg_step_path(st, "manifest.json.tmp", tmp, sizeof(tmp));
	if (r < 0)
		r = -ENOMEM;
	else if (json_dump_file(o, tmp, JSON_COMPACT) < 0 || rename(tmp, path) < 0)
		r = -EIO;
	json_decref(charms);
	json_decref(o);
	return r;
}

/* The manifest into *ret (json_decref() it); a failure is the handler's return. */
int upg_manifest_read(struct upg_step *st, json_t **ret)
{
	char path[PATH_MAX];
	json_t *o;

	upg_step_path(st, "manifest.json", path, sizeof(path));
	o = json_load_file(path, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return upg_step_fail(st, -ENOENT, "the release's files are gone (fetch it again)");
	}
	*ret = o;
	return 0;
}

