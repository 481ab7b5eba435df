/*
 * Applying one release version (SPEC §4.9), whole or not at all: one
 * change of the store's engine, six tasks in one lane, each waiting for
 * the one before:
 *
 *   upgrade-fetch     GET BASE/VERSION, download the archive, check its
 *                     signature, extract it; undo: remove the work and fire
 *                     upgrade-failed (the first task is undone last, so
 *                     this runs once the rest is rolled back)
 *   upgrade-pre       the release's migrate/pre, when it has one
 *   upgrade-publish   its charms, through the store's publish path; undo:
 *                     delete the revisions it published (their numbers are
 *                     never reused)
 *   upgrade-packages  packages.json as package writes, waiting for their
 *                     changes; undo: the packages' old versions, settings
 *                     and enabled flags (their hooks run again), and
 *                     packages it made are removed
 *   upgrade-post      the release's migrate/post
 *   upgrade-commit    current and history, upgrade-applied, and the change
 *                     of the next version when the target is further on
 *
 * A failing task puts the change in Error and the engine undoes what the
 * lane had done, in reverse order; current is then unchanged. Every
 * handler is idempotent (a kill -9 runs the Doing task again): what must
 * survive is kept in the task's data, a JSON object whose "version" and
 * "from" every task carries. The work directory of a version is
 * STOREDIR/run/upgrade/VERSION: the archive (release), what was extracted
 * (staging/) and the list of it (manifest.json), which the later tasks read.
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

#include "agent.h"
#include "client.h"
#include "engine.h"
#include "evhook.h"
#include "pkg.h"
#include "upgrader_int.h"
#include "upgstate.h"
#include "banned.h"

/* ---- shared pieces ------------------------------------------------------------ */

/* One attempt of a task: its data decoded. */
struct step {
	struct upgrader *u;
	struct engine_run *run;
	json_t *data;	     /* the task's data (an object) */
	const char *version; /* data.version */
	const char *from;    /* data.from */
	char dir[PATH_MAX];  /* the version's work directory */
};

static int step_open(struct step *st, struct engine_run *run, void *ud)
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

static void step_close(struct step *st)
{
	json_decref(st->data);
}

/* One attempt of a task that is fn on its decoded data. */
static int step_run(struct engine_run *run, void *ud, int (*fn)(struct step *st))
{
	struct step st;
	int r = step_open(&st, run, ud);

	if (r < 0)
		return r;
	r = fn(&st);
	step_close(&st);
	return r;
}

/* Commits the step's data. */
static int step_save(struct step *st)
{
	char *text = json_dumps(st->data, JSON_COMPACT | JSON_SORT_KEYS);
	int r = text ? engine_run_set_data(st->run, text) : -ENOMEM;

	free(text);
	return r < 0 ? engine_run_fail(st->run, r, "cannot record progress: %s", strerror(-r)) : 0;
}

/* The path of name inside the work directory into out. */
static void step_path(const struct step *st, const char *name, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s/%s", st->dir, name) >= len)
		out[0] = '\0'; /* cannot happen: st->dir was checked with room to spare */
}

/* The status while the version's tasks run (also after a restart resumed them). */
static void step_applying(struct step *st)
{
	char line[RELEASE_VERSION_MAX + 16];

	snprintf(line, sizeof(line), "applying %s", st->version);
	upg_set_status(st->u, "", line);
}

/* A step's failure: the status says why, the task's log too (its return value). */
static int step_fail(struct step *st, int r, const char *msg)
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

static int manifest_write(const struct step *st, const struct release_contents *c)
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
	step_path(st, "manifest.json", path, sizeof(path));
	step_path(st, "manifest.json.tmp", tmp, sizeof(tmp));
	if (r < 0)
		r = -ENOMEM;
	else if (json_dump_file(o, tmp, JSON_COMPACT) < 0 || rename(tmp, path) < 0)
		r = -EIO;
	json_decref(charms);
	json_decref(o);
	return r;
}

/* The manifest into *ret (json_decref() it); a failure is the handler's return. */
static int manifest_read(struct step *st, json_t **ret)
{
	char path[PATH_MAX];
	json_t *o;

	step_path(st, "manifest.json", path, sizeof(path));
	o = json_load_file(path, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return step_fail(st, -ENOENT, "the release's files are gone (fetch it again)");
	}
	*ret = o;
	return 0;
}

