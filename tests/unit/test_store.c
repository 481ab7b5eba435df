/*
 * Unit tests for the store (backend/store.c) on a real SQLite file in a
 * temporary STOREDIR: revision assignment over URL sets, the redundant
 * update rule, name checks, deletion without reuse, the event log (its
 * events' uid, the deleted event, lines cut to 16 KiB, text that is not
 * UTF-8), the
 * daemon lock, reopening, --check with and without damage, and the
 * changes publishes and deletions leave on the engine (their tasks, the
 * tree made by the extract-tree task, also after a crash).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "backup.h"
#include "engine.h"
#include "store.h"
#include "store_int.h"
#include "worker.h"
#include "zipgen.h"

struct fx {
	char dir[64];
	char zips[3][128];
	struct store *s;
};

static const char meta_fmt[] = "name: %s\nsummary: s\ndescription: d\n";

static void write_charm(const char *path, const char *name, const char *payload)
{
	char meta[128];
	struct zg_entry e[] = {
		{ .name = "metadata.yaml", .kind = ZG_FILE, .data = meta },
		{ .name = "hooks/install", .kind = ZG_FILE, .mode = 0644, .data = "#!/bin/sh\n" },
		{ .name = "payload", .kind = ZG_FILE, .data = payload },
	};

	snprintf(meta, sizeof(meta), meta_fmt, name);
	assert_int_equal(zipgen_write(path, e, 3), 0);
}

/* Opens the store; with start, also starts its engine, as the daemon does. */
static struct store *open_store_as(const char *dir, bool start)
{
	struct store_opts o;
	struct store *s = NULL;
	char err[256];

	store_opts_default(&o);
	assert_int_equal(o.prune_age, 86400);
	assert_int_equal(store_open(dir, &o, &s, err, sizeof(err)), 0);
	if (start)
		assert_int_equal(store_start(s), 0);
	return s;
}

static struct store *open_store(const char *dir)
{
	return open_store_as(dir, true);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/charmfs-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	for (int i = 0; i < 3; i++) {
		/* in2.zip has a file too big to keep in the database: it needs a tree. */
		static char payload[CHARM_INLINE_MAX + 8192];
		snprintf(f->zips[i], sizeof(f->zips[i]), "%s/in%d.zip", f->dir, i);
		memset(payload, 'x', sizeof(payload) - 1);
		snprintf(i == 2 ? payload + CHARM_INLINE_MAX + 1000 : payload, 16, "v%d", i);
		write_charm(f->zips[i], "foo", payload);
	}
	f->s = open_store(f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	assert_int_equal(rm_rf(f->dir), 0);
	free(f);
	return 0;
}

static struct url mkurl(const char *s)
{
	struct url u;

