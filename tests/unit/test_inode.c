/*
 * Unit tests for fs/inode.c, the FUSE adapter's inode table: the root,
 * ref/find/path round trips and near misses, lookup counting and forgetting at zero,
 * numbers never reused, a parent forgotten (or never looked up) while its
 * child is held, detach, rename onto an existing name and of a directory
 * with children (the children keep their old paths), flags, kept nodes
 * (inode_keep: by gen, dropped by detach, rename and forget; thousands
 * of them in their own table), readdir's
 * number hints, growth through several resizes, four threads sharing
 * paths, and a randomised comparison against a plain model of the table's
 * contract (the old one-string-per-entry table, written out naively).
 * test_memory reports heap bytes per entry for 200,000 typical paths
 * (under AddressSanitizer counted by its allocator, since mallinfo2() does
 * not see it).
 */
#include "config.h"

#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inode.h"
#include "util.h"
#include "banned.h"

#define HINT_BIT (1ULL << 62)

/* The number inode_number_hint promises for a path the table does not know. */
static uint64_t hint_of(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (h | HINT_BIT) & ~(1ULL << 63);
}

static void assert_path(struct inode_table *t, uint64_t ino, const char *want)
{
	char *p = inode_path(t, ino);

	if (!want) {
		assert_null(p);
		return;
	}
	assert_non_null(p);
	assert_string_equal(p, want);
	free(p);
}

static void test_root(void **state)
{
	struct inode_table *t = inode_table_new();

	(void)state;
	assert_non_null(t);
	assert_int_equal(inode_find(t, ""), INODE_ROOT);
	assert_int_equal(inode_number_hint(t, ""), INODE_ROOT);
	assert_path(t, INODE_ROOT, "");
	assert_int_equal(inode_ref(t, ""), INODE_ROOT);
	assert_int_equal(inode_ref(t, ""), INODE_ROOT);
	inode_forget(t, INODE_ROOT, 100);
	assert_path(t, INODE_ROOT, "");
	assert_int_equal(inode_find(t, ""), INODE_ROOT);
	/* The first number the counter hands out follows the root's. */
	assert_int_equal(inode_ref(t, "/charms"), INODE_ROOT + 1);
	assert_path(t, 0, NULL);
	inode_table_free(t);
	inode_table_free(NULL);
}

static void test_round_trip(void **state)
{
	static const char *const paths[] = {
	    "/charms",
	    "/charms/trusty",
	    "/charms/trusty/wordpress",
	    "/charms/trusty/wordpress/0",
	    "/charms/trusty/wordpress/0/files",
	    "/charms/trusty/wordpress/0/files/hooks",
	    "/charms/trusty/wordpress/0/files/hooks/install",
	    "/charms/trusty/wordpress/0/metadata.yaml",
	    "/charms/~bob/xenial/a-name-much-longer-than-sixty-four-bytes-to-need-a-bigger-chunk/"
	    "12",
	    "/publish/incoming/x",
	};
	struct inode_table *t = inode_table_new();
	uint64_t ino[ARRAY_SIZE(paths)];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		assert_int_equal(inode_find(t, paths[i]), 0);
		ino[i] = inode_ref(t, paths[i]);
		assert_int_equal(ino[i], INODE_ROOT + 1 + i);
	}
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		assert_int_equal(inode_find(t, paths[i]), ino[i]);
		assert_int_equal(inode_ref(t, paths[i]), ino[i]);
		assert_int_equal(inode_number_hint(t, paths[i]), ino[i]);
		assert_path(t, ino[i], paths[i]);
	}
	/* Near misses are not found. */
	assert_int_equal(inode_find(t, "/charms/trusty/wordpres"), 0);
	assert_int_equal(inode_find(t, "/charms/trusty/wordpress/"), 0);
	assert_int_equal(inode_find(t, "charms/trusty"), 0);
	assert_int_equal(inode_find(t, "/trusty"), 0);
	assert_int_equal(inode_find(t, "/charms/charms/trusty"), 0);
	assert_int_equal(inode_find(t, "/publish/incoming"), 0);
	assert_path(t, ino[ARRAY_SIZE(paths) - 1] + 1, NULL);
	inode_table_free(t);
}

/*
 * Paths that differ from held ones only where a '/' was ("/p1xrxq" for
 * "/p1/r/q"): none is found. FNV never maps a one-byte change to the same
 * bucket, but with two there are 16,384 tries, enough for a few to share
 * a bucket with the held path whatever the table's size.
 */
