/*
 * Unit tests for backend/charm.c and backend/charmcheck.c: a valid charm
 * round-trips through charm_store() (zip and tree), the content digest
 * ignores what SPEC §4.2 says it ignores, and every validation rule has a
 * failing archive (table-driven: one case per rule, checked for its errno
 * and a message). Archives are built by zipgen.c in a fresh temporary
 * directory per test.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "charm.h"
#include "zipgen.h"
#include "../../backend/banned.h"

#define MIB (1024 * 1024)

static const char META[] = "name: wordpress\nsummary: A blog\ndescription: |\n  A blog engine.\n";
static const char CONFIG[] = "options:\n  title:\n    type: string\n    default: My Title\n"
			     "    description: The title\n";

#define META_E { "metadata.yaml", ZG_FILE, 0644, META, 0, 0, 0 }
#define F(n, m, d) { n, ZG_FILE, m, d, 0, ZG_ZEROS, 0 }
#define D(n) { n, ZG_DIR, 0755, NULL, 0, ZG_ZEROS, 0 }
#define L(n, t) { n, ZG_SYMLINK, 0777, t, 0, ZG_ZEROS, 0 }
#define S(n, k) { n, k, 0, NULL, 0, ZG_ZEROS, 0 }
#define BIG(n, len, fill) { n, ZG_FILE, 0644, NULL, len, fill, 0 }
#define ENTRIES(...)                                                 \
	.e = (const struct zg_entry[]){ __VA_ARGS__ },               \
	.n = sizeof((const struct zg_entry[]){ __VA_ARGS__ }) / sizeof(struct zg_entry)

/* Per-test scratch directory and the usual paths in it. */
struct fixture {
	char dir[64];
	char src[128];
	char out[128];
	char tree[128];
	struct strv errors, warnings;
	struct charm *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_charm.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->src, sizeof(f->src), "%s/in.charm", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out.charm", f->dir);
	snprintf(f->tree, sizeof(f->tree), "%s/tree", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	charm_free(f->c);
	strv_clear(&f->errors);
	strv_clear(&f->warnings);
	if (rm_rf(f->dir) < 0)
		print_message("cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

static void assert_has_message(const struct strv *sv, const char *want)
{
	for (size_t i = 0; i < sv->n; i++) {
		if (strstr(sv->v[i], want))
			return;
	}
	for (size_t i = 0; i < sv->n; i++)
		print_message("  message: %s\n", sv->v[i]);
	fail_msg("no message contains %s", want);
}

static int open_charm(struct fixture *f, const char *path, const struct charm_limits *lim)
{
	struct charm_limits def;

	if (!lim) {
		charm_limits_default(&def);
		lim = &def;
	}
	charm_free(f->c);
	f->c = NULL;
	strv_clear(&f->errors);
	strv_clear(&f->warnings);
	return charm_open(path, lim, &f->c, &f->errors, &f->warnings);
}

/* Opens path, which must be valid, and returns a copy of its digest. */
static char *digest_of(struct fixture *f, const char *path)
{
	int r = open_charm(f, path, NULL);

	if (r != 0) {
		for (size_t i = 0; i < f->errors.n; i++)
			print_message("  error: %s\n", f->errors.v[i]);
	}
	assert_int_equal(r, 0);
	return strdup(charm_digest(f->c));
}

static int store_to(struct fixture *f, int revision, const char *out, const char *tree)
{
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r;

	assert_true(fd >= 0);
	if (tree)
		assert_int_equal(mkdir(tree, 0755), 0);
	r = charm_store(f->c, revision, fd, tree);
	assert_int_equal(close(fd), 0);
	return r;
}

/* ---- the valid charm and its stored form ---- */

static const struct zg_entry VALID[] = {
	{ "./", ZG_DIR, 0755, NULL, 0, 0, 0 },
	META_E,
	{ "config.yaml", ZG_FILE, 0644, CONFIG, 0, 0, 0 },
	{ "revision", ZG_FILE, 0644, "7", 0, 0, 0 },
	{ "hooks/", ZG_DIR, 0700, NULL, 0, 0, 0 },
	{ "hooks/install", ZG_FILE, 0644, "#!/bin/sh\necho installed\n", 0, 0, 0 },
	{ "hooks/helper", ZG_FILE, 0751, "#!/bin/sh\n", 0, 0, 0 },
	{ "hooks/start", ZG_SYMLINK, 0777, "install", 0, 0, 0 },
	{ "src/", ZG_DIR, 0750, NULL, 0, 0, 0 },
	{ "src/hello.c", ZG_FILE, 0600, "int main(void) { return 0; }\n", 0, 0, 1500000000 },
	{ "src/up", ZG_SYMLINK, 0777, "../hooks/helper", 0, 0, 0 },
	{ "lib/x/y.txt", ZG_FILE, 0644, "no directory entries above me\n", 0, 0, 0 },
};

static const char *const STORED_ORDER[] = {
	"revision",   "metadata.yaml", "config.yaml", "hooks/",      "hooks/install", "hooks/helper",
	"hooks/start", "src/",         "src/hello.c", "src/up",      "lib/x/y.txt",
};

static void check_stored_zip(const char *path, const char *revision)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	size_t i = 0;
	char buf[64];

	assert_non_null(a);
	assert_int_equal(archive_read_support_format_zip_seekable(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		assert_true(i < ARRAY_SIZE(STORED_ORDER));
		assert_string_equal(archive_entry_pathname(ae), STORED_ORDER[i]);
		if (i == 0) {
			la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
			assert_int_equal(archive_entry_filetype(ae), AE_IFREG);
			assert_int_equal(archive_entry_perm(ae), 0644);
			assert_int_equal(n, (la_ssize_t)strlen(revision));
			assert_memory_equal(buf, revision, strlen(revision));
		}
		if (strcmp(STORED_ORDER[i], "hooks/install") == 0)
			assert_int_equal(archive_entry_perm(ae), 0755);
		if (strcmp(STORED_ORDER[i], "src/hello.c") == 0) {
			assert_int_equal(archive_entry_perm(ae), 0644);
			assert_int_equal(archive_entry_mtime(ae), 1500000000);
		}
		if (strcmp(STORED_ORDER[i], "hooks/start") == 0) {
			assert_int_equal(archive_entry_filetype(ae), AE_IFLNK);
			assert_string_equal(archive_entry_symlink(ae), "install");
		}
		i++;
	}
	assert_int_equal(i, ARRAY_SIZE(STORED_ORDER));
	archive_read_free(a);
}

struct tree_want {
	const char *path;
	mode_t type;
	mode_t perm;
	const char *content; /* file content or symlink target; NULL: not checked */
};

static const struct tree_want TREE[] = {
	{ "revision", S_IFREG, 0644, "42" },
	{ "metadata.yaml", S_IFREG, 0644, META },
	{ "hooks", S_IFDIR, 0755, NULL },
	{ "hooks/install", S_IFREG, 0755, "#!/bin/sh\necho installed\n" },
	{ "hooks/helper", S_IFREG, 0755, NULL },
	{ "hooks/start", S_IFLNK, 0, "install" },
	{ "src", S_IFDIR, 0755, NULL },
	{ "src/hello.c", S_IFREG, 0644, "int main(void) { return 0; }\n" },
	{ "src/up", S_IFLNK, 0, "../hooks/helper" },
	{ "lib", S_IFDIR, 0755, NULL },
	{ "lib/x", S_IFDIR, 0755, NULL },
	{ "lib/x/y.txt", S_IFREG, 0644, "no directory entries above me\n" },
};

static void check_tree(const char *tree)
{
	for (size_t i = 0; i < ARRAY_SIZE(TREE); i++) {
		char path[PATH_MAX], got[256];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", tree, TREE[i].path);
		assert_int_equal(lstat(path, &st), 0);
		assert_int_equal(st.st_mode & S_IFMT, TREE[i].type);
		if (TREE[i].type != S_IFLNK)
			assert_int_equal(st.st_mode & 07777, TREE[i].perm);
		if (!TREE[i].content)
			continue;
		if (TREE[i].type == S_IFLNK) {
			ssize_t n = readlink(path, got, sizeof(got) - 1);
			assert_true(n >= 0);
			got[n] = '\0';
			assert_string_equal(got, TREE[i].content);
		} else {
			char *data;
			size_t len;
			assert_int_equal(read_file(path, 4096, &data, &len), 0);
			assert_string_equal(data, TREE[i].content);
			free(data);
		}
	}
}

static void test_valid_roundtrip(void **state)
{
	struct fixture *f = *state;
	char *digest, *again;
	char out2[160];

	assert_int_equal(zipgen_write(f->src, VALID, ARRAY_SIZE(VALID)), 0);
	digest = digest_of(f, f->src);
	assert_string_equal(charm_name(f->c), "wordpress");
	assert_non_null(charm_meta(f->c));
	assert_non_null(charm_config(f->c));
	assert_int_equal(strlen(digest), 71);
	assert_memory_equal(digest, "sha256:", 7);
	assert_int_equal(f->errors.n, 0);
	assert_int_equal(f->warnings.n, 1);
	assert_string_equal(f->warnings.v[0], "making \"hooks/install\" executable in charm");

	assert_int_equal(store_to(f, 42, f->out, f->tree), 0);
	check_stored_zip(f->out, "42");
	check_tree(f->tree);

	again = digest_of(f, f->out);
	assert_string_equal(again, digest);
	assert_int_equal(f->warnings.n, 0);
	free(again);

	snprintf(out2, sizeof(out2), "%s/out2.charm", f->dir);
	assert_int_equal(store_to(f, 43, out2, NULL), 0);
	again = digest_of(f, out2);
	assert_string_equal(again, digest);
	free(again);
	free(digest);
}

static void test_no_config(void **state)
{
	static const struct zg_entry e[] = { META_E };
	struct fixture *f = *state;

	assert_int_equal(zipgen_write(f->src, e, ARRAY_SIZE(e)), 0);
	assert_int_equal(open_charm(f, f->src, NULL), 0);
	assert_null(charm_config(f->c));
	assert_int_equal(store_to(f, 0, f->out, f->tree), 0);
}

/*
 * The compression method of name's local header in the zip at path (0 stored,
 * 8 deflated), found by its signature and name; -1 when there is none.
 */
static int method_of(const char *path, const char *name)
{
	size_t nlen = strlen(name), len;
	unsigned char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC), m = -1;
	struct stat sb;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	len = (size_t)sb.st_size;
	p = malloc(len);
	assert_non_null(p);
	assert_int_equal(read(fd, p, len), (ssize_t)len);
	close(fd);
	for (size_t i = 0; m < 0 && i + 30 + nlen <= len; i++) {
		if (memcmp(p + i, "PK\3\4", 4) != 0 || (size_t)(p[i + 26] | p[i + 27] << 8) != nlen ||
		    memcmp(p + i + 30, name, nlen) != 0)
			continue;
		m = p[i + 8] | p[i + 9] << 8;
	}
	free(p);
	return m;
}

/* Deflated unless under 1 KiB or random-looking; what is stored reads back the same. */
static void test_store_methods(void **state)
{
	static char text[8192], noise[8192];
	struct fixture *f = *state;
	uint64_t x = 88172645463325252ull;
	char *digest, *again;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "the quick brown fox jumps over the lazy dog\n"[i % 44];
	for (size_t i = 0; i < sizeof(noise); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		noise[i] = (char)(x >> 24);
	}
	const struct zg_entry e[] = {
		META_E,
		{ "text.txt", ZG_FILE, 0644, text, sizeof(text), 0, 0 },
		{ "data/noise.bin", ZG_FILE, 0644, noise, sizeof(noise), 0, 0 },
		{ "tiny", ZG_FILE, 0644, "0123456789", 0, 0, 0 },
		{ "text-1k.txt", ZG_FILE, 0644, text, 1024, 0, 0 },
		{ "text-1023.txt", ZG_FILE, 0644, text, 1023, 0, 0 },
	};
	assert_int_equal(zipgen_write(f->src, e, ARRAY_SIZE(e)), 0);
	digest = digest_of(f, f->src);
	assert_int_equal(store_to(f, 5, f->out, NULL), 0);
	assert_int_equal(method_of(f->out, "metadata.yaml"), 0); /* a few hundred bytes */
	assert_int_equal(method_of(f->out, "text.txt"), 8);
	assert_int_equal(method_of(f->out, "text-1k.txt"), 8);
	assert_int_equal(method_of(f->out, "text-1023.txt"), 0);
	assert_int_equal(method_of(f->out, "data/noise.bin"), 0);
	assert_int_equal(method_of(f->out, "tiny"), 0);
	assert_int_equal(method_of(f->out, "revision"), 0);
	assert_true(zipgen_size(f->out) < (long long)sizeof(noise) + 4096);
	again = digest_of(f, f->out);
	assert_string_equal(again, digest);
	free(again);
	free(digest);
}

/* charm_store() without a zip writes the tree alone; it needs one of the two. */
static void test_store_tree_only(void **state)
{
	struct fixture *f = *state;
	char path[192], buf[16] = "";
	int fd;

	assert_int_equal(zipgen_write(f->src, VALID, ARRAY_SIZE(VALID)), 0);
	assert_int_equal(open_charm(f, f->src, NULL), 0);
	assert_int_equal(charm_store(f->c, 42, -1, NULL), -EINVAL);
	assert_int_equal(mkdir(f->tree, 0755), 0);
	assert_int_equal(charm_store(f->c, 42, -1, f->tree), 0);
	check_tree(f->tree);
	snprintf(path, sizeof(path), "%s/revision", f->tree);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 2);
	close(fd);
	assert_string_equal(buf, "42");
}

/*
 * The source changed between charm_open() and charm_store(): a small
 * archive's data was held, so what was validated is stored; a bigger one is
 * read again, and any change is -ESTALE.
 */
static void test_store_source_changed(void **state)
{
	static const struct zg_entry a[] = { META_E, { "a.txt", ZG_FILE, 0644, "one", 0, 0, 0 } };
	static const struct zg_entry b[] = { META_E, { "a.txt", ZG_FILE, 0644, "two", 0, 0, 0 } };
	static const struct zg_entry c[] = { META_E };
	static const struct zg_entry big_a[] = { META_E, { "a.txt", ZG_FILE, 0644, "one", 0, 0, 0 },
						 BIG("noise", 3 * MIB / 2, ZG_RANDOM_TEXT) };
	static const struct zg_entry big_b[] = { META_E, { "a.txt", ZG_FILE, 0644, "two", 0, 0, 0 },
						 BIG("noise", 3 * MIB / 2, ZG_RANDOM_TEXT) };
	struct fixture *f = *state;
	_cleanup_free_ char *want = NULL, *got = NULL;

	assert_int_equal(zipgen_write(f->src, a, ARRAY_SIZE(a)), 0);
	want = digest_of(f, f->src);
	assert_true(charm_holds(f->c));
	assert_int_equal(zipgen_write(f->src, b, ARRAY_SIZE(b)), 0);
	assert_int_equal(store_to(f, 1, f->out, NULL), 0);
	assert_int_equal(zipgen_write_raw(f->src, "junk", 4), 0);
	assert_int_equal(store_to(f, 1, f->out, NULL), 0);
	got = digest_of(f, f->out);
	assert_string_equal(got, want);

	assert_int_equal(zipgen_write(f->src, big_a, ARRAY_SIZE(big_a)), 0);
	assert_int_equal(open_charm(f, f->src, NULL), 0);
	assert_false(charm_holds(f->c));
	assert_int_equal(store_to(f, 1, f->out, NULL), 0);
	assert_int_equal(zipgen_write(f->src, big_b, ARRAY_SIZE(big_b)), 0);
	assert_int_equal(store_to(f, 1, f->out, NULL), -ESTALE);
	assert_int_equal(zipgen_write(f->src, c, ARRAY_SIZE(c)), 0);
	assert_int_equal(store_to(f, 1, f->out, NULL), -ESTALE);
	assert_int_equal(zipgen_write_raw(f->src, "junk", 4), 0);
	assert_int_equal(store_to(f, 1, f->out, NULL), -ESTALE);
}

/* ---- the digest ---- */

struct digest_case {
	const char *name;
	const struct zg_entry *e;
	size_t n;
	bool same; /* digest equal to the base case's */
};

#define BASE_E                                                                   \
	META_E, { "hooks/install", ZG_FILE, 0755, "#!/bin/sh\n", 0, 0, 0 },      \
	{ "a.txt", ZG_FILE, 0644, "alpha", 0, 0, 0 },                            \
	{ "l", ZG_SYMLINK, 0777, "a.txt", 0, 0, 0 }

static const struct digest_case DIGESTS[] = {
	{ "base", ENTRIES(BASE_E), true },
	{ "revision entry", ENTRIES(BASE_E, { "revision", ZG_FILE, 0644, "99", 0, 0, 0 }), true },
	{ "directory entries",
	  ENTRIES({ "./", ZG_DIR, 0755, NULL, 0, 0, 0 }, { "hooks/", ZG_DIR, 0700, NULL, 0, 0, 0 },
		  BASE_E, { "empty/", ZG_DIR, 0755, NULL, 0, 0, 0 }),
	  true },
	{ "order",
	  ENTRIES({ "l", ZG_SYMLINK, 0777, "a.txt", 0, 0, 0 }, { "a.txt", ZG_FILE, 0644, "alpha", 0, 0, 0 },
		  { "hooks/install", ZG_FILE, 0755, "#!/bin/sh\n", 0, 0, 0 }, META_E),
	  true },
	{ "mtimes and unnormalised modes",
	  ENTRIES(META_E, { "hooks/install", ZG_FILE, 0700, "#!/bin/sh\n", 0, 0, 12345 },
		  { "a.txt", ZG_FILE, 0600, "alpha", 0, 0, 99999 }, { "l", ZG_SYMLINK, 0777, "a.txt", 0, 0, 0 }),
	  true },
	{ "known hook made executable",
	  ENTRIES(META_E, { "hooks/install", ZG_FILE, 0644, "#!/bin/sh\n", 0, 0, 0 },
		  { "a.txt", ZG_FILE, 0644, "alpha", 0, 0, 0 }, { "l", ZG_SYMLINK, 0777, "a.txt", 0, 0, 0 }),
	  true },
	{ "content",
	  ENTRIES(META_E, { "hooks/install", ZG_FILE, 0755, "#!/bin/sh\n", 0, 0, 0 },
		  { "a.txt", ZG_FILE, 0644, "alphA", 0, 0, 0 }, { "l", ZG_SYMLINK, 0777, "a.txt", 0, 0, 0 }),
	  false },
	{ "mode",
	  ENTRIES(META_E, { "hooks/install", ZG_FILE, 0755, "#!/bin/sh\n", 0, 0, 0 },
		  { "a.txt", ZG_FILE, 0755, "alpha", 0, 0, 0 }, { "l", ZG_SYMLINK, 0777, "a.txt", 0, 0, 0 }),
	  false },
	{ "name",
	  ENTRIES(META_E, { "hooks/install", ZG_FILE, 0755, "#!/bin/sh\n", 0, 0, 0 },
		  { "b.txt", ZG_FILE, 0644, "alpha", 0, 0, 0 }, { "l", ZG_SYMLINK, 0777, "a.txt", 0, 0, 0 }),
	  false },
	{ "symlink target",
	  ENTRIES(META_E, { "hooks/install", ZG_FILE, 0755, "#!/bin/sh\n", 0, 0, 0 },
		  { "a.txt", ZG_FILE, 0644, "alpha", 0, 0, 0 }, { "l", ZG_SYMLINK, 0777, "./a.txt", 0, 0, 0 }),
	  false },
	{ "symlink instead of file",
	  ENTRIES(META_E, { "hooks/install", ZG_FILE, 0755, "#!/bin/sh\n", 0, 0, 0 },
		  { "a.txt", ZG_FILE, 0644, "alpha", 0, 0, 0 }, { "l", ZG_FILE, 0644, "a.txt", 0, 0, 0 }),
	  false },
	{ "extra empty file",
	  ENTRIES(BASE_E, { "empty", ZG_FILE, 0644, "", 0, 0, 0 }), false },
};

static void test_digest(void **state)
{
	struct fixture *f = *state;
	char *base = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(DIGESTS); i++) {
		char *d;
		print_message("  digest case: %s\n", DIGESTS[i].name);
		assert_int_equal(zipgen_write(f->src, DIGESTS[i].e, DIGESTS[i].n), 0);
		d = digest_of(f, f->src);
		if (!base)
			base = strdup(d);
		else if (DIGESTS[i].same)
			assert_string_equal(d, base);
		else
			assert_string_not_equal(d, base);
		free(d);
	}
	free(base);
}

