/*
 * Packages (pkg.h): the rules of SPEC §4.6 and every write's change.
 *
 * A write runs under the component's one mutex (pkglife.c): it reads the
 * package's row, decides, aborts what it must (engine_abort() outside any
 * transaction), then stores the row and records its one change
 * (engine_record_tx()) in one transaction, and notices the engine after
 * the commit. The row's change_id names the newest change; cc_change the
 * change whose config-changed has not begun: a settings write while it is
 * set records nothing (the hook will read the newest settings, late
 * binding), and pkg_hook_begin() clears it under the same mutex, so no
 * write can fall between "not begun" and the hook's first config-get.
 *
 * Settings are stored as the user wrote them (compact, sorted keys, nulls
 * dropped) and shown with the version's defaults filled; the checksum is
 * the MD5 of what is shown (agents.md D1). The D5 rule compares what is
 * shown: a write that shows the same settings for the same version does
 * nothing, unless the package is in error (failed): then it retries.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "engine.h"
#include "pkg_int.h"
#include "pkglife.h"
#include "store_int.h"
#include "banned.h"

/* ---- recording changes -------------------------------------------------------- */

struct plan {
	const char *kind;    /* change kind */
	char summary[256];
	enum pkg_change_kind ck;
	bool deploy;	     /* a deploy task first */
	const char *hooks[4];
	size_t n_hooks;
	bool purge;	     /* a purge task last */
};

static void plan_hook(struct plan *p, const char *hook)
{
	p->hooks[p->n_hooks++] = hook;
}

/* The hooks after a version write (or a retry): install/upgrade-charm, config-changed, start. */
static void plan_version(struct plan *p, const char *name, const struct pkg_row *w)
{
	p->ck = PKG_CH_DEPLOY;
	p->deploy = true;
	if (!w->installed[0]) {
		p->kind = "install-package";
		snprintf(p->summary, sizeof(p->summary), "Install %s as %s", w->version, name);
		plan_hook(p, "install");
	} else if (strcmp(w->installed, w->version)) {
		p->kind = "upgrade-package";
		snprintf(p->summary, sizeof(p->summary), "Upgrade %s to %s", name, w->version);
		plan_hook(p, "upgrade-charm");
	} else {
		p->kind = "configure-package";
		snprintf(p->summary, sizeof(p->summary), "Retry %s with %s", name, w->version);
	}
	plan_hook(p, "config-changed");
	if (w->enabled)
		plan_hook(p, "start");
}

static char *task_data(const char *name, const char *key, const char *val)
{
	json_t *j = json_pack("{s:s}", "package", name);
	char *out = NULL;

	if (j && key)
		json_object_set_new(j, key, json_string(val));
	if (j)
		out = pkg_json_dump(j);
	json_decref(j);
	return out;
}

/*
 * Records the plan's change for package name (row w) in the caller's
 * transaction and points the row at it. ret_id may be NULL.
 */