static void test_near_misses(void **state)
{
	static const char seps[] = "abcdefgh.-_+ ~:%";
	struct inode_table *t = inode_table_new();
	char p[32];

	(void)state;
	for (int i = 0; i < 64; i++) {
		snprintf(p, sizeof(p), "/p%d/r/q", i);
		assert_int_equal(inode_ref(t, p), INODE_ROOT + 1 + (uint64_t)i);
	}
	for (int i = 0; i < 64; i++) {
		for (size_t x = 0; x < 16; x++) {
			for (size_t y = 0; y < 16; y++) {
				snprintf(p, sizeof(p), "/p%d%cr%cq", i, seps[x], seps[y]);
				assert_int_equal(inode_find(t, p), 0);
			}
			snprintf(p, sizeof(p), "/p%d%cr/q", i, seps[x]);
			assert_int_equal(inode_find(t, p), 0);
		}
	}
	inode_table_free(t);
}

static void test_forget(void **state)
{
	struct inode_table *t = inode_table_new();
	uint64_t a, b;

	(void)state;
	a = inode_ref(t, "/a");
	assert_int_equal(inode_ref(t, "/a"), a);
	assert_int_equal(inode_ref(t, "/a"), a);
	inode_forget(t, a, 2);
	assert_int_equal(inode_find(t, "/a"), a);
	assert_path(t, a, "/a");
	inode_forget(t, a, 1);
	assert_int_equal(inode_find(t, "/a"), 0);
	assert_path(t, a, NULL);
	/* Saturating: more forgets than lookups just drop the entry. */
	b = inode_ref(t, "/b");
	inode_forget(t, b, 1000);
	assert_int_equal(inode_find(t, "/b"), 0);
	assert_path(t, b, NULL);
	/* Unknown and repeated forgets are harmless. */
	inode_forget(t, b, 1);
	inode_forget(t, 12345, 1);
	inode_forget(t, 0, 1);
	inode_table_free(t);
}

static void test_no_reuse(void **state)
{
	struct inode_table *t = inode_table_new();
	uint64_t last = INODE_ROOT;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		uint64_t ino = inode_ref(t, i % 2 ? "/same" : "/same/child");
		assert_true(ino > last);
		last = ino;
		inode_forget(t, ino, 1);
		assert_path(t, ino, NULL);
	}
	inode_table_free(t);
}

static void test_forget_parent(void **state)
{
	struct inode_table *t = inode_table_new();
	uint64_t a, b, c, a2, x;

	(void)state;
	a = inode_ref(t, "/a");
	b = inode_ref(t, "/a/b");
	c = inode_ref(t, "/a/b/c");
	/* The kernel forgets the directories first. */
	inode_forget(t, a, 1);
	inode_forget(t, b, 1);
	assert_int_equal(inode_find(t, "/a"), 0);
	assert_int_equal(inode_find(t, "/a/b"), 0);
	assert_path(t, a, NULL);
	assert_path(t, b, NULL);
	assert_int_equal(inode_find(t, "/a/b/c"), c);
	assert_path(t, c, "/a/b/c");
	assert_int_equal(inode_number_hint(t, "/a/b"), hint_of("/a/b"));
	/* Looked up again, the parent is a new entry; the child is unmoved. */
	a2 = inode_ref(t, "/a");
	assert_true(a2 > c);
	assert_path(t, a2, "/a");
	assert_int_equal(inode_ref(t, "/a/b/c"), c);
	inode_forget(t, c, 2);
	assert_int_equal(inode_find(t, "/a/b/c"), 0);
	assert_path(t, c, NULL);
	assert_int_equal(inode_find(t, "/a"), a2);
	/* Parents never looked up at all. */
	x = inode_ref(t, "/x/y/z");
	assert_int_equal(inode_find(t, "/x"), 0);
	assert_int_equal(inode_find(t, "/x/y"), 0);
	assert_path(t, x, "/x/y/z");
	assert_int_equal(inode_ref(t, "/x/y"), x + 1);
	inode_forget(t, x, 1);
	assert_path(t, x + 1, "/x/y");
	assert_int_equal(inode_find(t, "/x/y/z"), 0);
	inode_forget(t, x + 1, 1);
	inode_forget(t, a2, 1);
	inode_table_free(t);
}

