/*
 * Unit tests for packages (backend/pkg.c, pkglife.c) on a real store in a
 * temporary STOREDIR with real published charms. A test handler for
 * PKG_TASK_HOOK runs no process: it calls pkg_hook_begin()/pkg_hook_end()
 * and records the hook (and, for config-changed, the settings it saw),
 * and can block on its run's stop descriptor or fail a hook. Checked: the
 * Deckhouse acceptance list T1–T13 as it maps to the files, the checksum,
 * settings validation and defaults, the hook order of every write read
 * back from the package's changes, cancellation, late binding, re-creation
 * during removal, failed hooks and their retry, the log's bound, ports,
 * status, reopening and a backup copy mounted as a store.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "backup.h"
#include "engine.h"
#include "pkg.h"
#include "store.h"
#include "zipgen.h"

static const char config0[] =
	"options:\n"
	"  port: {type: int, default: 80, description: p}\n"
	"  title: {type: string, default: My Blog, description: t}\n"
	"  email: {type: string, description: e}\n"
	"  debug: {type: boolean, default: false, description: d}\n"
	"  ratio: {type: float, default: 0.25, description: r}\n";
/* Revision 1 drops title and email. */
static const char config1[] =
	"options:\n"
	"  port: {type: int, default: 8080, description: p}\n"
	"  debug: {type: boolean, default: false, description: d}\n"
	"  ratio: {type: float, default: 0.25, description: r}\n";

#define SHOWN0 "{\"debug\":false,\"port\":80,\"ratio\":0.25,\"title\":\"My Blog\"}"

struct fx {
	char dir[64];
	struct store *s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct strv runs;	/* "hook" per run, in order */
	char *last_settings;	/* what the last config-changed saw */
	int n_config;
	const char *block;	/* a hook to block (once) until stopped or released */
	bool blocked;		/* the blocked hook is waiting */
	int release[2];		/* a byte here releases it */
	const char *fail;	/* a hook that exits 1 */
	int slow_ms;		/* each config-changed takes this long */
	int bad_begin;		/* pkg_hook_begin() results other than 0/-EAGAIN */
};

static void write_charm(const char *path, const char *config, const char *payload)
{
	struct zg_entry e[] = {
		{ .name = "metadata.yaml", .kind = ZG_FILE,
		  .data = "name: wordpress\nsummary: s\ndescription: d\n" },
		{ .name = "config.yaml", .kind = ZG_FILE, .data = config },
		{ .name = "hooks/install", .kind = ZG_FILE, .mode = 0755, .data = "#!/bin/sh\n" },
		{ .name = "hooks/config-changed", .kind = ZG_FILE, .mode = 0755, .data = "#!/bin/sh\n" },
		{ .name = "hooks/start", .kind = ZG_FILE, .mode = 0755, .data = "#!/bin/sh\n" },
		{ .name = "payload", .kind = ZG_FILE, .data = payload },
	};

	assert_int_equal(zipgen_write(path, e, ARRAY_SIZE(e)), 0);
}

static void publish(struct fx *f, const char *url, const char *config, const char *payload)
{
	char path[128];
	struct url u;
	struct strv errors = { 0 };
	int rev = -1;

	snprintf(path, sizeof(path), "%s/in.zip", f->dir);
	write_charm(path, config, payload);
	assert_int_equal(url_parse(url, &u, NULL, 0), 0);
	struct store_publish_req req = { .path = path, .urls = &u, .n_urls = 1 };
	assert_int_equal(store_publish(f->s, &req, &rev, &errors), 0);
	strv_clear(&errors);
	unlink(path);
}

