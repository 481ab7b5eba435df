/*
 * Unit tests for upgrade/serve.c: a real STOREDIR in a fresh temporary
 * directory, its releases/ made file by file for each case, and every
 * document checked by decoding it back with release.h's decoders (what a
 * client does): the order by precedence, names that are not versions,
 * versions without a release (none, a directory, a link), equal
 * precedences, no versions at all, signatures good and bad, the archive's
 * descriptor, the name rules and the cap on versions.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
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

#include "release.h"
#include "serve.h"
#include "banned.h"

static char store[64];

static const char *rpath(const char *rel)
{
	static char paths[8][512];
	static unsigned slot;
	char *p = paths[slot++ % 8];

	snprintf(p, 512, "%s/releases%s%s", store, rel[0] ? "/" : "", rel);
	return p;
}

static void mkdir_rel(const char *rel)
{
	assert_int_equal(mkdir(rpath(rel), 0755), 0);
}

static void write_rel(const char *rel, const char *text)
{
	int fd = open(rpath(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	assert_int_equal(close(fd), 0);
}

/* A version directory with a release archive holding text. */
static void add_version(const char *version, const char *text)
{
	char rel[256];

	mkdir_rel(version);
	snprintf(rel, sizeof(rel), "%s/release", version);
	write_rel(rel, text);
}