static void test_detach(void **state)
{
	struct inode_table *t = inode_table_new();
	uint64_t f, f2, d, k, k2;

	(void)state;
	f = inode_ref(t, "/publish/trusty/f");
	inode_detach(t, "/publish/trusty/f");
	assert_int_equal(inode_find(t, "/publish/trusty/f"), 0);
	assert_path(t, f, "/publish/trusty/f");
	assert_int_equal(inode_number_hint(t, "/publish/trusty/f"), hint_of("/publish/trusty/f"));
	/* A new file of the same name is a new entry; the old one lives on. */
	f2 = inode_ref(t, "/publish/trusty/f");
	assert_int_not_equal(f2, f);
	assert_path(t, f, "/publish/trusty/f");
	assert_path(t, f2, "/publish/trusty/f");
	inode_forget(t, f, 1);
	assert_path(t, f, NULL);
	assert_int_equal(inode_find(t, "/publish/trusty/f"), f2);
	/* Unknown paths and parents never looked up: nothing happens. */
	inode_detach(t, "/nowhere");
	inode_detach(t, "/publish/trusty");
	assert_int_equal(inode_find(t, "/publish/trusty/f"), f2);
	/* A detached directory with children held: they keep their paths. */
	d = inode_ref(t, "/locks/trusty/d");
	k = inode_ref(t, "/locks/trusty/d/id");
	inode_detach(t, "/locks/trusty/d");
	assert_int_equal(inode_find(t, "/locks/trusty/d"), 0);
	assert_int_equal(inode_find(t, "/locks/trusty/d/id"), k);
	assert_path(t, k, "/locks/trusty/d/id");
	k2 = inode_ref(t, "/locks/trusty/d/holder");
	assert_path(t, k2, "/locks/trusty/d/holder");
	inode_forget(t, d, 1);
	assert_path(t, d, NULL);
	assert_path(t, k, "/locks/trusty/d/id");
	inode_forget(t, k, 1);
	inode_forget(t, k2, 1);
	inode_forget(t, f2, 1);
	inode_table_free(t);
}

static void test_rename(void **state)
{
	struct inode_table *t = inode_table_new();
	uint64_t a, b, g;

	(void)state;
	a = inode_ref(t, "/publish/trusty/a");
	assert_int_equal(inode_ref(t, "/publish/trusty/a"), a);
	b = inode_ref(t, "/publish/trusty/b");
	inode_flag_set(t, a, INODE_DIRTY, true);
	inode_rename(t, "/publish/trusty/a", "/publish/trusty/b");
	/* The source's entry (number, lookups, flags) is now at the target. */
	assert_int_equal(inode_find(t, "/publish/trusty/a"), 0);
	assert_int_equal(inode_find(t, "/publish/trusty/b"), a);
	assert_path(t, a, "/publish/trusty/b");
	assert_true(inode_flag_get(t, a, INODE_DIRTY));
	/* The old target is detached and keeps its number until forgotten. */
	assert_path(t, b, "/publish/trusty/b");
	inode_forget(t, b, 1);
	assert_path(t, b, NULL);
	inode_forget(t, a, 1);
	assert_path(t, a, "/publish/trusty/b");
	/* Into another directory, one never looked up, and with a longer name. */
	inode_rename(t, "/publish/trusty/b", "/publish/incoming/new/a-much-longer-name");
	assert_int_equal(inode_find(t, "/publish/trusty/b"), 0);
	assert_int_equal(inode_find(t, "/publish/incoming/new/a-much-longer-name"), a);
	assert_path(t, a, "/publish/incoming/new/a-much-longer-name");
	/* An unknown source only detaches the target. */
	g = inode_ref(t, "/publish/trusty/g");
	inode_rename(t, "/publish/trusty/none", "/publish/trusty/g");
	assert_int_equal(inode_find(t, "/publish/trusty/g"), 0);
	assert_path(t, g, "/publish/trusty/g");
	/* Onto itself: detached, as it always was. */
	inode_rename(t, "/publish/incoming/new/a-much-longer-name",
		     "/publish/incoming/new/a-much-longer-name");
	assert_int_equal(inode_find(t, "/publish/incoming/new/a-much-longer-name"), 0);
	assert_path(t, a, "/publish/incoming/new/a-much-longer-name");
	inode_forget(t, a, 1);
	inode_forget(t, g, 1);
	assert_path(t, a, NULL);
	inode_table_free(t);
}

