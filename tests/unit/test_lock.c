/*
 * Unit tests for backend/lock.c on a real store database (a fresh
 * STOREDIR per test). Time is the tests' own `now`, so expiry is exact:
 * a lock taken at T0 with timeout TMO conflicts at T0+TMO and is taken
 * over at T0+TMO+1 (EXPIRED). Covers taking (all or none, sorted, deduplicated),
 * releasing by id and by URL, renewal, takeover and the original's
 * TestLockUpdatesExpires guarantee (the old holder's unlock never frees
 * the new holder's lock), the publish check, listings, purging,
 * locks/ctl request parsing, and eight threads racing for one URL.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "lock.h"
#include "store.h"
#include "store_int.h"
#include "banned.h"

#define T0 INT64_C(1700000000)
#define TMO 600u
/* The first second at which a lock taken at T0 with TMO is expired: the
 * caller's clock is cut to whole seconds, so one more second makes sure
 * the lock is older than TMO. */
#define EXPIRED (TMO + 1)

struct fixture {
	char dir[64];
	struct store *s;
	struct db *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_opts o;
	char err[256] = "";

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_lock.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	store_opts_default(&o);
	if (store_open(f->dir, &o, &f->s, err, sizeof(err)) < 0)
		fail_msg("store_open: %s", err);
	f->db = store_db(f->s);
	/* Until store.c lists lock_schema itself; harmless afterwards. */
	for (size_t i = 0; lock_schema[i]; i++)
		assert_int_equal(db_exec(f->db, lock_schema[i]), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	assert_int_equal(rm_rf(f->dir), 0);
	free(f);
	return 0;
}

static struct url url_of(const char *s)
{
	struct url u;
	char err[256];

	if (url_parse(s, &u, err, sizeof(err)) < 0)
		fail_msg("url_parse(%s): %s", s, err);
	return u;
}

static const struct lock_holder holder = {.pid = 4242, .uid = 1000, .command = "charm-publish"};
static const struct lock_holder nobody = {0};

/* Takes the URLs in the space-separated list. */
static int take(struct db *db, const char *list, int64_t now, char id[LOCK_ID_LEN + 1],
		struct strv *taken_over)
{
	struct url urls[16];
	char buf[512];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		assert_true(n < ARRAY_SIZE(urls));
		urls[n++] = url_of(w);
	}
	return lock_take(db, urls, n, &holder, now, TMO, id, taken_over);
}

/* The id holding s at now, or "" when none. */
static const char *holder_of(struct db *db, const char *s, int64_t now)
{
	static char id[LOCK_ID_LEN + 1];
	struct url u = url_of(s);
	struct lock_info li;
	int r = lock_get(db, &u, now, &li);

	if (r == -ENOENT)
		return "";
	assert_int_equal(r, 0);
	memcpy(id, li.id, sizeof(id));
	return id;
}

static int collect(void *ud, const char *name)
{
	struct strv *sv = ud;

	return strv_push(sv, name);
}

static char *joined(struct strv *sv)
{
	char *s = strv_join(sv, ",");

	assert_non_null(s);
	strv_clear(sv);
	return s;
}

static void test_take_conflict(void **state)
{
	struct fixture *f = *state;
	char id[LOCK_ID_LEN + 1], id2[LOCK_ID_LEN + 1] = "";
	struct url u = url_of("cs:trusty/foo");
	struct lock_info li;

	assert_int_equal(take(f->db, "cs:trusty/foo", T0, id, NULL), 0);
	assert_true(lock_id_valid(id));
	assert_int_equal(lock_get(f->db, &u, T0, &li), 0);
	assert_string_equal(li.id, id);
	assert_int_equal(li.pid, 4242);
	assert_int_equal(li.uid, 1000);
	assert_string_equal(li.command, "charm-publish");
	assert_int_equal(li.since, T0);
	assert_int_equal(li.expires, T0 + EXPIRED);

	assert_int_equal(take(f->db, "cs:trusty/foo", T0 + 1, id2, NULL), -EEXIST);
	assert_string_equal(id2, "");
	/* A mkdir-style lock by nobody conflicts the same way. */
	assert_int_equal(lock_take(f->db, &u, 1, &nobody, T0 + 2, TMO, id2, NULL), -EEXIST);
	/* Other URLs, also under a user, are independent. */
	assert_int_equal(take(f->db, "cs:~joe/trusty/foo cs:precise/foo", T0, id2, NULL), 0);
	assert_string_not_equal(id, id2);
}

