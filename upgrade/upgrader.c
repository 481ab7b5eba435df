/*
 * The upgrade agent (upgrader.h). A check is one client (made per check,
 * so that options and connections never outlive it), two documents and one
 * write of the store's upgrade state; an apply request is a check and one
 * change (apply.c); the watcher is a thread that sleeps on a condition
 * variable between checks. The status is memory only, as SPEC §4.9
 * describes a state of the running daemon.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "release.h"
#include "upgrader_int.h"
#include "upgstate.h"
#include "banned.h"

int upgrader_new(struct store *s, const struct upgrader_opts *o, struct upgrader **ret,
		 bool *ret_unverified, char *err, size_t errlen)
{
	struct upgrader *u = calloc(1, sizeof(*u));
	pthread_condattr_t ca;
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
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&u->wake, &ca);
	pthread_condattr_destroy(&ca);
	snprintf(u->status, sizeof(u->status), "idle");
	u->stop_pipe[0] = u->stop_pipe[1] = -1;
	if (pipe2(u->stop_pipe, O_CLOEXEC) < 0)
		r = errf(err, errlen, -errno, "pipe: %s", strerror(errno));
	if (r == 0 && ((o->url && !(u->url = strdup(o->url))) || (o->ca_file && !(u->ca_file = strdup(o->ca_file)))))
		r = errf(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
	if (r == 0 && o->key_file)
		r = release_key_load(o->key_file, &u->key, err, errlen);
	if (r == 0 && (r = upg_apply_register(u)) < 0)
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
	upgrader_stop(u);
	release_key_free(u->key);
	pthread_mutex_destroy(&u->check_lock);
	pthread_mutex_destroy(&u->apply_lock);
	pthread_mutex_destroy(&u->lock);
	pthread_cond_destroy(&u->wake);
	if (u->stop_pipe[0] >= 0)
		close(u->stop_pipe[0]);
	if (u->stop_pipe[1] >= 0)
		close(u->stop_pipe[1]);
	free(u->url);
	free(u->ca_file);
	free(u);
}

static int check(struct upgrader *u, char **ret_latest, char *err, size_t errlen)
{
	struct release_client_opts co = { .base = u->url, .ca_file = u->ca_file,
					  .stop_fd = u->stop_pipe[0] };
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

int upgrader_check(struct upgrader *u, char **ret_latest, char *err, size_t errlen)
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
	r = check(u, ret_latest, err, errlen);
	if (r < 0)
		upg_set_status(u, "error: ", err);
	else if (!running)
		upg_set_status(u, "", "idle");
	pthread_mutex_unlock(&u->check_lock);
	return r;
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
static void watch_once(struct upgrader *u)
{
	struct release_version cur, lat, ann;
	struct upg_state st;
	char err[700] = "", *latest = NULL, announced[RELEASE_VERSION_MAX + 1], id[32];
	int64_t change = 0;
	bool fresh;

	if (upgrader_check(u, &latest, err, sizeof(err)) < 0) {
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

static void *watcher(void *arg)
{
	struct upgrader *u = arg;
	struct timespec at;

	/* A ticker: the first check comes one interval after the start. */
	pthread_mutex_lock(&u->lock);
	while (!u->stop) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += u->interval;
		while (!u->stop && pthread_cond_timedwait(&u->wake, &u->lock, &at) == 0)
			;
		if (u->stop)
			break;
		pthread_mutex_unlock(&u->lock);
		watch_once(u);
		pthread_mutex_lock(&u->lock);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

int upgrader_start(struct upgrader *u)
{
	int r;

	if (!u->url || !u->interval || u->watching)
		return 0;
	r = -pthread_create(&u->watcher, NULL, watcher, u);
	u->watching = r == 0;
	return r;
}

void upgrader_stop(struct upgrader *u)
{
	if (!u || !u->watching)
		return;
	pthread_mutex_lock(&u->lock);
	u->stop = true;
	pthread_cond_broadcast(&u->wake);
	pthread_mutex_unlock(&u->lock);
	ssize_t w = write(u->stop_pipe[1], "", 1); /* an empty pipe: it cannot fail */
	(void)w;
	pthread_join(u->watcher, NULL);
	u->watching = false;
}