static int record(struct store *s, const char *name, const struct pkg_row *w, const struct plan *p,
		  int64_t *ret_id)
{
	struct engine_task_spec t[6] = { 0 };
	char sums[6][256];
	char *data[6] = { 0 };
	size_t waits[6], n = 0;
	bool cc = false;
	int64_t id = 0;
	int r = 0;

	if (p->deploy) {
		snprintf(sums[n], sizeof(sums[n]), "Deploy %s into packages/%s", w->version, name);
		data[n] = task_data(name, "sha256", w->sha256);
		t[n++].kind = PKG_TASK_DEPLOY;
	}
	for (size_t i = 0; i < p->n_hooks; i++) {
		snprintf(sums[n], sizeof(sums[n]), "Run %s hook of %s", p->hooks[i], name);
		data[n] = task_data(name, "hook", p->hooks[i]);
		t[n++].kind = PKG_TASK_HOOK;
		cc = cc || !strcmp(p->hooks[i], "config-changed");
	}
	if (p->purge) {
		snprintf(sums[n], sizeof(sums[n]), "Delete package %s", name);
		data[n] = task_data(name, NULL, NULL);
		t[n++].kind = PKG_TASK_PURGE;
	}
	for (size_t i = 0; i < n; i++) {
		if (!data[i])
			r = -ENOMEM;
		t[i].summary = sums[i];
		t[i].data = data[i];
		t[i].status = ENGINE_DO;
		if (i > 0) {
			waits[i] = i - 1;
			t[i].wait_for = &waits[i];
			t[i].n_wait = 1;
		}
	}
	if (r == 0)
		r = engine_record_tx(store_db(s), p->kind, p->summary, pkg_now_ns() / 1000000, t, n, &id);
	if (r == 0)
		r = pkg_life_note_change(pkg_of(s), name, id, p->ck);
	if (r == 0) {
		sqlite3_stmt *st = db_prep(store_db(s), "UPDATE packages SET change_id = ?2,"
					   " cc_change = CASE WHEN ?3 THEN ?2 ELSE cc_change END"
					   " WHERE name = ?1");
		if (!st) {
			r = -EIO;
		} else {
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, id);
			sqlite3_bind_int(st, 3, cc);
			r = db_errno(sqlite3_step(st));
			db_reset(st);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(data[i]);
	if (r == 0 && ret_id)
		*ret_id = id;
	return r;
}

/* Aborts the package's unready changes of the kinds in mask (0: all). */
static int abort_unready(struct store *s, const char *name, unsigned mask)
{
	int64_t *ids = NULL;
	size_t n = 0;
	int r = pkg_life_unready(pkg_of(s), name, mask, 0, &ids, &n);

	/* Newest first: an older one's end cannot let a newer one start meanwhile. */
	for (size_t i = n; r == 0 && i-- > 0;) {
		int a = engine_abort(store_engine(s), ids[i]);
		if (a < 0 && a != -EALREADY && a != -ENOENT)
			r = a;
	}
	free(ids);
	return r;
}

/*
 * After a write committed: the engine reads its change, and the
 * `package-changed` event (SPEC §4.7) fires once per package write that
 * recorded a change (`package-error` fires in pkg_hook_end()).
 */
static void written(struct store *s, const char *name, bool recorded)
{
	if (recorded && store_engine(s)) {
		engine_notice(store_engine(s));
		pkg_fire_event(s, "package-changed", name, NULL, NULL);
	}
}

/* ---- the user's files ---------------------------------------------------------- */

int pkg_create(struct store *s, const char *name)
{
	struct pkg_row w;
	int64_t t = pkg_now_ns();
	int r;

	if (!url_valid_name(name))
		return -EINVAL;
	pkg_life_lock(pkg_of(s));
	r = pkg_row_read(s, name, false, &w);
	if (r == 0) {
		bool removing = w.removing;
		pkg_row_free(&w);
		r = removing ? 0 : -EEXIST;
	} else if (r == -ENOENT) {
		r = 0;
	}
	if (r == 0)
		r = pkg_life_mkdirs(pkg_of(s), name);
	if (r == 0)
		r = pkg_life_ensure_charm(pkg_of(s), name);
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r == 0) {
		sqlite3_stmt *st = db_prep(store_db(s),
			"INSERT INTO packages(name, created, version_ns, settings_ns, enabled_ns,"
			" status_ns, log_ns) VALUES(?1, ?2, ?2, ?2, ?2, ?2, ?2)"
			" ON CONFLICT(name) DO UPDATE SET removing = 0, enabled = 1, created = ?2,"
			" version_ns = ?2, settings_ns = ?2, enabled_ns = ?2");
		if (st) {
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, t);
			r = db_errno(sqlite3_step(st));
			db_reset(st);
		} else {
			r = -EIO;
		}
		r = db_write_end(store_db(s), r);
	}
	pkg_life_unlock(pkg_of(s));
	if (r == 0)
		written(s, name, false);
	return r;
}

int pkg_list(struct store *s, store_name_cb cb, void *ud)
{
	sqlite3_stmt *st = db_prep(store_db(s), "SELECT name FROM packages WHERE removing = 0"
						" ORDER BY name");
	struct strv names = { 0 };
	int rc, r = 0;

	if (!st)
		return -EIO;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = strv_push(&names, (const char *)sqlite3_column_text(st, 0));
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	for (size_t i = 0; r == 0 && i < names.n; i++)
		r = cb(ud, names.v[i]);
	strv_clear(&names);
	return r;
}

static char *status_text(const char *state, const char *message)
{
	size_t n = strlen(state) + strlen(message) + 3;
	char *out = malloc(n);

	if (out)
		snprintf(out, n, "%s%s%s", state, *message ? ": " : "", message);
	return out;
}