static void test_holder_fields(void **state)
{
	struct fixture *f = *state;
	char id[LOCK_ID_LEN + 1], longcmd[1000];
	struct url u = url_of("cs:trusty/foo"), v = url_of("cs:trusty/bar");
	struct lock_holder h = {.pid = 7, .uid = 4000000000u, .command = longcmd};
	struct lock_info li;

	memset(longcmd, 'x', sizeof(longcmd) - 1);
	longcmd[sizeof(longcmd) - 1] = '\0';
	assert_int_equal(lock_take(f->db, &u, 1, &h, T0, TMO, id, NULL), 0);
	assert_int_equal(lock_get(f->db, &u, T0, &li), 0);
	assert_int_equal(strlen(li.command), LOCK_COMMAND_MAX);
	assert_true(li.uid == 4000000000u);
	assert_int_equal(lock_take(f->db, &v, 1, &nobody, T0, TMO, id, NULL), 0);
	assert_int_equal(lock_get(f->db, &v, T0, &li), 0);
	assert_int_equal(li.pid, 0);
	assert_string_equal(li.command, "");
}

static void test_bad_urls(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	    "cs:trusty/foo-1",
	    "cs:foo",
	    "cs:~joe/foo",
	    "local:trusty/foo",
	};
	char id[LOCK_ID_LEN + 1];
	struct url ok = url_of("cs:trusty/ok");
	struct url two[2];

	assert_int_equal(lock_take(f->db, &ok, 0, &holder, T0, TMO, id, NULL), -EINVAL);
	assert_int_equal(lock_take(f->db, &ok, 1, NULL, T0, TMO, id, NULL), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		two[0] = ok;
		two[1] = url_of(bad[i]);
		assert_int_equal(lock_take(f->db, two, 2, &holder, T0, TMO, id, NULL), -EINVAL);
		assert_int_equal(lock_get(f->db, &two[1], T0, &(struct lock_info){0}), -EINVAL);
		assert_int_equal(lock_check(f->db, two, 2, NULL, T0), -EINVAL);
	}
	assert_string_equal(holder_of(f->db, "cs:trusty/ok", T0), "");
}