static void test_rename_children(void **state)
{
	struct inode_table *t = inode_table_new();
	uint64_t d, c, d2, e;

	(void)state;
	d = inode_ref(t, "/d");
	c = inode_ref(t, "/d/c");
	inode_rename(t, "/d", "/n");
	/* The directory moves; its children keep their old paths. */
	assert_int_equal(inode_find(t, "/n"), d);
	assert_int_equal(inode_find(t, "/d"), 0);
	assert_path(t, d, "/n");
	assert_int_equal(inode_find(t, "/d/c"), c);
	assert_int_equal(inode_find(t, "/n/c"), 0);
	assert_path(t, c, "/d/c");
	d2 = inode_ref(t, "/d");
	assert_true(d2 > c);
	assert_path(t, d2, "/d");
	/* A child onto its parent's path, then a directory into its own child. */
	inode_rename(t, "/d/c", "/d");
	assert_int_equal(inode_find(t, "/d"), c);
	assert_int_equal(inode_find(t, "/d/c"), 0);
	assert_path(t, c, "/d");
	assert_path(t, d2, "/d");
	inode_rename(t, "/n", "/n/e");
	assert_int_equal(inode_find(t, "/n"), 0);
	assert_int_equal(inode_find(t, "/n/e"), d);
	assert_path(t, d, "/n/e");
	e = inode_ref(t, "/n/e/f");
	assert_path(t, e, "/n/e/f");
	inode_forget(t, d, 1);
	inode_forget(t, c, 1);
	assert_path(t, e, "/n/e/f");
	inode_forget(t, d2, 1);
	inode_forget(t, e, 1);
	assert_path(t, e, NULL);
	inode_table_free(t);
}

/*
 * inode_keep/inode_kept: a copy comes back only with the gen it was kept
 * with and when it fits; it goes with a detach, a rename (the number moves,
 * the kept bytes do not), the forget of the last lookup, and is never kept
 * for the root, an unknown or a detached inode.
 */
static void test_keep(void **state)
{
	struct inode_table *t = inode_table_new();
	uint64_t a = inode_ref(t, "/charms/trusty/wp/3/info");
	uint64_t b = inode_ref(t, "/charms/trusty/wp/3/files/README.md");
	char out[16];

	(void)state;
	assert_int_equal(inode_kept(t, a, out, sizeof(out), 7), 0);
	inode_keep(t, a, "node-a", 7, 7);
	memset(out, 0, sizeof(out));
	assert_int_equal(inode_kept(t, a, out, sizeof(out), 7), 7);
	assert_string_equal(out, "node-a");
	/* Another gen, or too small a buffer: nothing. */
	assert_int_equal(inode_kept(t, a, out, sizeof(out), 8), 0);
	assert_int_equal(inode_kept(t, a, out, 6, 7), 0);
	/* Replaced by the next keep. */
	inode_keep(t, a, "node-A2", 8, 9);
	assert_int_equal(inode_kept(t, a, out, sizeof(out), 7), 0);
	assert_int_equal(inode_kept(t, a, out, sizeof(out), 9), 8);
	assert_string_equal(out, "node-A2");
	/* A second lookup keeps it; the forget of the last one drops it. */
	assert_int_equal(inode_ref(t, "/charms/trusty/wp/3/info"), a);
	inode_forget(t, a, 1);
	assert_int_equal(inode_kept(t, a, out, sizeof(out), 9), 8);
	inode_forget(t, a, 1);
	assert_int_equal(inode_kept(t, a, out, sizeof(out), 9), 0);
	a = inode_ref(t, "/charms/trusty/wp/3/info");
	assert_int_equal(inode_kept(t, a, out, sizeof(out), 9), 0);
	/* Detach drops it, and a detached inode keeps nothing. */
	inode_keep(t, b, "b", 2, 1);
	inode_detach(t, "/charms/trusty/wp/3/files/README.md");
	assert_int_equal(inode_kept(t, b, out, sizeof(out), 1), 0);
	inode_keep(t, b, "b", 2, 1);
	assert_int_equal(inode_kept(t, b, out, sizeof(out), 1), 0);
	/* Rename: the number moves to the new path, the kept bytes are dropped. */
	b = inode_ref(t, "/publish/trusty/x");
	inode_keep(t, b, "x", 2, 1);
	inode_rename(t, "/publish/trusty/x", "/publish/trusty/y.charm");
	assert_int_equal(inode_find(t, "/publish/trusty/y.charm"), b);
	assert_int_equal(inode_kept(t, b, out, sizeof(out), 1), 0);
	/* Root and unknown numbers keep nothing. */
	inode_keep(t, INODE_ROOT, "r", 2, 1);
	assert_int_equal(inode_kept(t, INODE_ROOT, out, sizeof(out), 1), 0);
	inode_keep(t, 999, "u", 2, 1);
	assert_int_equal(inode_kept(t, 999, out, sizeof(out), 1), 0);
	/* Freeing the table frees what is kept (LeakSanitizer checks). */
	inode_keep(t, a, "left", 5, 1);
	inode_table_free(t);
}