	assert_int_equal(url_parse(s, &u, NULL, 0), 0);
	return u;
}

/* Publishes zip to the URLs; returns the revision or -errno. */
static int publish(struct fx *f, int zip, const char *digest, int n, ...)
{
	struct url urls[4];
	struct strv errors = { 0 };
	va_list ap;
	int rev = -1, r;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		urls[i] = mkurl(va_arg(ap, const char *));
	va_end(ap);
	struct store_publish_req req = {
		.path = f->zips[zip], .urls = urls, .n_urls = (size_t)n, .digest = digest,
	};
	r = store_publish(f->s, &req, &rev, &errors);
	if (r < 0)
		assert_true(errors.n > 0);
	strv_clear(&errors);
	return r < 0 ? r : rev;
}

static int latest(struct fx *f, const char *url)
{
	struct url u = mkurl(url);
	int rev = -1, r = store_latest(f->s, &u, &rev);

	return r < 0 ? r : rev;
}

/* The original's TestRevisioning and TestRedundantUpdate, on content digests. */
static void test_revisions(void **state)
{
	struct fx *f = *state;

	assert_int_equal(publish(f, 0, NULL, 2, "cs:trusty/foo", "cs:~bob/trusty/foo"), 0);
	assert_int_equal(publish(f, 1, NULL, 1, "cs:~bob/trusty/foo"), 1);
	assert_int_equal(publish(f, 2, NULL, 2, "cs:trusty/foo", "cs:~bob/trusty/foo"), 2);
	assert_int_equal(latest(f, "cs:trusty/foo"), 2);
	assert_int_equal(latest(f, "cs:~bob/trusty/foo"), 2);
	/* Revisions are per target set: a new URL starts at 0. */
	assert_int_equal(publish(f, 0, NULL, 1, "cs:xenial/foo"), 0);
	/* Same content again: redundant. */
	assert_int_equal(publish(f, 2, NULL, 1, "cs:trusty/foo"), -EEXIST);
	/* Redundant only when every URL's latest has the digest. */
	assert_int_equal(publish(f, 2, NULL, 2, "cs:trusty/foo", "cs:xenial/foo"), 3);
	assert_int_equal(latest(f, "cs:trusty/foo"), 3);
	assert_int_equal(latest(f, "cs:xenial/foo"), 3);
	assert_int_equal(publish(f, 2, NULL, 2, "cs:trusty/foo", "cs:xenial/foo"), -EEXIST);
	/* An explicit digest replaces the content digest. */
	assert_int_equal(publish(f, 2, "rev-7", 1, "cs:trusty/foo"), 4);
	assert_int_equal(publish(f, 0, "rev-7", 1, "cs:trusty/foo"), -EEXIST);
}

static void test_revision_contents(void **state)
{
	struct fx *f = *state;
	struct url u = mkurl("cs:trusty/foo");
	struct store_rev rev;
	char path[4096];
	struct stat st;

	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/foo"), 0);
	assert_int_equal(store_get_rev(f->s, &u, 0, &rev), 0);
	assert_int_equal(strlen(rev.sha256), 64);
	assert_memory_equal(rev.digest, "sha256:", 7);
	store_blob_path(f->s, rev.sha256, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, rev.size);
	/* The tree is made after the publish returns, or on demand. */
	assert_int_equal(store_tree_ready(f->s, rev.sha256), 0);
	store_tree_path(f->s, rev.sha256, path, sizeof(path));
	strncat(path, "/hooks/install", sizeof(path) - strlen(path) - 1);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_mode & S_IXUSR);
	assert_int_equal(store_get_rev(f->s, &u, 1, &rev), -ENOENT);
}

static void test_bad_archives(void **state)
{
	struct fx *f = *state;
	uint64_t before, after;

	assert_int_equal(zipgen_write_raw(f->zips[1], "garbage", 7), 0);
	assert_int_equal(store_events_size(f->s, NULL, &before), 0);
	assert_int_equal(publish(f, 1, NULL, 1, "cs:trusty/foo"), -EINVAL);
	assert_int_equal(latest(f, "cs:trusty/foo"), -ENOENT);
	assert_int_equal(store_events_size(f->s, NULL, &after), 0);
	assert_true(after > before);
	/* The archive's name must match every URL's. */
	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/bar"), -EINVAL);
	assert_int_equal(latest(f, "cs:trusty/bar"), -ENOENT);
}