static void test_all_or_none(void **state)
{
	struct fixture *f = *state;
	static const char *const lists[] = {
	    "cs:trusty/a cs:trusty/b",
	    "cs:trusty/b cs:trusty/a",
	    "cs:trusty/a cs:trusty/b cs:trusty/c",
	    "cs:trusty/c cs:trusty/b",
	};
	char held[LOCK_ID_LEN + 1], id[LOCK_ID_LEN + 1];
	struct strv over = {0};

	assert_int_equal(take(f->db, "cs:trusty/b", T0, held, NULL), 0);
	/* An expired lock on a: even its takeover is rolled back. */
	assert_int_equal(take(f->db, "cs:trusty/a", T0 - EXPIRED, id, NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		assert_int_equal(take(f->db, lists[i], T0, id, &over), -EEXIST);
		assert_int_equal(over.n, 0);
		assert_string_equal(holder_of(f->db, "cs:trusty/a", T0), "");
		assert_string_equal(holder_of(f->db, "cs:trusty/b", T0), held);
		assert_string_equal(holder_of(f->db, "cs:trusty/c", T0), "");
	}
	/* The expired lock on a is still its holder's to release. */
	assert_int_equal(lock_release(f->db, id), 0);
}

static void test_sorted_dedupe(void **state)
{
	struct fixture *f = *state;
	char id[LOCK_ID_LEN + 1], id2[LOCK_ID_LEN + 1], want[256];
	struct strv over = {0}, names = {0};
	_cleanup_free_ char *got = NULL, *list = NULL;

	assert_int_equal(
	    take(f->db, "cs:trusty/zz cs:trusty/aa cs:trusty/zz cs:trusty/mm", T0, id, &over), 0);
	assert_int_equal(over.n, 0);
	assert_int_equal(lock_list_names(f->db, "", "trusty", T0, collect, &names), 0);
	list = joined(&names);
	assert_string_equal(list, "aa,mm,zz");
	assert_string_equal(holder_of(f->db, "cs:trusty/aa", T0), id);
	assert_string_equal(holder_of(f->db, "cs:trusty/zz", T0), id);

	/* Taken over in sorted order, each URL once. */
	assert_int_equal(take(f->db, "cs:trusty/zz cs:trusty/mm cs:trusty/aa cs:trusty/mm",
			      T0 + EXPIRED, id2, &over),
			 0);
	got = joined(&over);
	snprintf(want, sizeof(want), "cs:trusty/aa %s,cs:trusty/mm %s,cs:trusty/zz %s", id, id, id);
	assert_string_equal(got, want);
	/* Every URL of the old lock was taken over: the lock is gone. */
	assert_int_equal(lock_release(f->db, id), -ENOENT);
	assert_string_equal(holder_of(f->db, "cs:trusty/mm", T0 + EXPIRED), id2);
}

static void test_release(void **state)
{
	struct fixture *f = *state;
	char id[LOCK_ID_LEN + 1], id2[LOCK_ID_LEN + 1];

	assert_int_equal(take(f->db, "cs:trusty/a cs:~joe/trusty/b", T0, id, NULL), 0);
	assert_int_equal(take(f->db, "cs:trusty/c", T0, id2, NULL), 0);
	assert_int_equal(lock_release(f->db, id), 0);
	assert_string_equal(holder_of(f->db, "cs:trusty/a", T0), "");
	assert_string_equal(holder_of(f->db, "cs:~joe/trusty/b", T0), "");
	assert_string_equal(holder_of(f->db, "cs:trusty/c", T0), id2);
	assert_int_equal(lock_release(f->db, id), -ENOENT);
	assert_int_equal(take(f->db, "cs:trusty/a cs:~joe/trusty/b", T0, id, NULL), 0);

	assert_int_equal(lock_release(f->db, "0123"), -EINVAL);
	assert_int_equal(lock_release(f->db, NULL), -EINVAL);
	assert_int_equal(lock_release(f->db, "0123456789ABCDEF0123456789abcdef"), -EINVAL);
	assert_int_equal(lock_release(f->db, "0123456789abcdef0123456789abcdef"), -ENOENT);
}

static void test_release_url(void **state)
{
	struct fixture *f = *state;
	char id[LOCK_ID_LEN + 1], id2[LOCK_ID_LEN + 1];
	struct url a = url_of("cs:trusty/a"), b = url_of("cs:trusty/b"), c = url_of("cs:trusty/c");

	assert_int_equal(take(f->db, "cs:trusty/a cs:trusty/b", T0, id, NULL), 0);
	assert_int_equal(lock_release_url(f->db, &a, T0 + 1), 0);
	assert_string_equal(holder_of(f->db, "cs:trusty/a", T0 + 1), "");
	assert_string_equal(holder_of(f->db, "cs:trusty/b", T0 + 1), id);
	assert_int_equal(lock_release_url(f->db, &a, T0 + 1), -ENOENT);
	assert_int_equal(lock_release_url(f->db, &b, T0 + 1), 0);
	/* That was the lock's last URL: the lock is gone. */
	assert_int_equal(lock_release(f->db, id), -ENOENT);
	assert_int_equal(lock_release_url(f->db, &c, T0), -ENOENT);

	/* An expired lock cannot be removed by URL (it is already gone). */
	assert_int_equal(take(f->db, "cs:trusty/c", T0, id2, NULL), 0);
	assert_int_equal(lock_release_url(f->db, &c, T0 + EXPIRED), -ENOENT);
	assert_int_equal(lock_release_url(f->db, &c, T0 + EXPIRED - 1), 0);
}

static void test_renew(void **state)
{
	struct fixture *f = *state;
	char id[LOCK_ID_LEN + 1], id2[LOCK_ID_LEN + 1];
	struct url a = url_of("cs:trusty/a"), b = url_of("cs:trusty/b"), c = url_of("cs:trusty/c");
	struct lock_info li;

	assert_int_equal(take(f->db, "cs:trusty/a cs:trusty/b", T0, id, NULL), 0);
	assert_int_equal(lock_renew(f->db, &a, T0 + 100, TMO), 0);
	/* The whole lock moves, and since stays. */
	assert_int_equal(lock_get(f->db, &b, T0 + EXPIRED, &li), 0);
	assert_int_equal(li.since, T0);
	assert_int_equal(li.expires, T0 + 100 + EXPIRED);
	assert_int_equal(take(f->db, "cs:trusty/b", T0 + 100 + EXPIRED - 1, id2, NULL), -EEXIST);
	assert_int_equal(lock_renew(f->db, &c, T0, TMO), -ENOENT);
	assert_int_equal(lock_renew(f->db, &a, T0 + 100 + EXPIRED, TMO), -ENOENT);
	assert_string_equal(holder_of(f->db, "cs:trusty/a", T0 + 100 + EXPIRED), "");
}

/* A lock taken at T0 seen at T0 + dt: held, and whether a taker wins. */
struct expiry_case {
	int64_t dt;
	int take_rc;
	bool visible;
};

static const struct expiry_case expiry_cases[] = {
    {0, -EEXIST, true},	{1, -EEXIST, true},	  {TMO, -EEXIST, true},
    {EXPIRED, 0, false}, {EXPIRED + 1, 0, false}, {100 * TMO, 0, false},
};

static void test_expiry(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(expiry_cases); i++) {
		const struct expiry_case *c = &expiry_cases[i];
		char name[64], id[LOCK_ID_LEN + 1], id2[LOCK_ID_LEN + 1], want[128];
		struct strv over = {0}, names = {0};
		_cleanup_free_ char *got = NULL, *list = NULL;

		snprintf(name, sizeof(name), "cs:trusty/foo%zu", i);
		assert_int_equal(take(f->db, name, T0, id, NULL), 0);
		assert_string_equal(holder_of(f->db, name, T0 + c->dt), c->visible ? id : "");
		assert_int_equal(lock_list_names(f->db, "", "trusty", T0 + c->dt, collect, &names),
				 0);
		list = joined(&names);
		assert_int_equal(strstr(list, name + 10) != NULL, c->visible);

		if (take(f->db, name, T0 + c->dt, id2, &over) != c->take_rc)
			fail_msg("case %zu: take at +%lld", i, (long long)c->dt);
		got = joined(&over);
		if (c->take_rc < 0) {
			assert_string_equal(got, "");
			assert_int_equal(lock_release(f->db, id), 0);
			continue;
		}
		snprintf(want, sizeof(want), "%s %s", name, id);
		assert_string_equal(got, want);
		assert_string_equal(holder_of(f->db, name, T0 + c->dt), id2);
		assert_int_equal(lock_release(f->db, id2), 0);
	}
}

