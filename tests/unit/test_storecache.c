/*
 * Unit tests for the store's read cache (backend/storecache.c): values by
 * key and generation, a stale generation dropped, replacement, the byte
 * bound with least-recently-used eviction, values too big to keep, empty
 * values; then through a real store in a temporary STOREDIR, that what
 * the read paths keep (revisions, latest, files/ entries and data) never
 * outlives a publish or a deletion — also when a deleted revision's row id
 * is reused by the next publish, with other content under the same names.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "storecache.h"
#include "zipgen.h"

static void test_get_put(void **state)
{
	struct store_cache *c = store_cache_new(1 << 20);
	char out[32];
	struct buf b;

	(void)state;
	assert_non_null(c);
	assert_int_equal(store_cache_get(c, "k1", 2, 1, out, sizeof(out)), 0);
	store_cache_put(c, "k1", 2, 1, "value one", 9);
	assert_int_equal(store_cache_get(c, "k1", 2, 1, out, sizeof(out)), 9);
	assert_memory_equal(out, "value one", 9);
	/* Keys are bytes: a prefix or a longer key is another key. */
	assert_int_equal(store_cache_get(c, "k", 1, 1, out, sizeof(out)), 0);
	assert_int_equal(store_cache_get(c, "k1\0", 3, 1, out, sizeof(out)), 0);
	/* Too small a buffer gets nothing, and the value stays. */
	assert_int_equal(store_cache_get(c, "k1", 2, 1, out, 4), 0);
	assert_int_equal(store_cache_get(c, "k1", 2, 1, out, sizeof(out)), 9);
	/* A put replaces. */
	store_cache_put(c, "k1", 2, 1, "two", 3);
	assert_int_equal(store_cache_get(c, "k1", 2, 1, out, sizeof(out)), 3);
	assert_memory_equal(out, "two", 3);
	/* Another generation: nothing, and the stale value is gone for good. */
	assert_int_equal(store_cache_get(c, "k1", 2, 2, out, sizeof(out)), 0);
	assert_int_equal(store_cache_get(c, "k1", 2, 1, out, sizeof(out)), 0);
	assert_int_equal(store_cache_bytes(c), 0);
	/* An empty value is a value for store_cache_get_buf(). */
	store_cache_put(c, "empty", 5, 7, "", 0);
	buf_init(&b, 64);
	assert_int_equal(store_cache_get_buf(c, "empty", 5, 7, &b), 1);
	assert_int_equal(b.len, 0);
	assert_int_equal(store_cache_get_buf(c, "empty", 5, 8, &b), 0);
	store_cache_put(c, "k2", 2, 7, "abc", 3);
	assert_int_equal(store_cache_get_buf(c, "k2", 2, 7, &b), 1);
	assert_int_equal(store_cache_get_buf(c, "k2", 2, 7, &b), 1);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "abcabc", 6);
	buf_free(&b);
	/* The buffer's limit is the caller's error. */
	buf_init(&b, 2);
	assert_int_equal(store_cache_get_buf(c, "k2", 2, 7, &b), -EFBIG);
	buf_free(&b);
	store_cache_free(c);
	store_cache_free(NULL);
}

static void test_bound(void **state)
{
	const size_t max = 64 * 1024;
	struct store_cache *c = store_cache_new(max);
	char key[16], val[1024], out[sizeof(val)];
	size_t kept = 0;

	(void)state;
	assert_non_null(c);
	memset(val, 'v', sizeof(val));
	/* Over a sixteenth of the bound: never kept. */
	store_cache_put(c, "big", 3, 1, val, max / 16);
	assert_int_equal(store_cache_bytes(c), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		store_cache_put(c, key, strlen(key), 1, val, sizeof(val));
		assert_true(store_cache_bytes(c) <= max);
		/* key0 is used all along: it is never the least recently used. */
		assert_int_equal(store_cache_get(c, "key0", 4, 1, out, sizeof(out)), sizeof(val));
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "key%d", i);
		kept += store_cache_get(c, key, strlen(key), 1, out, sizeof(out)) ? 1 : 0;
	}
	/* The newest ones fill the bound, less the oldest that went first. */
	assert_true(kept > 40 && kept < 64);
	assert_int_equal(store_cache_get(c, "key999", 6, 1, out, sizeof(out)), sizeof(val));
	assert_int_equal(store_cache_get(c, "key1", 4, 1, out, sizeof(out)), 0);
	store_cache_free(c);
}

/* ---- through the store -------------------------------------------------------- */

struct fx {
	char dir[64];
	char zip[128];
	struct store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_opts o;
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/charmfs-cache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->zip, sizeof(f->zip), "%s/in.zip", f->dir);
	store_opts_default(&o);
	assert_int_equal(store_open(f->dir, &o, &f->s, err, sizeof(err)), 0);
	assert_int_equal(store_start(f->s), 0);
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

