/*
 * Unit tests for upgrade/release*.c, table-driven: semantic versions and
 * Z5's choice of versions to apply, the publisher's documents and
 * packages.json (decoders and encoders), Ed25519 signatures (real key files,
 * cross-checked with the openssl command in both directions) and release
 * archives built with the real tar and zip commands in a fresh temporary
 * directory, good and hostile.
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
#include "banned.h"

static char tmpdir[64];

/* Runs a shell command in tmpdir; returns its exit status. */
static int sh(const char *fmt, ...) PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[4096], full[4200];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && { %s ; } >/dev/null 2>&1", tmpdir, cmd);
	st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static const char *tpath(const char *name)
{
	static char paths[8][256];
	static unsigned slot;
	char *p = paths[slot++ % 8];

	snprintf(p, 256, "%s/%s", tmpdir, name);
	return p;
}

static struct release_version V(const char *s)
{
	struct release_version v;

	assert_int_equal(release_version_parse(s, &v), 0);
	return v;
}

/* ---- versions ------------------------------------------------------------ */

static void test_version_parse(void **state)
{
	static const struct {
		const char *s;
		int r;
	} cases[] = {
		{ "0.0.0", 0 },
		{ "1.2.3", 0 },
		{ "10.20.30", 0 },
		{ "1.0.0-alpha", 0 },
		{ "1.0.0-alpha.1", 0 },
		{ "1.0.0-0.3.7", 0 },
		{ "1.0.0-x.7.z.92", 0 },
		{ "1.0.0-x-y-z.--", 0 },
		{ "1.0.0+20130313144700", 0 },
		{ "1.0.0-beta+exp.sha.5114f85", 0 },
		{ "1.0.0+21AF26D3----117B344092BD", 0 },
		{ "1.0.0+001", 0 }, /* leading zeros are fine in build metadata */
		{ "18446744073709551615.0.0", 0 },
		{ "18446744073709551616.0.0", -EINVAL },
		{ "v1.0.0", -EINVAL },
		{ "", -EINVAL },
		{ "1", -EINVAL },
		{ "1.0", -EINVAL },
		{ "1.0.0.0", -EINVAL },
		{ "01.0.0", -EINVAL },
		{ "1.01.0", -EINVAL },
		{ "1.0.00", -EINVAL },
		{ "1.0.0-", -EINVAL },
		{ "1.0.0+", -EINVAL },
		{ "1.0.0-01", -EINVAL },
		{ "1.0.0-a..b", -EINVAL },
		{ "1.0.0-a.", -EINVAL },
		{ "1.0.0-a_b", -EINVAL },
		{ "1.0.0+a+b", -EINVAL },
		{ " 1.0.0", -EINVAL },
		{ "1.0.0 ", -EINVAL },
		{ "1.0.0\n", -EINVAL },
		{ "-1.0.0", -EINVAL },
		{ "+1.0.0", -EINVAL },
		{ "1.0.0-é", -EINVAL },
	};
	char long_ok[RELEASE_VERSION_MAX + 1], long_bad[RELEASE_VERSION_MAX + 2], out[300];
	struct release_version v;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r = release_version_parse(cases[i].s, &v);
		if (r != cases[i].r)
			fail_msg("%s: %d, not %d", cases[i].s, r, cases[i].r);
		if (r == 0) {
			release_version_format(&v, out, sizeof(out));
			assert_string_equal(out, cases[i].s);
		}
	}
	assert_int_equal(release_version_parse(NULL, &v), -EINVAL);
	memset(long_ok, 'a', sizeof(long_ok));
	memcpy(long_ok, "1.0.0-", 6);
	long_ok[RELEASE_VERSION_MAX] = 0;
	assert_int_equal(release_version_parse(long_ok, &v), 0);
	memset(long_bad, 'a', sizeof(long_bad));
	memcpy(long_bad, "1.0.0-", 6);
	long_bad[RELEASE_VERSION_MAX + 1] = 0;
	assert_int_equal(release_version_parse(long_bad, &v), -EINVAL);
	v = V("2.3.4-rc.1+b7");
	assert_true(v.major == 2 && v.minor == 3 && v.patch == 4);
	assert_string_equal(v.pre, "rc.1");
	assert_string_equal(v.build, "b7");
}

static void test_version_cmp(void **state)
{
	/* semver.org §11's examples, ascending. */
	static const char *const order[] = {
		"0.0.0",	 "0.0.1",	     "0.1.0",	      "0.9.0",	    "0.10.0",
		"1.0.0-0",	 "1.0.0-2",	     "1.0.0-10",      "1.0.0-alpha", "1.0.0-alpha.1",
		"1.0.0-alpha.beta", "1.0.0-beta",    "1.0.0-beta.2",  "1.0.0-beta.11",
		"1.0.0-rc.1",	 "1.0.0",	     "1.0.1",	      "1.1.0",	    "2.0.0",
		"2.1.0",	 "2.1.1",	     "10.0.0",	      "99999999999999999999.0.0-x" + 2,
	};
	struct release_version a, b;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(order); j++) {
			a = V(order[i]);
			b = V(order[j]);
			int c = release_version_cmp(&a, &b);
			int want = i < j ? -1 : i > j;
			if ((c > 0) - (c < 0) != want)
				fail_msg("%s vs %s: %d", order[i], order[j], c);
		}
	}
	a = V("1.0.0+a");
	b = V("1.0.0+b");
	assert_int_equal(release_version_cmp(&a, &b), 0);
	a = V("1.0.0-rc.1+x");
	b = V("1.0.0-rc.1");
	assert_int_equal(release_version_cmp(&a, &b), 0);
	a = V("1.0.0-1111111111111111111111111");
	b = V("1.0.0-999999999999999999999999");
	assert_true(release_version_cmp(&a, &b) > 0);
}