static void test_unlock_after_takeover(void **state)
{
	struct fixture *f = *state;
	char old[LOCK_ID_LEN + 1], old2[LOCK_ID_LEN + 1], id[LOCK_ID_LEN + 1];
	struct strv over = {0};

	/* One URL: the old lock is gone entirely, its unlock is a no-op. */
	assert_int_equal(take(f->db, "cs:trusty/x", T0, old, NULL), 0);
	assert_int_equal(take(f->db, "cs:trusty/x", T0 + EXPIRED, id, &over), 0);
	strv_clear(&over);
	assert_int_equal(lock_release(f->db, old), -ENOENT);
	assert_string_equal(holder_of(f->db, "cs:trusty/x", T0 + EXPIRED), id);

	/* Two URLs, one taken over: unlock frees only what is still the old lock's. */
	assert_int_equal(take(f->db, "cs:trusty/p cs:trusty/q", T0, old2, NULL), 0);
	assert_int_equal(take(f->db, "cs:trusty/p", T0 + EXPIRED, id, &over), 0);
	assert_int_equal(over.n, 1);
	strv_clear(&over);
	assert_int_equal(lock_release(f->db, old2), 0);
	assert_string_equal(holder_of(f->db, "cs:trusty/p", T0 + EXPIRED), id);
	assert_int_equal(lock_release(f->db, old2), -ENOENT);
	assert_string_equal(holder_of(f->db, "cs:trusty/p", T0 + EXPIRED), id);
}

