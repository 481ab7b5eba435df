/*
 * Unit tests for backend/url.c. The parse table reproduces juju/charm's
 * urlTests (valid and invalid references, with the original messages),
 * then adds charmfs's stricter cases: leading-zero and overflowing
 * revisions, over-long parts, reserved series and Go-style quoting of
 * hostile input. Every valid row must also round-trip through url_format.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "url.h"
#include "banned.h"

struct parse_case {
	const char *in;
	/* NULL for a valid URL; otherwise the exact message. */
	const char *err;
	const char *schema, *user, *series, *name;
	int revision;
	/* The canonical form when it differs from in ("name" -> "cs:name"). */
	const char *canon;
};

#define OK(in, schema, user, series, name, rev)                                                    \
	{                                                                                          \
		in, NULL, schema, user, series, name, rev, NULL                                    \
	}
#define OKC(in, canon, schema, user, series, name, rev)                                            \
	{                                                                                          \
		in, NULL, schema, user, series, name, rev, canon                                   \
	}
#define BAD(in, err)                                                                               \
	{                                                                                          \
		in, err, NULL, NULL, NULL, NULL, 0, NULL                                           \
	}

static const struct parse_case parse_cases[] = {
    /* juju/charm urlTests, valid. */
    OK("cs:~user/series/name", "cs", "user", "series", "name", -1),
    OK("cs:~user/series/name-0", "cs", "user", "series", "name", 0),
    OK("cs:series/name", "cs", "", "series", "name", -1),
    OK("cs:series/name-42", "cs", "", "series", "name", 42),
    OK("local:series/name-1", "local", "", "series", "name", 1),
    OK("local:series/name", "local", "", "series", "name", -1),
    OK("local:series/n0-0n-n0", "local", "", "series", "n0-0n-n0", -1),
    OK("cs:~user/name", "cs", "user", "", "name", -1),
    OK("cs:name", "cs", "", "", "name", -1),
    OK("local:name", "local", "", "", "name", -1),
    OKC("series/name", "cs:series/name", "cs", "", "series", "name", -1),
    OKC("name", "cs:name", "cs", "", "", "name", -1),
    OKC("n0-0n-n0", "cs:n0-0n-n0", "cs", "", "", "n0-0n-n0", -1),
    OKC("precise/wordpress", "cs:precise/wordpress", "cs", "", "precise", "wordpress", -1),
    OKC("foo-1", "cs:foo-1", "cs", "", "", "foo", 1),
    OKC("~user/precise/foo", "cs:~user/precise/foo", "cs", "user", "precise", "foo", -1),
    /* Other valid shapes. */
    OK("cs:~joe/oneiric/wordpress", "cs", "joe", "oneiric", "wordpress", -1),
    OK("cs:oneiric/wordpress-42", "cs", "", "oneiric", "wordpress", 42),
    OK("cs:~a.B+c-1/trusty/mysql", "cs", "a.B+c-1", "trusty", "mysql", -1),
    OK("cs:~1a/s1/a1-b-c2", "cs", "1a", "s1", "a1-b-c2", -1),
    OK("cs:trusty/foo-0", "cs", "", "trusty", "foo", 0),
    OK("cs:trusty/foo-10", "cs", "", "trusty", "foo", 10),
    OK("cs:trusty/foo-2147483647", "cs", "", "trusty", "foo", INT_MAX),
    OK("cs:trusty/foo-bar1-2", "cs", "", "trusty", "foo-bar1", 2),
    OK("cs:trusty/a-1a", "cs", "", "trusty", "a-1a", -1),
    OK("cs:trusty/f00", "cs", "", "trusty", "f00", -1),
    /* A digit run without '-' stays in the name, even a long one. */
    OK("cs:trusty/foo12345678901234567890", "cs", "", "trusty", "foo12345678901234567890", -1),
    OK("cs:x/y", "cs", "", "x", "y", -1),
    OK("cs:ctlx/y", "cs", "", "ctlx", "y", -1),

    /* juju/charm urlTests, invalid. */
    BAD("bs:~user/series/name-1", "charm URL has invalid schema: \"bs:~user/series/name-1\""),
    BAD("bs:~user/series/name", "charm URL has invalid schema: \"bs:~user/series/name\""),
    BAD(":foo", "charm URL has invalid schema: \":foo\""),
    BAD("gopher:archie-server", "charm URL has invalid schema: \"gopher:archie-server\""),
    BAD("CS:name", "charm URL has invalid schema: \"CS:name\""),
    BAD("cs:~1/series/name-1", "charm URL has invalid user name: \"cs:~1/series/name-1\""),
    BAD("cs:~1/series/name", "charm URL has invalid user name: \"cs:~1/series/name\""),
    BAD("cs:~user", "charm URL without charm name: \"cs:~user\""),
    BAD("cs:~user/1/name-1", "charm URL has invalid series: \"cs:~user/1/name-1\""),
    BAD("cs:~user/1series/name", "charm URL has invalid series: \"cs:~user/1series/name\""),
    BAD("cs:~user/series/name-1-2",
	"charm URL has invalid charm name: \"cs:~user/series/name-1-2\""),
    BAD("cs:series/name-1-2", "charm URL has invalid charm name: \"cs:series/name-1-2\""),
    BAD("cs:series/name-1-name-2", "charm URL has invalid charm name: \"cs:series/name-1-name-2\""),
    BAD("cs:series/name--name-2", "charm URL has invalid charm name: \"cs:series/name--name-2\""),
    BAD("cs:foo-1-2", "charm URL has invalid charm name: \"cs:foo-1-2\""),
    BAD("cs:series/Name", "charm URL has invalid charm name: \"cs:series/Name\""),
    BAD("cs:~user/series/huh/name-1", "charm URL has invalid form: \"cs:~user/series/huh/name-1\""),
    BAD("cs:~user/series/name/x", "charm URL has invalid form: \"cs:~user/series/name/x\""),
    BAD("cs:/name", "charm URL has invalid series: \"cs:/name\""),
    BAD("cs:/bad", "charm URL has invalid series: \"cs:/bad\""),
    BAD("local:~user/series/name", "local charm URL with user name: \"local:~user/series/name\""),
    BAD("local:~user/name", "local charm URL with user name: \"local:~user/name\""),
    BAD("local:~1/name", "local charm URL with user name: \"local:~1/name\""),

    /* Form and empty parts. */
    BAD("cs:", "charm URL has invalid charm name: \"cs:\""),
    BAD("", "charm URL has invalid charm name: \"\""),
    BAD("cs:a/b/c", "charm URL has invalid form: \"cs:a/b/c\""),
    BAD("a/b/c/d", "charm URL has invalid form: \"a/b/c/d\""),
    BAD("local:~user/a/b/c", "charm URL has invalid form: \"local:~user/a/b/c\""),
    BAD("cs:series/", "charm URL has invalid charm name: \"cs:series/\""),
    BAD("cs:~user/", "charm URL has invalid charm name: \"cs:~user/\""),
    BAD("cs:~/series/name", "charm URL has invalid user name: \"cs:~/series/name\""),
    BAD("cs:~user//name", "charm URL has invalid series: \"cs:~user//name\""),
    BAD("cs:series/~name", "charm URL has invalid charm name: \"cs:series/~name\""),
    BAD("cs:cs:name", "charm URL has invalid charm name: \"cs:cs:name\""),
    BAD("cs:~Joe/s/n", "charm URL has invalid user name: \"cs:~Joe/s/n\""),
    BAD("cs:~us_er/s/n", "charm URL has invalid user name: \"cs:~us_er/s/n\""),
    BAD("cs:ser-ies/name", "charm URL has invalid series: \"cs:ser-ies/name\""),
    BAD("cs:Series/name", "charm URL has invalid series: \"cs:Series/name\""),
    BAD("cs:ctl/name", "charm URL has invalid series: \"cs:ctl/name\""),
    BAD("cs:incoming/name", "charm URL has invalid series: \"cs:incoming/name\""),

    /* Names. */
    BAD("cs:s/name-", "charm URL has invalid charm name: \"cs:s/name-\""),
    BAD("cs:s/-1", "charm URL has invalid charm name: \"cs:s/-1\""),
    BAD("cs:s/1name", "charm URL has invalid charm name: \"cs:s/1name\""),
    BAD("cs:s/-name", "charm URL has invalid charm name: \"cs:s/-name\""),
    BAD("cs:s/na_me", "charm URL has invalid charm name: \"cs:s/na_me\""),
    BAD("cs:s/name-a-", "charm URL has invalid charm name: \"cs:s/name-a-\""),

    /* Revisions: charmfs is stricter than the original. */
    BAD("foo-007", "charm URL has invalid revision: \"foo-007\""),
    BAD("cs:foo-007", "charm URL has invalid revision: \"cs:foo-007\""),
    BAD("cs:s/foo-00", "charm URL has invalid revision: \"cs:s/foo-00\""),
    BAD("cs:s/foo-2147483648", "charm URL has invalid revision: \"cs:s/foo-2147483648\""),
    BAD("cs:s/foo-12345678901234567890",
	"charm URL has invalid revision: \"cs:s/foo-12345678901234567890\""),
    BAD("cs:s/foo-99999999999999999999999999999999999999",
	"charm URL has invalid revision: \"cs:s/foo-99999999999999999999999999999999999999\""),
    BAD("cs:s/foo-18446744073709551616",
	"charm URL has invalid revision: \"cs:s/foo-18446744073709551616\""),

    /* Quoting follows Go's %q. */
    BAD("cs:s/\"x\\", "charm URL has invalid charm name: \"cs:s/\\\"x\\\\\""),
    BAD("cs:s/a\tb\n", "charm URL has invalid charm name: \"cs:s/a\\tb\\n\""),
    BAD("cs:s/a\x01\x7f", "charm URL has invalid charm name: \"cs:s/a\\x01\\x7f\""),
    BAD("cs:s/caf\xc3\xa9", "charm URL has invalid charm name: \"cs:s/caf\xc3\xa9\""),
    BAD("cs:s/\xff\xc3", "charm URL has invalid charm name: \"cs:s/\\xff\\xc3\""),
    BAD("cs:s/\xc2\x85", "charm URL has invalid charm name: \"cs:s/\\u0085\""),
    BAD("cs:s/\xef\xbb\xbf"
	"a",
	"charm URL has invalid charm name: \"cs:s/\\ufeffa\""),
    BAD("cs:s/\xf3\xa0\x80\x81", "charm URL has invalid charm name: \"cs:s/\\U000e0001\""),
    BAD("cs:s/\xed\xa0\x80", "charm URL has invalid charm name: \"cs:s/\\xed\\xa0\\x80\""),
    BAD("x:\xe2\x82\xac", "charm URL has invalid schema: \"x:\xe2\x82\xac\""),
};

