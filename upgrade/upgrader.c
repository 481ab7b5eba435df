/*
 * The upgrade agent (upgrader.h). A check is one client (made per check,
 * so that options and connections never outlive it), two documents and one
 * write of the store's upgrade state; an apply request is a check and one
 * change (apply.c); the watcher is a recurring task of the engine (one
 * change, kind UPG_WATCH, that asks to run again every interval and that
 * settle does not wait for). The status is memory only, as SPEC §4.9
 * describes a state of the running daemon.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "client.h"
#include "engine.h"
#include "release.h"
#include "upgrader_int.h"
#include "upgstate.h"
#include "banned.h"

static int register_watcher(struct upgrader *u);

int upgrader_new(struct store *s, const struct upgrader_opts *o, struct upgrader **ret,
		 bool *ret_unverified, char *err, size_t errlen)
{
	struct upgrader *u = calloc(1, sizeof(*u));
	int r = 0;

	if (!u)
		return errf(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	u->store = s;
	u->agent = o->agent;
	u->log = o->log;
	u->interval = o->interval;
	u->autoapply = o->autoapply;
	if (o->limits)
		u->limits = *o->limits;
	else
		charm_limits_default(&u->limits);
	pthread_mutex_init(&u->check_lock, NULL);
	pthread_mutex_init(&u->apply_lock, NULL);
	pthread_mutex_init(&u->lock, NULL);
	snprintf(u->status, sizeof(u->status), "idle");
	if ((o->url && !(u->url = strdup(o->url))) || (o->ca_file && !(u->ca_file = strdup(o->ca_file))))
		r = errf(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	if (r == 0 && o->key_file)
		r = release_key_load(o->key_file, &u->key, err, errlen);
	if (r == 0 && (r = upg_apply_register(u)) == 0)
		r = register_watcher(u);
	if (r < 0 && !err[0])
		errf(err, errlen, r, "cannot register the upgrade tasks: %s", strerror(-r));
	if (r < 0) {
		upgrader_free(u);
		return r;
	}
	*ret_unverified = u->url && !u->key;
	*ret = u;
	return 0;
}

void upgrader_free(struct upgrader *u)
{
	if (!u)
		return;
	release_key_free(u->key);
	pthread_mutex_destroy(&u->check_lock);
	pthread_mutex_destroy(&u->apply_lock);
	pthread_mutex_destroy(&u->lock);
	free(u->url);
	free(u->ca_file);
	free(u);
}

/* The check, ended early when stop_fd (-1: none) becomes readable. */
static int check(struct upgrader *u, int stop_fd, char **ret_latest, char *err, size_t errlen)
{
	struct release_client_opts co = { .base = u->url, .ca_file = u->ca_file, .stop_fd = stop_fd };
	struct release_client *c = NULL;
	struct strv versions = { 0 };
	struct buf doc = { 0 };
	char *latest = NULL;
	int r = release_client_new(&co, &c, err, errlen);

	if (r == 0)
		r = release_client_get(c, "versions", &doc, err, errlen);
	if (r == 0)
		r = release_parse_versions(doc.data, doc.len, &versions, err, errlen);
	buf_free(&doc);
	if (r == 0)
		r = release_client_get(c, "latest", &doc, err, errlen);
	if (r == 0)
		r = release_parse_latest(doc.data, doc.len, &latest, err, errlen);
	buf_free(&doc);
	if (r == 0) {
		r = upg_state_checked(u->store, latest, (const char *const *)versions.v, versions.n);
		if (r < 0)
			errf(err, errlen, r, "cannot record the check: %s", strerror(-r));
	}
	release_client_free(c);
	strv_clear(&versions);
	if (r < 0) {
		free(latest);
		return r;
	}
	*ret_latest = latest;
	return 0;
}

static int check_locked(struct upgrader *u, int stop_fd, char **ret_latest, char *err,
			size_t errlen)
{
	int64_t running = 0;
	int r;

	if (!u->url)
		return errf(err, errlen, -ENOENT, "no upgrade_url: charmfs follows no publisher");
	pthread_mutex_lock(&u->check_lock);
	/* While a version is applied its progress is the status; the check only reports. */
	if (upg_apply_running(u, &running) < 0)
		running = 0;
	if (!running)
		upg_set_status(u, "", "checking");
	r = check(u, stop_fd, ret_latest, err, errlen);
	if (r < 0)
		upg_set_status(u, "error: ", err);
	else if (!running)
		upg_set_status(u, "", "idle");
	pthread_mutex_unlock(&u->check_lock);
	return r;
}