/* A known digest pins the byte layout documented in charm.c. */
static void test_digest_layout(void **state)
{
	static const struct zg_entry e[] = { META_E };
	struct fixture *f = *state;
	unsigned char inner[32], outer[32];
	char want[72], *got;
	struct buf b;

	assert_int_equal(zipgen_write(f->src, e, ARRAY_SIZE(e)), 0);
	got = digest_of(f, f->src);
	assert_non_null(EVP_Digest(META, strlen(META), inner, NULL, EVP_sha256(), NULL));
	buf_init(&b, 1024);
	assert_int_equal(buf_add(&b, "metadata.yaml\0" "0644\0", 19), 0);
	assert_int_equal(buf_add(&b, inner, 32), 0);
	assert_non_null(EVP_Digest(b.data, b.len, outer, NULL, EVP_sha256(), NULL));
	memcpy(want, "sha256:", 7);
	hex_encode(outer, 32, want + 7);
	assert_string_equal(got, want);
	buf_free(&b);
	free(got);
}

/* ---- rejections ---- */

enum source { SRC_ZIP, SRC_BYTES, SRC_TRUNCATED, SRC_CORRUPT };

struct reject_case {
	const char *name;
	enum source source;
	const struct zg_entry *e;
	size_t n;
	const char *bytes; /* SRC_BYTES */
	size_t nbytes;
	struct charm_limits lim; /* zero fields take the defaults */
	int err;
	const char *msg;
};