static void test_delete_never_reuses(void **state)
{
	struct fx *f = *state;
	struct url u = mkurl("cs:trusty/foo");
	int *revs = NULL;
	size_t n = 0;

	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/foo"), 0);
	assert_int_equal(publish(f, 1, NULL, 1, "cs:trusty/foo"), 1);
	assert_int_equal(store_delete(f->s, &u, 1, 0), 0);
	assert_int_equal(store_delete(f->s, &u, 1, 0), -ENOENT);
	assert_int_equal(latest(f, "cs:trusty/foo"), 0);
	assert_int_equal(publish(f, 2, NULL, 1, "cs:trusty/foo"), 2);
	assert_int_equal(store_list_revisions(f->s, &u, &revs, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(revs[0], 0);
	assert_int_equal(revs[1], 2);
	free(revs);
	assert_int_equal(store_delete(f->s, &u, -1, 0), 0);
	assert_int_equal(latest(f, "cs:trusty/foo"), -ENOENT);
	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/foo"), 3);
}

static void test_shared_revision_delete(void **state)
{
	struct fx *f = *state;
	struct url a = mkurl("cs:trusty/foo");
	struct strv problems = { 0 }, notes = { 0 };

	assert_int_equal(publish(f, 0, NULL, 2, "cs:trusty/foo", "cs:~bob/trusty/foo"), 0);
	assert_int_equal(store_delete(f->s, &a, 0, 0), 0);
	assert_int_equal(latest(f, "cs:~bob/trusty/foo"), 0);
	assert_int_equal(store_check(f->s, false, &problems, &notes), 0);
	strv_clear(&problems);
	strv_clear(&notes);
}

static void test_events(void **state)
{
	struct fx *f = *state;
	struct url u = mkurl("cs:trusty/foo");
	uint64_t size = 0, usize = 0;
	struct buf b, part;

	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/foo"), 0);
	assert_int_equal(publish(f, 1, NULL, 1, "cs:trusty/other"), -EINVAL);
	assert_int_equal(store_events_size(f->s, NULL, &size), 0);
	assert_int_equal(store_events_size(f->s, &u, &usize), 0);
	assert_true(usize > 0 && usize < size);
	buf_init(&b, 1 << 20);
	assert_int_equal(store_events_read(f->s, NULL, 0, (size_t)size, &b), 0);
	assert_int_equal(b.len, size);
	assert_non_null(strstr(b.data, "\"kind\":\"published\""));
	assert_non_null(strstr(b.data, "\"kind\":\"publish-error\""));
	assert_true(strchr(b.data, '\n') < b.data + b.len - 1);
	/* A read at any offset returns the same bytes. */
	buf_init(&part, 1 << 20);
	assert_int_equal(store_events_read(f->s, NULL, 10, 25, &part), 0);
	assert_int_equal(part.len, 25);
	assert_memory_equal(part.data, b.data + 10, 25);
	buf_free(&part);
	buf_free(&b);
}

/* Every line of the events file parses and fits in 16 KiB; returns the last one's object. */
static json_t *last_event(struct fx *f)
{
	uint64_t size = 0;
	struct buf b;
	json_t *o = NULL;

	assert_int_equal(store_events_size(f->s, NULL, &size), 0);
	buf_init(&b, 1 << 24);
	assert_int_equal(store_events_read(f->s, NULL, 0, (size_t)size, &b), 0);
	assert_int_equal(b.len, size);
	for (char *p = b.data, *nl; p < b.data + b.len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(b.data + b.len - p));
		assert_non_null(nl);
		assert_true(nl - p + 1 <= 16384);
		json_decref(o);
		o = json_loadb(p, (size_t)(nl - p), 0, NULL);
		assert_non_null(o);
	}
	buf_free(&b);
	assert_non_null(o);
	return o;
}

static void test_event_uids(void **state)
{
	struct fx *f = *state;
	struct url u = mkurl("cs:trusty/foo");
	struct strv errors = { 0 };
	int rev = -1;
	json_t *o;

	struct store_publish_req req = { .path = f->zips[0], .urls = &u, .n_urls = 1, .uid = 4321 };
	assert_int_equal(store_publish(f->s, &req, &rev, &errors), 0);
	o = last_event(f);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "published");
	assert_int_equal(json_integer_value(json_object_get(o, "uid")), 4321);
	json_decref(o);
	req.path = f->zips[0];
	req.digest = "other";
	struct url wrong = mkurl("cs:trusty/bar");
	req.urls = &wrong;
	req.uid = 99;
	assert_int_equal(store_publish(f->s, &req, &rev, &errors), -EINVAL);
	strv_clear(&errors);
	o = last_event(f);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "publish-error");
	assert_int_equal(json_integer_value(json_object_get(o, "uid")), 99);
	json_decref(o);
	assert_int_equal(publish(f, 1, NULL, 1, "cs:trusty/foo"), 1);
	assert_int_equal(store_delete(f->s, &u, -1, 1234), 0);
	o = last_event(f);
	json_t *want = json_pack("{s:s, s:[s], s:[i, i], s:i}", "kind", "deleted", "urls",
				 "cs:trusty/foo", "revisions", 0, 1, "uid", 1234);
	json_object_del(o, "time");
	assert_true(json_equal(o, want));
	json_decref(want);
	json_decref(o);
}