/* ---- upgrade-fetch -------------------------------------------------------------- */

static int on_progress(void *ud, uint64_t done, uint64_t total)
{
	struct step *st = ud;
	char line[64];

	snprintf(line, sizeof(line), "downloading %llu/%llu", (unsigned long long)done,
		 (unsigned long long)total);
	upg_set_status(st->u, "", line);
	engine_run_set_progress(st->run, "downloading", (int64_t)done, (int64_t)total);
	return 0;
}

/* Downloads and checks the archive into the work directory's release file. */
static int download(struct step *st, char *err, size_t errlen)
{
	struct release_client_opts co = { .base = st->u->url, .ca_file = st->u->ca_file,
					  .progress = on_progress, .ud = st,
					  .stop_fd = engine_run_stop_fd(st->run) };
	struct release_upgrade up = { 0 };
	struct release_client *c = NULL;
	struct buf doc = { 0 };
	unsigned char sha[32];
	char path[PATH_MAX], *url = NULL, hex[65];
	uint64_t size = 0;
	int fd = -1, r;

	if (!st->u->url)
		return errf(err, errlen, -ENOENT, "no upgrade_url: charmfs follows no publisher");
	r = release_client_new(&co, &c, err, errlen);
	if (r == 0)
		r = release_client_get(c, st->version, &doc, err, errlen);
	if (r == 0)
		r = release_parse_upgrade(doc.data, doc.len, &up, err, errlen);
	if (r == 0)
		r = release_client_resolve(c, up.flist, &url, err, errlen);
	step_path(st, "release", path, sizeof(path));
	if (r == 0 && (fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		r = errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (r == 0)
		r = release_client_download(c, url, fd, sha, &size, err, errlen);
	if (r == 0 && fsync(fd) < 0)
		r = errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (r == 0 && st->u->key) {
		upg_set_status(st->u, "", "verifying");
		r = release_verify(st->u->key, st->version, sha, up.signature, err, errlen);
	}
	if (r == 0) {
		hex_encode(sha, sizeof(sha), hex);
		(void)engine_run_logf(st->run, false, "downloaded %s: %llu bytes, sha256 %s%s", url,
				      (unsigned long long)size, hex,
				      st->u->key ? ", signature verified" : ", unverified (no upgrade_key)");
	}
	if (fd >= 0)
		close(fd);
	free(url);
	release_upgrade_free(&up);
	buf_free(&doc);
	release_client_free(c);
	return r;
}

static int fetch_do(struct engine_run *run, void *ud)
{
	struct release_contents contents = { 0 };
	struct strv errors = { 0 };
	struct step st;
	char err[600] = "", path[PATH_MAX], staging[PATH_MAX];
	int r = step_open(&st, run, ud);

	if (r < 0)
		return r;
	upg_set_status(st.u, "", "downloading 0/0");
	r = rm_rf(st.dir);
	if (r == 0)
		r = mkdir_p(st.dir);
	if (r < 0)
		errf(err, sizeof(err), r, "%s: %s", st.dir, strerror(-r));
	if (r == 0)
		r = download(&st, err, sizeof(err));
	if (r == -ECANCELED && engine_run_stopping(run)) {
		step_close(&st);
		return engine_run_retry(run, 0); /* stopped: the next attempt starts over */
	}
	if (r == 0) {
		step_applying(&st);
		step_path(&st, "release", path, sizeof(path));
		step_path(&st, "staging", staging, sizeof(staging));
		r = release_archive_read(path, &st.u->limits, staging, &contents, &errors);
		if (r < 0) {
			char *all = strv_join(&errors, "; ");
			errf(err, sizeof(err), r, "the release archive: %s", all ? all : strerror(-r));
			free(all);
		}
	}
	if (r == 0 && (r = manifest_write(&st, &contents)) < 0)
		errf(err, sizeof(err), r, "cannot record the release's contents: %s", strerror(-r));
	release_contents_free(&contents);
	strv_clear(&errors);
	if (r < 0) {
		/* Nothing of this version exists yet: it failed as a whole. */
		(void)rm_rf(st.dir);
		upg_fire(st.u, "upgrade-failed", st.version, "error", err);
		r = step_fail(&st, r, err);
	}
	step_close(&st);
	return r;
}

/* The message of the change's failed task (its last ERROR line), into out. */
static void change_error(struct step *st, char *out, size_t len)
{
	struct engine *e = store_engine(st->u->store);
	int64_t *ids = NULL;
	size_t n = 0;

	snprintf(out, len, "a step failed");
	if (engine_task_ids(e, engine_run_change_id(st->run), &ids, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct engine_task_info *ti = NULL;
		if (engine_task_get(e, ids[i], &ti) == 0 && ti->status == ENGINE_ERROR) {
			for (size_t k = ti->n_log; k-- > 0;) {
				const char *m = strstr(ti->log[k], " ERROR ");
				if (m) {
					snprintf(out, len, "%s", m + 7);
					break;
				}
			}
		}
		engine_task_info_free(ti);
	}
	free(ids);
}

static int fetch_undo(struct engine_run *run, void *ud)
{
	struct step st;
	char why[600], line[700];
	int r = step_open(&st, run, ud);

	if (r < 0)
		return r;
	change_error(&st, why, sizeof(why));
	(void)rm_rf(st.dir);
	snprintf(line, sizeof(line), "%s was rolled back: %s", st.version, why);
	upg_set_status(st.u, "error: ", line);
	upg_fire(st.u, "upgrade-failed", st.version, "error", why);
	(void)engine_run_logf(run, false, "%s", line);
	step_close(&st);
	return 0;
}

/* ---- upgrade-pre, upgrade-post ---------------------------------------------------- */

static int migrate(struct engine_run *run, void *ud, const char *which)
{
	struct step st;
	json_t *m = NULL;
	const char *script;
	char name[32], staging[PATH_MAX];
	struct strv vars = { 0 };
	int r = step_open(&st, run, ud);

	if (r == 0)
		r = manifest_read(&st, &m);
	if (r < 0)
		goto out;
	step_applying(&st);
	script = json_string_value(json_object_get(m, which));
	snprintf(name, sizeof(name), "migrate/%s", which);
	if (!script) {
		(void)engine_run_logf(run, false, "the release has no %s", name);
		goto out;
	}
	if (!st.u->agent) {
		r = step_fail(&st, -ENOEXEC, "no hook runner to run the migration with");
		goto out;
	}
	step_path(&st, "staging", staging, sizeof(staging));
	r |= strv_pushf(&vars, "CHARMFS_VERSION=%s", st.version);
	r |= strv_pushf(&vars, "CHARMFS_FROM_VERSION=%s", st.from);
	r |= strv_pushf(&vars, "CHARMFS_RELEASE_DIR=%s", staging);
	r |= strv_pushf(&vars, "CHARMFS_STORE=%s", store_dir(st.u->store));
	r |= strv_pushf(&vars, "CHARMFS_MIGRATE=%s", which);
	if (r < 0) {
		r = step_fail(&st, -ENOMEM, strerror(ENOMEM));
		goto out;
	}
	r = hook_agent_run_script(st.u->agent, run, name, script, (const char *const *)vars.v,
				  staging);
	if (r < 0) {
		char msg[64];
		snprintf(msg, sizeof(msg), "%s failed", name);
		upg_set_status(st.u, "error: ", msg);
	}
out:
	strv_clear(&vars);
	json_decref(m);
	step_close(&st);
	return r;
}

static int pre_do(struct engine_run *run, void *ud)
{
	return migrate(run, ud, "pre");
}

static int post_do(struct engine_run *run, void *ud)
{
	return migrate(run, ud, "post");
}

/* ---- upgrade-publish ------------------------------------------------------------ */

/* The revision of u whose archive has sha256, or -1. */
static int find_rev(struct store *s, const struct url *u, const char *sha256)
{
	int *revs = NULL, found = -1;
	size_t n = 0;

	if (store_list_revisions(s, u, &revs, &n) < 0)
		return -1;
	for (size_t i = n; found < 0 && i-- > 0;) {
		struct store_rev rev;
		if (store_get_rev(s, u, revs[i], &rev) == 0 && !strcmp(rev.sha256, sha256))
			found = revs[i];
	}
	free(revs);
	return found;
}

/* Publishes charm i of the manifest unless it is done; records it in data.published. */
static int publish_one(struct step *st, json_t *charm, json_t *published)
{
	const char *text = json_string_value(json_object_get(charm, "url"));
	const char *path = json_string_value(json_object_get(charm, "path"));
	json_t *pending = json_object_get(st->data, "pending");
	struct store_publish_req req = { .path = path, .n_urls = 1 };
	struct strv errors = { 0 };
	struct url u;
	char sha[65], err[256], canon[URL_STR_MAX];
	bool ours;
	int rev, r;

	if (!text || !path || url_parse(text, &u, err, sizeof(err)) < 0)
		return step_fail(st, -EINVAL, "a bad charm in the manifest");
	r = sha256_file(path, sha, NULL);
	if (r < 0)
		return step_fail(st, r, "cannot read a charm of the release");
	url_format(&u, canon, sizeof(canon));
	rev = find_rev(st->u->store, &u, sha);
	/* Published by an earlier attempt of this task (it said so first), or there before. */
	ours = json_is_object(pending) &&
	       !strcmp(json_string_value(json_object_get(pending, "url")) ?: "", canon) &&
	       !strcmp(json_string_value(json_object_get(pending, "sha256")) ?: "", sha);
	if (rev < 0) {
		if (json_object_set_new(st->data, "pending",
					json_pack("{s:s, s:s}", "url", canon, "sha256", sha)) < 0)
			return step_fail(st, -ENOMEM, strerror(ENOMEM));
		r = step_save(st);
		if (r < 0)
			return r;
		req.urls = &u;
		r = store_publish(st->u->store, &req, &rev, &errors);
		if (r == -EEXIST)
			r = (rev = find_rev(st->u->store, &u, sha)) >= 0 ? 0 : -EEXIST;
		if (r < 0) {
			char *all = strv_join(&errors, "; "), msg[600];
			snprintf(msg, sizeof(msg), "cannot publish %s: %s", canon,
				 all && *all ? all : strerror(-r));
			free(all);
			strv_clear(&errors);
			return step_fail(st, r, msg);
		}
		ours = true;
		(void)engine_run_logf(st->run, false, "published %s-%d", canon, rev);
	} else {
		(void)engine_run_logf(st->run, false, "%s-%d has this archive already", canon, rev);
	}
	strv_clear(&errors);
	if (json_array_append_new(published, json_pack("{s:s, s:i, s:b}", "url", canon, "revision",
						       rev, "ours", ours)) < 0)
		return step_fail(st, -ENOMEM, strerror(ENOMEM));
	if (json_object_get(st->data, "pending"))
		json_object_del(st->data, "pending");
	return step_save(st);
}

/* Deletes the revisions data.published says the task published, newest first. */
static int publish_rollback(struct step *st)
{
	json_t *published = json_object_get(st->data, "published");

	for (size_t i = json_array_size(published); i-- > 0;) {
		json_t *p = json_array_get(published, i);
		const char *text = json_string_value(json_object_get(p, "url"));
		int rev = (int)json_integer_value(json_object_get(p, "revision")), r;
		char err[256];
		struct url u;

		if (!json_is_true(json_object_get(p, "ours")) || !text ||
		    url_parse(text, &u, err, sizeof(err)) < 0)
			continue;
		r = store_delete(st->u->store, &u, rev, 0);
		if (r < 0 && r != -ENOENT)
			return engine_run_fail(st->run, r, "cannot remove %s-%d: %s", text, rev,
					       strerror(-r));
		(void)engine_run_logf(st->run, false, "removed %s-%d", text, rev);
	}
	return 0;
}

static int publish_do(struct engine_run *run, void *ud)
{
	struct step st;
	json_t *m = NULL, *charms, *published;
	int r = step_open(&st, run, ud);

	if (r == 0)
		r = manifest_read(&st, &m);
	if (r < 0)
		goto out;
	step_applying(&st);
	charms = json_object_get(m, "charms");
	published = json_object_get(st.data, "published");
	if (!json_is_array(published)) {
		published = json_array();
		if (json_object_set_new(st.data, "published", published) < 0) {
			r = step_fail(&st, -ENOMEM, strerror(ENOMEM));
			goto out;
		}
	}
	for (size_t i = json_array_size(published); r == 0 && i < json_array_size(charms); i++) {
		if (engine_run_stopping(run)) {
			r = engine_run_retry(run, 0);
			break;
		}
		r = publish_one(&st, json_array_get(charms, i), published);
	}
	/* A task in Error is not undone: what it published itself goes now. */
	if (r < 0 && !engine_run_stopping(run))
		(void)publish_rollback(&st);
out:
	json_decref(m);
	step_close(&st);
	return r;
}

static int publish_undo(struct engine_run *run, void *ud)
{
	return step_run(run, ud, publish_rollback);
}

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
static int waiting_ready(struct step *st, const char *key, bool *ret_failed, char *err, size_t len)
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
static int packages_apply(struct step *st, json_t *packages, char *err, size_t errlen)
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
		else if ((r = step_save(st)) < 0)
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
	if (r == 0 && (r = step_save(st)) < 0)
		errf(err, errlen, r, "cannot record the packages' state");
	if (r < 0 && !err[0])
		errf(err, errlen, r, "%s", strerror(-r));
	json_decref(waiting);
	strv_clear(&errors);
	return r;
}

/* Puts package name back as old says it was; its change joins waiting. */
static int package_restore(struct step *st, const char *name, json_t *old, json_t *waiting)
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
static int packages_restore(struct step *st)
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
			r = step_save(st);
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
static int packages_do(struct engine_run *run, void *ud)
{
	struct step st;
	json_t *m = NULL, *packages;
	const char *failure;
	char err[600] = "";
	bool failed = false;
	int r = step_open(&st, run, ud);

	if (r == 0)
		r = manifest_read(&st, &m);
	if (r < 0)
		goto out;
	step_applying(&st);
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
		    (r = step_save(&st)) < 0) {
			r = step_fail(&st, -EIO, err);
			goto out;
		}
		failure = json_string_value(json_object_get(st.data, "failure"));
	}
	if (failure) {
		r = packages_restore(&st);
		if (r == 0)
			r = step_fail(&st, -EIO, failure);
	}
out:
	json_decref(m);
	step_close(&st);
	return r;
}