static int hook_task(struct engine_run *run, void *ud)
{
	struct fx *f = ud;
	struct pkg_hook h;
	char *set = NULL;
	int code = 0, r = pkg_hook_begin(f->s, run, &h);

	if (r == -EAGAIN)
		return engine_run_retry(run, PKG_RETRY_MS);
	if (r < 0) {
		pthread_mutex_lock(&f->mu);
		f->bad_begin++;
		pthread_mutex_unlock(&f->mu);
		return engine_run_fail(run, r, "begin: %d", r);
	}
	assert_int_equal(pkg_settings_json(f->s, h.package, &set), 0);
	pthread_mutex_lock(&f->mu);
	assert_int_equal(strv_push(&f->runs, h.hook), 0);
	if (!strcmp(h.hook, "config-changed")) {
		free(f->last_settings);
		f->last_settings = TAKE_PTR(set);
		f->n_config++;
	}
	if (f->fail && !strcmp(h.hook, f->fail))
		code = 1;
	bool block = f->block && !strcmp(h.hook, f->block);
	if (block) {
		f->block = NULL;
		f->blocked = true;
		pthread_cond_broadcast(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
	free(set);
	if (block) {
		struct pollfd p[2] = { { .fd = engine_run_stop_fd(run), .events = POLLIN },
				       { .fd = f->release[0], .events = POLLIN } };
		char c;
		assert_true(poll(p, 2, 20000) > 0);
		if (p[0].revents)
			code = 137; /* as if killed */
		else
			assert_int_equal(read(f->release[0], &c, 1), 1);
	}
	if (!strcmp(h.hook, "config-changed") && f->slow_ms)
		usleep((useconds_t)f->slow_ms * 1000);
	/* What the handler is given. */
	char unit[80];
	snprintf(unit, sizeof(unit), "%s/0", h.package);
	assert_string_equal(h.unit, unit);
	assert_non_null(strstr(h.charm_dir, "/packages/"));
	assert_int_equal(strlen(h.model_uuid), 36);
	assert_int_equal(access(h.state_dir, W_OK), 0);
	if (h.hook_path)
		assert_int_equal(access(h.hook_path, X_OK), 0);
	if (!strcmp(h.hook, "install") || !strcmp(h.hook, "start"))
		assert_non_null(h.hook_path); /* deployed before its hooks */
	if (!strcmp(h.hook, "stop") || !strcmp(h.hook, "remove"))
		assert_null(h.hook_path); /* the charm has none: success */
	assert_int_equal(pkg_log_append(f->s, h.package, NULL, "out\n", 4), 0);
	r = pkg_hook_end(f->s, &h, code, code ? "exit status 1" : NULL);
	assert_int_equal(r, 0);
	pkg_hook_free(&h);
	return code ? engine_run_fail(run, -EIO, "hook failed") : 0;
}

/*
 * Opens the store at dir into *slot and starts it, with the test's hook
 * handler when slot is f->s (the handler uses f->s, so it is set before
 * the engine starts).
 */
static void open_store(struct fx *f, const char *dir, struct store **slot)
{
	struct store_opts o;
	char err[256];

	store_opts_default(&o);
	assert_int_equal(store_open(dir, &o, slot, err, sizeof(err)), 0);
	if (slot == &f->s)
		assert_int_equal(engine_add_handler(store_engine(*slot), PKG_TASK_HOOK, hook_task,
						    NULL, f), 0);
	assert_int_equal(store_start(*slot), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/charmfs-pkg-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	assert_int_equal(pipe(f->release), 0);
	open_store(f, f->dir, &f->s);
	publish(f, "cs:trusty/wordpress", config0, "zero");
	publish(f, "cs:trusty/wordpress", config1, "one");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	assert_int_equal(rm_rf(f->dir), 0);
	strv_clear(&f->runs);
	free(f->last_settings);
	close(f->release[0]);
	close(f->release[1]);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
	return 0;
}

static void settle(struct fx *f)
{
	assert_int_equal(engine_settle(store_engine(f->s), 20000, NULL, NULL), 0);
	assert_int_equal(f->bad_begin, 0);
}

static void wait_blocked(struct fx *f)
{
	pthread_mutex_lock(&f->mu);
	while (!f->blocked)
		pthread_cond_wait(&f->cv, &f->mu);
	f->blocked = false;
	pthread_mutex_unlock(&f->mu);
}

static int set_version(struct fx *f, const char *name, const char *v)
{
	struct strv errors = { 0 };
	int r = pkg_set_version(f->s, name, v, strlen(v), &errors);

	assert_true(r == 0 ? errors.n == 0 : r != -EINVAL || errors.n > 0);
	strv_clear(&errors);
	return r;
}

/* Sets settings; the joined messages go to msg (may be NULL). */
static int set_settings(struct fx *f, const char *name, const char *json, char *msg, size_t len)
{
	struct strv errors = { 0 };
	int r = pkg_set_settings(f->s, name, json, strlen(json), &errors);
	char *j = strv_join(&errors, "; ");

	assert_true(r == 0 ? errors.n == 0 : r != -EINVAL || errors.n > 0);
	if (msg)
		snprintf(msg, len, "%s", j ? j : "");
	free(j);
	strv_clear(&errors);
	return r;
}

static struct pkg_info get(struct fx *f, const char *name)
{
	struct pkg_info pi;

	assert_int_equal(pkg_get(f->s, name, &pi), 0);
	return pi;
}

static int64_t change_of(struct fx *f, const char *name)
{
	struct pkg_info pi = get(f, name);
	int64_t id = pi.change_id;

	pkg_info_free(&pi);
	return id;
}

/* The change's tasks as "deploy install config-changed start" (hooks by name), with statuses. */
static void tasks_of(struct fx *f, int64_t id, char *out, size_t len, char *st, size_t stlen)
{
	int64_t *ids = NULL;
	size_t n = 0;

	out[0] = st[0] = '\0';
	assert_int_equal(engine_task_ids(store_engine(f->s), id, &ids, &n), 0);
	for (size_t i = 0; i < n; i++) {
		struct engine_task_info *ti = NULL;
		const char *what;
		json_t *j = NULL;
		assert_int_equal(engine_task_get(store_engine(f->s), ids[i], &ti), 0);
		what = ti->kind;
		if (!strcmp(ti->kind, PKG_TASK_HOOK)) {
			j = json_loads(ti->data, 0, NULL);
			what = json_string_value(json_object_get(j, "hook"));
		}
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", what);
		snprintf(st + strlen(st), stlen - strlen(st), "%s%s", i ? " " : "",
			 engine_status_name(ti->status));
		json_decref(j);
		engine_task_info_free(ti);
	}
	free(ids);
}

static void expect_tasks(struct fx *f, int64_t id, const char *want, const char *want_st)
{
	char got[512], st[512];

	tasks_of(f, id, got, sizeof(got), st, sizeof(st));
	assert_string_equal(got, want);
	if (want_st)
		assert_string_equal(st, want_st);
}

static char *runs_joined(struct fx *f)
{
	char *s;

	pthread_mutex_lock(&f->mu);
	s = strv_join(&f->runs, " ");
	strv_clear(&f->runs);
	pthread_mutex_unlock(&f->mu);
	return s;
}

static void expect_runs(struct fx *f, const char *want)
{
	char *got = runs_joined(f);

	assert_string_equal(got ? got : "", want);
	free(got);
}

static void deploy(struct fx *f, const char *name, const char *v)
{
	assert_int_equal(pkg_create(f->s, name), 0);
	assert_int_equal(set_version(f, name, v), 0);
	settle(f);
	expect_runs(f, "install config-changed start");
}

/* ---- creating, names, defaults ------------------------------------------------- */

static void test_create(void **state)
{
	struct fx *f = *state;
	static const struct { const char *name; int r; } cases[] = {
		{ "wordpress", 0 }, { "my-app2", 0 }, { "wordpress", -EEXIST },
		{ "", -EINVAL }, { "Bad", -EINVAL }, { "a_b", -EINVAL }, { "-x", -EINVAL },
		{ "x-", -EINVAL }, { "a/b", -EINVAL }, { "..", -EINVAL },
	};
	struct pkg_info pi;
	struct stat st;
	char path[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(pkg_create(f->s, cases[i].name), cases[i].r);
	pi = get(f, "wordpress");
	assert_string_equal(pi.version, "");
	assert_string_equal(pi.settings, "{}");
	assert_string_equal(pi.checksum, "99914b932bd37a50b983c5e7c90ae93b");
	assert_true(pi.enabled);
	assert_string_equal(pi.status, "unknown");
	assert_int_equal(pi.change_id, 0);
	assert_true(pi.created_ns > 0 && pi.version_ns == pi.created_ns);
	pkg_info_free(&pi);
	assert_int_equal(pkg_get(f->s, "nosuch", &pi), -ENOENT);
	snprintf(path, sizeof(path), "%s/packages/wordpress/state", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	int fd = -1;
	assert_int_equal(pkg_dir_at(f->s, "wordpress", PKG_DIR_STATE, &fd), 0);
	close(fd);
	assert_int_equal(pkg_dir_at(f->s, "nosuch", PKG_DIR_CHARM, &fd), -ENOENT);
}

static int list_cb(void *ud, const char *name)
{
	return strv_push(ud, name);
}

static void test_list(void **state)
{
	struct fx *f = *state;
	struct strv names = { 0 };
	char *j;

	assert_int_equal(pkg_create(f->s, "zed"), 0);
	assert_int_equal(pkg_create(f->s, "alpha"), 0);
	assert_int_equal(pkg_create(f->s, "mid"), 0);
	assert_int_equal(pkg_remove(f->s, "mid"), 0); /* never deployed: gone at once */
	assert_int_equal(pkg_list(f->s, list_cb, &names), 0);
	j = strv_join(&names, ",");
	assert_string_equal(j, "alpha,zed");
	free(j);
	strv_clear(&names);
	assert_int_equal(pkg_remove(f->s, "mid"), -ENOENT);
}

/* ---- settings -------------------------------------------------------------------- */

static void test_checksum(void **state)
{
	struct fx *f = *state;
	struct pkg_info a, b;

	/* T10: key order never matters; {} has its own checksum. */
	assert_int_equal(pkg_create(f->s, "a"), 0);
	assert_int_equal(pkg_create(f->s, "b"), 0);
	assert_int_equal(set_settings(f, "a", "{\"b\": 1, \"a\": 2}", NULL, 0), 0);
	assert_int_equal(set_settings(f, "b", "{\"a\":2,\"b\":1}\n", NULL, 0), 0);
	a = get(f, "a");
	b = get(f, "b");
	assert_string_equal(a.settings, "{\"a\":2,\"b\":1}");
	assert_string_equal(a.checksum, "620a7530f307c3f3f111d443a4109815");
	assert_string_equal(a.checksum, b.checksum);
	assert_int_equal(a.change_id, 0); /* no version: stored only */
	pkg_info_free(&a);
	pkg_info_free(&b);
	assert_int_equal(set_settings(f, "a", "", NULL, 0), 0);
	a = get(f, "a");
	assert_string_equal(a.settings, "{}");
	assert_string_equal(a.checksum, "99914b932bd37a50b983c5e7c90ae93b");
	pkg_info_free(&a);
}

static void test_validation(void **state)
{
	struct fx *f = *state;
	static const struct { const char *json; int r; const char *msg; } cases[] = {
		{ "{\"nope\":1}", -EINVAL, "unknown option \"nope\"" },
		{ "{\"port\":\"80\"}", -EINVAL, "\"port\" of cs:trusty/wordpress-0 expects int" },
		{ "{\"port\":1.5}", -EINVAL, "\"port\" of cs:trusty/wordpress-0 expects int" },
		{ "{\"title\":3}", -EINVAL, "\"title\" of cs:trusty/wordpress-0 expects string" },
		{ "{\"debug\":\"yes\"}", -EINVAL, "\"debug\" of cs:trusty/wordpress-0 expects boolean" },
		{ "{\"debug\":1}", -EINVAL, "expects boolean, not an integer" },
		{ "{\"ratio\":\"x\"}", -EINVAL, "\"ratio\" of cs:trusty/wordpress-0 expects float" },
		{ "{\"title\":[1]}", -EINVAL, "expects string, not an array" },
		{ "not json", -EINVAL, "invalid JSON" },
		{ "{\"port\":1,}", -EINVAL, "invalid JSON" },
		{ "[1,2]", -EINVAL, "not a JSON object" },
		{ "\"str\"", -EINVAL, "not a JSON object" },
		{ "{\"port\":1,\"port\":2}", -EINVAL, "invalid JSON" },
		{ "{\"ratio\":1}", 0, "" },
		{ "{\"port\":8080,\"email\":null}", 0, "" },
	};
	char msg[512];

	deploy(f, "wp", "cs:trusty/wordpress-0");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t before = change_of(f, "wp");
		assert_int_equal(set_settings(f, "wp", cases[i].json, msg, sizeof(msg)), cases[i].r);
		if (!strstr(msg, cases[i].msg))
			fail_msg("%s: %s", cases[i].json, msg);
		if (cases[i].r < 0)
			assert_int_equal(change_of(f, "wp"), before); /* nothing stored */
	}
	settle(f);
	struct pkg_info pi = get(f, "wp");
	assert_string_equal(pi.settings, "{\"debug\":false,\"port\":8080,\"ratio\":0.25,\"title\":\"My Blog\"}");
	pkg_info_free(&pi);
	assert_int_equal(set_settings(f, "nosuch", "{}", msg, sizeof(msg)), -ENOENT);
}

static void test_version_errors(void **state)
{
	struct fx *f = *state;
	static const struct { const char *v; int r; } cases[] = {
		{ "", -EINVAL }, { "\n", -EINVAL }, { "cs:trusty/wordpress", -EINVAL },
		{ "cs:wordpress-0", -EINVAL }, { "local:trusty/wordpress-0", -EINVAL },
		{ "cs:trusty/wordpress-99999999999", -EINVAL }, { "cs:trusty/Word-0", -EINVAL },
		{ "cs:trusty/wordpress-7", -ENOENT }, { "cs:trusty/mysql-0", -ENOENT },
		{ "cs:trusty/wordpress-0\n\n", -EINVAL },
	};
	char msg[512];

	assert_int_equal(pkg_create(f->s, "wp"), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(set_version(f, "wp", cases[i].v), cases[i].r);
	assert_int_equal(set_version(f, "nosuch", "cs:trusty/wordpress-0"), -ENOENT);
	/* Settings before any version: stored, checked by the version write. */
	assert_int_equal(set_settings(f, "wp", "{\"title\":\"T\",\"extra\":1}", msg, sizeof(msg)), 0);
	struct strv errors = { 0 };
	assert_int_equal(pkg_set_version(f->s, "wp", "cs:trusty/wordpress-0\n", 22, &errors), -EINVAL);
	assert_int_equal(errors.n, 1);
	assert_non_null(strstr(errors.v[0], "unknown option \"extra\""));
	strv_clear(&errors);
	struct pkg_info pi = get(f, "wp");
	assert_string_equal(pi.version, "");
	assert_int_equal(pi.change_id, 0);
	pkg_info_free(&pi);
	/* A version whose config rejects what a good one took. */
	assert_int_equal(set_settings(f, "wp", "{\"title\":\"T\"}", msg, sizeof(msg)), 0);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0\n"), 0);
	settle(f);
	expect_runs(f, "install config-changed start");
	assert_string_equal(f->last_settings,
			    "{\"debug\":false,\"port\":80,\"ratio\":0.25,\"title\":\"T\"}");
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-1"), -EINVAL);
	pi = get(f, "wp");
	assert_string_equal(pi.version, "cs:trusty/wordpress-0");
	pkg_info_free(&pi);
}

static void test_defaults(void **state)
{
	struct fx *f = *state;
	struct pkg_info pi;
	char *s = NULL;

	deploy(f, "wp", "cs:trusty/wordpress-0");
	pi = get(f, "wp");
	assert_string_equal(pi.settings, SHOWN0);
	assert_string_equal(f->last_settings, SHOWN0);
	pkg_info_free(&pi);
	assert_int_equal(set_settings(f, "wp", "{\"email\":\"a@b\"}", NULL, 0), 0);
	assert_int_equal(pkg_settings_json(f->s, "wp", &s), 0);
	assert_string_equal(s, "{\"debug\":false,\"email\":\"a@b\",\"port\":80,\"ratio\":0.25,"
			       "\"title\":\"My Blog\"}");
	free(s);
	/* Explicit defaults show the same settings: nothing to do (D5). */
	settle(f);
	expect_runs(f, "config-changed");
	int64_t id = change_of(f, "wp");
	assert_int_equal(set_settings(f, "wp", "{\"email\":\"a@b\",\"port\":80}", NULL, 0), 0);
	assert_int_equal(change_of(f, "wp"), id);
}

/* ---- the lifecycle -------------------------------------------------------------- */

static void test_hook_order(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char path[256];
	int64_t ids[7];

	assert_int_equal(pkg_create(f->s, "wp"), 0);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0"), 0);
	ids[0] = change_of(f, "wp");
	settle(f);
	assert_int_equal(set_settings(f, "wp", "{\"port\":81}", NULL, 0), 0);
	ids[1] = change_of(f, "wp");
	settle(f);
	assert_int_equal(pkg_set_enabled(f->s, "wp", false), 0);
	ids[2] = change_of(f, "wp");
	settle(f);
	assert_int_equal(pkg_set_enabled(f->s, "wp", false), 0); /* unchanged */
	assert_int_equal(change_of(f, "wp"), ids[2]);
	assert_int_equal(pkg_set_enabled(f->s, "wp", true), 0);
	ids[3] = change_of(f, "wp");
	settle(f);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-1"), 0);
	ids[4] = change_of(f, "wp");
	settle(f);
	assert_int_equal(pkg_remove(f->s, "wp"), 0);
	settle(f);
	expect_runs(f, "install config-changed start config-changed stop config-changed start "
		       "upgrade-charm config-changed start stop remove");
	expect_tasks(f, ids[0], "deploy install config-changed start", "Done Done Done Done");
	expect_tasks(f, ids[1], "config-changed", "Done");
	expect_tasks(f, ids[2], "stop", "Done");
	expect_tasks(f, ids[3], "config-changed start", "Done Done");
	expect_tasks(f, ids[4], "deploy upgrade-charm config-changed start", "Done Done Done Done");
	for (size_t i = 1; i < 5; i++)
		assert_true(ids[i] > ids[i - 1]);
	assert_int_equal(pkg_get(f->s, "wp", &(struct pkg_info){ 0 }), -ENOENT);
	snprintf(path, sizeof(path), "%s/packages/wp", f->dir);
	assert_int_equal(stat(path, &st), -1); /* purged with its files */
	/* The change's summaries and the engine's view. */
	struct engine_change_info *ci = NULL;
	assert_int_equal(engine_change_get(store_engine(f->s), ids[0], &ci), 0);
	assert_string_equal(ci->kind, "install-package");
	assert_string_equal(ci->summary, "Install cs:trusty/wordpress-0 as wp");
	engine_change_info_free(ci);
	int64_t *tids = NULL;
	size_t n = 0;
	struct engine_task_info *ti = NULL;
	assert_int_equal(engine_task_ids(store_engine(f->s), ids[0], &tids, &n), 0);
	assert_int_equal(engine_task_get(store_engine(f->s), tids[1], &ti), 0);
	assert_string_equal(ti->summary, "Run install hook of wp");
	assert_string_equal(ti->data, "{\"hook\":\"install\",\"package\":\"wp\"}");
	engine_task_info_free(ti);
	free(tids);
}

static void test_disabled_first(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pkg_create(f->s, "wp"), 0);
	assert_int_equal(pkg_set_enabled(f->s, "wp", false), 0); /* no version: flag only */
	assert_int_equal(change_of(f, "wp"), 0);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0"), 0);
	settle(f);
	expect_runs(f, "install config-changed");
	expect_tasks(f, change_of(f, "wp"), "deploy install config-changed", NULL);
	struct pkg_info pi = get(f, "wp");
	assert_false(pi.enabled);
	pkg_info_free(&pi);
}

/*
 * Deckhouse D.6 as it maps to the files: NeedUpdate is "does a write
 * record a change", Update a version or settings write, HandleEvent an
 * enabled write or rmdir, Delete the purge.
 */
static void test_deckhouse(void **state)
{
	struct fx *f = *state;
	int64_t c1, c2, c3;
	char st[256], got[256];

	/* T1/T2: a new package's first version records one change; the same write again none. */
	assert_int_equal(pkg_create(f->s, "wp"), 0);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0"), 0);
	c1 = change_of(f, "wp");
	assert_true(c1 > 0);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0\n"), 0);
	assert_int_equal(change_of(f, "wp"), c1);
	settle(f);
	expect_runs(f, "install config-changed start");
	/* T3: same version, other settings: stored, config-changed, nothing cancelled. */
	assert_int_equal(set_settings(f, "wp", "{\"title\":\"B\"}", NULL, 0), 0);
	c2 = change_of(f, "wp");
	assert_true(c2 > c1);
	settle(f);
	expect_tasks(f, c1, "deploy install config-changed start", "Done Done Done Done");
	expect_tasks(f, c2, "config-changed", "Done");
	expect_runs(f, "config-changed");
	/* T4: same version, same settings (any key order, explicit defaults): nothing. */
	assert_int_equal(set_settings(f, "wp", "{ \"title\" : \"B\", \"debug\": false }", NULL, 0), 0);
	assert_int_equal(change_of(f, "wp"), c2);
	/* T12: a settings write to an untracked package. */
	assert_int_equal(set_settings(f, "other", "{}", NULL, 0), -ENOENT);
	/* T5: another version while a hook runs: the old change is cancelled. */
	f->block = "config-changed";
	assert_int_equal(set_settings(f, "wp", "{\"title\":\"C\"}", NULL, 0), 0);
	c3 = change_of(f, "wp");
	wait_blocked(f);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-1"), -EINVAL); /* title unknown there */
	assert_int_equal(set_settings(f, "wp", "{}", NULL, 0), 0); /* absorbed? no: begun */
	int64_t c4 = change_of(f, "wp");
	assert_true(c4 > c3);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-1"), 0);
	int64_t c5 = change_of(f, "wp");
	settle(f);
	tasks_of(f, c3, got, sizeof(got), st, sizeof(st));
	assert_string_equal(got, "config-changed");
	assert_string_not_equal(st, "Done"); /* aborted */
	tasks_of(f, c4, got, sizeof(got), st, sizeof(st));
	assert_string_equal(st, "Hold"); /* cancelled before it began */
	expect_tasks(f, c5, "deploy upgrade-charm config-changed start", "Done Done Done Done");
	expect_runs(f, "config-changed upgrade-charm config-changed start");
	/* T6: disable then enable: the enable cancels the pending disable. */
	f->block = "stop";
	assert_int_equal(pkg_set_enabled(f->s, "wp", false), 0);
	int64_t d = change_of(f, "wp");
	wait_blocked(f);
	assert_int_equal(pkg_set_enabled(f->s, "wp", true), 0);
	int64_t e = change_of(f, "wp");
	settle(f);
	tasks_of(f, d, got, sizeof(got), st, sizeof(st));
	assert_string_not_equal(st, "Done");
	expect_tasks(f, e, "config-changed start", "Done Done");
	expect_runs(f, "stop config-changed start");
	/* T7: events on an unknown package change nothing and create nothing. */
	assert_int_equal(pkg_set_enabled(f->s, "nosuch", false), -ENOENT);
	assert_int_equal(pkg_remove(f->s, "nosuch"), -ENOENT);
	assert_int_equal(pkg_get(f->s, "nosuch", &(struct pkg_info){ 0 }), -ENOENT);
	/* T8/T9: removal, then re-creation treats it as new: install again. */
	assert_int_equal(pkg_remove(f->s, "wp"), 0);
	settle(f);
	expect_runs(f, "stop remove");
	assert_int_equal(pkg_create(f->s, "wp"), 0);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-1"), 0);
	settle(f);
	expect_runs(f, "install config-changed start");
	/* T13: the same version is retried while in error (below, test_failure). */
}

static void test_cancel_version(void **state)
{
	struct fx *f = *state;
	int64_t c1, c2;
	char got[256], st[256];
	struct pkg_info pi;

	assert_int_equal(pkg_create(f->s, "wp"), 0);
	f->block = "install";
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0"), 0);
	c1 = change_of(f, "wp");
	wait_blocked(f);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-1"), 0);
	c2 = change_of(f, "wp");
	settle(f);
	tasks_of(f, c1, got, sizeof(got), st, sizeof(st));
	assert_string_equal(got, "deploy install config-changed start");
	assert_string_equal(st, "Done Error Hold Hold");
	/* Never installed: the new version installs. */
	expect_tasks(f, c2, "deploy install config-changed start", "Done Done Done Done");
	expect_runs(f, "install install config-changed start");
	pi = get(f, "wp");
	assert_string_equal(pi.status, "maintenance: installing"); /* not error: it was aborted */
	assert_string_equal(pi.settings, "{\"debug\":false,\"port\":8080,\"ratio\":0.25}");
	pkg_info_free(&pi);
	uint64_t n = 0;
	struct buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(pkg_log_size(f->s, "wp", &n), 0);
	assert_int_equal(pkg_log_read(f->s, "wp", 0, (size_t)n, &b), 0);
	assert_non_null(strstr(b.data, "hook install stopped: exit status 1\n"));
	buf_free(&b);
	/* The deployed tree is the new revision's. */
	int fd = -1;
	char payload[16] = { 0 };
	assert_int_equal(pkg_dir_at(f->s, "wp", PKG_DIR_CHARM, &fd), 0);
	int pf = openat(fd, "payload", O_RDONLY);
	assert_true(pf >= 0);
	assert_int_equal(read(pf, payload, sizeof(payload) - 1), 3);
	assert_string_equal(payload, "one");
	close(pf);
	close(fd);
}

/* A daemon stopped while a hook runs: the hook runs again at the next start. */
static void test_restart(void **state)
{
	struct fx *f = *state;
	struct pkg_info pi;

	assert_int_equal(pkg_create(f->s, "wp"), 0);
	f->block = "install";
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0"), 0);
	int64_t c = change_of(f, "wp");
	wait_blocked(f);
	store_close(f->s); /* the handler is told to stop; the task stays Doing */
	open_store(f, f->dir, &f->s);
	settle(f);
	expect_runs(f, "install install config-changed start");
	expect_tasks(f, c, "deploy install config-changed start", "Done Done Done Done");
	pi = get(f, "wp");
	assert_string_equal(pi.status, "maintenance: installing"); /* never error */
	assert_int_equal(pi.change_id, c);
	pkg_info_free(&pi);
	/* And the removal after the restart deletes it with its files. */
	assert_int_equal(pkg_remove(f->s, "wp"), 0);
	settle(f);
	expect_runs(f, "stop remove");
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/packages/wp", f->dir);
	assert_int_equal(stat(path, &st), -1);
}

static void test_burst(void **state)
{
	struct fx *f = *state;
	char json[64];

	deploy(f, "wp", "cs:trusty/wordpress-0");
	f->n_config = 0;
	f->slow_ms = 30;
	for (int i = 0; i < 20; i++) {
		snprintf(json, sizeof(json), "{\"title\":\"t%d\"}", i);
		assert_int_equal(set_settings(f, "wp", json, NULL, 0), 0);
	}
	settle(f);
	assert_true(f->n_config < 20);
	assert_true(f->n_config >= 1);
	assert_string_equal(f->last_settings,
			    "{\"debug\":false,\"port\":80,\"ratio\":0.25,\"title\":\"t19\"}");
	struct pkg_info pi = get(f, "wp");
	assert_string_equal(pi.settings, f->last_settings);
	pkg_info_free(&pi);
}

static void test_recreate(void **state)
{
	struct fx *f = *state;
	struct strv names = { 0 };
	struct pkg_info pi;
	char c = 'x';

	deploy(f, "wp", "cs:trusty/wordpress-0");
	assert_int_equal(set_settings(f, "wp", "{\"title\":\"keep?\"}", NULL, 0), 0);
	settle(f);
	expect_runs(f, "config-changed");
	f->block = "stop";
	assert_int_equal(pkg_remove(f->s, "wp"), 0);
	wait_blocked(f);
	assert_int_equal(pkg_get(f->s, "wp", &pi), -ENOENT);
	assert_int_equal(pkg_list(f->s, list_cb, &names), 0);
	assert_int_equal(names.n, 0);
	assert_int_equal(pkg_create(f->s, "wp"), 0);
	assert_int_equal(pkg_create(f->s, "wp"), -EEXIST);
	assert_int_equal(write(f->release[1], &c, 1), 1);
	settle(f);
	expect_runs(f, "stop remove");
	pi = get(f, "wp"); /* kept (D9) */
	assert_string_equal(pi.version, "");
	assert_string_equal(pi.settings, "{}"); /* cleared by the removal (D7) */
	assert_string_equal(pi.status, "unknown");
	pkg_info_free(&pi);
	assert_int_equal(pkg_list(f->s, list_cb, &names), 0);
	assert_int_equal(names.n, 1);
	strv_clear(&names);
}

static void test_failure(void **state)
{
	struct fx *f = *state;
	int64_t c1, c2, c3;
	struct pkg_info pi;
	struct buf b;
	uint64_t n;

	assert_int_equal(pkg_create(f->s, "wp"), 0);
	f->fail = "install";
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0"), 0);
	c1 = change_of(f, "wp");
	settle(f);
	expect_runs(f, "install");
	expect_tasks(f, c1, "deploy install config-changed start", "Done Error Hold Hold");
	pi = get(f, "wp");
	assert_string_equal(pi.status, "error: hook install failed");
	pkg_info_free(&pi);
	buf_init(&b, 1 << 20);
	assert_int_equal(pkg_log_size(f->s, "wp", &n), 0);
	assert_int_equal(pkg_log_read(f->s, "wp", 0, (size_t)n, &b), 0);
	assert_string_equal(b.data, "out\nhook install failed: exit status 1\n");
	buf_free(&b);
	/* T13: the same version again retries. */
	f->fail = NULL;
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0"), 0);
	c2 = change_of(f, "wp");
	assert_true(c2 > c1);
	settle(f);
	expect_runs(f, "install config-changed start");
	pi = get(f, "wp");
	assert_string_equal(pi.status, "maintenance: installing");
	pkg_info_free(&pi);
	assert_int_equal(set_version(f, "wp", "cs:trusty/wordpress-0"), 0);
	assert_int_equal(change_of(f, "wp"), c2); /* no longer in error: unchanged */
	/* A failed config-changed is retried by a settings write, even the same one. */
	f->fail = "config-changed";
	assert_int_equal(set_settings(f, "wp", "{\"port\":1}", NULL, 0), 0);
	settle(f);
	expect_runs(f, "config-changed");
	pi = get(f, "wp");
	assert_string_equal(pi.status, "error: hook config-changed failed");
	pkg_info_free(&pi);
	f->fail = NULL;
	assert_int_equal(set_settings(f, "wp", "{\"port\":1}", NULL, 0), 0);
	c3 = change_of(f, "wp");
	settle(f);
	expect_tasks(f, c3, "config-changed start", "Done Done");
	expect_runs(f, "config-changed start");
	pi = get(f, "wp");
	assert_string_equal(pi.status, "unknown"); /* the core's error is cleared */
	pkg_info_free(&pi);
}

/* ---- hook tools ------------------------------------------------------------------- */

static void test_status_ports(void **state)
{
	struct fx *f = *state;
	static const struct { bool open; int from, to; const char *proto; int r; } ports[] = {
		{ true, 80, 80, "tcp", 0 }, { true, 80, 80, "tcp", 0 },
		{ true, 1000, 2000, "udp", 0 }, { true, 1500, 1500, "udp", -EEXIST },
		{ true, 0, 0, "icmp", 0 }, { true, 1, 0, "icmp", -EINVAL },
		{ true, 0, 10, "tcp", -EINVAL }, { true, 10, 70000, "tcp", -EINVAL },
		{ true, 20, 10, "tcp", -EINVAL }, { true, 1, 1, "sctp", -EINVAL },
		{ true, 443, 443, "tcp", 0 }, { false, 443, 443, "tcp", 0 },
		{ false, 9, 9, "tcp", 0 },
	};
	struct strv v = { 0 };
	char *state_s = NULL, *msg = NULL, *j;
	struct pkg_info pi;

	assert_int_equal(pkg_create(f->s, "wp"), 0);
	for (size_t i = 0; i < ARRAY_SIZE(ports); i++)
		assert_int_equal(pkg_port(f->s, "wp", ports[i].open, ports[i].from, ports[i].to,
					  ports[i].proto), ports[i].r);
	assert_int_equal(pkg_ports(f->s, "wp", &v), 0);
	j = strv_join(&v, ",");
	assert_string_equal(j, "icmp,80/tcp,1000-2000/udp");
	free(j);
	strv_clear(&v);
	assert_int_equal(pkg_port(f->s, "nosuch", true, 1, 1, "tcp"), -ENOENT);
	assert_int_equal(pkg_ports(f->s, "nosuch", &v), -ENOENT);

	assert_int_equal(pkg_status_set(f->s, "wp", "error", "x"), -EINVAL);
	assert_int_equal(pkg_status_set(f->s, "wp", "Active", NULL), -EINVAL);
	assert_int_equal(pkg_status_set(f->s, "nosuch", "active", NULL), -ENOENT);
	assert_int_equal(pkg_status_set(f->s, "wp", "blocked", "need\na db"), 0);
	pi = get(f, "wp");
	assert_string_equal(pi.status, "blocked: need a db");
	pkg_info_free(&pi);
	assert_int_equal(pkg_status_set(f->s, "wp", "active", NULL), 0);
	assert_int_equal(pkg_status_get(f->s, "wp", &state_s, &msg), 0);
	assert_string_equal(state_s, "active");
	assert_string_equal(msg, "");
	free(state_s);
	free(msg);
	pi = get(f, "wp");
	assert_string_equal(pi.status, "active");
	pkg_info_free(&pi);
}

static void test_log(void **state)
{
	struct fx *f = *state;
	static char chunk[100000];
	uint64_t n = 0, total = 0;
	struct buf b;

	assert_int_equal(pkg_create(f->s, "wp"), 0);
	assert_int_equal(pkg_log_append(f->s, "wp", "INFO", "hello\nworld", 11), 0);
	assert_int_equal(pkg_log_size(f->s, "wp", &n), 0);
	buf_init(&b, 1 << 22);
	assert_int_equal(pkg_log_read(f->s, "wp", 0, (size_t)n, &b), 0);
	assert_int_equal(b.len, n);
	assert_int_equal(b.data[4], '-');
	assert_non_null(strstr(b.data, "Z INFO hello world\n"));
	assert_int_equal(b.data[n - 1], '\n');
	total = n;
	buf_free(&b);
	/* Past 1 MiB the oldest bytes go; what is kept is the newest, oldest first. */
	for (int i = 0; i < 30; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		assert_int_equal(pkg_log_append(f->s, "wp", NULL, chunk, sizeof(chunk)), 0);
		total += sizeof(chunk);
		assert_int_equal(pkg_log_size(f->s, "wp", &n), 0);
		assert_true(n <= PKG_LOG_MAX);
		assert_true(n == total || n > PKG_LOG_MAX - 70 * 1024);
	}
	buf_init(&b, 1 << 22);
	assert_int_equal(pkg_log_read(f->s, "wp", 0, (size_t)n, &b), 0);
	assert_int_equal(b.len, n);
	assert_int_equal(b.data[n - 1], 'a' + 29 % 26);
	assert_int_equal(b.data[n - sizeof(chunk) - 1], 'a' + 28 % 26);
	buf_free(&b);
	/* Reads past the end and in the middle. */
	buf_init(&b, 1 << 22);
	assert_int_equal(pkg_log_read(f->s, "wp", n, 10, &b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(pkg_log_read(f->s, "wp", n - 5, 100, &b), 0);
	assert_int_equal(b.len, 5);
	buf_free(&b);
	assert_int_equal(pkg_log_append(f->s, "nosuch", NULL, "x", 1), -ENOENT);
	assert_int_equal(pkg_log_size(f->s, "nosuch", &n), -ENOENT);
}

/* ---- persistence ------------------------------------------------------------------- */

static void check_persisted(struct fx *f, struct store *s, const char *state_file)
{
	struct pkg_info pi;
	struct strv v = { 0 };
	struct buf b;
	uint64_t n = 0;
	int fd = -1;
	char *j;

	assert_int_equal(pkg_get(s, "wp", &pi), 0);
	assert_string_equal(pi.version, "cs:trusty/wordpress-0");
	assert_string_equal(pi.settings,
			    "{\"debug\":false,\"port\":80,\"ratio\":0.25,\"title\":\"Kept\"}");
	assert_string_equal(pi.status, "active: serving");
	assert_true(pi.change_id > 0);
	pkg_info_free(&pi);
	assert_int_equal(pkg_log_size(s, "wp", &n), 0);
	buf_init(&b, 1 << 20);
	assert_int_equal(pkg_log_read(s, "wp", 0, (size_t)n, &b), 0);
	assert_non_null(strstr(b.data, " WARNING remember me\n"));
	buf_free(&b);
	assert_int_equal(pkg_ports(s, "wp", &v), 0);
	j = strv_join(&v, ",");
	assert_string_equal(j, "80/tcp");
	free(j);
	strv_clear(&v);
	assert_int_equal(pkg_dir_at(s, "wp", PKG_DIR_STATE, &fd), 0);
	int sf = openat(fd, state_file, O_RDONLY);
	assert_true(sf >= 0);
	close(sf);
	close(fd);
	assert_int_equal(pkg_dir_at(s, "wp", PKG_DIR_CHARM, &fd), 0);
	assert_int_equal(faccessat(fd, "hooks/install", X_OK, 0), 0);
	close(fd);
	(void)f;
}

static void prepare_persisted(struct fx *f)
{
	char path[256];

	deploy(f, "wp", "cs:trusty/wordpress-0");
	assert_int_equal(set_settings(f, "wp", "{\"title\":\"Kept\"}", NULL, 0), 0);
	settle(f);
	expect_runs(f, "config-changed");
	assert_int_equal(pkg_status_set(f->s, "wp", "active", "serving"), 0);
	assert_int_equal(pkg_log_append(f->s, "wp", "WARNING", "remember me", 11), 0);
	assert_int_equal(pkg_port(f->s, "wp", true, 80, 80, "tcp"), 0);
	snprintf(path, sizeof(path), "%s/packages/wp/state/root.json", f->dir);
	assert_int_equal(zipgen_write_raw(path, "{}", 2), 0);
}

static void test_reopen(void **state)
{
	struct fx *f = *state;

	prepare_persisted(f);
	store_close(f->s);
	open_store(f, f->dir, &f->s);
	check_persisted(f, f->s, "root.json");
	settle(f);
	expect_runs(f, ""); /* nothing was left to resume */
}

static void test_backup(void **state)
{
	struct fx *f = *state;
	char snap[PATH_MAX], copy[128], cmd[PATH_MAX + 256];
	struct store *c;

	prepare_persisted(f);
	assert_int_equal(backup_get(f->s, backup_now(), snap, sizeof(snap)), 0);
	snprintf(copy, sizeof(copy), "%s/copy", f->dir);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", snap, copy);
	backup_put(f->s, backup_now());
	assert_int_equal(system(cmd), 0);
	/* The copy is a store: the package, its state/ and (made again) its charm/. */
	open_store(f, copy, &c);
	check_persisted(f, c, "root.json");
	store_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deckhouse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recreate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