static void assert_parse_case(const struct parse_case *c)
{
	struct url u;
	char err[1024];
	int r;

	memset(&u, 0x5a, sizeof(u));
	strncpy(err, "unset", sizeof(err));
	r = url_parse(c->in, &u, err, sizeof(err));
	if (c->err) {
		if (r != -EINVAL || strcmp(err, c->err) != 0)
			fail_msg("url_parse(\"%s\") = %d, err '%s', want -EINVAL '%s'", c->in, r,
				 err, c->err);
		/* ret is written only on success. */
		assert_int_equal(u.revision, 0x5a5a5a5a);
		return;
	}
	if (r != 0)
		fail_msg("url_parse(\"%s\") = %d (%s), want 0", c->in, r, err);
	assert_string_equal(err, "");
	assert_string_equal(u.schema, c->schema);
	assert_string_equal(u.user, c->user);
	assert_string_equal(u.series, c->series);
	assert_string_equal(u.name, c->name);
	assert_int_equal(u.revision, c->revision);
}

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++)
		assert_parse_case(&parse_cases[i]);
}

static void assert_url_equal(const struct url *a, const struct url *b)
{
	assert_string_equal(a->schema, b->schema);
	assert_string_equal(a->user, b->user);
	assert_string_equal(a->series, b->series);
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->revision, b->revision);
}