static void test_versions_to_apply(void **state)
{
	static const char *const z5[] = { "0.0.1", "0.0.2", "0.1.0", "0.1.1" };
	static const char *const shuffled[] = { "0.1.1", "0.0.2", "1.0.0-rc.1", "0.0.1",
						"1.0.0", "0.1.0", "0.10.0" };
	static const char *const dup[] = { "0.0.1", "0.0.2", "0.0.1" };
	static const char *const dup_build[] = { "1.0.0+a", "1.0.0+b" };
	static const char *const garbage[] = { "0.0.1", "latest", "0.1.0" };
	static const struct {
		const char *current, *latest;
		const char *const *versions;
		size_t n;
		int r;
		const char *want; /* joined by spaces */
	} cases[] = {
		{ "0.0.1", "0.1.0", z5, 4, 0, "0.0.2 0.1.0" }, /* Z5 */
		{ "0.1.1", "0.1.0", z5, 4, 0, "" },	       /* Z5: current > latest */
		{ "0.1.0", "0.1.0", z5, 4, 0, "" },
		{ "0.0.0", "0.1.1", z5, 4, 0, "0.0.1 0.0.2 0.1.0 0.1.1" },
		{ "0.0.2", "0.0.2", z5, 4, 0, "" },
		{ "0.0.1", "0.2.0", z5, 4, -ENOENT, NULL },
		{ "0.0.3", "0.1.1", z5, 4, 0, "0.1.0 0.1.1" },	/* current not listed */
		{ "0.0.1", "1.0.0", shuffled, 7, 0, "0.0.2 0.1.0 0.1.1 0.10.0 1.0.0-rc.1 1.0.0" },
		{ "1.0.0-rc.1", "1.0.0", shuffled, 7, 0, "1.0.0" },
		{ "0.0.1", "0.10.0", shuffled, 7, 0, "0.0.2 0.1.0 0.1.1 0.10.0" },
		{ "0.0.0", "0.0.2", dup, 3, -EBADMSG, NULL },
		{ "0.0.0", "1.0.0", dup_build, 2, -EBADMSG, NULL },
		{ "0.0.0", "0.1.0", garbage, 3, -EBADMSG, NULL },
		{ "0.0.0", "0.1.0", NULL, 0, -ENOENT, NULL },
		{ "1.0.0", "0.1.0", NULL, 0, 0, "" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct release_version cur = V(cases[i].current), lat = V(cases[i].latest);
		struct strv out = { 0 };
		char err[256] = "";
		int r = release_versions_to_apply(&cur, &lat, cases[i].versions, cases[i].n, &out,
						  err, sizeof(err));
		if (r != cases[i].r)
			fail_msg("case %zu: %d (%s), not %d", i, r, err, cases[i].r);
		if (r < 0) {
			assert_true(err[0]);
			if (r == -ENOENT)
				assert_non_null(strstr(err, "has not been found in available versions"));
			continue;
		}
		char *joined = strv_join(&out, " ");
		assert_non_null(joined);
		if (strcmp(joined, cases[i].want))
			fail_msg("case %zu: [%s], not [%s]", i, joined, cases[i].want);
		free(joined);
		strv_clear(&out);
	}
}

/* ---- documents ----------------------------------------------------------- */

static void test_parse_versions(void **state)
{
	static const struct {
		const char *doc;
		int r;
		size_t n;
	} cases[] = {
		{ "[\"0.0.1\",\"0.0.2\",\"0.1.0\"]", 0, 3 },
		{ " [ ] \n", 0, 0 },
		{ "[\"1.0.0-rc.1+b\"]", 0, 1 },
		{ "[\"0.0.1\",\"0.0.1\"]", -EBADMSG, 0 },
		{ "[\"v0.0.1\"]", -EBADMSG, 0 },
		{ "[\"0.0.1\",1]", -EBADMSG, 0 },
		{ "[\"0.0.1\",null]", -EBADMSG, 0 },
		{ "{\"0.0.1\":1}", -EBADMSG, 0 },
		{ "\"0.0.1\"", -EBADMSG, 0 },
		{ "[\"0.0.1\"", -EBADMSG, 0 },
		{ "[\"0.0.1\"] x", -EBADMSG, 0 },
		{ "", -EBADMSG, 0 },
		{ "[\"0.0.1\\u0000\"]", -EBADMSG, 0 },
		{ "[[\"0.0.1\"]]", -EBADMSG, 0 },
	};
	struct strv v = { 0 };
	char err[256];
	struct buf big;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err[0] = 0;
		int r = release_parse_versions(cases[i].doc, strlen(cases[i].doc), &v, err, sizeof(err));
		if (r != cases[i].r)
			fail_msg("%s: %d (%s)", cases[i].doc, r, err);
		if (r == 0) {
			assert_int_equal(v.n, cases[i].n);
			strv_clear(&v);
		} else {
			assert_true(err[0]);
		}
	}
	/* A NUL byte inside the buffer, and the count and size limits. */
	assert_int_equal(release_parse_versions("[\"0.0.1\"]\0", 10, &v, err, sizeof(err)), -EBADMSG);
	buf_init(&big, 4 * 1024 * 1024);
	assert_int_equal(buf_add(&big, "[", 1), 0);
	for (int i = 0; i <= RELEASE_VERSIONS_MAX; i++)
		assert_int_equal(buf_addf(&big, "%s\"0.0.%d\"", i ? "," : "", i), 0);
	assert_int_equal(buf_add(&big, "]", 1), 0);
	assert_int_equal(release_parse_versions(big.data, big.len, &v, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "more than 10000"));
	big.len -= strlen(",\"0.0.10000\"]");
	assert_int_equal(buf_add(&big, "]", 1), 0);
	assert_int_equal(release_parse_versions(big.data, big.len, &v, err, sizeof(err)), 0);
	assert_int_equal(v.n, RELEASE_VERSIONS_MAX);
	strv_clear(&v);
	buf_free(&big);
	buf_init(&big, 4 * 1024 * 1024);
	assert_int_equal(buf_add(&big, "[", 1), 0);
	while (big.len <= RELEASE_VERSIONS_DOC_MAX)
		assert_int_equal(buf_add(&big, "      ", 6), 0);
	assert_int_equal(buf_add(&big, "]", 1), 0);
	assert_int_equal(release_parse_versions(big.data, big.len, &v, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "longer than"));
	buf_free(&big);
}