static void test_check(void **state)
{
	struct fixture *f = *state;
	char id[LOCK_ID_LEN + 1], other[LOCK_ID_LEN + 1];
	struct url xy[] = {url_of("cs:trusty/y"), url_of("cs:trusty/x")};
	struct url z = url_of("cs:trusty/z");

	assert_int_equal(lock_check(f->db, xy, 2, NULL, T0), 0);
	assert_int_equal(lock_check(f->db, xy, 0, NULL, T0), 0);
	assert_int_equal(take(f->db, "cs:trusty/x", T0, id, NULL), 0);
	assert_int_equal(take(f->db, "cs:trusty/z", T0, other, NULL), 0);
	assert_int_equal(lock_check(f->db, xy, 2, NULL, T0), -EBUSY);
	assert_int_equal(lock_check(f->db, xy, 2, id, T0), 0);
	assert_int_equal(lock_check(f->db, xy, 2, other, T0), -EBUSY);
	assert_int_equal(lock_check(f->db, xy, 2, "0123456789abcdef0123456789abcdef", T0), -EBUSY);
	assert_int_equal(lock_check(f->db, &z, 1, id, T0), -EBUSY);
	assert_int_equal(lock_check(f->db, xy, 1, other, T0), 0);
	/* Expired locks do not count. */
	assert_int_equal(lock_check(f->db, xy, 2, NULL, T0 + EXPIRED), 0);
	assert_int_equal(lock_check(f->db, &z, 1, id, T0 + EXPIRED), 0);
}

static void test_listing(void **state)
{
	struct fixture *f = *state;
	char id[LOCK_ID_LEN + 1];
	struct strv sv = {0};
	_cleanup_free_ char *users = NULL, *series = NULL, *jseries = NULL, *names = NULL,
			    *later = NULL;

	assert_int_equal(
	    take(f->db, "cs:~zed/trusty/b cs:~amy/precise/a cs:trusty/w", T0, id, NULL), 0);
	assert_int_equal(take(f->db, "cs:~amy/trusty/c cs:precise/v", T0 + 10, id, NULL), 0);
	assert_int_equal(take(f->db, "cs:~bob/trusty/old", T0 - EXPIRED, id, NULL), 0);

	assert_int_equal(lock_list_users(f->db, T0, collect, &sv), 0);
	users = joined(&sv);
	assert_string_equal(users, "amy,zed");
	assert_int_equal(lock_list_series(f->db, "", T0, collect, &sv), 0);
	series = joined(&sv);
	assert_string_equal(series, "precise,trusty");
	assert_int_equal(lock_list_series(f->db, "amy", T0, collect, &sv), 0);
	jseries = joined(&sv);
	assert_string_equal(jseries, "precise,trusty");
	assert_int_equal(lock_list_names(f->db, "amy", "trusty", T0, collect, &sv), 0);
	names = joined(&sv);
	assert_string_equal(names, "c");
	/* At T0 + EXPIRED only the second lock is left. */
	assert_int_equal(lock_list_users(f->db, T0 + EXPIRED, collect, &sv), 0);
	later = joined(&sv);
	assert_string_equal(later, "amy");
	assert_int_equal(lock_list_series(f->db, "bob", T0, collect, &sv), 0);
	assert_int_equal(sv.n, 0);
}

static int stop_at_first(void *ud, const char *name)
{
	(*(int *)ud)++;
	return -ECANCELED;
}

static void test_listing_stop(void **state)
{
	struct fixture *f = *state;
	char id[LOCK_ID_LEN + 1];
	int calls = 0;

	assert_int_equal(take(f->db, "cs:trusty/a cs:trusty/b", T0, id, NULL), 0);
	assert_int_equal(lock_list_names(f->db, "", "trusty", T0, stop_at_first, &calls),
			 -ECANCELED);
	assert_int_equal(calls, 1);
	/* The statement was reset: listing again works. */
	calls = 0;
	assert_int_equal(lock_list_names(f->db, "", "trusty", T0, stop_at_first, &calls),
			 -ECANCELED);
	assert_int_equal(calls, 1);
}

static void test_purge(void **state)
{
	struct fixture *f = *state;
	char old[LOCK_ID_LEN + 1], live[LOCK_ID_LEN + 1], want[256];
	struct strv gone = {0};
	_cleanup_free_ char *got = NULL;

	assert_int_equal(take(f->db, "cs:trusty/b cs:trusty/a", T0 - EXPIRED, old, NULL), 0);
	assert_int_equal(take(f->db, "cs:trusty/c", T0, live, NULL), 0);
	assert_int_equal(lock_purge(f->db, T0, &gone), 0);
	got = joined(&gone);
	snprintf(want, sizeof(want), "cs:trusty/a %s,cs:trusty/b %s", old, old);
	assert_string_equal(got, want);
	assert_int_equal(lock_release(f->db, old), -ENOENT);
	assert_string_equal(holder_of(f->db, "cs:trusty/c", T0), live);
	assert_int_equal(lock_purge(f->db, T0, NULL), 0);
	assert_int_equal(lock_purge(f->db, T0 + EXPIRED, NULL), 0);
	assert_int_equal(lock_release(f->db, live), -ENOENT);
}