static void test_flags(void **state)
{
	struct inode_table *t = inode_table_new();
	uint64_t a = inode_ref(t, "/publish/trusty/a"), b = inode_ref(t, "/publish/trusty/b");

	(void)state;
	assert_false(inode_flag_get(t, a, INODE_DIRTY));
	assert_false(inode_flag_set(t, a, INODE_DIRTY, true));
	assert_true(inode_flag_set(t, a, INODE_DIRTY, true));
	assert_true(inode_flag_get(t, a, INODE_DIRTY));
	assert_false(inode_flag_get(t, b, INODE_DIRTY));
	assert_false(inode_flag_get(t, a, 0x80));
	assert_false(inode_flag_set(t, a, 0x80, true));
	assert_true(inode_flag_get(t, a, 0x80 | INODE_DIRTY));
	assert_true(inode_flag_set(t, a, INODE_DIRTY, false));
	assert_false(inode_flag_get(t, a, INODE_DIRTY));
	assert_true(inode_flag_get(t, a, 0x80));
	/* Unknown numbers have no flags and take none. */
	assert_false(inode_flag_set(t, 999, INODE_DIRTY, true));
	assert_false(inode_flag_get(t, 999, INODE_DIRTY));
	/* Flags go with the entry: a new entry of the same path starts clean. */
	inode_flag_set(t, b, INODE_DIRTY, true);
	inode_forget(t, b, 1);
	assert_false(inode_flag_get(t, b, INODE_DIRTY));
	b = inode_ref(t, "/publish/trusty/b");
	assert_false(inode_flag_get(t, b, INODE_DIRTY));
	inode_table_free(t);
}

static void test_number_hint(void **state)
{
	struct inode_table *t = inode_table_new();
	const char *p = "/charms/trusty/wordpress/0/files/hooks/install";
	uint64_t h = inode_number_hint(t, p), ino;

	(void)state;
	/* FNV-1a of the whole path, bit 62 set, bit 63 clear: stable across runs. */
	assert_int_equal(h, hint_of(p));
	assert_int_equal(inode_number_hint(t, "/charms"), 0x57bce22a371a701cULL);
	assert_true(h & HINT_BIT);
	assert_false(h & (1ULL << 63));
	assert_int_equal(inode_number_hint(t, p), h);
	ino = inode_ref(t, p);
	assert_int_equal(inode_number_hint(t, p), ino);
	assert_false(ino & HINT_BIT);
	inode_forget(t, ino, 1);
	assert_int_equal(inode_number_hint(t, p), h);
	/* The parents a lookup needed are not known nodes. */
	assert_int_equal(inode_number_hint(t, "/charms/trusty"), hint_of("/charms/trusty"));
	inode_table_free(t);
}

/* The paths the kernel holds after ls -lR of n charms: 23 each, parents first. */
static const char *const charm_files[] = {
    "",
    "/latest",
    "/events",
    "/0",
    "/0/archive.charm",
    "/0/config.yaml",
    "/0/digest",
    "/0/info",
    "/0/metadata.yaml",
    "/0/sha256",
    "/0/size",
    "/0/files",
    "/0/files/metadata.yaml",
    "/0/files/config.yaml",
    "/0/files/README.md",
    "/0/files/icon.svg",
    "/0/files/revision",
    "/0/files/hooks",
    "/0/files/hooks/install",
    "/0/files/hooks/config-changed",
    "/0/files/hooks/start",
    "/0/files/hooks/stop",
    "/0/files/hooks/upgrade-charm",
};