static void test_parse_latest(void **state)
{
	static const struct {
		const char *doc;
		int r;
		const char *want;
	} cases[] = {
		{ "\"0.1.1\"", 0, "0.1.1" },
		{ " \"0.1.1\"\n", 0, "0.1.1" },
		{ "\"1.0.0-rc.1+x\"", 0, "1.0.0-rc.1+x" },
		{ "\"v0.1.1\"", -EBADMSG, NULL },
		{ "0.1.1", -EBADMSG, NULL },
		{ "[\"0.1.1\"]", -EBADMSG, NULL },
		{ "\"0.1\"", -EBADMSG, NULL },
		{ "null", -EBADMSG, NULL },
		{ "", -EBADMSG, NULL },
	};
	char err[256], *s;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err[0] = 0;
		int r = release_parse_latest(cases[i].doc, strlen(cases[i].doc), &s, err, sizeof(err));
		if (r != cases[i].r)
			fail_msg("%s: %d (%s)", cases[i].doc, r, err);
		if (r == 0) {
			assert_string_equal(s, cases[i].want);
			free(s);
		} else {
			assert_true(err[0]);
		}
	}
}

static void test_parse_upgrade(void **state)
{
	static const struct {
		const char *doc;
		int r;
		const char *flist, *sig, *tx;
	} cases[] = {
		{ "{\"flist\":\"https://h/r.tar\",\"signature\":\"abcd\",\"transaction_id\":\"t1\"}", 0,
		  "https://h/r.tar", "abcd", "t1" },
		{ "{\"flist\":\"0.1.0/release\"}", 0, "0.1.0/release", NULL, NULL },
		{ "{\"flist\":\"r\",\"signature\":null,\"storage\":\"zdb://h:9900\"}", 0, "r", NULL, NULL },
		{ "{\"signature\":\"ab\"}", -EBADMSG, NULL, NULL, NULL },
		{ "{\"flist\":\"\"}", -EBADMSG, NULL, NULL, NULL },
		{ "{\"flist\":\"a b\"}", -EBADMSG, NULL, NULL, NULL },
		{ "{\"flist\":\"a\\nb\"}", -EBADMSG, NULL, NULL, NULL },
		{ "{\"flist\":3}", -EBADMSG, NULL, NULL, NULL },
		{ "{\"flist\":\"r\",\"signature\":12}", -EBADMSG, NULL, NULL, NULL },
		{ "{\"flist\":\"r\",\"transaction_id\":[]}", -EBADMSG, NULL, NULL, NULL },
		{ "{\"flist\":\"r\",\"flist\":\"s\"}", -EBADMSG, NULL, NULL, NULL },
		{ "[\"r\"]", -EBADMSG, NULL, NULL, NULL },
		{ "{\"flist\":\"r\"", -EBADMSG, NULL, NULL, NULL },
	};
	struct release_upgrade u;
	char err[256], *text;
	struct buf big;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err[0] = 0;
		int r = release_parse_upgrade(cases[i].doc, strlen(cases[i].doc), &u, err, sizeof(err));
		if (r != cases[i].r)
			fail_msg("%s: %d (%s)", cases[i].doc, r, err);
		if (r < 0) {
			assert_true(err[0]);
			continue;
		}
		assert_string_equal(u.flist, cases[i].flist);
		if (cases[i].sig)
			assert_string_equal(u.signature, cases[i].sig);
		else
			assert_null(u.signature);
		if (cases[i].tx)
			assert_string_equal(u.transaction_id, cases[i].tx);
		else
			assert_null(u.transaction_id);
		release_upgrade_free(&u);
	}
	buf_init(&big, 1 << 20);
	assert_int_equal(buf_add(&big, "{\"flist\":\"", 10), 0);
	for (int i = 0; i <= RELEASE_URL_MAX; i++)
		assert_int_equal(buf_add(&big, "a", 1), 0);
	assert_int_equal(buf_add(&big, "\"}", 2), 0);
	assert_int_equal(release_parse_upgrade(big.data, big.len, &u, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "longer than"));
	buf_free(&big);

	/* The encoder round trip, and what it refuses. */
	char fl[] = "https://h/r\"x", sg[] = "ab", empty[] = "";
	u = (struct release_upgrade){ .flist = fl, .signature = sg, .transaction_id = NULL };
	assert_int_equal(release_format_upgrade(&u, &text), 0);
	assert_string_equal(text, "{\"flist\":\"https://h/r\\\"x\",\"signature\":\"ab\"}\n");
	struct release_upgrade back;
	assert_int_equal(release_parse_upgrade(text, strlen(text), &back, err, sizeof(err)), 0);
	assert_string_equal(back.flist, u.flist);
	assert_string_equal(back.signature, "ab");
	assert_null(back.transaction_id);
	release_upgrade_free(&back);
	free(text);
	u = (struct release_upgrade){ .flist = empty };
	assert_int_equal(release_format_upgrade(&u, &text), -EINVAL);
	u = (struct release_upgrade){ .flist = NULL };
	assert_int_equal(release_format_upgrade(&u, &text), -EINVAL);
}

static void test_format_documents(void **state)
{
	static const char *const v[] = { "0.0.1", "0.1.0-rc.1", "1.0.0+b" };
	static const char *const bad[] = { "0.0.1", "nope" };
	struct strv back = { 0 };
	char *text, *s, err[256];

	(void)state;
	assert_int_equal(release_format_versions(v, 3, &text), 0);
	assert_string_equal(text, "[\"0.0.1\",\"0.1.0-rc.1\",\"1.0.0+b\"]\n");
	assert_int_equal(release_parse_versions(text, strlen(text), &back, err, sizeof(err)), 0);
	assert_int_equal(back.n, 3);
	assert_string_equal(back.v[2], "1.0.0+b");
	strv_clear(&back);
	free(text);
	assert_int_equal(release_format_versions(NULL, 0, &text), 0);
	assert_string_equal(text, "[]\n");
	free(text);
	assert_int_equal(release_format_versions(bad, 2, &text), -EINVAL);
	assert_int_equal(release_format_latest("0.1.1", &text), 0);
	assert_string_equal(text, "\"0.1.1\"\n");
	assert_int_equal(release_parse_latest(text, strlen(text), &s, err, sizeof(err)), 0);
	assert_string_equal(s, "0.1.1");
	free(s);
	free(text);
	assert_int_equal(release_format_latest("latest", &text), -EINVAL);
}