int upgrader_check(struct upgrader *u, char **ret_latest, char *err, size_t errlen)
{
	return check_locked(u, -1, ret_latest, err, errlen);
}

/* The versions of the last check (one per line in vs) into ret. */
static int split_lines(const char *vs, struct strv *ret)
{
	int r = 0;

	while (r == 0 && *vs) {
		const char *nl = strchr(vs, '\n');
		size_t n = nl ? (size_t)(nl - vs) : strlen(vs);
		if (n > 0)
			r = strv_pushf(ret, "%.*s", (int)n, vs);
		vs += n + (nl != NULL);
	}
	return r;
}

/* The apply request, with the apply lock held. */
static int apply(struct upgrader *u, const char *version, int64_t *ret_id, char *err, size_t errlen)
{
	struct release_version cur, tgt;
	struct strv versions = { 0 }, list = { 0 };
	struct upg_state st = { 0 };
	char *latest = NULL;
	const char *target;
	int64_t running = 0;
	bool listed = false;
	int r = upg_apply_running(u, &running);

	if (r == 0 && running)
		r = errf(err, errlen, -EBUSY, "change %lld is applying a release", (long long)running);
	if (r == 0)
		r = upgrader_check(u, &latest, err, errlen);
	if (r == 0 && (r = upg_state_get(u->store, &st)) < 0)
		errf(err, errlen, r, "cannot read the upgrade state: %s", strerror(-r));
	if (r == 0 && (r = split_lines(st.versions, &versions)) < 0)
		errf(err, errlen, r, "%s", strerror(-r));
	if (r < 0)
		goto out;
	target = version ? version : latest;
	if (release_version_parse(st.current, &cur) < 0) {
		r = errf(err, errlen, -EIO, "the current version %s is not a version", st.current);
		goto out;
	}
	if (release_version_parse(target, &tgt) < 0) {
		r = errf(err, errlen, -EINVAL, "%s is not a version", target);
		goto out;
	}
	if (version && release_version_cmp(&tgt, &cur) <= 0) {
		r = errf(err, errlen, -EINVAL, "%s is not greater than the current version %s",
			 version, st.current);
		goto out;
	}
	for (size_t i = 0; i < versions.n; i++)
		listed |= !strcmp(versions.v[i], target);
	if (version && !listed) {
		r = errf(err, errlen, -ENOENT, "%s is not published", version);
		goto out;
	}
	r = release_versions_to_apply(&cur, &tgt, (const char *const *)versions.v, versions.n, &list,
				      err, errlen);
	*ret_id = 0;
	if (r == 0 && list.n > 0) {
		r = upg_apply_add(u, list.v[0], st.current, (const char *const *)list.v + 1,
				  list.n - 1, ret_id);
		if (r < 0)
			errf(err, errlen, r, "cannot add the change: %s", strerror(-r));
	}
out:
	strv_clear(&list);
	strv_clear(&versions);
	upg_state_free(&st);
	free(latest);
	return r;
}

int upgrader_apply(struct upgrader *u, const char *version, int64_t *ret_id, char *err,
		   size_t errlen)
{
	int r;

	if (!u->url)
		return errf(err, errlen, -ENOENT, "no upgrade_url: charmfs follows no publisher");
	pthread_mutex_lock(&u->apply_lock);
	r = apply(u, version, ret_id, err, errlen);
	pthread_mutex_unlock(&u->apply_lock);
	return r;
}

/* ---- the watcher -------------------------------------------------------------------- */

static void say(struct upgrader *u, int prio, const char *fmt, ...) PRINTF(3, 4);
static void say(struct upgrader *u, int prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!u->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	u->log(prio, msg);
}

