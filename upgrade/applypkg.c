/*
 * upgrade-packages (apply.c): packages.json as package writes, waiting for
 * the packages' changes; the old state of each is recorded first, so that
 * the undo (and a failure of the task itself) puts them back.
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
#include "pkg.h"
#include "banned.h"

/* ---- upgrade-packages ------------------------------------------------------------- */

/* What a package was before the release touched it. */
static json_t *package_old(struct store *s, const char *name)
{
	struct pkg_info pi;

	if (pkg_get(s, name, &pi) < 0)
		return json_pack("{s:b}", "existed", 0);
	json_t *o = json_pack("{s:b, s:s, s:s, s:b}", "existed", 1, "version", pi.version,
			      "settings", pi.settings, "enabled", pi.enabled);
	pkg_info_free(&pi);
	return o;
}

/* Appends the package's newest change to waiting. */
static int wait_for_package(struct store *s, const char *name, json_t *waiting)
{
	struct pkg_info pi;
	int r = pkg_get(s, name, &pi);

	if (r < 0)
		return r;
	if (pi.change_id > 0)
		r = json_array_append_new(waiting, json_pack("{s:s, s:I}", "package", name, "change",
							     (json_int_t)pi.change_id));
	pkg_info_free(&pi);
	return r < 0 ? -ENOMEM : 0;
}

/*
 * Whether the package changes in data[key] are all ready: 0 when they are
 * (*ret_failed: one did not end Done, its message in err), ENGINE_RETRY-style
 * 1 when some still run.
 */
static int waiting_ready(struct upg_step *st, const char *key, bool *ret_failed, char *err, size_t len)
{
	json_t *waiting = json_object_get(st->data, key);
	struct engine *e = store_engine(st->u->store);

	*ret_failed = false;
	for (size_t i = 0; i < json_array_size(waiting); i++) {
		json_t *w = json_array_get(waiting, i);
		struct engine_change_info *ci = NULL;
		int64_t id = json_integer_value(json_object_get(w, "change"));

		if (engine_change_get(e, id, &ci) < 0)
			continue; /* pruned: long ready */
		if (!ci->ready) {
			engine_change_info_free(ci);
			return 1;
		}
		if (ci->status != ENGINE_DONE && !*ret_failed) {
			*ret_failed = true;
			snprintf(err, len, "package %s: change %lld ended %s%s%s",
				 json_string_value(json_object_get(w, "package")), (long long)id,
				 engine_status_name(ci->status), ci->err ? ": " : "",
				 ci->err ? ci->err : "");
		}
		engine_change_info_free(ci);
	}
	return 0;
}

/*
 * Applies the manifest's packages (packages.json) and fills data.waiting;
 * the old state of each is recorded first. A failure's message goes to err.
 */
static int packages_apply(struct upg_step *st, json_t *packages, char *err, size_t errlen)
{
	struct strv errors = { 0 };
	json_t *old = json_object_get(st->data, "old"), *waiting = json_array(), *p;
	const char *name;
	int r = waiting ? 0 : -ENOMEM;

	/* What they were, recorded before anything changes. */
	if (r == 0 && !json_is_object(old)) {
		old = json_object();
		json_object_foreach(packages, name, p)
			if (old)
				json_object_set_new(old, name, package_old(st->u->store, name));
		if (!old || json_object_set_new(st->data, "old", old) < 0)
			r = -ENOMEM;
		else if ((r = upg_step_save(st)) < 0)
			r = errf(err, errlen, r, "cannot record the packages' state");
	}
	json_object_foreach(packages, name, p) {
		const char *version = json_string_value(json_object_get(p, "version"));
		const char *settings = json_string_value(json_object_get(p, "settings"));
		json_t *enabled = json_object_get(p, "enabled");

		if (r < 0)
			break;
		r = pkg_create(st->u->store, name);
		if (r == -EEXIST)
			r = 0;
		if (r == 0)
			r = version ? pkg_deploy(st->u->store, name, version, settings, &errors)
				    : -EINVAL;
		if (r == 0 && json_is_boolean(enabled))
			r = pkg_set_enabled(st->u->store, name, json_is_true(enabled));
		if (r == 0)
			r = wait_for_package(st->u->store, name, waiting);
		if (r < 0) {
			char *all = strv_join(&errors, "; ");
			errf(err, errlen, r, "package %s: %s", name, all && *all ? all : strerror(-r));
			free(all);
		} else {
			(void)engine_run_logf(st->run, false, "package %s: %s", name, version);
		}
	}
	if (r == 0 && (json_object_set(st->data, "waiting", waiting) < 0 ||
		       json_object_set_new(st->data, "applied", json_true()) < 0))
		r = -ENOMEM;
	if (r == 0 && (r = upg_step_save(st)) < 0)
		errf(err, errlen, r, "cannot record the packages' state");
	if (r < 0 && !err[0])
		errf(err, errlen, r, "%s", strerror(-r));
	json_decref(waiting);
	strv_clear(&errors);
	return r;
}