int pkg_get(struct store *s, const char *name, struct pkg_info *ret)
{
	struct pkg_info pi = { 0 };
	struct pkg_row w;
	int r = pkg_row_read(s, name, true, &w);

	if (r < 0)
		return r;
	r = pkg_row_shown(s, &w, &pi.settings);
	if (r == 0) {
		pkg_md5_hex(pi.settings, pi.checksum);
		pi.version = strdup(w.version);
		pi.status = status_text(w.state, w.message);
		if (!pi.version || !pi.status)
			r = -ENOMEM;
	}
	pi.enabled = w.enabled;
	pi.change_id = w.change_id;
	pi.created_ns = w.created;
	pi.version_ns = w.version_ns;
	pi.settings_ns = w.settings_ns;
	pi.enabled_ns = w.enabled_ns;
	pi.status_ns = w.status_ns;
	pi.log_ns = w.log_ns;
	pi.log_size = (uint64_t)(w.log_end - w.log_start);
	pkg_row_free(&w);
	if (r < 0) {
		pkg_info_free(&pi);
		return r;
	}
	*ret = pi;
	return 0;
}

void pkg_info_free(struct pkg_info *pi)
{
	if (!pi)
		return;
	free(pi->version);
	free(pi->settings);
	free(pi->status);
	memset(pi, 0, sizeof(*pi));
}

/* Parses a version write into the canonical URL and its revision. */
static int parse_version(struct store *s, const char *text, size_t len, char *out,
			 struct store_rev *rev, struct strv *errors)
{
	char in[URL_INPUT_MAX + 1], err[256];
	struct url u;
	int r;

	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len == 0 || len > URL_INPUT_MAX || memchr(text, '\0', len))
		return strv_errf(errors, -EINVAL, "version", "expected cs:[~user/]series/name-REV");
	memcpy(in, text, len);
	in[len] = '\0';
	r = url_parse(in, &u, err, sizeof(err));
	if (r < 0)
		return strv_errf(errors, r, "version", "%s", err);
	if (strcmp(u.schema, "cs") || !u.series[0] || u.revision < 0)
		return strv_errf(errors, -EINVAL, "version",
				 "expected cs:[~user/]series/name-REV, with series and revision");
	url_format(&u, out, URL_STR_MAX);
	r = store_get_rev(s, &u, u.revision, rev);
	if (r == -ENOENT)
		return strv_errf(errors, r, "version", "no revision %s in the store", out);
	return r;
}

/* Runs the version plan for w (version already set in w): aborts, stores, records. */
static int apply_version(struct store *s, const char *name, struct pkg_row *w, const char *settings,
			 bool set_settings)
{
	struct plan p = { 0 };
	int64_t t = pkg_now_ns();
	sqlite3_stmt *st;
	int r = abort_unready(s, name, 0);

	plan_version(&p, name, w);
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r < 0)
		return r;
	st = db_prep(store_db(s), "UPDATE packages SET version = ?2, sha256 = ?3,"
				  " version_ns = CASE WHEN version = ?2 THEN version_ns ELSE ?4 END,"
				  " settings = CASE WHEN ?5 THEN ?6 ELSE settings END,"
				  " settings_ns = CASE WHEN ?5 THEN ?4 ELSE settings_ns END,"
				  " cc_change = 0 WHERE name = ?1");
	if (!st)
		return db_write_end(store_db(s), -EIO);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, t);
	sqlite3_bind_int(st, 5, set_settings);
	sqlite3_bind_text(st, 6, settings, -1, SQLITE_STATIC);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	if (r == 0)
		r = record(s, name, w, &p, NULL);
	r = db_write_end(store_db(s), r);
	if (r == 0)
		written(s, name, true);
	return r;
}

/* True when change id's config-changed may still be absorbed: the change is unready. */
static bool cc_pending(struct store *s, int64_t id)
{
	struct engine_change_info *ci = NULL;
	bool pending = false;

	if (id > 0 && engine_change_get(store_engine(s), id, &ci) == 0)
		pending = !ci->ready && ci->status != ENGINE_ABORT && ci->status != ENGINE_UNDO &&
			  ci->status != ENGINE_UNDOING;
	engine_change_info_free(ci);
	return pending;
}