/* One round: a check; a new, greater latest is announced and, with autoapply, applied. */
static void watch_once(struct upgrader *u, int stop_fd)
{
	struct release_version cur, lat, ann;
	struct upg_state st;
	char err[700] = "", *latest = NULL, announced[RELEASE_VERSION_MAX + 1], id[32];
	int64_t change = 0;
	bool fresh;

	if (check_locked(u, stop_fd, &latest, err, sizeof(err)) < 0) {
		say(u, LOG_WARNING, "upgrade check of %s failed: %s", u->url, err);
		return;
	}
	if (upg_state_get(u->store, &st) < 0) {
		free(latest);
		return;
	}
	pthread_mutex_lock(&u->lock);
	snprintf(announced, sizeof(announced), "%s", u->announced);
	pthread_mutex_unlock(&u->lock);
	fresh = release_version_parse(latest, &lat) == 0 &&
		release_version_parse(st.current, &cur) == 0 && release_version_cmp(&lat, &cur) > 0 &&
		(!announced[0] || (release_version_parse(announced, &ann) == 0 &&
				   release_version_cmp(&lat, &ann) > 0));
	if (fresh) {
		pthread_mutex_lock(&u->lock);
		snprintf(u->announced, sizeof(u->announced), "%s", latest);
		pthread_mutex_unlock(&u->lock);
		upg_fire(u, "upgrade-available", latest, "current", st.current);
		say(u, LOG_INFO, "release %s is available (current %s)", latest, st.current);
	}
	/* Applied once when announced: a version that failed is not retried every interval. */
	if (u->autoapply && fresh) {
		if (upgrader_apply(u, NULL, &change, err, sizeof(err)) < 0) {
			if (!strstr(err, "is applying"))
				say(u, LOG_WARNING, "cannot apply %s: %s", latest, err);
		} else if (change) {
			snprintf(id, sizeof(id), "%lld", (long long)change);
			say(u, LOG_INFO, "applying %s as change %s", latest, id);
		}
	}
	upg_state_free(&st);
	free(latest);
}

/*
 * UPG_WATCH: a check every interval, as a task that asks to run again
 * (the first time one interval after the daemon started); done when
 * there is no publisher or no interval any more.
 */
static int watch_do(struct engine_run *run, void *ud)
{
	struct upgrader *u = ud;
	bool waited;

	int64_t mine;

	pthread_mutex_lock(&u->lock);
	mine = u->watch_change;
	waited = u->watch_waited;
	u->watch_waited = waited || mine == engine_run_change_id(run);
	pthread_mutex_unlock(&u->lock);
	if (mine != engine_run_change_id(run)) {
		(void)engine_run_logf(run, false, "replaced by the watcher of a newer daemon");
		return 0;
	}
	if (!u->url || !u->interval) {
		(void)engine_run_logf(run, false, "no upgrade_url or upgrade_interval: the watcher ends");
		return 0;
	}
	if (waited && !engine_run_stopping(run))
		watch_once(u, engine_run_stop_fd(run));
	return engine_run_retry(run, (int64_t)u->interval * 1000);
}

static int register_watcher(struct upgrader *u)
{
	struct engine *e = store_engine(u->store);
	int r = engine_add_handler(e, UPG_WATCH, watch_do, NULL, u);

	return r ? r : engine_set_recurring(e, UPG_WATCH);
}

/* Ends the watcher a previous daemon left (its retry would wait that daemon's interval). */
static void end_old_watcher(struct engine *e, int64_t id)
{
	int64_t *tasks = NULL;
	size_t n = 0;

	if (engine_task_ids(e, id, &tasks, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		(void)engine_task_logf(e, tasks[i], false, "replaced by the watcher of a newer daemon");
		/* -EBUSY when it runs right now: then it ends itself (watch_do()). */
		if (engine_task_set_status(e, tasks[i], ENGINE_DONE) < 0)
			continue;
	}
	free(tasks);
}

int upgrader_start(struct upgrader *u)
{
	struct engine *e = store_engine(u->store);
	const struct engine_task_spec task = { .kind = UPG_WATCH,
					       .summary = "Check the release publisher" };
	int64_t *ids = NULL, id = 0;
	size_t n = 0;
	int r = engine_change_ids(e, &ids, &n);

	for (size_t i = 0; r == 0 && i < n; i++) {
		struct engine_change_info *ci = NULL;
		if (engine_change_get(e, ids[i], &ci) == 0 && !ci->ready && !strcmp(ci->kind, UPG_WATCH))
			end_old_watcher(e, ids[i]);
		engine_change_info_free(ci);
	}
	free(ids);
	/* Held while the change is added: its first run must find it is this daemon's. */
	pthread_mutex_lock(&u->lock);
	if (r == 0 && u->url && u->interval)
		r = engine_change_add(e, UPG_WATCH, "Watch the release publisher", &task, 1, &id);
	u->watch_change = id;
	pthread_mutex_unlock(&u->lock);
	return r;
}