static void test_format_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct url u, v;
		char s[URL_STR_MAX], path[URL_STR_MAX], want[URL_STR_MAX];

		if (c->err)
			continue;
		assert_int_equal(url_parse(c->in, &u, NULL, 0), 0);
		url_format(&u, s, sizeof(s));
		assert_string_equal(s, c->canon ? c->canon : c->in);
		assert_int_equal(url_parse(s, &v, NULL, 0), 0);
		assert_url_equal(&u, &v);

		url_path(&u, path, sizeof(path));
		snprintf(want, sizeof(want), "%s%s%s%s%s%s", u.user[0] ? "~" : "", u.user,
			 u.user[0] ? "/" : "", u.series, u.series[0] ? "/" : "", u.name);
		assert_string_equal(path, want);
	}
}

static void test_path(void **state)
{
	struct url u;
	char p[URL_STR_MAX];

	(void)state;
	assert_int_equal(url_parse("cs:~joe/precise/wordpress-3", &u, NULL, 0), 0);
	url_path(&u, p, sizeof(p));
	assert_string_equal(p, "~joe/precise/wordpress");
	assert_int_equal(url_parse("local:precise/wordpress-3", &u, NULL, 0), 0);
	url_path(&u, p, sizeof(p));
	assert_string_equal(p, "precise/wordpress");
	/* Truncation is safe and NUL-terminated. */
	url_path(&u, p, 5);
	assert_string_equal(p, "prec");
	url_format(&u, p, 7);
	assert_string_equal(p, "local:");
}