static void test_parse_packages(void **state)
{
	static const struct {
		const char *doc;
		int r;
		const char *want; /* "name version settings enabled;" per package */
		const char *msg;
	} cases[] = {
		{ "{\"wp\":{\"version\":\"cs:precise/wordpress-3\",\"settings\":{\"b\":1,\"a\":\"x\"},"
		  "\"enabled\":false},\"db\":{\"version\":\"cs:~bob/trusty/mysql-0\"}}",
		  0, "db cs:~bob/trusty/mysql-0 - -1;wp cs:precise/wordpress-3 {\"a\":\"x\",\"b\":1} 0;",
		  NULL },
		{ "{}", 0, "", NULL },
		{ "{\"a\":{\"version\":\"cs:precise/a-1\",\"enabled\":true,\"settings\":{}}}", 0,
		  "a cs:precise/a-1 {} 1;", NULL },
		{ "[]", -EBADMSG, NULL, "not a JSON object" },
		{ "\"x\"", -EBADMSG, NULL, "not a JSON object" },
		{ "{\"Bad\":{\"version\":\"cs:precise/a-1\"}}", -EBADMSG, NULL, "not a valid package name" },
		{ "{\"a-\":{\"version\":\"cs:precise/a-1\"}}", -EBADMSG, NULL, "not a valid package name" },
		{ "{\"a\":{\"version\":\"cs:precise/a\"}}", -EBADMSG, NULL, "revision" },
		{ "{\"a\":{\"version\":\"cs:a-1\"}}", -EBADMSG, NULL, "revision" },
		{ "{\"a\":{\"version\":\"local:precise/a-1\"}}", -EBADMSG, NULL, "revision" },
		{ "{\"a\":{\"version\":\"cs:precise/A-1\"}}", -EBADMSG, NULL, "revision" },
		{ "{\"a\":{\"version\":3}}", -EBADMSG, NULL, "no version" },
		{ "{\"a\":{}}", -EBADMSG, NULL, "no version" },
		{ "{\"a\":{\"version\":\"cs:precise/a-1\",\"settings\":[1]}}", -EBADMSG, NULL,
		  "settings is not a JSON object" },
		{ "{\"a\":{\"version\":\"cs:precise/a-1\",\"settings\":\"k=v\"}}", -EBADMSG, NULL,
		  "settings is not a JSON object" },
		{ "{\"a\":{\"version\":\"cs:precise/a-1\",\"enabled\":1}}", -EBADMSG, NULL, "enabled" },
		{ "{\"a\":{\"version\":\"cs:precise/a-1\",\"extra\":1}}", -EBADMSG, NULL, "unknown member" },
		{ "{\"a\":\"cs:precise/a-1\"}", -EBADMSG, NULL, "not a JSON object" },
		{ "{\"a\":{\"version\":\"cs:precise/a-1\"},\"a\":{\"version\":\"cs:precise/a-2\"}}",
		  -EBADMSG, NULL, "not JSON" },
	};
	struct release_packages p;
	char err[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err[0] = 0;
		int r = release_parse_packages(cases[i].doc, strlen(cases[i].doc), &p, err, sizeof(err));
		if (r != cases[i].r)
			fail_msg("%s: %d (%s)", cases[i].doc, r, err);
		if (r < 0) {
			if (!strstr(err, cases[i].msg))
				fail_msg("%s: message %s lacks %s", cases[i].doc, err, cases[i].msg);
			continue;
		}
		struct buf b;
		buf_init(&b, 4096);
		for (size_t j = 0; j < p.n; j++)
			assert_int_equal(buf_addf(&b, "%s %s %s %d;", p.v[j].name, p.v[j].version,
						  p.v[j].settings ? p.v[j].settings : "-", p.v[j].enabled),
					 0);
		assert_string_equal(b.data ? b.data : "", cases[i].want);
		buf_free(&b);
		release_packages_free(&p);
	}
}

/* ---- signatures ---------------------------------------------------------- */

static void sha_of(const char *s, unsigned char out[32])
{
	for (int i = 0; i < 32; i++)
		out[i] = (unsigned char)(s[i % strlen(s)] + i);
}

static void hex_to_file(const char *hex, const char *path)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	for (size_t i = 0; i + 1 < strlen(hex) + 1 && hex[i]; i += 2) {
		unsigned v;
		char two[3] = { hex[i], hex[i + 1], 0 };
		assert_int_equal(sscanf(two, "%2x", &v), 1);
		fputc((int)v, f);
	}
	assert_int_equal(fclose(f), 0);
}

static void message_file(const char *version, const unsigned char sha[32], const char *path)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	fputs(version, f);
	fputc('\n', f);
	assert_int_equal(fwrite(sha, 1, 32, f), 32);
	assert_int_equal(fclose(f), 0);
}