/* Stores settings (and records config-changed unless absorbed). */
static int apply_settings(struct store *s, const char *name, const struct pkg_row *w,
			  const char *settings, bool record_change)
{
	struct plan p = { .kind = "configure-package", .ck = PKG_CH_CONFIG };
	sqlite3_stmt *st;
	int r = db_write_begin(store_db(s));

	if (r < 0)
		return r;
	snprintf(p.summary, sizeof(p.summary), "Configure %s", name);
	plan_hook(&p, "config-changed");
	if (w->failed && w->enabled)
		plan_hook(&p, "start");
	st = db_prep(store_db(s), "UPDATE packages SET settings = ?2, settings_ns = ?3 WHERE name = ?1");
	if (!st)
		return db_write_end(store_db(s), -EIO);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, settings, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, pkg_now_ns());
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	if (r == 0 && record_change)
		r = record(s, name, w, &p, NULL);
	r = db_write_end(store_db(s), r);
	if (r == 0)
		written(s, name, record_change);
	return r;
}

/*
 * Writes settings (checked against c, w's version's config) to w's
 * package: nothing when they show as the stored ones and it is not in
 * error (D5); a package in error whose version never installed gets its
 * version plan again; otherwise config-changed, unless one not begun yet
 * will see them (late binding).
 */
static int write_settings(struct store *s, const char *name, struct pkg_row *w,
			  const struct charm_config *c, const char *settings)
{
	_cleanup_free_ char *old = NULL, *new = NULL;
	int r = pkg_settings_shown(c, w->settings, &old);

	if (r == 0)
		r = pkg_settings_shown(c, settings, &new);
	if (r < 0 || (!strcmp(old, new) && !w->failed))
		return r; /* D5 */
	if (w->failed && strcmp(w->installed, w->version))
		return apply_version(s, name, w, settings, true);
	return apply_settings(s, name, w, settings, w->failed || !cc_pending(s, w->cc_change));
}

int pkg_set_settings(struct store *s, const char *name, const char *json, size_t len,
		     struct strv *errors)
{
	_cleanup_free_ char *settings = NULL;
	struct charm_config *c = NULL;
	json_t *obj = NULL;
	struct pkg_row w;
	int r = pkg_settings_parse(json, len, &settings, errors);

	if (r < 0)
		return r;
	pkg_life_lock(pkg_of(s));
	r = pkg_row_read(s, name, true, &w);
	if (r < 0)
		goto out;
	if (!w.version[0]) {
		if (strcmp(w.settings, settings))
			r = apply_settings(s, name, &w, settings, false);
		goto done;
	}
	r = pkg_config_load(s, w.version, &c, errors);
	if (r == 0) {
		obj = json_loads(settings, 0, NULL);
		r = obj ? pkg_settings_check(c, w.version, obj, errors) : -ENOMEM;
	}
	if (r == 0)
		r = write_settings(s, name, &w, c, settings);
done:
	pkg_row_free(&w);
out:
	pkg_life_unlock(pkg_of(s));
	json_decref(obj);
	config_free(c);
	return r;
}

/* A version write (text[len]) with settings (NULL: the stored ones): pkg_deploy(). */
static int deploy(struct store *s, const char *name, const char *text, size_t len,
		  const char *settings_json, struct strv *errors)
{
	_cleanup_free_ char *settings = NULL;
	char canon[URL_STR_MAX];
	struct store_rev rev;
	struct charm_config *c = NULL;
	json_t *obj = NULL;
	struct pkg_row w;
	int r = parse_version(s, text, len, canon, &rev, errors);

	if (r == 0 && settings_json)
		r = pkg_settings_parse(settings_json, strlen(settings_json), &settings, errors);
	if (r < 0)
		return r;
	pkg_life_lock(pkg_of(s));
	r = pkg_row_read(s, name, true, &w);
	if (r < 0)
		goto out;
	r = pkg_config_load(s, canon, &c, errors);
	if (r == 0) {
		obj = json_loads(settings ? settings : w.settings, 0, NULL);
		r = obj ? pkg_settings_check(c, canon, obj, errors) : -ENOMEM;
	}
	if (r == 0 && !strcmp(w.version, canon) && !w.failed) {
		/* The same version: only the settings may differ. */
		if (settings)
			r = write_settings(s, name, &w, c, settings);
	} else if (r == 0) {
		snprintf(w.version, sizeof(w.version), "%s", canon);
		snprintf(w.sha256, sizeof(w.sha256), "%s", rev.sha256);
		r = apply_version(s, name, &w, settings, settings != NULL);
	}
	pkg_row_free(&w);
out:
	pkg_life_unlock(pkg_of(s));
	json_decref(obj);
	config_free(c);
	return r;
}