/* Longest parts: every bound holds, one more byte is refused. */
static void test_lengths(void **state)
{
	char user[URL_USER_MAX + 2], series[URL_SERIES_MAX + 2], name[URL_NAME_MAX + 2];
	char in[URL_INPUT_MAX + 64], out[URL_STR_MAX], err[64];
	struct url u;

	(void)state;
	memset(user, 'u', sizeof(user));
	memset(series, 's', sizeof(series));
	memset(name, 'n', sizeof(name));
	user[URL_USER_MAX] = series[URL_SERIES_MAX] = name[URL_NAME_MAX] = '\0';

	snprintf(in, sizeof(in), "cs:~%s/%s/%s-%d", user, series, name, INT_MAX);
	assert_int_equal(url_parse(in, &u, NULL, 0), 0);
	url_format(&u, out, sizeof(out));
	assert_string_equal(out, in);
	assert_true(strlen(out) < URL_STR_MAX);
	assert_true(url_valid_user(user));
	assert_true(url_valid_series(series));
	assert_true(url_valid_name(name));

	user[URL_USER_MAX] = 'u';
	user[URL_USER_MAX + 1] = '\0';
	snprintf(in, sizeof(in), "cs:~%s/s/n", user);
	assert_int_equal(url_parse(in, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(strncmp(err, "charm URL has invalid user name: \"", 34), 0);
	assert_false(url_valid_user(user));

	series[URL_SERIES_MAX] = 's';
	series[URL_SERIES_MAX + 1] = '\0';
	snprintf(in, sizeof(in), "cs:%s/n", series);
	assert_int_equal(url_parse(in, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(strncmp(err, "charm URL has invalid series: \"", 31), 0);
	assert_false(url_valid_series(series));

	name[URL_NAME_MAX] = 'n';
	name[URL_NAME_MAX + 1] = '\0';
	snprintf(in, sizeof(in), "cs:s/%s-1", name);
	assert_int_equal(url_parse(in, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(strncmp(err, "charm URL has invalid charm name: \"", 35), 0);
	assert_false(url_valid_name(name));
}

static void test_long_input(void **state)
{
	static char in[100000];
	char err[128];
	struct url u;

	(void)state;
	/* Exactly URL_INPUT_MAX: parsed (and refused for its name). */
	memset(in, 'a', URL_INPUT_MAX);
	in[URL_INPUT_MAX] = '\0';
	assert_int_equal(url_parse(in, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(strncmp(err, "charm URL has invalid charm name: \"aaa", 38), 0);
	assert_int_equal(strlen(err), sizeof(err) - 1);

	/* One more byte: refused before parsing. */
	in[URL_INPUT_MAX] = 'a';
	in[URL_INPUT_MAX + 1] = '\0';
	assert_int_equal(url_parse(in, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(strncmp(err, "charm URL has invalid form: \"aaa", 32), 0);

	/* Huge inputs of every shape. */
	memset(in, '9', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	memcpy(in, "cs:s/foo-", 9);
	assert_int_equal(url_parse(in, &u, err, sizeof(err)), -EINVAL);
	memset(in, '/', sizeof(in) - 1);
	assert_int_equal(url_parse(in, &u, NULL, 0), -EINVAL);
	memset(in, '~', sizeof(in) - 1);
	assert_int_equal(url_parse(in, &u, err, 1), -EINVAL);
	assert_string_equal(err, "");

	/* A 300-digit revision under the input limit. */
	memset(in, '9', 400);
	memcpy(in, "cs:s/foo-", 9);
	in[400] = '\0';
	assert_int_equal(url_parse(in, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(strncmp(err, "charm URL has invalid revision: ", 32), 0);
}

static void test_error_buffer(void **state)
{
	char err[16];
	struct url u;

	(void)state;
	assert_int_equal(url_parse("cs:/bad", &u, NULL, 0), -EINVAL);
	assert_int_equal(url_parse("cs:/bad", &u, NULL, 100), -EINVAL);
	memset(err, 'x', sizeof(err));
	assert_int_equal(url_parse("cs:/bad", &u, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "charm URL has i");
	memset(err, 'x', sizeof(err));
	assert_int_equal(url_parse("cs:/bad", &u, err, 1), -EINVAL);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'x');
	assert_int_equal(url_parse(NULL, &u, err, sizeof(err)), -EINVAL);
}

struct valid_case {
	const char *s;
	bool name, series, user;
};

static const struct valid_case valid_cases[] = {
    {"a", true, true, false},	   {"ab", true, true, true},	  {"a1", true, true, true},
    {"1a", false, false, true},	   {"11", false, false, true},	  {"", false, false, false},
    {"a-b", true, false, true},	   {"a-1", false, false, true},	  {"a-1b", true, false, true},
    {"a--b", false, false, true},  {"a-", false, false, true},	  {"-a", false, false, false},
    {"aB", false, false, true},	   {"a.b+c", false, false, true}, {"a+", false, false, true},
    {"A1", false, false, false},   {"ctl", true, false, true},	  {"incoming", true, false, true},
    {"ctl1", true, true, true},	   {"a b", false, false, false},  {"a/b", false, false, false},
    {"a_b", false, false, false},  {"~ab", false, false, false},  {"n0-0n-n0", true, false, true},
    {"precise", true, true, true},
};

static void test_validators(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		if (url_valid_name(c->s) != c->name || url_valid_series(c->s) != c->series ||
		    url_valid_user(c->s) != c->user)
			fail_msg("validators(\"%s\"): name %d series %d user %d", c->s,
				 url_valid_name(c->s), url_valid_series(c->s),
				 url_valid_user(c->s));
	}
	assert_false(url_valid_name(NULL));
	assert_false(url_valid_series(NULL));
	assert_false(url_valid_user(NULL));
}

struct parts_case {
	const char *user, *series, *name;
	int rc;
	const char *canon;
};

static const struct parts_case parts_cases[] = {
    {NULL, "precise", "wordpress", 0, "cs:precise/wordpress"},
    {"", "precise", "wordpress", 0, "cs:precise/wordpress"},
    {"joe", "precise", "wordpress", 0, "cs:~joe/precise/wordpress"},
    {"a.B+c-1", "s1", "n0-0n-n0", 0, "cs:~a.B+c-1/s1/n0-0n-n0"},
    {"j", "precise", "wordpress", -EINVAL, NULL},
    {"~joe", "precise", "wordpress", -EINVAL, NULL},
    {NULL, NULL, "wordpress", -EINVAL, NULL},
    {NULL, "", "wordpress", -EINVAL, NULL},
    {NULL, "ctl", "wordpress", -EINVAL, NULL},
    {NULL, "incoming", "wordpress", -EINVAL, NULL},
    {NULL, "1precise", "wordpress", -EINVAL, NULL},
    {NULL, "precise", NULL, -EINVAL, NULL},
    {NULL, "precise", "", -EINVAL, NULL},
    {NULL, "precise", "wordpress-1", -EINVAL, NULL},
    {NULL, "precise", "word/press", -EINVAL, NULL},
    {NULL, "precise", "wordpress.charm", -EINVAL, NULL},
};

static void test_from_parts(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parts_cases); i++) {
		const struct parts_case *c = &parts_cases[i];
		struct url u, v;
		char s[URL_STR_MAX];
		int r;

		memset(&u, 0x5a, sizeof(u));
		r = url_from_parts(c->user, c->series, c->name, &u);
		if (r != c->rc)
			fail_msg("url_from_parts(%s, %s, %s) = %d, want %d",
				 c->user ? c->user : "NULL", c->series ? c->series : "NULL",
				 c->name ? c->name : "NULL", r, c->rc);
		if (r < 0) {
			assert_int_equal(u.revision, 0x5a5a5a5a);
			continue;
		}
		assert_int_equal(u.revision, -1);
		url_format(&u, s, sizeof(s));
		assert_string_equal(s, c->canon);
		assert_int_equal(url_parse(s, &v, NULL, 0), 0);
		assert_url_equal(&u, &v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table), cmocka_unit_test(test_format_roundtrip),
	    cmocka_unit_test(test_path),	cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_long_input),	cmocka_unit_test(test_error_buffer),
	    cmocka_unit_test(test_validators),	cmocka_unit_test(test_from_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