static void charm_path(size_t i, char *out, size_t len)
{
	size_t nf = ARRAY_SIZE(charm_files);

	snprintf(out, len, "/charms/trusty/c%05zu%s", i / nf, charm_files[i % nf]);
}

/*
 * Many kept entries (their table grows) come back each with its own bytes,
 * whichever way their inodes go: detached, renamed away, forgotten.
 */
static void test_keep_many(void **state)
{
	enum { N = 5000 };
	struct inode_table *t = inode_table_new();
	uint64_t *ino = calloc(N, sizeof(*ino));
	char p[128], q[128], data[64], out[64];

	(void)state;
	assert_non_null(ino);
	for (size_t i = 0; i < N; i++) {
		charm_path(i, p, sizeof(p));
		ino[i] = inode_ref(t, p);
		snprintf(data, sizeof(data), "kept %zu", i);
		inode_keep(t, ino[i], data, strlen(data) + 1, (int64_t)i);
	}
	for (size_t i = 0; i < N; i++) {
		snprintf(data, sizeof(data), "kept %zu", i);
		assert_int_equal(inode_kept(t, ino[i], out, sizeof(out), (int64_t)i), strlen(data) + 1);
		assert_string_equal(out, data);
		assert_int_equal(inode_kept(t, ino[i], out, sizeof(out), (int64_t)i + 1), 0);
	}
	for (size_t i = 0; i < N; i++) {
		charm_path(i, p, sizeof(p));
		if (i % 3 == 0) {
			inode_detach(t, p);
		} else if (i % 3 == 1) {
			snprintf(q, sizeof(q), "/publish/trusty/moved%zu", i);
			inode_rename(t, p, q);
		}
	}
	for (size_t i = 0; i < N; i++) {
		snprintf(data, sizeof(data), "kept %zu", i);
		assert_int_equal(inode_kept(t, ino[i], out, sizeof(out), (int64_t)i),
				 i % 3 == 2 ? strlen(data) + 1 : 0);
		inode_forget(t, ino[i], 1);
		assert_int_equal(inode_kept(t, ino[i], out, sizeof(out), (int64_t)i), 0);
	}
	inode_table_free(t);
	free(ino);
}

static void test_growth(void **state)
{
	enum { N = 300000 };
	struct inode_table *t = inode_table_new();
	uint64_t *ino = calloc(N, sizeof(*ino)), top[2];
	char p[128];

	(void)state;
	assert_non_null(ino);
	top[0] = inode_ref(t, "/charms");
	top[1] = inode_ref(t, "/charms/trusty");
	for (size_t i = 0; i < N; i++) {
		charm_path(i, p, sizeof(p));
		ino[i] = inode_ref(t, p);
		assert_int_equal(ino[i], top[1] + 1 + i);
	}
	for (size_t i = 0; i < N; i++) {
		charm_path(i, p, sizeof(p));
		assert_int_equal(inode_find(t, p), ino[i]);
		if (i % 7 == 0)
			assert_path(t, ino[i], p);
	}
	/* Directories first (the kernel may), then the rest. */
	for (size_t i = 0; i < N; i++)
		if (i % ARRAY_SIZE(charm_files) == 0)
			inode_forget(t, ino[i], 1);
	for (size_t i = 0; i < N; i++) {
		charm_path(i, p, sizeof(p));
		if (i % ARRAY_SIZE(charm_files) == 0) {
			assert_int_equal(inode_find(t, p), 0);
		} else {
			assert_int_equal(inode_find(t, p), ino[i]);
			inode_forget(t, ino[i], 1);
			assert_int_equal(inode_find(t, p), 0);
		}
	}
	assert_int_equal(inode_find(t, "/charms"), top[0]);
	inode_table_free(t);
	free(ino);
}

#define NTHREADS 4
#define NSHARED 48

struct worker {
	struct inode_table *t;
	unsigned seed;
};