int pkg_set_version(struct store *s, const char *name, const char *text, size_t len,
		    struct strv *errors)
{
	return deploy(s, name, text, len, NULL, errors);
}

int pkg_deploy(struct store *s, const char *name, const char *version, const char *settings,
	       struct strv *errors)
{
	return deploy(s, name, version, strlen(version), settings, errors);
}

int pkg_set_enabled(struct store *s, const char *name, bool enabled)
{
	struct plan p = { 0 };
	sqlite3_stmt *st;
	struct pkg_row w;
	bool rec;
	int r;

	pkg_life_lock(pkg_of(s));
	r = pkg_row_read(s, name, true, &w);
	if (r < 0)
		goto out;
	if (w.enabled == enabled)
		goto done;
	rec = w.version[0] != '\0';
	if (rec)
		r = abort_unready(s, name, 1u << PKG_CH_ENABLE | 1u << PKG_CH_DISABLE);
	p.kind = enabled ? "enable-package" : "disable-package";
	p.ck = enabled ? PKG_CH_ENABLE : PKG_CH_DISABLE;
	snprintf(p.summary, sizeof(p.summary), "%s %s", enabled ? "Enable" : "Disable", name);
	if (enabled)
		plan_hook(&p, "config-changed");
	plan_hook(&p, enabled ? "start" : "stop");
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r < 0)
		goto done;
	st = db_prep(store_db(s), "UPDATE packages SET enabled = ?2, enabled_ns = ?3 WHERE name = ?1");
	if (st) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, enabled);
		sqlite3_bind_int64(st, 3, pkg_now_ns());
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	} else {
		r = -EIO;
	}
	if (r == 0 && rec)
		r = record(s, name, &w, &p, NULL);
	r = db_write_end(store_db(s), r);
	if (r == 0)
		written(s, name, rec);
done:
	pkg_row_free(&w);
out:
	pkg_life_unlock(pkg_of(s));
	return r;
}

int pkg_remove(struct store *s, const char *name)
{
	static const char *const now_sql[] = {
		"DELETE FROM packages WHERE name = ?1",
		"DELETE FROM pkg_log WHERE name = ?1",
		"DELETE FROM pkg_ports WHERE name = ?1",
		"DELETE FROM pkg_changes WHERE name = ?1",
	};
	struct plan p = { .kind = "remove-package", .ck = PKG_CH_REMOVE, .purge = true };
	char path[PATH_MAX];
	bool at_once;
	struct pkg_row w;
	int r;

	pkg_life_lock(pkg_of(s));
	r = pkg_row_read(s, name, true, &w);
	if (r < 0)
		goto out;
	at_once = !w.sha256[0];
	r = abort_unready(s, name, 0);
	if (r == 0)
		r = db_write_begin(store_db(s));
	if (r < 0)
		goto done;
	if (at_once) {
		for (size_t i = 0; r == 0 && i < ARRAY_SIZE(now_sql); i++)
			r = pkg_row_exec(s, now_sql[i], name);
	} else {
		snprintf(p.summary, sizeof(p.summary), "Remove %s", name);
		plan_hook(&p, "stop");
		plan_hook(&p, "remove");
		r = pkg_row_exec(s, "UPDATE packages SET version = '', settings = '{}', removing = 1,"
				 " installed = '', cc_change = 0 WHERE name = ?1", name);
		if (r == 0)
			r = record(s, name, &w, &p, NULL);
	}
	r = db_write_end(store_db(s), r);
	if (r == 0 && at_once && pkg_life_path(pkg_of(s), name, NULL, path, sizeof(path)) == 0)
		(void)rm_rf(path);
	if (r == 0)
		written(s, name, !at_once);
done:
	pkg_row_free(&w);
out:
	pkg_life_unlock(pkg_of(s));
	return r;
}