static void test_keygen(void **state)
{
	struct stat st;
	char err[256];

	(void)state;
	assert_int_equal(release_keygen(tpath("kg"), err, sizeof(err)), 0);
	assert_int_equal(stat(tpath("kg.pem"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(tpath("kg.pub.pem"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(sh("grep -q 'BEGIN PRIVATE KEY' kg.pem && grep -q 'BEGIN PUBLIC KEY' kg.pub.pem"
			    " && openssl pkey -in kg.pem -noout -text | grep -q ED25519"),
			 0);
	/* Never overwrites: neither file changes. */
	assert_int_equal(sh("cp kg.pem kg.copy"), 0);
	assert_int_equal(release_keygen(tpath("kg"), err, sizeof(err)), -EEXIST);
	assert_int_equal(sh("cmp kg.pem kg.copy"), 0);
	assert_int_equal(sh("touch only.pub.pem"), 0);
	assert_int_equal(release_keygen(tpath("only"), err, sizeof(err)), -EEXIST);
	assert_int_equal(access(tpath("only.pem"), F_OK), -1);
	assert_int_equal(release_keygen(tpath("no/such/dir/k"), err, sizeof(err)), -ENOENT);
}

static void test_sign_verify(void **state)
{
	unsigned char sha[32], other[32];
	char hex[RELEASE_SIG_HEX + 1], hex2[RELEASE_SIG_HEX + 1], err[256], bad[RELEASE_SIG_HEX + 1];
	struct release_key *k, *k2;

	(void)state;
	assert_int_equal(release_keygen(tpath("sv"), err, sizeof(err)), 0);
	assert_int_equal(release_keygen(tpath("sv2"), err, sizeof(err)), 0);
	assert_int_equal(release_key_load(tpath("sv.pub.pem"), &k, err, sizeof(err)), 0);
	assert_int_equal(release_key_load(tpath("sv2.pub.pem"), &k2, err, sizeof(err)), 0);
	sha_of("archive", sha);
	sha_of("another", other);
	assert_int_equal(release_sign(tpath("sv.pem"), "0.1.0", sha, hex, err, sizeof(err)), 0);
	assert_int_equal(strlen(hex), RELEASE_SIG_HEX);
	assert_int_equal(release_verify(k, "0.1.0", sha, hex, err, sizeof(err)), 0);
	for (char *p = hex; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(release_verify(k, "0.1.0", sha, hex, err, sizeof(err)), 0);

	/* Each refusal, with its message naming the version. */
	struct {
		const struct release_key *key;
		const char *version;
		const unsigned char *sha;
		const char *sig;
		const char *msg;
	} refused[] = {
		{ k, "0.1.0", other, hex, "signature of 0.1.0 does not verify" },  /* tampered digest */
		{ k2, "0.1.0", sha, hex, "signature of 0.1.0 does not verify" },   /* another key */
		{ k, "0.2.0", sha, hex, "signature of 0.2.0 does not verify" },	   /* replay */
		{ k, "0.1.0", sha, "", "missing signature of 0.1.0" },
		{ k, "0.1.0", sha, NULL, "missing signature of 0.1.0" },
		{ k, "0.1.0", sha, "zz", "signature of 0.1.0 is not hex" },
		{ k, "0.1.0", sha, "abcd", "signature of 0.1.0 has 4 hex digits, not 128" },
		{ k, "0.1.0", sha, bad, "signature of 0.1.0 does not verify" },
	};
	memcpy(bad, hex, sizeof(bad));
	bad[0] = bad[0] == '0' ? '1' : '0';
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		err[0] = 0;
		assert_int_equal(release_verify(refused[i].key, refused[i].version, refused[i].sha,
						refused[i].sig, err, sizeof(err)),
				 -EBADMSG);
		if (strcmp(err, refused[i].msg))
			fail_msg("case %zu: %s", i, err);
	}
	char longsig[RELEASE_SIG_HEX + 3];
	memset(longsig, 'a', sizeof(longsig) - 1);
	longsig[sizeof(longsig) - 1] = 0;
	assert_int_equal(release_verify(k, "0.1.0", sha, longsig, err, sizeof(err)), -EBADMSG);
	assert_int_equal(release_verify(k, "v0.1.0", sha, hex, err, sizeof(err)), -EINVAL);
	assert_int_equal(release_sign(tpath("sv.pem"), "nope", sha, hex2, err, sizeof(err)), -EINVAL);

	/* Wrong kinds of key files. */
	assert_int_equal(release_sign(tpath("sv.pub.pem"), "0.1.0", sha, hex2, err, sizeof(err)), -EINVAL);
	assert_int_equal(release_key_load(tpath("sv.pem"), &k2 /* not written */, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem"
			    " && openssl pkey -in ec.pem -pubout -out ec.pub.pem"),
			 0);
	assert_int_equal(release_sign(tpath("ec.pem"), "0.1.0", sha, hex2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an Ed25519"));
	struct release_key *kx;
	assert_int_equal(release_key_load(tpath("ec.pub.pem"), &kx, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an Ed25519"));
	assert_int_equal(release_key_load(tpath("missing.pem"), &kx, err, sizeof(err)), -ENOENT);

	release_key_free(k);
	release_key_free(k2 == k ? NULL : k2);
	release_key_free(NULL);
}

static void test_openssl_cross(void **state)
{
	unsigned char sha[32];
	char hex[RELEASE_SIG_HEX + 1], err[256], *cli;
	size_t len;
	struct release_key *k;

	(void)state;
	assert_int_equal(release_keygen(tpath("x"), err, sizeof(err)), 0);
	assert_int_equal(release_key_load(tpath("x.pub.pem"), &k, err, sizeof(err)), 0);

	/* openssl signs the archive's message, release_verify() accepts it. */
	assert_int_equal(sh("head -c 100000 /dev/urandom > rel.tar && "
			    "{ printf '1.2.3\\n'; openssl dgst -sha256 -binary rel.tar; } > msg && "
			    "openssl pkeyutl -sign -rawin -inkey x.pem -in msg -out msg.sig && "
			    "od -An -tx1 -v msg.sig | tr -d ' \\n' > msg.sig.hex && "
			    "openssl dgst -sha256 -binary rel.tar > rel.sha"),
			 0);
	assert_int_equal(read_file(tpath("msg.sig.hex"), 4096, &cli, &len), 0);
	assert_int_equal(len, RELEASE_SIG_HEX);
	char *shabin;
	assert_int_equal(read_file(tpath("rel.sha"), 64, &shabin, &len), 0);
	assert_int_equal(len, 32);
	memcpy(sha, shabin, 32);
	free(shabin);
	assert_int_equal(release_verify(k, "1.2.3", sha, cli, err, sizeof(err)), 0);
	assert_int_equal(release_verify(k, "1.2.4", sha, cli, err, sizeof(err)), -EBADMSG);

	/* release_sign_file() signs, openssl verifies; and refuses a changed message. */
	assert_int_equal(release_sign_file(tpath("x.pem"), tpath("rel.tar"), "1.2.3", hex, err,
					   sizeof(err)),
			 0);
	assert_string_equal(hex, cli); /* Ed25519 is deterministic */
	free(cli);
	assert_int_equal(release_sign(tpath("x.pem"), "2.0.0", sha, hex, err, sizeof(err)), 0);
	hex_to_file(hex, tpath("mine.sig"));
	message_file("2.0.0", sha, tpath("mine.msg"));
	message_file("2.0.1", sha, tpath("other.msg"));
	assert_int_equal(sh("openssl pkeyutl -verify -rawin -pubin -inkey x.pub.pem -in mine.msg "
			    "-sigfile mine.sig"),
			 0);
	assert_int_not_equal(sh("openssl pkeyutl -verify -rawin -pubin -inkey x.pub.pem -in other.msg "
				"-sigfile mine.sig"),
			     0);
	assert_int_equal(release_sign_file(tpath("x.pem"), tpath("no-such.tar"), "1.2.3", hex, err,
					   sizeof(err)),
			 -ENOENT);
	release_key_free(k);
}

/* ---- archives ------------------------------------------------------------ */

static struct charm_limits LIM(void)
{
	struct charm_limits l;

	charm_limits_default(&l);
	return l;
}

/* Reads archive NAME of tmpdir into staging STAGE with lim; the errors joined into msg. */
static int read_arc(const char *name, const struct charm_limits *lim, const char *stage,
		    struct release_contents *c, char *msg, size_t msglen)
{
	struct strv errors = { 0 };
	char *joined;
	int r = release_archive_read(tpath(name), lim, tpath(stage), c, &errors);

	joined = strv_join(&errors, "; ");
	snprintf(msg, msglen, "%s", joined ? joined : "");
	free(joined);
	strv_clear(&errors);
	if (r < 0)
		assert_int_equal(access(tpath(stage), F_OK), -1); /* removed again */
	return r;
}

#define GOOD_TREE                                                                           \
	"rm -rf g && mkdir -p g/charms/precise g/charms/~bob/trusty g/migrate && "           \
	"printf 'charm-one' > g/charms/precise/wordpress.charm && "                          \
	"printf 'charm-two' > g/charms/~bob/trusty/mysql.charm && "                          \
	"printf '#!/bin/sh\\necho pre\\n' > g/migrate/pre && "                               \
	"printf '#!/bin/sh\\necho post\\n' > g/migrate/post && chmod 0600 g/migrate/* && "   \
	"printf '{\"wordpress\":{\"version\":\"cs:precise/wordpress-0\",\"settings\":{\"t\":\"x\"}}}' " \
	"> g/packages.json"

static void check_good(const char *stage, const struct release_contents *c)
{
	struct stat st;
	char *data;
	size_t len;

	assert_int_equal(c->n_charms, 2);
	for (size_t i = 0; i < 2; i++) {
		bool wp = strstr(c->charms[i].url, "wordpress") != NULL;
		assert_string_equal(c->charms[i].url, wp ? "cs:precise/wordpress" : "cs:~bob/trusty/mysql");
		assert_int_equal(read_file(c->charms[i].path, 100, &data, &len), 0);
		assert_string_equal(data, wp ? "charm-one" : "charm-two");
		free(data);
		assert_int_equal(strncmp(c->charms[i].path, tpath(stage), strlen(tpath(stage))), 0);
	}
	assert_true(c->has_packages);
	assert_int_equal(c->packages.n, 1);
	assert_string_equal(c->packages.v[0].name, "wordpress");
	assert_string_equal(c->packages.v[0].settings, "{\"t\":\"x\"}");
	assert_non_null(c->migrate_pre);
	assert_non_null(c->migrate_post);
	assert_int_equal(stat(c->migrate_pre, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_int_equal(read_file(c->migrate_post, 100, &data, &len), 0);
	assert_string_equal(data, "#!/bin/sh\necho post\n");
	free(data);
	assert_int_equal(stat(tpath(stage), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void test_archive_good(void **state)
{
	static const struct {
		const char *make, *name;
	} kinds[] = {
		{ "cd g && tar cf ../good.tar charms packages.json migrate", "good.tar" },
		{ "cd g && tar czf ../good.tgz .", "good.tgz" },
		{ "cd g && zip -qr ../good.zip charms packages.json migrate", "good.zip" },
		{ "cd g && tar --format=pax -cf ../good.pax ./charms ./migrate ./packages.json", "good.pax" },
	};
	struct charm_limits lim = LIM();
	struct release_contents c;
	char msg[1024], stage[64];

	(void)state;
	assert_int_equal(sh(GOOD_TREE), 0);
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		assert_int_equal(sh("%s", kinds[i].make), 0);
		snprintf(stage, sizeof(stage), "stage-good-%zu", i);
		int r = read_arc(kinds[i].name, &lim, stage, &c, msg, sizeof(msg));
		if (r != 0)
			fail_msg("%s: %d %s", kinds[i].name, r, msg);
		check_good(stage, &c);
		release_contents_free(&c);
		/* The staging directory must not exist yet, and is then left alone. */
		struct strv errors = { 0 };
		assert_int_equal(release_archive_read(tpath(kinds[i].name), &lim, tpath(stage), &c,
						      &errors),
				 -EEXIST);
		assert_int_equal(errors.n, 1);
		strv_clear(&errors);
		assert_int_equal(access(tpath(stage), F_OK), 0);
		assert_int_equal(rm_rf(tpath(stage)), 0);
	}
	/* Only packages.json; only a charm; nothing at all. */
	assert_int_equal(sh("cd g && tar cf ../pk.tar packages.json && tar cf ../one.tar "
			    "charms/precise/wordpress.charm && tar cf ../empty.tar --files-from /dev/null"),
			 0);
	assert_int_equal(read_arc("pk.tar", &lim, "stage-pk", &c, msg, sizeof(msg)), 0);
	assert_true(c.has_packages);
	assert_int_equal(c.n_charms, 0);
	assert_null(c.migrate_pre);
	release_contents_free(&c);
	assert_int_equal(read_arc("one.tar", &lim, "stage-one", &c, msg, sizeof(msg)), 0);
	assert_false(c.has_packages);
	assert_int_equal(c.n_charms, 1);
	release_contents_free(&c);
	assert_int_equal(read_arc("empty.tar", &lim, "stage-empty", &c, msg, sizeof(msg)), 0);
	assert_int_equal(c.n_charms, 0);
	release_contents_free(&c);
	release_contents_free(NULL);
}

static void test_archive_hostile(void **state)
{
	static const struct {
		const char *make, *name;
		int r;
		const char *msg;
	} cases[] = {
		{ "cd g && tar -P --transform 's,^,../,' -cf ../dotdot.tar packages.json", "dotdot.tar",
		  -EINVAL, "\"..\" component" },
		{ "cd g && tar -P --transform 's,^,charms/../,' -cf ../dotdot2.tar packages.json",
		  "dotdot2.tar", -EINVAL, "\"..\" component" },
		{ "tar -P -cf abs.tar \"$PWD/g/packages.json\"", "abs.tar", -EINVAL, "absolute path" },
		{ "rm -rf s && mkdir -p s/charms/precise && ln -s /etc/passwd s/charms/precise/x.charm && "
		  "cd s && tar cf ../symlink.tar charms",
		  "symlink.tar", -EINVAL, "is a symbolic link" },
		{ "rm -rf z && mkdir -p z/migrate && ln -s ../../../etc/passwd z/migrate/pre && "
		  "cd z && zip -q --symlinks -r ../symlink.zip migrate",
		  "symlink.zip", -EINVAL, "is a symbolic link" },
		{ "rm -rf h && mkdir -p h/charms/precise && echo x > h/charms/precise/a.charm && "
		  "ln h/charms/precise/a.charm h/charms/precise/b.charm && cd h && tar cf ../hard.tar charms",
		  "hard.tar", -EINVAL, "is a hard link" },
		{ "rm -rf d && mkdir -p d/migrate && mknod d/migrate/post c 1 3 && cd d && tar cf ../dev.tar migrate",
		  "dev.tar", -EINVAL, "is a device" },
		{ "rm -rf f && mkdir -p f/migrate && mkfifo f/migrate/pre && cd f && tar cf ../fifo.tar migrate",
		  "fifo.tar", -EINVAL, "is a named pipe" },
		{ "cd g && tar cf ../dup.tar packages.json && tar rf ../dup.tar packages.json", "dup.tar",
		  -EINVAL, "in the archive twice" },
		{ "cd g && tar cf ../dupcharm.tar charms/precise/wordpress.charm && "
		  "tar rf ../dupcharm.tar charms/precise/wordpress.charm",
		  "dupcharm.tar", -EINVAL, "in the archive twice" },
		{ "cd g && tar --no-recursion -cf ../dupdir.tar charms charms/precise charms", "dupdir.tar",
		  -EINVAL, "in the archive twice" },
		{ "rm -rf o && mkdir o && echo hi > o/README && cd o && tar cf ../other.tar README",
		  "other.tar", -EINVAL, "\"README\" is not charms/" },
		{ "rm -rf o && mkdir -p o/charms/precise && echo x > o/charms/precise/a.zip && "
		  "cd o && tar cf ../notcharm.tar charms",
		  "notcharm.tar", -EINVAL, "a.zip\" is not charms/" },
		{ "rm -rf o && mkdir -p o/charms/Bad && echo x > o/charms/Bad/a.charm && "
		  "cd o && tar cf ../badseries.tar charms/Bad/a.charm",
		  "badseries.tar", -EINVAL, "is not charms/" },
		{ "cd g && tar -P --transform 's,^,charms//,' -cf ../empty.tar packages.json",
		  "empty.tar", -EINVAL, "empty, \".\" or" },
		{ "cd g && tar -P --transform 's,^,./migrate/./,' -cf ../dot.tar packages.json",
		  "dot.tar", -EINVAL, "empty, \".\" or" },
		{ "rm -rf o && mkdir -p o/etc && cd o && tar cf ../etcdir.tar etc", "etcdir.tar", -EINVAL,
		  "is not a directory a release may hold" },
		{ "rm -rf o && mkdir -p o/migrate && echo x > o/migrate/other && cd o && "
		  "tar cf ../migother.tar migrate",
		  "migother.tar", -EINVAL, "migrate/other" },
		{ "rm -rf o && mkdir -p o/charms/precise/x && echo x > o/charms/precise/x/y.charm && cd o && "
		  "tar cf ../deep.tar charms/precise/x/y.charm",
		  "deep.tar", -EINVAL, "is not charms/" },
		{ "printf 'this is not an archive at all, not even close' > junk.tar", "junk.tar", -EINVAL,
		  "not a readable tar or zip" },
		{ "head -c 20000 g/packages.json > trunc.tar; cd g && tar cf - packages.json | head -c 700 "
		  "> ../trunc.tar",
		  "trunc.tar", -EINVAL, "not a readable tar or zip" },
		/* packages.json problems come through as -EINVAL with the decoder's message. */
		{ "rm -rf p && mkdir p && printf '[1]' > p/packages.json && cd p && tar cf ../p1.tar packages.json",
		  "p1.tar", -EINVAL, "packages.json is not a JSON object" },
		{ "rm -rf p && mkdir p && printf '{\"Bad_Name\":{\"version\":\"cs:precise/a-1\"}}' > "
		  "p/packages.json && cd p && tar cf ../p2.tar packages.json",
		  "p2.tar", -EINVAL, "not a valid package name" },
		{ "rm -rf p && mkdir p && printf '{\"a\":{\"version\":\"http://x/a\"}}' > p/packages.json && "
		  "cd p && tar cf ../p3.tar packages.json",
		  "p3.tar", -EINVAL, "not a cs: charm URL" },
		{ "rm -rf p && mkdir p && printf '{\"a\":{\"version\":\"cs:precise/a-1\",\"settings\":[]}}' > "
		  "p/packages.json && cd p && tar cf ../p4.tar packages.json",
		  "p4.tar", -EINVAL, "settings is not a JSON object" },
		{ "rm -rf p && mkdir p && printf '{nope' > p/packages.json && cd p && tar cf ../p5.tar "
		  "packages.json",
		  "p5.tar", -EINVAL, "packages.json is not JSON" },
	};
	struct charm_limits lim = LIM();
	struct release_contents c;
	char msg[1024], stage[64];

	(void)state;
	assert_int_equal(sh(GOOD_TREE), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (!strcmp(cases[i].name, "dev.tar") && geteuid() != 0)
			continue; /* mknod needs root */
		if (sh("%s", cases[i].make) != 0)
			fail_msg("%s: could not build it", cases[i].name);
		snprintf(stage, sizeof(stage), "stage-bad-%zu", i);
		msg[0] = 0;
		int r = read_arc(cases[i].name, &lim, stage, &c, msg, sizeof(msg));
		if (r != cases[i].r || !strstr(msg, cases[i].msg))
			fail_msg("%s: %d, %s", cases[i].name, r, msg);
	}
	/* Nothing escaped the staging directories. */
	assert_int_equal(access(tpath("packages.json"), F_OK), -1);
}

static void test_archive_limits(void **state)
{
	struct charm_limits lim = LIM();
	struct release_contents c;
	char msg[1024];

	(void)state;
	/* A 2 GiB sparse entry in 175 bytes of tar.gz: its declared size is refused ... */
	assert_int_equal(sh("rm -rf b && mkdir -p b/charms/precise && "
			    "truncate -s 2G b/charms/precise/big.charm && "
			    "cd b && tar --sparse -czf ../sparse.tgz charms && rm -f charms/precise/big.charm"),
			 0);
	assert_int_equal(read_arc("sparse.tgz", &lim, "stage-sparse", &c, msg, sizeof(msg)), -EFBIG);
	assert_non_null(strstr(msg, "larger than the expansion limit"));
	/* ... and, when that would pass, the entry is refused as sparse. */
	lim.max_expanded = 4ull << 30;
	assert_int_equal(read_arc("sparse.tgz", &lim, "stage-sparse", &c, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "is a sparse file"));
	/* Two 6 MiB entries of zeros, under 8 MiB each, over max_expanded together. */
	lim.max_ratio = UINT64_MAX / 4;
	lim.max_expanded = 8 * 1024 * 1024;
	assert_int_equal(sh("rm -rf z && mkdir -p z/charms/precise && "
			    "head -c 6291456 /dev/zero > z/charms/precise/zero.charm && "
			    "cp z/charms/precise/zero.charm z/charms/precise/one.charm && cd z && "
			    "tar czf ../zero.tgz charms && zip -qr ../zero.zip charms"),
			 0);
	assert_int_equal(read_arc("zero.tgz", &lim, "stage-zero", &c, msg, sizeof(msg)), -EFBIG);
	assert_non_null(strstr(msg, "expands to more than 8388608 bytes"));
	assert_int_equal(read_arc("zero.zip", &lim, "stage-zero", &c, msg, sizeof(msg)), -EFBIG);
	assert_non_null(strstr(msg, "expands to more than 8388608 bytes"));
	lim.max_expanded = 32 * 1024 * 1024;
	assert_int_equal(read_arc("zero.tgz", &lim, "stage-zero", &c, msg, sizeof(msg)), 0);
	assert_int_equal(c.n_charms, 2);
	release_contents_free(&c);
	(void)rm_rf(tpath("stage-zero"));
	/* The default ratio refuses the same zip (12 MiB from some 12 KiB). */
	lim = LIM();
	assert_int_equal(read_arc("zero.zip", &lim, "stage-zero", &c, msg, sizeof(msg)), -EFBIG);
	assert_non_null(strstr(msg, "times its size"));
	/* Too many entries; an archive over max_archive. */
	assert_int_equal(sh(GOOD_TREE " && cd g && tar cf ../many.tar charms migrate packages.json"), 0);
	lim = LIM();
	lim.max_entries = 3;
	assert_int_equal(read_arc("many.tar", &lim, "stage-many", &c, msg, sizeof(msg)), -EFBIG);
	assert_non_null(strstr(msg, "more than 3 entries"));
	lim = LIM();
	lim.max_archive = 1000;
	assert_int_equal(read_arc("many.tar", &lim, "stage-many", &c, msg, sizeof(msg)), -EFBIG);
	assert_non_null(strstr(msg, "larger than 1000 bytes"));
	/* packages.json over its own limit. */
	assert_int_equal(sh("rm -rf p && mkdir p && { printf '{\"a\":{\"version\":\"cs:precise/a-1\",\"settings\":{\"k\":\"'; "
			    "head -c 5000000 /dev/zero | tr '\\0' x; printf '\"}}}'; } > p/packages.json && "
			    "cd p && tar czf ../bigpk.tgz packages.json"),
			 0);
	lim = LIM();
	lim.max_ratio = 1u << 20;
	assert_int_equal(read_arc("bigpk.tgz", &lim, "stage-bigpk", &c, msg, sizeof(msg)), -EFBIG);
	assert_non_null(strstr(msg, "packages.json\" is too large"));
	/* Missing archive; staging parent missing. */
	assert_int_equal(read_arc("no-such.tar", &lim, "stage-x", &c, msg, sizeof(msg)), -ENOENT);
	assert_int_equal(read_arc("many.tar", &lim, "no/such/stage", &c, msg, sizeof(msg)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_parse),	cmocka_unit_test(test_version_cmp),
		cmocka_unit_test(test_versions_to_apply), cmocka_unit_test(test_parse_versions),
		cmocka_unit_test(test_parse_latest),	cmocka_unit_test(test_parse_upgrade),
		cmocka_unit_test(test_format_documents), cmocka_unit_test(test_parse_packages),
		cmocka_unit_test(test_keygen),		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_openssl_cross),	cmocka_unit_test(test_archive_good),
		cmocka_unit_test(test_archive_hostile), cmocka_unit_test(test_archive_limits),
	};
	int r;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_release.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	(void)rm_rf(tmpdir);
	return r;
}