/* ---- request parsing ---------------------------------------------------------- */

struct req_case {
	const char *line;
	int rc;
	enum lock_req_kind kind;
	/* LOCK: the URLs as url_format() gives them, comma-separated; UNLOCK: the id. */
	const char *want;
	/* A substring of the message on error. */
	const char *err;
};

#define ID32 "0123456789abcdef0123456789abcdef"

static const struct req_case req_cases[] = {
    {"lock cs:trusty/foo", 0, LOCK_REQ_LOCK, "cs:trusty/foo", NULL},
    {"lock cs:trusty/foo\n", 0, LOCK_REQ_LOCK, "cs:trusty/foo", NULL},
    {"lock cs:trusty/foo\r\n", 0, LOCK_REQ_LOCK, "cs:trusty/foo", NULL},
    {"  lock\tcs:~joe/trusty/foo   precise/bar \n", 0, LOCK_REQ_LOCK,
     "cs:~joe/trusty/foo,cs:precise/bar", NULL},
    {"lock cs:trusty/a cs:trusty/a", 0, LOCK_REQ_LOCK, "cs:trusty/a,cs:trusty/a", NULL},
    {"unlock " ID32, 0, LOCK_REQ_UNLOCK, ID32, NULL},
    {"unlock " ID32 "\n", 0, LOCK_REQ_UNLOCK, ID32, NULL},
    {"", -EINVAL, 0, NULL, "empty"},
    {"\n", -EINVAL, 0, NULL, "empty"},
    {"   \t ", -EINVAL, 0, NULL, "empty"},
    {"lock", -EINVAL, 0, NULL, "usage: lock"},
    {"lock \n", -EINVAL, 0, NULL, "usage: lock"},
    {"LOCK cs:trusty/foo", -EINVAL, 0, NULL, "unknown request"},
    {"locks cs:trusty/foo", -EINVAL, 0, NULL, "unknown request"},
    {"publish x", -EINVAL, 0, NULL, "unknown request"},
    {"lock cs:trusty/foo-1", -EINVAL, 0, NULL, "has a revision"},
    {"lock cs:foo", -EINVAL, 0, NULL, "no series"},
    {"lock cs:~joe/foo", -EINVAL, 0, NULL, "no series"},
    {"lock local:trusty/foo", -EINVAL, 0, NULL, "not a cs: URL"},
    {"lock cs:trusty/Foo", -EINVAL, 0, NULL, "invalid charm name"},
    {"lock cs:trusty/foo-99999999999", -EINVAL, 0, NULL, "invalid revision"},
    {"lock cs:trusty/foo\ncs:trusty/bar", -EINVAL, 0, NULL, "one request per line"},
    {"lock cs:trusty/foo\n\n", -EINVAL, 0, NULL, "one request per line"},
    {"lock cs:trusty/foo\rx", -EINVAL, 0, NULL, "one request per line"},
    {"unlock", -EINVAL, 0, NULL, "usage: unlock"},
    {"unlock " ID32 " " ID32, -EINVAL, 0, NULL, "usage: unlock"},
    {"unlock 0123", -EINVAL, 0, NULL, "invalid lock id"},
    {"unlock 0123456789ABCDEF0123456789abcdef", -EINVAL, 0, NULL, "invalid lock id"},
    {"unlock " ID32 "0", -EINVAL, 0, NULL, "invalid lock id"},
    {"unlock cs:trusty/foo", -EINVAL, 0, NULL, "invalid lock id"},
};

static void check_req(const char *line, size_t len, const struct req_case *c)
{
	struct lock_req rq;
	char err[256] = "", got[4096] = "", s[URL_STR_MAX];
	int r;

	memset(&rq, 0x5a, sizeof(rq));
	r = lock_parse_request(line, len, &rq, err, sizeof(err));
	if (r != c->rc)
		fail_msg("\"%s\": %d (%s), want %d", c->line, r, err, c->rc);
	if (r < 0) {
		if (!strstr(err, c->err))
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", c->line, err, c->err);
		assert_int_equal(rq.n_urls, (size_t)0x5a5a5a5a5a5a5a5aULL);
		return;
	}
	assert_int_equal(rq.kind, c->kind);
	if (rq.kind == LOCK_REQ_UNLOCK) {
		assert_string_equal(rq.id, c->want);
		return;
	}
	for (size_t i = 0; i < rq.n_urls; i++) {
		url_format(&rq.urls[i], s, sizeof(s));
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? "," : "", s);
	}
	assert_string_equal(got, c->want);
}