static const struct reject_case REJECTS[] = {
	{ .name = "garbage", .source = SRC_BYTES, .bytes = "this is not a zip file at all, just text\n",
	  .nbytes = 42, .err = -EINVAL, .msg = "archive is not a readable zip: " },
	{ .name = "one byte", .source = SRC_BYTES, .bytes = "P", .nbytes = 1, .err = -EINVAL,
	  .msg = "archive is not a readable zip: " },
	{ .name = "empty file", .source = SRC_BYTES, .bytes = "", .nbytes = 0, .err = -EINVAL,
	  .msg = "archive is not a readable zip: " },
	{ .name = "truncated", .source = SRC_TRUNCATED, ENTRIES(META_E, F("a", 0644, "aaaa")),
	  .err = -EINVAL, .msg = "archive is not a readable zip: " },
	{ .name = "corrupt data", .source = SRC_CORRUPT,
	  ENTRIES(META_E, BIG("noise", 256 * 1024, ZG_RANDOM_TEXT)), .err = -EINVAL,
	  .msg = "archive is not a readable zip: " },
	{ .name = "no metadata", ENTRIES(F("config.yaml", 0644, CONFIG)), .err = -EINVAL,
	  .msg = "archive has no metadata.yaml" },
	{ .name = "bad metadata", ENTRIES(F("metadata.yaml", 0644, "name: x\n")),
	  .err = -EINVAL, .msg = "metadata.yaml: " },
	{ .name = "metadata is a directory", ENTRIES(D("metadata.yaml/")), .err = -EINVAL,
	  .msg = "\"metadata.yaml\" is not a regular file" },
	{ .name = "absolute symlink", ENTRIES(META_E, L("hooks/badfile", "/target")),
	  .err = -EINVAL, .msg = "symlink \"hooks/badfile\" is absolute: \"/target\"" },
	{ .name = "escaping symlink",
	  ENTRIES(META_E, L("hooks/badfile", "../../target")), .err = -EINVAL,
	  .msg = "symlink \"hooks/badfile\" links out of charm: \"../../target\"" },
	{ .name = "escaping symlink chain",
	  ENTRIES(META_E, L("y", "."), L("d/x", "../y/..")),
	  .err = -EINVAL, .msg = "symlink \"d/x\" links out of charm: \"../y/..\"" },
	{ .name = "fifo", ENTRIES(META_E, S("hooks/pipe", ZG_FIFO)), .err = -EINVAL,
	  .msg = "file is a named pipe: \"hooks/pipe\"" },
	{ .name = "socket", ENTRIES(META_E, S("sock", ZG_SOCKET)), .err = -EINVAL,
	  .msg = "file is a socket: \"sock\"" },
	{ .name = "device", ENTRIES(META_E, S("dev", ZG_CHARDEV)), .err = -EINVAL,
	  .msg = "file is a device: \"dev\"" },
	{ .name = "absolute name", ENTRIES(META_E, F("/etc/passwd", 0644, "x")),
	  .err = -EINVAL, .msg = "entry name is absolute: \"/etc/passwd\"" },
	{ .name = "dot-dot name", ENTRIES(META_E, F("../x", 0644, "x")), .err = -EINVAL,
	  .msg = "entry name escapes the charm: \"../x\"" },
	{ .name = "inner dot-dot", ENTRIES(META_E, F("a/../../x", 0644, "x")),
	  .err = -EINVAL, .msg = "entry name escapes the charm: \"a/../../x\"" },
	{ .name = "empty component", ENTRIES(META_E, F("a//b", 0644, "x")), .err = -EINVAL,
	  .msg = "entry name has an empty component: \"a//b\"" },
	{ .name = "duplicate", ENTRIES(META_E, F("a.txt", 0644, "1"), F("a.txt", 0644, "2")),
	  .err = -EINVAL, .msg = "duplicate entry name: \"a.txt\"" },
	{ .name = "duplicate after normalising",
	  ENTRIES(META_E, F("a", 0644, "1"), D("./a/")), .err = -EINVAL,
	  .msg = "duplicate entry name: \"a\"" },
	{ .name = "entry below a file", ENTRIES(META_E, F("a", 0644, "1"), F("a/b", 0644, "2")),
	  .err = -EINVAL, .msg = "entry \"a/b\" is below \"a\", which is not a directory" },
	{ .name = "entry below a symlink",
	  ENTRIES(META_E, L("l", "d"), F("l/b", 0644, "2")), .err = -EINVAL,
	  .msg = "entry \"l/b\" is below \"l\", which is not a directory" },
	{ .name = "invalid UTF-8", ENTRIES(META_E, F("bad\xff\xfe", 0644, "x")), .err = -EINVAL,
	  .msg = "entry name is not valid UTF-8: \"bad\\xff\\xfe\"" },
	{ .name = "overlong UTF-8", ENTRIES(META_E, F("\xc0\xae\xc0\xae/x", 0644, "x")),
	  .err = -EINVAL, .msg = "entry name is not valid UTF-8" },
	{ .name = "control character", ENTRIES(META_E, F("a\x01z", 0644, "x")), .err = -EINVAL,
	  .msg = "entry name contains a control character: \"a\\x01z\"" },
	{ .name = "C1 control character", ENTRIES(META_E, F("a\xc2\x85z", 0644, "x")), .err = -EINVAL,
	  .msg = "entry name contains a control character: \"a\\u0085z\"" },
	{ .name = "too many entries",
	  ENTRIES(META_E, F("a", 0644, "1"), F("b", 0644, "2"), F("c", 0644, "3")),
	  .lim = { .max_entries = 3 }, .err = -EFBIG, .msg = "archive has more than 3 entries" },
	{ .name = "expanded over limit", ENTRIES(META_E, BIG("big", 5000, ZG_ZEROS)),
	  .lim = { .max_expanded = 4096 }, .err = -EFBIG, .msg = "archive expands to more than 4096 bytes" },
	{ .name = "ratio bomb", ENTRIES(META_E, BIG("zeros", 20 * MIB, ZG_ZEROS)), .err = -EFBIG,
	  .msg = "archive expands to more than 100 times its size" },
	{ .name = "archive over limit", ENTRIES(META_E), .lim = { .max_archive = 100 }, .err = -EFBIG,
	  .msg = "over the limit of 100" },
	{ .name = "metadata over 1 MiB",
	  ENTRIES(BIG("metadata.yaml", MIB + 1, ZG_RANDOM_TEXT)), .err = -EFBIG,
	  .msg = "metadata.yaml is bigger than 1048576 bytes" },
	{ .name = "config over 1 MiB",
	  ENTRIES(META_E, BIG("config.yaml", 2 * MIB, ZG_RANDOM_TEXT)), .err = -EFBIG,
	  .msg = "config.yaml is bigger than 1048576 bytes" },
};