static void shared_path(unsigned i, char *out, size_t len)
{
	/* A tree: 4 names, 3 revisions each, 3 files in each revision, and the dirs. */
	unsigned name = i % 4, rev = i / 4 % 3, leaf = i / 12;

	if (leaf == 0)
		snprintf(out, len, "/charms/trusty/n%u/%u", name, rev);
	else
		snprintf(out, len, "/charms/trusty/n%u/%u/f%u", name, rev, leaf);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t ino[NSHARED] = {0}, held[NSHARED] = {0};
	char p[64];

	for (int round = 0; round < 20000; round++) {
		unsigned i = (unsigned)rand_r(&w->seed) % NSHARED;
		uint64_t got;
		char *q;

		shared_path(i, p, sizeof(p));
		got = inode_ref(w->t, p);
		assert_true(got != 0);
		if (held[i])
			assert_int_equal(got, ino[i]);
		ino[i] = got;
		held[i]++;
		assert_int_equal(inode_find(w->t, p), got);
		q = inode_path(w->t, got);
		assert_non_null(q);
		assert_string_equal(q, p);
		free(q);
		inode_flag_set(w->t, got, INODE_DIRTY, round % 2);
		/* Let go of something now and then, all of it or part. */
		i = (unsigned)rand_r(&w->seed) % NSHARED;
		if (held[i] && rand_r(&w->seed) % 2) {
			uint64_t n = 1 + (uint64_t)rand_r(&w->seed) % held[i];
			inode_forget(w->t, ino[i], n);
			held[i] -= n;
		}
	}
	for (unsigned i = 0; i < NSHARED; i++)
		if (held[i])
			inode_forget(w->t, ino[i], held[i]);
	return NULL;
}

static void test_threads(void **state)
{
	struct inode_table *t = inode_table_new();
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	char p[64];

	(void)state;
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.t = t, .seed = 17 + i};
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (unsigned i = 0; i < NSHARED; i++) {
		shared_path(i, p, sizeof(p));
		assert_int_equal(inode_find(t, p), 0);
	}
	inode_table_free(t);
}

/*
 * The contract, written as plainly as possible: a list of entries each
 * with its whole path, at most one attached per path.
 */
struct ment {
	uint64_t ino, nlookup;
	unsigned flags;
	bool attached;
	const char *path; /* one of universe[] */
};

struct model {
	struct ment e[1024];
	size_t n;
	uint64_t next;
};

static struct ment *m_at(struct model *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].attached && strcmp(m->e[i].path, path) == 0)
			return &m->e[i];
	return NULL;
}

static struct ment *m_ino(struct model *m, uint64_t ino)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].ino == ino)
			return &m->e[i];
	return NULL;
}

static uint64_t m_ref(struct model *m, const char *path)
{
	struct ment *e = m_at(m, path);

	if (!e) {
		assert_true(m->n < ARRAY_SIZE(m->e));
		e = &m->e[m->n++];
		*e = (struct ment){
		    .ino = *path ? m->next++ : INODE_ROOT, .attached = true, .path = path};
	}
	e->nlookup++;
	return e->ino;
}

static void m_forget(struct model *m, uint64_t ino, uint64_t n)
{
	struct ment *e = ino == INODE_ROOT ? NULL : m_ino(m, ino);

	if (!e)
		return;
	e->nlookup = n >= e->nlookup ? 0 : e->nlookup - n;
	if (!e->nlookup)
		*e = m->e[--m->n];
}

static void m_rename(struct model *m, const char *from, const char *to)
{
	struct ment *old = m_at(m, to), *e;

	if (old)
		old->attached = false;
	e = m_at(m, from);
	if (e)
		e->path = to;
}

static void check_model(struct inode_table *t, struct model *m, const char *const *universe,
			size_t nu, unsigned *seed)
{
	for (size_t i = 0; i < nu; i++) {
		struct ment *e = m_at(m, universe[i]);
		uint64_t want = *universe[i] ? e ? e->ino : 0 : INODE_ROOT;
		assert_int_equal(inode_find(t, universe[i]), want);
		assert_int_equal(inode_number_hint(t, universe[i]),
				 want ? want : hint_of(universe[i]));
	}
	for (size_t i = 0; i < m->n; i++) {
		assert_path(t, m->e[i].ino, m->e[i].ino == INODE_ROOT ? "" : m->e[i].path);
		assert_int_equal(inode_flag_get(t, m->e[i].ino, 0xff), m->e[i].flags != 0);
	}
	/* Some number handed out before and now gone. */
	if (m->next > INODE_ROOT + 1) {
		uint64_t ino = INODE_ROOT + 1 + (uint64_t)rand_r(seed) % (m->next - INODE_ROOT - 1);
		if (!m_ino(m, ino))
			assert_path(t, ino, NULL);
	}
}

