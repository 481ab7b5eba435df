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
 *
 * This file has fetch, the migrations, commit and the change itself;
 * applypub.c and applypkg.c have the publish and packages tasks, and
 * applystep.c what every task shares (apply_int.h).
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
#include "apply_int.h"
#include "client.h"
#include "engine.h"
#include "evhook.h"
#include "upgstate.h"
#include "banned.h"

/* ---- upgrade-fetch -------------------------------------------------------------- */

static int on_progress(void *ud, uint64_t done, uint64_t total)
{
	struct upg_step *st = ud;
	char line[64];

	snprintf(line, sizeof(line), "downloading %llu/%llu", (unsigned long long)done,
		 (unsigned long long)total);
	upg_set_status(st->u, "", line);
	engine_run_set_progress(st->run, "downloading", (int64_t)done, (int64_t)total);
	return 0;
}

/* Downloads and checks the archive into the work directory's release file. */
static int download(struct upg_step *st, char *err, size_t errlen)
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
	upg_step_path(st, "release", path, sizeof(path));
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
	struct upg_step st;
	char err[600] = "", path[PATH_MAX], staging[PATH_MAX];
	int r = upg_step_open(&st, run, ud);

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
		upg_step_close(&st);
		return engine_run_retry(run, 0); /* stopped: the next attempt starts over */
	}
	if (r == 0) {
		upg_step_applying(&st);
		upg_step_path(&st, "release", path, sizeof(path));
		upg_step_path(&st, "staging", staging, sizeof(staging));
		r = release_archive_read(path, &st.u->limits, staging, &contents, &errors);
		if (r < 0) {
			char *all = strv_join(&errors, "; ");
			errf(err, sizeof(err), r, "the release archive: %s", all ? all : strerror(-r));
			free(all);
		}
	}
	if (r == 0 && (r = upg_manifest_write(&st, &contents)) < 0)
		errf(err, sizeof(err), r, "cannot record the release's contents: %s", strerror(-r));
	release_contents_free(&contents);
	strv_clear(&errors);
	if (r < 0) {
		/* Nothing of this version exists yet: it failed as a whole. */
		(void)rm_rf(st.dir);
		upg_fire(st.u, "upgrade-failed", st.version, "error", err);
		r = upg_step_fail(&st, r, err);
	}
	upg_step_close(&st);
	return r;
}

/* The message of the change's failed task (its last ERROR line), into out. */
static void change_error(struct upg_step *st, char *out, size_t len)
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
	struct upg_step st;
	char why[600], line[700];
	int r = upg_step_open(&st, run, ud);

	if (r < 0)
		return r;
	change_error(&st, why, sizeof(why));
	(void)rm_rf(st.dir);
	snprintf(line, sizeof(line), "%s was rolled back: %s", st.version, why);
	upg_set_status(st.u, "error: ", line);
	upg_fire(st.u, "upgrade-failed", st.version, "error", why);
	(void)engine_run_logf(run, false, "%s", line);
	upg_step_close(&st);
	return 0;
}

/* ---- upgrade-pre, upgrade-post ---------------------------------------------------- */

static int migrate(struct engine_run *run, void *ud, const char *which)
{
	struct upg_step st;
	json_t *m = NULL;
	const char *script;
	char name[32], staging[PATH_MAX];
	struct strv vars = { 0 };
	int r = upg_step_open(&st, run, ud);

	if (r == 0)
		r = upg_manifest_read(&st, &m);
	if (r < 0)
		goto out;
	upg_step_applying(&st);
	script = json_string_value(json_object_get(m, which));
	snprintf(name, sizeof(name), "migrate/%s", which);
	if (!script) {
		(void)engine_run_logf(run, false, "the release has no %s", name);
		goto out;
	}
	if (!st.u->agent) {
		r = upg_step_fail(&st, -ENOEXEC, "no hook runner to run the migration with");
		goto out;
	}
	upg_step_path(&st, "staging", staging, sizeof(staging));
	r |= strv_pushf(&vars, "CHARMFS_VERSION=%s", st.version);
	r |= strv_pushf(&vars, "CHARMFS_FROM_VERSION=%s", st.from);
	r |= strv_pushf(&vars, "CHARMFS_RELEASE_DIR=%s", staging);
	r |= strv_pushf(&vars, "CHARMFS_STORE=%s", store_dir(st.u->store));
	r |= strv_pushf(&vars, "CHARMFS_MIGRATE=%s", which);
	if (r < 0) {
		r = upg_step_fail(&st, -ENOMEM, strerror(ENOMEM));
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
	upg_step_close(&st);
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

/* ---- upgrade-commit ------------------------------------------------------------- */

static int commit_do(struct engine_run *run, void *ud)
{
	struct release_version cur, ver;
	struct upg_state us;
	struct upg_step st;
	json_t *next;
	int r = upg_step_open(&st, run, ud);

	if (r < 0)
		return r;
	r = upg_state_get(st.u->store, &us);
	if (r < 0) {
		r = upg_step_fail(&st, r, "cannot read the current version");
		goto out;
	}
	if (release_version_parse(us.current, &cur) < 0 ||
	    release_version_parse(st.version, &ver) < 0 || release_version_cmp(&cur, &ver) < 0) {
		r = upg_state_applied(st.u->store, st.version);
		if (r < 0) {
			upg_state_free(&us);
			r = upg_step_fail(&st, r, "cannot record the version");
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
			r = upg_step_fail(&st, r, "cannot add the next version's change");
		else
			(void)engine_run_logf(run, false, "the next version is change %lld",
					      (long long)id);
	} else {
		upg_set_status(st.u, "", "idle");
	}
out:
	upg_step_close(&st);
	return r;
}

/* ---- the change --------------------------------------------------------------------- */

int upg_apply_register(struct upgrader *u)
{
	struct engine *e = store_engine(u->store);
	int r = engine_add_handler(e, UPG_TASK_FETCH, fetch_do, fetch_undo, u);

	r = r ? r : engine_add_handler(e, UPG_TASK_PRE, pre_do, NULL, u);
	r = r ? r : engine_add_handler(e, UPG_TASK_PUBLISH, upg_publish_do, upg_publish_undo, u);
	r = r ? r : engine_add_handler(e, UPG_TASK_PACKAGES, upg_packages_do, upg_packages_undo, u);
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