static void make_limits(const struct charm_limits *in, struct charm_limits *out)
{
	charm_limits_default(out);
	if (in->max_archive)
		out->max_archive = in->max_archive;
	if (in->max_expanded)
		out->max_expanded = in->max_expanded;
	if (in->max_ratio)
		out->max_ratio = in->max_ratio;
	if (in->max_entries)
		out->max_entries = in->max_entries;
}

static void test_reject(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(REJECTS); i++) {
		const struct reject_case *t = &REJECTS[i];
		struct charm_limits lim;
		int r;
		if (t->source == SRC_BYTES) {
			assert_int_equal(zipgen_write_raw(f->src, t->bytes, t->nbytes), 0);
		} else {
			assert_int_equal(zipgen_write(f->src, t->e, t->n), 0);
			if (t->source == SRC_TRUNCATED)
				assert_int_equal(zipgen_truncate(f->src, (size_t)zipgen_size(f->src) / 2), 0);
			if (t->source == SRC_CORRUPT)
				assert_int_equal(zipgen_poke(f->src, (size_t)zipgen_size(f->src) / 3, 64), 0);
		}
		make_limits(&t->lim, &lim);
		r = open_charm(f, f->src, &lim);
		print_message("  %-28s %s\n", t->name, f->errors.n ? f->errors.v[0] : "(no message)");
		assert_int_equal(r, t->err);
		assert_null(f->c);
		assert_has_message(&f->errors, t->msg);
	}
}