/* A list ends in "… and N more"; returns N, or -1 when it was not cut. */
static long left_out(json_t *a, size_t *ret_kept)
{
	size_t n = json_array_size(a);
	const char *last = n ? json_string_value(json_array_get(a, n - 1)) : NULL;
	long more = -1;

	*ret_kept = n;
	if (last && sscanf(last, "\xe2\x80\xa6 and %ld more", &more) == 1)
		*ret_kept = n - 1;
	return more;
}

static void test_event_cut(void **state)
{
	struct fx *f = *state;
	struct url u = mkurl("cs:trusty/foo");
	struct strv errors = { 0 }, warnings = { 0 };
	static int revs[6000];
	static char ctl[3001];
	size_t kept;
	json_t *o, *v;
	size_t i;

	for (i = 0; i < 6000; i++)
		revs[i] = (int)i * 1000;
	memset(ctl, '\x01', sizeof(ctl) - 1);
	assert_int_equal(strv_push(&errors, "bad \xff\xfe name \xc3"), 0);
	for (i = 0; i < 2000; i++)
		assert_int_equal(strv_pushf(&errors, "%zu %s", i, ctl), 0);
	for (i = 0; i < 3000; i++)
		assert_int_equal(strv_pushf(&warnings, "warning %zu", i), 0);
	assert_int_equal(db_write_begin(store_db(f->s)), 0);
	assert_int_equal(store_event_insert(f->s, &(struct store_event){ .kind = EVENT_DELETED,
		.urls = &u, .n_urls = 1, .revisions = revs, .n_revisions = 6000, .uid = 5 }), 0);
	assert_int_equal(db_write_end(store_db(f->s), 0), 0);
	o = last_event(f);
	v = json_object_get(o, "revisions");
	assert_true(json_array_size(v) > 100);
	assert_int_equal(json_array_size(v) + json_integer_value(json_object_get(o, "revisions-left-out")), 6000);
	assert_int_equal(json_integer_value(json_array_get(v, 1)), 1000);
	json_decref(o);

	assert_int_equal(db_write_begin(store_db(f->s)), 0);
	assert_int_equal(store_event_insert(f->s, &(struct store_event){ .kind = EVENT_PUBLISH_ERROR,
		.urls = &u, .n_urls = 1, .digest = "d\xff", .errors = &errors, .warnings = &warnings }), 0);
	assert_int_equal(db_write_end(store_db(f->s), 0), 0);
	o = last_event(f);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), "d\xef\xbf\xbd");
	v = json_object_get(o, "errors");
	assert_string_equal(json_string_value(json_array_get(v, 0)),
			    "bad \xef\xbf\xbd\xef\xbf\xbd name \xef\xbf\xbd");
	long more = left_out(v, &kept);
	assert_true(kept >= 2);
	assert_int_equal(kept + (size_t)more, 2001);
	for (i = 1; i < kept; i++) {
		const char *e = json_string_value(json_array_get(v, i));
		char *enc = json_dumps(json_array_get(v, i), JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
		assert_true(strlen(enc) <= 1024);
		assert_true(strlen(e) > 100);
		assert_string_equal(e + strlen(e) - 3, "\xe2\x80\xa6");
		free(enc);
	}
	v = json_object_get(o, "warnings");
	more = left_out(v, &kept);
	assert_true(kept > 0);
	assert_int_equal(kept + (size_t)more, 3000);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "warning 0");
	json_decref(o);
	strv_clear(&errors);
	strv_clear(&warnings);
}