static int packages_undo(struct engine_run *run, void *ud)
{
	return step_run(run, ud, packages_restore);
}

/* ---- upgrade-commit ------------------------------------------------------------- */

static int commit_do(struct engine_run *run, void *ud)
{
	struct release_version cur, ver;
	struct upg_state us;
	struct step st;
	json_t *next;
	int r = step_open(&st, run, ud);

	if (r < 0)
		return r;
	r = upg_state_get(st.u->store, &us);
	if (r < 0) {
		r = step_fail(&st, r, "cannot read the current version");
		goto out;
	}
	if (release_version_parse(us.current, &cur) < 0 ||
	    release_version_parse(st.version, &ver) < 0 || release_version_cmp(&cur, &ver) < 0) {
		r = upg_state_applied(st.u->store, st.version);
		if (r < 0) {
			upg_state_free(&us);
			r = step_fail(&st, r, "cannot record the version");
			goto out;
		}
		upg_fire(st.u, "upgrade-applied", st.version, "from", st.from);
	}
	upg_state_free(&us);
	(void)rm_rf(st.dir);
	(void)engine_run_logf(run, false, "%s applied", st.version);
	next = json_object_get(st.data, "next");
	if (json_array_size(next) > 0) {
		size_t n = json_array_size(next) - 1;
		const char **v = calloc(n + 1, sizeof(*v));
		int64_t id;
		for (size_t i = 0; v && i < n; i++)
			v[i] = json_string_value(json_array_get(next, i + 1));
		r = v ? upg_apply_add(st.u, json_string_value(json_array_get(next, 0)), st.version, v,
				      n, &id)
		      : -ENOMEM;
		free(v);
		if (r < 0)
			r = step_fail(&st, r, "cannot add the next version's change");
		else
			(void)engine_run_logf(run, false, "the next version is change %lld",
					      (long long)id);
	} else {
		upg_set_status(st.u, "", "idle");
	}
out:
	step_close(&st);
	return r;
}