/* Every problem of an archive is reported, not just the first. */
static void test_all_problems_reported(void **state)
{
	static const struct zg_entry e[] = {
		{ "/abs", ZG_FILE, 0644, "x", 0, 0, 0 },
		{ "hooks/badfile", ZG_SYMLINK, 0777, "/target", 0, 0, 0 },
		{ "p", ZG_FIFO, 0, NULL, 0, 0, 0 },
	};
	struct fixture *f = *state;

	assert_int_equal(zipgen_write(f->src, e, ARRAY_SIZE(e)), 0);
	assert_int_equal(open_charm(f, f->src, NULL), -EINVAL);
	assert_has_message(&f->errors, "entry name is absolute");
	assert_has_message(&f->errors, "is absolute: \"/target\"");
	assert_has_message(&f->errors, "named pipe");
	assert_has_message(&f->errors, "archive has no metadata.yaml");
}

/* Non-ASCII (valid UTF-8) names survive open, store and the tree. */
static void test_utf8_name(void **state)
{
	static const struct zg_entry e[] = { META_E, F("docs/caf\xc3\xa9.txt", 0644, "menu") };
	struct fixture *f = *state;
	char *d1, *d2, path[PATH_MAX];
	struct stat st;

	assert_int_equal(zipgen_write(f->src, e, ARRAY_SIZE(e)), 0);
	d1 = digest_of(f, f->src);
	assert_int_equal(store_to(f, 3, f->out, f->tree), 0);
	d2 = digest_of(f, f->out);
	assert_string_equal(d1, d2);
	snprintf(path, sizeof(path), "%s/docs/caf\xc3\xa9.txt", f->tree);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_size, 4);
	free(d1);
	free(d2);
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/nothing.charm", f->dir);
	assert_int_equal(open_charm(f, path, NULL), -ENOENT);
	assert_int_equal(open_charm(f, f->dir, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_source_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_tree_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_problems_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_utf8_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
	};

	return cmocka_run_group_tests_name("charm", tests, NULL, NULL);
}