static void test_lock_and_reopen(void **state)
{
	struct fx *f = *state;
	struct store_opts o;
	struct store *other = NULL;
	char err[256] = "";

	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/foo"), 0);
	store_opts_default(&o);
	assert_int_equal(store_open(f->dir, &o, &other, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "in use"));
	store_close(f->s);
	f->s = open_store(f->dir);
	assert_int_equal(latest(f, "cs:trusty/foo"), 0);
}

/*
 * backup/ snapshots (SPEC §4.10): a snapshot lives while something is held
 * and BACKUP_LINGER_MS after; backup_hold() of a path resolved in a
 * snapshot that has lapsed since holds the live one and gives the path in it.
 */
static void test_backup_hold(void **state)
{
	struct fx *f = *state;
	char d1[PATH_MAX], d2[PATH_MAX], d[PATH_MAX], path[PATH_MAX + 16], live[PATH_MAX];
	const int64_t t = 1000000, L = BACKUP_LINGER_MS;
	struct stat st;

	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/foo"), 0);
	assert_int_equal(backup_get(f->s, t, d1, sizeof(d1)), 0);
	assert_int_equal(backup_get(f->s, t + L - 1, d, sizeof(d)), 0);
	assert_string_equal(d, d1);
	snprintf(path, sizeof(path), "%s/charmfs.db", d1);
	/* Lapsed between the lookup and the open: the file is opened in a new snapshot. */
	assert_int_equal(backup_hold(f->s, t + L, path, live, sizeof(live)), 0);
	assert_int_equal(backup_get(f->s, t + L, d2, sizeof(d2)), 0);
	assert_string_not_equal(d2, d1);
	snprintf(path, sizeof(path), "%s/charmfs.db", d2);
	assert_string_equal(live, path);
	assert_int_equal(stat(live, &st), 0);
	assert_int_equal(stat(d1, &st), -1);
	/* Held, it outlives any linger; released, it lapses L later. */
	assert_int_equal(backup_get(f->s, t + 100 * L, d, sizeof(d)), 0);
	assert_string_equal(d, d2);
	backup_put(f->s, t + 100 * L);
	assert_int_equal(backup_get(f->s, t + 101 * L - 1, d, sizeof(d)), 0);
	assert_string_equal(d, d2);
	assert_int_equal(backup_get(f->s, t + 101 * L, d, sizeof(d)), 0);
	assert_string_not_equal(d, d2);
	/* A directory is held the same way; a path outside snapshots/ is refused. */
	assert_int_equal(backup_hold(f->s, t + 101 * L, d, live, sizeof(live)), 0);
	assert_string_equal(live, d);
	backup_put(f->s, t + 101 * L);
	assert_int_equal(backup_hold(f->s, t, "/etc/passwd", live, sizeof(live)), -EINVAL);
	snprintf(path, sizeof(path), "%s/snapshots/x", f->dir);
	assert_int_equal(backup_hold(f->s, t, path, live, sizeof(live)), -EINVAL);
}

/* Background work entered like a snapshot's, for 200 ms; done is set before it leaves. */
struct slow_work {
	struct store *s;
	atomic_bool entered, done;
};

static void *slow_main(void *p)
{
	struct slow_work *w = p;

	assert_int_equal(worker_enter(w->s->work), 0);
	atomic_store(&w->entered, true);
	usleep(200 * 1000);
	atomic_store(&w->done, true);
	worker_leave(w->s->work);
	return NULL;
}