/* ---- the change --------------------------------------------------------------------- */

int upg_apply_register(struct upgrader *u)
{
	struct engine *e = store_engine(u->store);
	int r = engine_add_handler(e, UPG_TASK_FETCH, fetch_do, fetch_undo, u);

	r = r ? r : engine_add_handler(e, UPG_TASK_PRE, pre_do, NULL, u);
	r = r ? r : engine_add_handler(e, UPG_TASK_PUBLISH, publish_do, publish_undo, u);
	r = r ? r : engine_add_handler(e, UPG_TASK_PACKAGES, packages_do, packages_undo, u);
	r = r ? r : engine_add_handler(e, UPG_TASK_POST, post_do, NULL, u);
	r = r ? r : engine_add_handler(e, UPG_TASK_COMMIT, commit_do, NULL, u);
	return r;
}

int upg_apply_add(struct upgrader *u, const char *version, const char *from,
		  const char *const *next, size_t n, int64_t *ret_id)
{
	static const struct {
		const char *kind, *summary;
	} tasks[] = {
		{ UPG_TASK_FETCH, "Fetch and verify release" },
		{ UPG_TASK_PRE, "Run migrate/pre of" },
		{ UPG_TASK_PUBLISH, "Publish the charms of" },
		{ UPG_TASK_PACKAGES, "Apply the packages of" },
		{ UPG_TASK_POST, "Run migrate/post of" },
		{ UPG_TASK_COMMIT, "Commit release" },
	};
	struct engine_task_spec spec[ARRAY_SIZE(tasks)] = { 0 };
	char summaries[ARRAY_SIZE(tasks)][RELEASE_VERSION_MAX + 64], summary[RELEASE_VERSION_MAX + 32];
	char *data[ARRAY_SIZE(tasks)] = { 0 };
	size_t wait[ARRAY_SIZE(tasks)];
	json_t *base = json_pack("{s:s, s:s}", "version", version, "from", from), *list;
	int lane, r = base ? engine_new_lane(store_engine(u->store), &lane) : -ENOMEM;

	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(tasks); i++) {
		json_t *o = json_copy(base);
		if (o && !strcmp(tasks[i].kind, UPG_TASK_COMMIT)) {
			list = json_array();
			for (size_t j = 0; list && j < n; j++)
				json_array_append_new(list, json_string(next[j]));
			json_object_set_new(o, "next", list);
		}
		data[i] = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(o);
		if (!data[i]) {
			r = -ENOMEM;
			break;
		}
		snprintf(summaries[i], sizeof(summaries[i]), "%s %s", tasks[i].summary, version);
		wait[i] = i - 1;
		spec[i] = (struct engine_task_spec){ .kind = tasks[i].kind, .summary = summaries[i],
						     .data = data[i], .wait_for = &wait[i],
						     .n_wait = i > 0, .lanes = &lane, .n_lanes = 1 };
	}
	snprintf(summary, sizeof(summary), "Upgrade to %s", version);
	if (r == 0)
		r = engine_change_add(store_engine(u->store), UPG_CHANGE, summary, spec,
				      ARRAY_SIZE(spec), ret_id);
	for (size_t i = 0; i < ARRAY_SIZE(tasks); i++)
		free(data[i]);
	json_decref(base);
	return r;
}

int upg_apply_running(struct upgrader *u, int64_t *ret_id)
{
	struct engine *e = store_engine(u->store);
	int64_t *ids = NULL;
	size_t n = 0;
	int r = engine_change_ids(e, &ids, &n);

	*ret_id = 0;
	for (size_t i = n; r == 0 && i-- > 0 && !*ret_id;) {
		struct engine_change_info *ci = NULL;
		if (engine_change_get(e, ids[i], &ci) == 0 && !ci->ready && !strcmp(ci->kind, UPG_CHANGE))
			*ret_id = ids[i];
		engine_change_info_free(ci);
	}
	free(ids);
	return r;
}