static void run_model(unsigned seed, int steps)
{
	static const char *const universe[] = {
	    "",	       "/a",	"/a/b", "/a/b/c", "/a/b/c/d", "/a/bb",
	    "/a/b/cc", "/b",	"/b/a", "/b/a/b", "/ab",      "/ab/c",
	    "/a/",     "/a//b", "//",	"x",	  "x/y",      "/a/b/c/d/e/f",
	};
	struct inode_table *t = inode_table_new();
	struct model *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->next = INODE_ROOT + 1;
	for (int s = 0; s < steps; s++) {
		unsigned op = (unsigned)rand_r(&seed) % 100;
		/* Renames and detaches of the root are not something callers do. */
		const char *p = universe[(unsigned)rand_r(&seed) % ARRAY_SIZE(universe)];
		const char *q = universe[1 + (unsigned)rand_r(&seed) % (ARRAY_SIZE(universe) - 1)];
		struct ment *e = m->n ? &m->e[(unsigned)rand_r(&seed) % m->n] : NULL;

		if (op < 35) {
			assert_int_equal(inode_ref(t, p), m_ref(m, p));
		} else if (op < 65 && e) {
			uint64_t ino = e->ino, n = 1 + (uint64_t)rand_r(&seed) % 3;
			inode_forget(t, ino, n);
			m_forget(m, ino, n);
		} else if (op < 75) {
			struct ment *d = m_at(m, q);
			inode_detach(t, q);
			if (d)
				d->attached = false;
		} else if (op < 87) {
			const char *from =
			    universe[1 + (unsigned)rand_r(&seed) % (ARRAY_SIZE(universe) - 1)];
			inode_rename(t, from, q);
			m_rename(m, from, q);
		} else if (e) {
			unsigned flag = 1u << (rand_r(&seed) % 8);
			bool on = rand_r(&seed) % 2;
			assert_int_equal(inode_flag_set(t, e->ino, flag, on),
					 (e->flags & flag) != 0);
			e->flags = on ? e->flags | flag : e->flags & ~flag;
		}
		check_model(t, m, universe, ARRAY_SIZE(universe), &seed);
	}
	inode_table_free(t);
	free(m);
}

static void test_model(void **state)
{
	(void)state;
	for (unsigned seed = 1; seed <= 20; seed++)
		run_model(seed, 3000);
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef UNDER_ASAN
/* The sanitizer runtime's public interface (sanitizer/allocator_interface.h, not installed with gcc). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/*
 * Bytes the program holds on the heap. AddressSanitizer replaces malloc and
 * keeps its own count (of the bytes asked for, without glibc's per-chunk
 * overhead); glibc's is mallinfo2() (chunks, with it).
 */
static size_t heap_bytes(void)
{
#ifdef UNDER_ASAN
	return __sanitizer_get_current_allocated_bytes();
#elif defined(__GLIBC__)
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
#else
	return 0;
#endif
}

static void test_memory(void **state)
{
#if !defined(UNDER_ASAN) && !defined(__GLIBC__)
	(void)state;
	skip();
#else
	enum { N = 200000 };
	struct inode_table *t;
	size_t a, b;
	uint64_t *ino = calloc(N + 2, sizeof(*ino));
	char p[128];
	double per;

	(void)state;
	assert_non_null(ino);
	a = heap_bytes();
	t = inode_table_new();
	ino[N] = inode_ref(t, "/charms");
	ino[N + 1] = inode_ref(t, "/charms/trusty");
	for (size_t i = 0; i < N; i++) {
		charm_path(i, p, sizeof(p));
		ino[i] = inode_ref(t, p);
	}
	b = heap_bytes();
	per = (double)(b - a) / (N + 2);
	print_message("inode table: %.1f heap bytes per entry for %d paths like %s\n", per, N + 2,
		      p);
	inode_table_free(t);
	free(ino);
#ifndef INODE_MEM_MAX
#define INODE_MEM_MAX 88
#endif
	assert_true(per <= INODE_MEM_MAX);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_root),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_near_misses),
	    cmocka_unit_test(test_forget),
	    cmocka_unit_test(test_no_reuse),
	    cmocka_unit_test(test_forget_parent),
	    cmocka_unit_test(test_detach),
	    cmocka_unit_test(test_rename),
	    cmocka_unit_test(test_rename_children),
	    cmocka_unit_test(test_flags),
	    cmocka_unit_test(test_keep),
	    cmocka_unit_test(test_keep_many),
	    cmocka_unit_test(test_number_hint),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_model),
	    cmocka_unit_test(test_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