static void test_check_finds_damage(void **state)
{
	struct fx *f = *state;
	struct url u = mkurl("cs:trusty/foo");
	struct strv problems = { 0 }, notes = { 0 };
	struct store_rev rev;
	char path[4096];
	struct stat st;
	int fd;

	/* A revision whose files are all in the database needs no tree. */
	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/foo"), 0);
	assert_int_equal(store_get_rev(f->s, &u, 0, &rev), 0);
	assert_true(rev.in_db);
	store_tree_path(f->s, rev.sha256, path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(store_check(f->s, false, &problems, &notes), 0);
	assert_int_equal(problems.n, 0);
	assert_int_equal(notes.n, 0);
	/*
	 * The extract-tree task makes the tree after the publish: published
	 * before the engine starts, it is still to do; the quiesce waits for
	 * it, and for entered work (a snapshot's) under way meanwhile.
	 */
	store_close(f->s);
	f->s = open_store_as(f->dir, false);
	assert_int_equal(publish(f, 2, NULL, 1, "cs:trusty/foo"), 1);
	assert_int_equal(store_get_rev(f->s, &u, 1, &rev), 0);
	store_tree_path(f->s, rev.sha256, path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	struct slow_work w = { .s = f->s };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, slow_main, &w), 0);
	while (!atomic_load(&w.entered))
		usleep(1000);
	assert_int_equal(store_start(f->s), 0);
	store_quiesce(f->s);
	assert_true(atomic_load(&w.done));
	assert_int_equal(stat(path, &st), 0);
	pthread_join(th, NULL);
	/* Then nothing makes it again: a missing tree is a note that repair fixes. */
	assert_int_equal(rm_rf(path), 0);
	assert_int_equal(store_check(f->s, false, &problems, &notes), 0);
	assert_int_equal(problems.n, 0);
	assert_true(notes.n >= 1);
	assert_int_equal(stat(path, &st), -1);
	strv_clear(&notes);
	assert_int_equal(store_check(f->s, true, &problems, &notes), 0);
	assert_int_equal(stat(path, &st), 0);
	/* A damaged archive is a problem. */
	store_blob_path(f->s, rev.sha256, path, sizeof(path));
	assert_int_equal(chmod(path, 0644), 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XX", 2, 40), 2);
	close(fd);
	assert_int_equal(store_check(f->s, false, &problems, &notes), -EIO);
	assert_true(problems.n >= 1);
	strv_clear(&problems);
	strv_clear(&notes);
}

/* ---- changes ---------------------------------------------------------------------- */

static size_t n_changes(struct fx *f)
{
	int64_t *ids = NULL;
	size_t n = 0;

	assert_int_equal(engine_change_ids(store_engine(f->s), &ids, &n), 0);
	free(ids);
	return n;
}

/* The newest change, which must be of kind, with its n tasks in t[]. */
static struct engine_change_info *newest(struct fx *f, const char *kind, int64_t *t, size_t n)
{
	struct engine *e = store_engine(f->s);
	struct engine_change_info *ci;
	int64_t *ids = NULL, *tids = NULL;
	size_t m = 0, nt = 0;

	assert_int_equal(engine_change_ids(e, &ids, &m), 0);
	assert_true(m > 0);
	assert_int_equal(engine_change_get(e, ids[m - 1], &ci), 0);
	assert_string_equal(ci->kind, kind);
	assert_int_equal(engine_task_ids(e, ci->id, &tids, &nt), 0);
	assert_int_equal(nt, n);
	memcpy(t, tids, n * sizeof(*t));
	free(tids);
	free(ids);
	return ci;
}

/* Checks task id's kind, summary and status. */
static void task_is(struct fx *f, int64_t id, const char *kind, const char *summary,
		    enum engine_status s)
{
	struct engine_task_info *ti;

	assert_int_equal(engine_task_get(store_engine(f->s), id, &ti), 0);
	assert_string_equal(ti->kind, kind);
	assert_string_equal(ti->summary, summary);
	assert_int_equal(ti->status, s);
	engine_task_info_free(ti);
}

static void test_publish_changes(void **state)
{
	struct fx *f = *state;
	struct url u = mkurl("cs:trusty/foo"), bob = mkurl("cs:~bob/trusty/foo");
	struct engine_change_info *ci;
	struct store_rev rev;
	char path[4096], want[256];
	struct stat st;
	int64_t t[3];
	size_t n;

	/* A revision with a file too big for the database: the task makes its tree. */
	assert_int_equal(n_changes(f), 0);
	assert_int_equal(publish(f, 2, NULL, 1, "cs:trusty/foo"), 0);
	store_quiesce(f->s);
	assert_int_equal(store_get_rev(f->s, &u, 0, &rev), 0);
	ci = newest(f, "publish", t, 3);
	assert_string_equal(ci->summary, "Publish cs:trusty/foo-0");
	assert_int_equal(ci->status, ENGINE_DONE);
	assert_true(ci->ready);
	engine_change_info_free(ci);
	task_is(f, t[0], "validate", "Validate cs:trusty/foo-0", ENGINE_DONE);
	snprintf(want, sizeof(want), "Store cs:trusty/foo-0 (SHA-256 %s)", rev.sha256);
	task_is(f, t[1], "store", want, ENGINE_DONE);
	task_is(f, t[2], "extract-tree", "Extract the tree of cs:trusty/foo-0", ENGINE_DONE);
	store_tree_path(f->s, rev.sha256, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);

	/* Every file in the database: ready at once, and no tree. */
	assert_int_equal(publish(f, 0, NULL, 2, "cs:trusty/foo", "cs:~bob/trusty/foo"), 1);
	ci = newest(f, "publish", t, 3);
	assert_string_equal(ci->summary, "Publish cs:trusty/foo-1, cs:~bob/trusty/foo-1");
	assert_true(ci->ready);
	assert_int_equal(ci->status, ENGINE_DONE);
	engine_change_info_free(ci);
	task_is(f, t[2], "extract-tree", "Extract the tree of cs:trusty/foo-1, cs:~bob/trusty/foo-1",
		ENGINE_DONE);
	assert_int_equal(store_get_rev(f->s, &u, 1, &rev), 0);
	store_tree_path(f->s, rev.sha256, path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);

	/* Redundant and refused (busy) publishes leave nothing. */
	n = n_changes(f);
	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/foo"), -EEXIST);
	struct lock_holder h = { .pid = 0, .uid = 0, .command = "test" };
	char id[LOCK_ID_LEN + 1];
	assert_int_equal(store_lock_take(f->s, &u, 1, &h, 60, id, NULL), 0);
	assert_int_equal(publish(f, 1, NULL, 1, "cs:trusty/foo"), -EBUSY);
	assert_int_equal(n_changes(f), n);

	/* A deletion leaves a ready change; one that matches nothing leaves none. */
	assert_int_equal(store_delete(f->s, &u, 0, 0), 0);
	ci = newest(f, "delete", t, 1);
	assert_string_equal(ci->summary, "Delete cs:trusty/foo-0");
	assert_true(ci->ready);
	assert_int_equal(ci->status, ENGINE_DONE);
	engine_change_info_free(ci);
	task_is(f, t[0], "delete", "Delete cs:trusty/foo-0", ENGINE_DONE);
	assert_int_equal(store_delete(f->s, &bob, -1, 0), 0);
	ci = newest(f, "delete", t, 1);
	assert_string_equal(ci->summary, "Delete all revisions of cs:~bob/trusty/foo");
	engine_change_info_free(ci);
	n = n_changes(f);
	assert_int_equal(store_delete(f->s, &bob, -1, 0), -ENOENT);
	assert_int_equal(n_changes(f), n);
}

static void test_failed_publish_change(void **state)
{
	struct fx *f = *state;
	struct engine_change_info *ci;
	int64_t t[3];

	assert_int_equal(publish(f, 0, NULL, 1, "cs:trusty/bar"), -EINVAL);
	ci = newest(f, "publish", t, 3);
	assert_string_equal(ci->summary, "Publish cs:trusty/bar");
	assert_int_equal(ci->status, ENGINE_ERROR);
	assert_true(ci->ready);
	assert_non_null(ci->err);
	assert_non_null(strstr(ci->err, "- Validate cs:trusty/bar (charm name \"foo\" does not match"
					" URL name \"bar\")"));
	engine_change_info_free(ci);
	task_is(f, t[0], "validate", "Validate cs:trusty/bar", ENGINE_ERROR);
	task_is(f, t[1], "store", "Store cs:trusty/bar", ENGINE_HOLD);
	task_is(f, t[2], "extract-tree", "Extract the tree of cs:trusty/bar", ENGINE_HOLD);
	/* Garbage: the reader's problem is named. */
	assert_int_equal(zipgen_write_raw(f->zips[1], "garbage", 7), 0);
	assert_int_equal(publish(f, 1, NULL, 1, "cs:trusty/foo"), -EINVAL);
	ci = newest(f, "publish", t, 3);
	assert_int_equal(ci->status, ENGINE_ERROR);
	assert_non_null(strstr(ci->err, "cannot perform the following tasks:\n- Validate cs:trusty/foo ("));
	engine_change_info_free(ci);
}

/* A crash with the extract-tree task Doing: the next start makes the tree and the change is Done. */
static void test_extract_after_crash(void **state)
{
	struct fx *f = *state;
	struct url u = mkurl("cs:trusty/foo");
	struct engine_change_info *ci;
	struct store_rev rev, again;
	char path[4096], db[128];
	struct stat st;
	sqlite3 *h;
	int64_t t[3];

	store_close(f->s);
	f->s = open_store_as(f->dir, false);
	assert_int_equal(publish(f, 2, NULL, 1, "cs:trusty/foo"), 0);
	assert_int_equal(store_get_rev(f->s, &u, 0, &rev), 0);
	ci = newest(f, "publish", t, 3);
	assert_false(ci->ready);
	assert_int_equal(ci->status, ENGINE_DO);
	engine_change_info_free(ci);
	task_is(f, t[2], "extract-tree", "Extract the tree of cs:trusty/foo-0", ENGINE_DO);
	store_close(f->s);
	/* As if the daemon died while the handler ran. */
	snprintf(db, sizeof(db), "%s/charmfs.db", f->dir);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "UPDATE engine_tasks SET status = 3 WHERE kind = 'extract-tree'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_changes(h), 1);
	sqlite3_close(h);
	store_tree_path(f->s = open_store_as(f->dir, false), rev.sha256, path, sizeof(path));
	assert_int_equal(stat(path, &st), -1);
	task_is(f, t[2], "extract-tree", "Extract the tree of cs:trusty/foo-0", ENGINE_DOING);
	assert_int_equal(store_start(f->s), 0);
	store_quiesce(f->s);
	assert_int_equal(stat(path, &st), 0);
	task_is(f, t[2], "extract-tree", "Extract the tree of cs:trusty/foo-0", ENGINE_DONE);
	ci = newest(f, "publish", t, 3);
	assert_true(ci->ready);
	assert_int_equal(ci->status, ENGINE_DONE);
	engine_change_info_free(ci);
	/* The publish's result is as it was. */
	assert_int_equal(store_get_rev(f->s, &u, 0, &again), 0);
	assert_string_equal(again.sha256, rev.sha256);
	assert_int_equal(again.published_ns, rev.published_ns);
	assert_int_equal(latest(f, "cs:trusty/foo"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_revisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_publish_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extract_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revision_contents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_archives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_never_reuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_revision_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_uids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_finds_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_hold, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