static int setup(void **state)
{
	(void)state;
	snprintf(store, sizeof(store), "/tmp/charmfs-serve.XXXXXX");
	assert_non_null(mkdtemp(store));
	assert_int_equal(mkdir(rpath(""), 0755), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(rm_rf(store), 0);
	return 0;
}

/* The versions document, decoded back, joined by spaces. */
static char *versions_text(void)
{
	struct strv v = { 0 };
	char *doc, err[256], *joined;

	assert_int_equal(serve_versions(store, &doc), 0);
	assert_int_equal(release_parse_versions(doc, strlen(doc), &v, err, sizeof(err)), 0);
	assert_true(doc[strlen(doc) - 1] == '\n');
	free(doc);
	joined = strv_join(&v, " ");
	assert_non_null(joined);
	strv_clear(&v);
	return joined;
}

/* The latest document, decoded back (a new string), or NULL for -ENOENT. */
static char *latest_text(void)
{
	char *doc, err[256], *v;
	int r = serve_latest(store, &doc);

	if (r == -ENOENT)
		return NULL;
	assert_int_equal(r, 0);
	assert_int_equal(release_parse_latest(doc, strlen(doc), &v, err, sizeof(err)), 0);
	free(doc);
	return v;
}

static void expect_served(const char *want_versions, const char *want_latest)
{
	char *v = versions_text(), *l = latest_text();

	assert_string_equal(v, want_versions);
	if (want_latest)
		assert_string_equal(l ? l : "(none)", want_latest);
	else
		assert_null(l);
	free(v);
	free(l);
}

/* The VERSION document of version, decoded back; its result. */
static int upgrade_doc(const char *version, struct release_upgrade *ret)
{
	char *doc, err[256];
	int r = serve_upgrade(store, version, &doc, err, sizeof(err));

	if (r < 0) {
		assert_true(err[0] != '\0');
		return r;
	}
	assert_int_equal(release_parse_upgrade(doc, strlen(doc), ret, err, sizeof(err)), 0);
	assert_null(strstr(doc, "transaction_id"));
	free(doc);
	return 0;
}

static void test_no_versions(void **state)
{
	struct release_upgrade u;
	struct stat st;
	int fd;

	(void)state;
	expect_served("", NULL);
	assert_int_equal(upgrade_doc("1.0.0", &u), -ENOENT);
	assert_int_equal(serve_open_release(store, "1.0.0", &fd, &st), -ENOENT);
	/* No releases/ at all: the same, and nothing is made by reading. */
	assert_int_equal(rm_rf(rpath("")), 0);
	expect_served("", NULL);
	assert_int_equal(upgrade_doc("1.0.0", &u), -ENOENT);
	assert_int_equal(serve_open_release(store, "1.0.0", &fd, &st), -ENOENT);
	assert_int_equal(serve_version_check(store, "1.0.0", NULL), 0);
	assert_int_equal(access(rpath(""), F_OK), -1);
	/* serve_dir_at() makes it. */
	assert_int_equal(serve_dir_at(store, &fd), 0);
	close(fd);
	assert_int_equal(stat(rpath(""), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	expect_served("", NULL);
}

static void test_order(void **state)
{
	/* Created in this order; served by precedence (semver.org §11). */
	static const char *const made[] = {
		"1.0.0",	 "10.0.0",	 "1.0.0-rc.1",	  "0.9.10",
		"1.0.0-alpha.beta", "1.0.0-beta", "2.0.0",	  "0.9.9",
		"1.0.0-alpha.1", "1.0.0-alpha",	 "1.0.0-beta.11", "1.0.0-beta.2",
		"0.0.1+build.5",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(made); i++)
		add_version(made[i], made[i]);
	expect_served("0.0.1+build.5 0.9.9 0.9.10 1.0.0-alpha 1.0.0-alpha.1 1.0.0-alpha.beta "
		      "1.0.0-beta 1.0.0-beta.2 1.0.0-beta.11 1.0.0-rc.1 1.0.0 2.0.0 10.0.0",
		      "10.0.0");
}

static void test_skipped(void **state)
{
	static const char *const not_versions[] = {
		"v1.0.0", "01.0.0", "1.0", "1.0.0.0", "latest", "1.0.0-", "1.0.0-01", "versions",
	};
	static const char *const unserved[] = {
		"2.0.0", "2.1.0", "2.2.0", "2.3.0", "2.4.0", "2.5.0",
		"v1.0.0", "01.0.0", "../releases/1.0.0", "", "3.0.0",
	};
	struct release_upgrade u;
	struct stat st;
	int fd;

	(void)state;
	add_version("1.0.0", "one");
	for (size_t i = 0; i < ARRAY_SIZE(not_versions); i++)
		add_version(not_versions[i], "x");
	mkdir_rel("2.0.0");				  /* no release */
	mkdir_rel("2.1.0");				  /* release is a directory */
	mkdir_rel("2.1.0/release");
	add_version("2.2.0", "two");			  /* release is a link */
	assert_int_equal(rename(rpath("2.2.0/release"), rpath("2.2.0/real")), 0);
	assert_int_equal(symlink("real", rpath("2.2.0/release")), 0);
	assert_int_equal(symlink("1.0.0", rpath("2.3.0")), 0); /* the version is a link */
	write_rel("2.4.0", "a file, not a directory");
	mkdir_rel("2.5.0");				  /* only a temporary of cp */
	write_rel("2.5.0/.release.tmp", "half");
	expect_served("1.0.0", "1.0.0");

	for (size_t i = 0; i < ARRAY_SIZE(unserved); i++) {
		assert_int_equal(upgrade_doc(unserved[i], &u), -ENOENT);
		assert_int_equal(serve_open_release(store, unserved[i], &fd, &st), -ENOENT);
	}
	/* Once the release is there, it is served. */
	write_rel("2.0.0/release", "two");
	expect_served("1.0.0 2.0.0", "2.0.0");
}

static void test_same_precedence(void **state)
{
	struct release_upgrade u;

	(void)state;
	add_version("1.0.0+b", "b");
	add_version("1.0.0+a", "a");
	add_version("0.1.0", "old");
	/* One of them only, the first by name: a client refuses a list with both. */
	expect_served("0.1.0 1.0.0+a", "1.0.0+a");
	assert_int_equal(upgrade_doc("1.0.0+b", &u), -ENOENT);
	assert_int_equal(upgrade_doc("1.0.0+a", &u), 0);
	assert_string_equal(u.flist, "1.0.0+a/release");
	release_upgrade_free(&u);

	assert_int_equal(serve_version_check(store, "1.0.0+c", NULL), -EEXIST);
	assert_int_equal(serve_version_check(store, "1.0.0", NULL), -EEXIST);
	assert_int_equal(serve_version_check(store, "1.0.0+a", NULL), -EEXIST); /* +b */
	assert_int_equal(serve_version_check(store, "1.0.0", "1.0.0+a"), -EEXIST); /* +b stays */
	assert_int_equal(rm_rf(rpath("1.0.0+b")), 0);
	assert_int_equal(serve_version_check(store, "1.0.0", "1.0.0+a"), 0); /* a rename */
	assert_int_equal(serve_version_check(store, "1.0.0+a", NULL), 0); /* that name itself */
	assert_int_equal(serve_version_check(store, "1.1.0", NULL), 0);
	assert_int_equal(serve_version_check(store, "v1.1.0", NULL), -EINVAL);
	/* A directory without release counts too: it is about to be served. */
	mkdir_rel("2.0.0+x");
	assert_int_equal(serve_version_check(store, "2.0.0", NULL), -EEXIST);
}

static void test_signature(void **state)
{
	static const struct {
		const char *file; /* NULL: none */
		int r;
		const char *want; /* NULL: absent */
	} cases[] = {
		{ NULL, 0, NULL },
		{ "", 0, NULL },
		{ " \n", 0, NULL },
		{ "00ff\n", 0, "00ff" },
		{ "  ABCdef0123456789\r\n", 0, "ABCdef0123456789" },
		{ "00ff\n00ff\n", -EBADMSG, NULL },
		{ "not hex\n", -EBADMSG, NULL },
		{ "00 ff", -EBADMSG, NULL },
	};
	struct release_upgrade u;
	char big[RELEASE_SIGNATURE_MAX + 2];

	(void)state;
	add_version("1.2.3-rc.1", "archive");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		(void)unlink(rpath("1.2.3-rc.1/signature"));
		if (cases[i].file)
			write_rel("1.2.3-rc.1/signature", cases[i].file);
		assert_int_equal(upgrade_doc("1.2.3-rc.1", &u), cases[i].r);
		if (cases[i].r < 0)
			continue;
		assert_string_equal(u.flist, "1.2.3-rc.1/release");
		if (cases[i].want)
			assert_string_equal(u.signature ? u.signature : "(none)", cases[i].want);
		else
			assert_null(u.signature);
		assert_null(u.transaction_id);
		release_upgrade_free(&u);
	}
	/* The limit is on the file: RELEASE_SIGNATURE_MAX bytes, white space included. */
	memset(big, 'a', sizeof(big) - 1);
	big[RELEASE_SIGNATURE_MAX] = '\0';
	write_rel("1.2.3-rc.1/signature", big);
	assert_int_equal(upgrade_doc("1.2.3-rc.1", &u), 0);
	assert_int_equal(strlen(u.signature), RELEASE_SIGNATURE_MAX);
	release_upgrade_free(&u);
	big[RELEASE_SIGNATURE_MAX] = '\n';
	big[RELEASE_SIGNATURE_MAX + 1] = '\0';
	write_rel("1.2.3-rc.1/signature", big);
	assert_int_equal(upgrade_doc("1.2.3-rc.1", &u), -EFBIG);
	/* Not a regular file: a directory, a link. */
	assert_int_equal(unlink(rpath("1.2.3-rc.1/signature")), 0);
	mkdir_rel("1.2.3-rc.1/signature");
	assert_int_equal(upgrade_doc("1.2.3-rc.1", &u), -EBADMSG);
	assert_int_equal(rmdir(rpath("1.2.3-rc.1/signature")), 0);
	write_rel("1.2.3-rc.1/sig", "00ff\n");
	assert_int_equal(symlink("sig", rpath("1.2.3-rc.1/signature")), 0);
	assert_int_equal(upgrade_doc("1.2.3-rc.1", &u), -EBADMSG);
	/* The versions document does not look at signatures. */
	expect_served("1.2.3-rc.1", "1.2.3-rc.1");
}

static void test_open_release(void **state)
{
	static const char text[] = "the release archive's bytes\n";
	char got[64];
	struct stat st;
	int fd;

	(void)state;
	add_version("0.3.0", text);
	assert_int_equal(serve_open_release(store, "0.3.0", &fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)strlen(text));
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(read(fd, got, sizeof(got)), (ssize_t)strlen(text));
	assert_memory_equal(got, text, strlen(text));
	close(fd);
	/* Removed: no longer served. */
	assert_int_equal(unlink(rpath("0.3.0/release")), 0);
	assert_int_equal(serve_open_release(store, "0.3.0", &fd, &st), -ENOENT);
}

static void test_names(void **state)
{
	static const struct {
		const char *name;
		bool version, file;
	} cases[] = {
		{ "1.0.0", true, false },	  { "1.0.0-rc.1+b.2", true, false },
		{ "v1.0.0", false, false },	  { "release", false, true },
		{ "signature", false, true },	  { ".release.XXXXXX", false, true },
		{ ".signature", false, true },	  { ".", false, false },
		{ "..", false, false },		  { "release~", false, false },
		{ "releases", false, false },	  { "", false, false },
		{ "Release", false, false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(serve_version_name(cases[i].name), cases[i].version);
		assert_int_equal(serve_file_name(cases[i].name), cases[i].file);
	}
}

static void test_cap(void **state)
{
	char name[32], *v;

	(void)state;
	for (int i = 0; i <= RELEASE_VERSIONS_MAX; i++) {
		snprintf(name, sizeof(name), "0.0.%d", i);
		add_version(name, "");
	}
	/* The highest RELEASE_VERSIONS_MAX: 0.0.0 is left out. */
	v = versions_text();
	assert_int_equal(strncmp(v, "0.0.1 0.0.2 ", 12), 0);
	free(v);
	v = latest_text();
	snprintf(name, sizeof(name), "0.0.%d", RELEASE_VERSIONS_MAX);
	assert_string_equal(v, name);
	free(v);
	assert_int_equal(serve_version_check(store, "1.0.0", NULL), -EMLINK);
	assert_int_equal(serve_version_check(store, "1.0.0", "0.0.0"), -EMLINK);
	assert_int_equal(rm_rf(rpath("0.0.0")), 0);
	assert_int_equal(serve_version_check(store, "1.0.0", "0.0.1"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