/* Puts package name back as old says it was; its change joins waiting. */
static int package_restore(struct upg_step *st, const char *name, json_t *old, json_t *waiting)
{
	struct store *s = st->u->store;
	const char *version = json_string_value(json_object_get(old, "version"));
	const char *settings = json_string_value(json_object_get(old, "settings"));
	struct strv errors = { 0 };
	int r;

	if (!json_is_true(json_object_get(old, "existed"))) {
		r = pkg_remove(s, name);
		(void)engine_run_logf(st->run, false, "package %s removed", name);
		return r == -ENOENT ? 0 : r;
	}
	if (version && *version)
		r = pkg_deploy(s, name, version, settings, &errors);
	else
		r = pkg_set_settings(s, name, settings ?: "{}", strlen(settings ?: "{}"), &errors);
	if (r == 0)
		r = pkg_set_enabled(s, name, json_is_true(json_object_get(old, "enabled")));
	if (r == 0)
		r = wait_for_package(s, name, waiting);
	if (r < 0) {
		char *all = strv_join(&errors, "; ");
		(void)engine_run_logf(st->run, true, "cannot restore package %s: %s", name,
				      all && *all ? all : strerror(-r));
		free(all);
	} else {
		(void)engine_run_logf(st->run, false, "package %s restored to %s", name,
				      *version ? version : "no version");
	}
	strv_clear(&errors);
	return r;
}

/*
 * Puts every package data.old names back and waits for their changes: 0
 * when they are ready, ENGINE_RETRY while they run (the handler returns
 * it), a negative errno (already logged) when the progress is lost.
 */
static int packages_restore(struct upg_step *st)
{
	json_t *old = json_object_get(st->data, "old"), *waiting, *v;
	const char *name;
	char err[600];
	bool failed;
	int r = 0;

	if (json_is_object(old) && !json_is_true(json_object_get(st->data, "restored"))) {
		waiting = json_array();
		json_object_foreach(old, name, v)
			(void)package_restore(st, name, v, waiting);
		if (!waiting || json_object_set_new(st->data, "undo-waiting", waiting) < 0 ||
		    json_object_set_new(st->data, "restored", json_true()) < 0)
			r = engine_run_fail(st->run, -ENOMEM, "%s", strerror(ENOMEM));
		if (r == 0)
			r = upg_step_save(st);
	}
	if (r == 0 && waiting_ready(st, "undo-waiting", &failed, err, sizeof(err)) > 0)
		r = engine_run_retry(st->run, UPG_WAIT_MS);
	else if (r == 0 && failed)
		(void)engine_run_logf(st->run, true, "%s", err);
	return r;
}

/*
 * Applies packages.json and waits for the packages' changes. When one
 * fails, the task puts back what it changed itself (a task in Error is
 * not undone) before it fails.
 */
int upg_packages_do(struct engine_run *run, void *ud)
{
	struct upg_step st;
	json_t *m = NULL, *packages;
	const char *failure;
	char err[600] = "";
	bool failed = false;
	int r = upg_step_open(&st, run, ud);

	if (r == 0)
		r = upg_manifest_read(&st, &m);
	if (r < 0)
		goto out;
	upg_step_applying(&st);
	packages = json_object_get(m, "packages");
	if (!json_is_object(packages)) {
		(void)engine_run_logf(run, false, "the release has no packages.json");
		goto out;
	}
	failure = json_string_value(json_object_get(st.data, "failure"));
	if (!failure && !json_is_true(json_object_get(st.data, "applied")))
		failed = packages_apply(&st, packages, err, sizeof(err)) < 0;
	if (!failure && !failed) {
		if (waiting_ready(&st, "waiting", &failed, err, sizeof(err)) > 0) {
			r = engine_run_retry(run, UPG_WAIT_MS);
			goto out;
		}
	}
	if (failed) {
		(void)engine_run_logf(run, true, "%s; putting the packages back", err);
		if (json_object_set_new(st.data, "failure", json_string(err)) < 0 ||
		    (r = upg_step_save(&st)) < 0) {
			r = upg_step_fail(&st, -EIO, err);
			goto out;
		}
		failure = json_string_value(json_object_get(st.data, "failure"));
	}
	if (failure) {
		r = packages_restore(&st);
		if (r == 0)
			r = upg_step_fail(&st, -EIO, failure);
	}
out:
	json_decref(m);
	upg_step_close(&st);
	return r;
}

int upg_packages_undo(struct engine_run *run, void *ud)
{
	return upg_step_run(run, ud, packages_restore);
}