static void test_parse_table(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(req_cases); i++)
		check_req(req_cases[i].line, strlen(req_cases[i].line), &req_cases[i]);
}

static void test_parse_limits(void **state)
{
	static char line[LOCK_REQ_MAX + 64];
	struct lock_req rq;
	char err[128];
	size_t n;

	/* 32 URLs parse, 33 do not. */
	n = (size_t)snprintf(line, sizeof(line), "lock");
	for (int i = 0; i < LOCK_REQ_URLS_MAX; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " cs:trusty/n%d", i);
	assert_int_equal(lock_parse_request(line, n, &rq, err, sizeof(err)), 0);
	assert_int_equal(rq.n_urls, LOCK_REQ_URLS_MAX);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " cs:trusty/extra");
	assert_int_equal(lock_parse_request(line, n, &rq, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too many URLs"));

	/* Length: a line of LOCK_REQ_MAX bytes parses, one more byte is refused. */
	memset(line, ' ', sizeof(line));
	memcpy(line, "lock", 4);
	memcpy(line + LOCK_REQ_MAX - 14, "cs:trusty/foo\n", 14);
	assert_int_equal(lock_parse_request(line, LOCK_REQ_MAX, &rq, err, sizeof(err)), 0);
	assert_int_equal(rq.n_urls, 1);
	assert_int_equal(lock_parse_request(line, LOCK_REQ_MAX + 1, &rq, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "too long"));

	/* An over-long URL word, a NUL byte, no buffer for the message, NULL line. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "lock cs:trusty/", 15);
	assert_int_equal(lock_parse_request(line, 15 + URL_INPUT_MAX, &rq, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "too long"));
	assert_int_equal(lock_parse_request("lock cs:trusty/a\0b", 18, &rq, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "NUL"));
	assert_int_equal(lock_parse_request("nonsense", 8, &rq, NULL, 0), -EINVAL);
	assert_int_equal(lock_parse_request(NULL, 0, &rq, err, sizeof(err)), -EINVAL);
	/* A short message buffer is truncated, not overrun. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(lock_parse_request("bogus", 5, &rq, err, 8), -EINVAL);
	assert_int_equal(strlen(err), 7);
	/* Only len bytes are read. */
	assert_int_equal(lock_parse_request("lock cs:trusty/foo-1", 18, &rq, err, sizeof(err)), 0);
}

/* ---- concurrency ----------------------------------------------------------------- */

#define RACERS 8

struct racer {
	struct db *db;
	pthread_barrier_t *start;
	int64_t now;
	int rc;
	char id[LOCK_ID_LEN + 1];
};

static void *race(void *p)
{
	struct racer *r = p;
	struct url urls[] = {url_of("cs:trusty/contested"), url_of("cs:~joe/trusty/other")};

	pthread_barrier_wait(r->start);
	r->rc = lock_take(r->db, urls, 2, &holder, r->now, TMO, r->id, NULL);
	return NULL;
}

static void run_race(struct db *db, int64_t now, int *ret_winner)
{
	pthread_barrier_t start;
	pthread_t t[RACERS];
	struct racer rs[RACERS];
	int wins = 0, winner = -1;

	pthread_barrier_init(&start, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		rs[i] = (struct racer){.db = db, .start = &start, .now = now, .rc = 1};
		assert_int_equal(pthread_create(&t[i], NULL, race, &rs[i]), 0);
	}
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < RACERS; i++) {
		if (rs[i].rc == 0) {
			wins++;
			winner = i;
			assert_string_equal(holder_of(db, "cs:trusty/contested", now), rs[i].id);
		} else {
			assert_int_equal(rs[i].rc, -EEXIST);
		}
	}
	assert_int_equal(wins, 1);
	*ret_winner = winner;
}

static void test_race(void **state)
{
	struct fixture *f = *state;
	int winner;

	for (int round = 0; round < 5; round++)
		run_race(f->db, T0 + (int64_t)round * EXPIRED, &winner);
	(void)winner;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_take_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_holder_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_all_or_none, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sorted_dedupe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_url, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_renew, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unlock_after_takeover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listing_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_parse_limits),
	    cmocka_unit_test_setup_teardown(test_race, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