/* Publishes a charm "foo" whose files say edition to u; returns the revision. */
static int publish(struct fx *f, const struct url *u, const char *edition, bool with_extra)
{
	char meta[128], readme[64];
	struct zg_entry e[] = {
		{ .name = "metadata.yaml", .kind = ZG_FILE, .data = meta },
		{ .name = "README", .kind = ZG_FILE, .data = readme },
		{ .name = "docs/link", .kind = ZG_SYMLINK, .data = edition },
		{ .name = "extra", .kind = ZG_FILE, .data = "x" },
	};
	struct store_publish_req req = { .path = f->zip, .urls = u, .n_urls = 1 };
	struct strv errors = { 0 };
	int rev = -1;

	snprintf(meta, sizeof(meta), "name: foo\nsummary: %s\ndescription: d\n", edition);
	snprintf(readme, sizeof(readme), "edition %s\n", edition);
	assert_int_equal(zipgen_write(f->zip, e, with_extra ? 4 : 3), 0);
	assert_int_equal(store_publish(f->s, &req, &rev, &errors), 0);
	strv_clear(&errors);
	return rev;
}

/* Reads back what the fs/ layer reads of revision N of u. */
static void expect_files(struct fx *f, const struct url *u, int revision, const char *edition,
			 bool with_extra)
{
	struct store_rev rev;
	struct store_file fe;
	char want[64];
	struct buf b;

	assert_int_equal(store_get_rev(f->s, u, revision, &rev), 0);
	assert_int_equal(rev.revision, revision);
	assert_true(rev.in_db);
	assert_int_equal(store_file_get(f->s, &rev, "README", &fe), 0);
	snprintf(want, sizeof(want), "edition %s\n", edition);
	assert_int_equal(fe.size, strlen(want));
	buf_init(&b, 1 << 16);
	assert_int_equal(store_file_data(f->s, &rev, "README", &b), 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	buf_free(&b);
	buf_init(&b, 1 << 16);
	assert_int_equal(store_file_target(f->s, &rev, "docs/link", &b), 0);
	assert_int_equal(b.len, strlen(edition));
	assert_memory_equal(b.data, edition, b.len);
	buf_free(&b);
	assert_int_equal(store_file_get(f->s, &rev, "extra", &fe), with_extra ? 0 : -ENOENT);
}

static void test_store_follows_changes(void **state)
{
	struct fx *f = *state;
	struct store_rev rev, r0;
	struct store_file fe;
	struct url u;
	int latest = -1;

	assert_int_equal(url_parse("cs:trusty/foo", &u, NULL, 0), 0);
	assert_int_equal(store_latest(f->s, &u, &latest), -ENOENT);
	assert_int_equal(publish(f, &u, "zero", true), 0);
	/* "none" was kept until the publish, and no longer. */
	assert_int_equal(store_latest(f->s, &u, &latest), 0);
	assert_int_equal(latest, 0);
	/* Twice: the second read comes from the cache, with the same answers. */
	expect_files(f, &u, 0, "zero", true);
	expect_files(f, &u, 0, "zero", true);
	assert_int_equal(store_get_rev(f->s, &u, 0, &r0), 0);

	/* Deleting the only revision frees its row id for the next publish. */
	assert_int_equal(store_delete(f->s, &u, 0, 0), 0);
	assert_int_equal(store_get_rev(f->s, &u, 0, &rev), -ENOENT);
	assert_int_equal(store_latest(f->s, &u, &latest), -ENOENT);
	/* What was kept of the old row answers nothing now. */
	assert_int_equal(store_file_get(f->s, &r0, "README", &fe), -ENOENT);

	assert_int_equal(publish(f, &u, "one", false), 1);
	assert_int_equal(store_get_rev(f->s, &u, 1, &rev), 0);
	/* The point of the test: the new revision has the old one's row id. */
	assert_int_equal(rev.id, r0.id);
	expect_files(f, &u, 1, "one", false);
	assert_int_equal(store_get_rev(f->s, &u, 0, &rev), -ENOENT);
	assert_int_equal(store_latest(f->s, &u, &latest), 0);
	assert_int_equal(latest, 1);

	/* A second publish moves latest through the cache. */
	assert_int_equal(publish(f, &u, "two", true), 2);
	assert_int_equal(store_latest(f->s, &u, &latest), 0);
	assert_int_equal(latest, 2);
	expect_files(f, &u, 1, "one", false);
	expect_files(f, &u, 2, "two", true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put),
		cmocka_unit_test(test_bound),
		cmocka_unit_test_setup_teardown(test_store_follows_changes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
