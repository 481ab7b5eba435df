/*
 * Unit tests for backend/util.c: message lists, bounded buffers and their
 * limits, checked number parsing (overflow and malformed input), hex and
 * RFC 3339 formatting, the text toolkit (errf/strv_errf, Go-%q quoting
 * with its cut, split_words with its limits), and the file chores
 * (write_all/read_file, mkdir_p, rm_rf) inside a private temporary
 * directory that is removed afterwards.
 */
#include "config.h"

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

#include "util.h"
#include "banned.h"

static void test_strv(void **state)
{
	struct strv sv = {0};
	char *j;

	(void)state;
	j = strv_join(&sv, ", ");
	assert_non_null(j);
	assert_string_equal(j, "");
	free(j);

	assert_int_equal(strv_push(&sv, "one"), 0);
	assert_int_equal(strv_pushf(&sv, "%s-%d", "two", 2), 0);
	assert_int_equal(strv_push(&sv, ""), 0);
	assert_int_equal(sv.n, 3);
	assert_string_equal(sv.v[0], "one");
	assert_string_equal(sv.v[1], "two-2");
	assert_string_equal(sv.v[2], "");
	assert_null(sv.v[3]);

	j = strv_join(&sv, "; ");
	assert_non_null(j);
	assert_string_equal(j, "one; two-2; ");
	free(j);
	j = strv_join(&sv, "");
	assert_string_equal(j, "onetwo-2");
	free(j);

	strv_clear(&sv);
	assert_int_equal(sv.n, 0);
	assert_null(sv.v);
	strv_clear(&sv);
	strv_clear(NULL);

	for (int i = 0; i < 1000; i++)
		assert_int_equal(strv_pushf(&sv, "%d", i), 0);
	assert_string_equal(sv.v[999], "999");
	assert_null(sv.v[1000]);
	strv_clear(&sv);
}

static void test_buf_limits(void **state)
{
	struct buf b;
	char big[300];
	size_t len;
	char *d;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_add(&b, "hello", 5), 0);
	assert_int_equal(buf_add(&b, "world", 5), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "helloworld");
	assert_int_equal(buf_add(&b, "!", 1), -EFBIG);
	assert_int_equal(buf_addf(&b, "%d", 1), -EFBIG);
	assert_int_equal(buf_add(&b, "", 0), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "helloworld");
	d = buf_steal(&b, &len);
	assert_int_equal(len, 10);
	assert_string_equal(d, "helloworld");
	free(d);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 10);

	/* A refused append leaves the buffer as it was. */
	assert_int_equal(buf_addf(&b, "%s", "abc"), 0);
	assert_int_equal(buf_addf(&b, "%s", "12345678"), -EFBIG);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	buf_free(&b);
	buf_free(&b);
	buf_free(NULL);

	/* Stealing an untouched buffer gives an empty string. */
	buf_init(&b, 0);
	assert_int_equal(buf_add(&b, "x", 1), -EFBIG);
	d = buf_steal(&b, NULL);
	assert_non_null(d);
	assert_string_equal(d, "");
	free(d);

	/* Growth past the initial capacity, binary data. */
	memset(big, 0, sizeof(big));
	buf_init(&b, SIZE_MAX);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_add(&b, big, sizeof(big)), 0);
	assert_int_equal(b.len, 100 * sizeof(big));
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(buf_add(&b, big, SIZE_MAX), -EFBIG);
	buf_free(&b);
}

struct u64_case {
	const char *s;
	int rc;
	uint64_t v;
};

static const struct u64_case u64_cases[] = {
    {"0", 0, 0},
    {"1", 0, 1},
    {"007", 0, 7},
    {"4294967296", 0, 4294967296ULL},
    {"18446744073709551615", 0, UINT64_MAX},
    {"18446744073709551616", -ERANGE, 0},
    {"18446744073709551620", -ERANGE, 0},
    {"99999999999999999999", -ERANGE, 0},
    {"100000000000000000000", -ERANGE, 0},
    {"000000000000000000000000000000018446744073709551615", 0, UINT64_MAX},
    {"", -EINVAL, 0},
    {NULL, -EINVAL, 0},
    {"+1", -EINVAL, 0},
    {"-1", -EINVAL, 0},
    {"-0", -EINVAL, 0},
    {" 1", -EINVAL, 0},
    {"1 ", -EINVAL, 0},
    {"1\n", -EINVAL, 0},
    {"1a", -EINVAL, 0},
    {"0x10", -EINVAL, 0},
    {"1e3", -EINVAL, 0},
    {"1.0", -EINVAL, 0},
    {"\xd9\xa1", -EINVAL, 0},
};

static void test_parse_u64(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(u64_cases); i++) {
		const struct u64_case *c = &u64_cases[i];
		uint64_t v = 12345;
		int r = parse_u64(c->s, &v);
		if (r != c->rc || v != (r == 0 ? c->v : 12345))
			fail_msg("parse_u64(\"%s\") = %d, %llu", c->s ? c->s : "NULL", r,
				 (unsigned long long)v);
	}
}

struct int_case {
	const char *s;
	int rc;
	int v;
};

static const struct int_case int_cases[] = {
    {"0", 0, 0},
    {"42", 0, 42},
    {"2147483647", 0, INT_MAX},
    {"2147483648", -ERANGE, 0},
    {"4294967295", -ERANGE, 0},
    {"4294967296", -ERANGE, 0},
    {"18446744073709551615", -ERANGE, 0},
    {"18446744073709551616", -ERANGE, 0},
    {"-1", -EINVAL, 0},
    {"", -EINVAL, 0},
    {NULL, -EINVAL, 0},
    {"12x", -EINVAL, 0},
    {"+5", -EINVAL, 0},
};

static void test_parse_nonneg_int(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(int_cases); i++) {
		const struct int_case *c = &int_cases[i];
		int v = -7;
		int r = parse_nonneg_int(c->s, &v);
		if (r != c->rc || v != (r == 0 ? c->v : -7))
			fail_msg("parse_nonneg_int(\"%s\") = %d, %d", c->s ? c->s : "NULL", r, v);
	}
}

static void test_hex_encode(void **state)
{
	static const unsigned char in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
	char out[2 * sizeof(in) + 1];
	char one[3] = "zz";

	(void)state;
	hex_encode(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abff");
	hex_encode(in, 0, one);
	assert_string_equal(one, "");
	hex_encode(in + 5, 1, one);
	assert_string_equal(one, "ff");
}

static void test_sha256_fd(void **state)
{
	char path[] = "/tmp/charmfs-test-sha-XXXXXX";
	char hex[65];
	uint64_t size = 99;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(sha256_file(path, hex, &size), 0);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	unlink(path);
	assert_int_equal(sha256_file(path, hex, NULL), -ENOENT);
	assert_int_equal(sha256_fd(fd, hex, &size), 0);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(size, 0);
	assert_int_equal(write_all(fd, "abc", 3), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(sha256_fd(fd, hex, &size), 0);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(size, 3);
	close(fd);
	assert_int_equal(sha256_fd(fd, hex, NULL), -EBADF);
}

struct time_case {
	int64_t t;
	const char *s;
};

static const struct time_case time_cases[] = {
    {0, "1970-01-01T00:00:00Z"},
    {1, "1970-01-01T00:00:01Z"},
    {-1, "1969-12-31T23:59:59Z"},
    {951782400, "2000-02-29T00:00:00Z"},
    {1234567890, "2009-02-13T23:31:30Z"},
    {2147483647, "2038-01-19T03:14:07Z"},
    {2147483648LL, "2038-01-19T03:14:08Z"},
    {4102444800LL, "2100-01-01T00:00:00Z"},
    {253402300799LL, "9999-12-31T23:59:59Z"},
    {-30610224000LL, "1000-01-01T00:00:00Z"},
    /* Out of range for struct tm: the documented epoch fallback. */
    {INT64_MAX, "1970-01-01T00:00:00Z"},
    {INT64_MIN, "1970-01-01T00:00:00Z"},
};

static void test_format_rfc3339(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(time_cases); i++) {
		char out[32];
		memset(out, 'x', sizeof(out));
		format_rfc3339(time_cases[i].t, out);
		if (strcmp(out, time_cases[i].s) != 0)
			fail_msg("format_rfc3339(%lld) = '%s', want '%s'",
				 (long long)time_cases[i].t, out, time_cases[i].s);
	}
}

static char tmpdir[64];

static int tmp_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/charmfs-test-util-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int tmp_teardown(void **state)
{
	(void)state;
	return rm_rf(tmpdir) == 0 ? 0 : -1;
}

static void tmp_path(char *out, size_t n, const char *rel)
{
	snprintf(out, n, "%s/%s", tmpdir, rel);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	assert_int_equal(close(fd), 0);
}

static void test_files(void **state)
{
	char p[PATH_MAX];
	char *data;
	size_t len;

	(void)state;
	tmp_path(p, sizeof(p), "f");
	put_file(p, "0123456789");
	assert_int_equal(read_file(p, 10, &data, &len), 0);
	assert_int_equal(len, 10);
	assert_string_equal(data, "0123456789");
	free(data);
	data = NULL;
	assert_int_equal(read_file(p, 9, &data, &len), -EFBIG);
	assert_null(data);
	put_file(p, "");
	assert_int_equal(read_file(p, 0, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);
	tmp_path(p, sizeof(p), "missing");
	assert_int_equal(read_file(p, 10, &data, &len), -ENOENT);
	assert_int_equal(read_file(tmpdir, 10, &data, &len), -EISDIR);
	assert_int_equal(write_all(-1, "x", 1), -EBADF);
	assert_int_equal(write_all(-1, "", 0), 0);
}

static void test_mkdir_p(void **state)
{
	char p[PATH_MAX], q[PATH_MAX];
	char *longp;

	(void)state;
	tmp_path(p, sizeof(p), "a/b/c");
	assert_int_equal(mkdir_p(p), 0);
	assert_true(is_dir(p));
	assert_int_equal(mkdir_p(p), 0);
	tmp_path(p, sizeof(p), "a//b/d/");
	assert_int_equal(mkdir_p(p), 0);
	tmp_path(p, sizeof(p), "a/b/d");
	assert_true(is_dir(p));
	assert_int_equal(mkdir_p(tmpdir), 0);
	assert_int_equal(mkdir_p("/"), 0);

	/* A file in the way: as an inner component, and as the last one. */
	tmp_path(p, sizeof(p), "a/file");
	put_file(p, "x");
	tmp_path(q, sizeof(q), "a/file/sub");
	assert_int_equal(mkdir_p(q), -ENOTDIR);
	assert_int_equal(mkdir_p(p), -ENOTDIR);

	/* A symlink to a directory is a directory, as for mkdir -p. */
	tmp_path(p, sizeof(p), "a/link");
	assert_int_equal(symlink("b", p), 0);
	assert_int_equal(mkdir_p(p), 0);
	tmp_path(p, sizeof(p), "a/link/e");
	assert_int_equal(mkdir_p(p), 0);
	tmp_path(p, sizeof(p), "a/b/e");
	assert_true(is_dir(p));

	assert_true(mkdir_p("") < 0);
	longp = malloc(PATH_MAX + 10);
	assert_non_null(longp);
	memset(longp, 'x', PATH_MAX + 9);
	longp[PATH_MAX + 9] = '\0';
	assert_int_equal(mkdir_p(longp), -ENAMETOOLONG);
	free(longp);
}

static void test_rm_rf(void **state)
{
	char p[PATH_MAX], outside[PATH_MAX], keep[PATH_MAX];

	(void)state;
	tmp_path(outside, sizeof(outside), "outside");
	assert_int_equal(mkdir_p(outside), 0);
	tmp_path(keep, sizeof(keep), "outside/keep");
	put_file(keep, "keep");

	tmp_path(p, sizeof(p), "tree/x/y/z");
	assert_int_equal(mkdir_p(p), 0);
	tmp_path(p, sizeof(p), "tree/x/y/z/f");
	put_file(p, "f");
	tmp_path(p, sizeof(p), "tree/x/g");
	put_file(p, "g");
	tmp_path(p, sizeof(p), "tree/x/.hidden");
	put_file(p, "h");
	tmp_path(p, sizeof(p), "tree/x/empty");
	assert_int_equal(mkdir_p(p), 0);
	/* Symlinks are removed, never followed. */
	tmp_path(p, sizeof(p), "tree/x/link");
	assert_int_equal(symlink(outside, p), 0);
	tmp_path(p, sizeof(p), "tree/dangling");
	assert_int_equal(symlink("/nonexistent/charmfs", p), 0);

	tmp_path(p, sizeof(p), "tree");
	assert_int_equal(rm_rf(p), 0);
	assert_false(exists(p));
	assert_true(exists(keep));
	assert_int_equal(rm_rf(p), 0);

	/* A single file, a symlink to a directory, a missing path. */
	assert_int_equal(rm_rf(keep), 0);
	assert_false(exists(keep));
	tmp_path(p, sizeof(p), "dirlink");
	assert_int_equal(symlink(outside, p), 0);
	assert_int_equal(rm_rf(p), 0);
	assert_false(exists(p));
	assert_true(is_dir(outside));
	tmp_path(p, sizeof(p), "missing/deeper");
	assert_int_equal(rm_rf(p), 0);
	assert_int_equal(rm_rf(outside), 0);
	assert_false(exists(outside));
}

/* ---- errors ------------------------------------------------------------- */

/* A module's own adapter, as yamltree's builder has: context, then strv_verrf(). */
static int PRINTF(3, 4) adapter(struct strv *sv, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r = strv_verrf(sv, r, "ctx", fmt, ap);
	va_end(ap);
	return r;
}

static void test_errf(void **state)
{
	struct strv sv = {0};
	char err[16], tiny[4];

	(void)state;
	assert_int_equal(errf(err, sizeof(err), -EINVAL, "bad %s %d", "x", 5), -EINVAL);
	assert_string_equal(err, "bad x 5");
	assert_int_equal(errf(err, sizeof(err), 0, "%s", ""), 0);
	assert_string_equal(err, "");
	/* Cut to fit, always terminated, never past errlen. */
	memset(err, 'z', sizeof(err));
	assert_int_equal(errf(tiny, sizeof(tiny), -EBUSY, "abcdef"), -EBUSY);
	assert_string_equal(tiny, "abc");
	assert_int_equal(errf(err, 1, -EIO, "abc"), -EIO);
	assert_string_equal(err, "");
	assert_int_equal(err[1], 'z');
	/* No buffer: only the result. */
	assert_int_equal(errf(NULL, 0, -ENOENT, "x"), -ENOENT);
	assert_int_equal(errf(NULL, 16, -ENOENT, "x"), -ENOENT);
	memset(err, 'z', sizeof(err));
	assert_int_equal(errf(err, 0, -ENOENT, "x"), -ENOENT);
	assert_int_equal(err[0], 'z');

	assert_int_equal(strv_errf(&sv, -EINVAL, NULL, "a %s", "b"), -EINVAL);
	assert_int_equal(strv_errf(&sv, 0, "file.yaml", "warning %d", 2), 0);
	assert_int_equal(strv_errf(&sv, -EFBIG, "", "big"), -EFBIG);
	assert_int_equal(adapter(&sv, -EINVAL, "line %d", 7), -EINVAL);
	assert_int_equal(sv.n, 4);
	assert_string_equal(sv.v[0], "a b");
	assert_string_equal(sv.v[1], "file.yaml: warning 2");
	assert_string_equal(sv.v[2], ": big");
	assert_string_equal(sv.v[3], "ctx: line 7");
	strv_clear(&sv);
}

/* ---- quoting ------------------------------------------------------------ */

struct quote_case {
	const char *in;
	size_t n; /* 0: strlen(in) */
	size_t max;
	const char *want;
};

static const struct quote_case quote_cases[] = {
    {"", 0, 0, "\"\""},
    {"abc xyz", 0, 0, "\"abc xyz\""},
    {"a\"b\\c'", 0, 0, "\"a\\\"b\\\\c'\""},
    {"\a\b\f\n\r\t\v", 0, 0, "\"\\a\\b\\f\\n\\r\\t\\v\""},
    {"\x01\x1b\x1f\x7f", 0, 0, "\"\\x01\\x1b\\x1f\\x7f\""},
    {"a\0b", 3, 0, "\"a\\x00b\""},
    /* Invalid UTF-8, byte by byte: stray, truncated, overlong, surrogate, too big. */
    {"\xff\xfe", 0, 0, "\"\\xff\\xfe\""},
    {"x\xc3", 0, 0, "\"x\\xc3\""},
    {"\xc3(", 0, 0, "\"\\xc3(\""},
    {"\xc0\xae", 0, 0, "\"\\xc0\\xae\""},
    {"\xed\xa0\x80", 0, 0, "\"\\xed\\xa0\\x80\""},
    {"\xf4\x90\x80\x80", 0, 0, "\"\\xf4\\x90\\x80\\x80\""},
    /* Printable multi-byte characters as they are. */
    {"h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80", 0, 0, "\"h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80\""},
    /* Code points Go does not print. */
    {"\xc2\x85", 0, 0, "\"\\u0085\""},
    {"\xc2\xa0\xc2\xad", 0, 0, "\"\\u00a0\\u00ad\""},
    {"\xef\xbb\xbf" "a", 0, 0, "\"\\ufeffa\""},
    {"\xe2\x80\xa8", 0, 0, "\"\\u2028\""},
    {"\xee\x80\x80", 0, 0, "\"\\ue000\""},
    {"\xf3\xb0\x80\x80", 0, 0, "\"\\U000f0000\""},
    {"\xf3\xa0\x80\x81", 0, 0, "\"\\U000e0001\""},
    /* Cutting: at most max bytes, never half a sequence, "..." inside the quotes. */
    {"abcdef", 0, 6, "\"abcdef\""},
    {"abcdef", 0, 3, "\"abc...\""},
    {"abcdef", 0, 1, "\"a...\""},
    {"ab\xc3\xa9z", 0, 3, "\"ab...\""},
    {"ab\xc3\xa9z", 0, 4, "\"ab\xc3\xa9...\""},
    {"\x01\x02\x03", 0, 2, "\"\\x01\\x02...\""},
    {"a\xff\xfe", 0, 2, "\"a\\xff...\""},
    {"\xf0\x9f\x98\x80", 0, 3, "\"...\""},
};

static void test_go_quote(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(quote_cases); i++) {
		const struct quote_case *c = &quote_cases[i];
		size_t n = c->n ? c->n : strlen(c->in);
		char fixed[256];
		struct buf b;

		buf_init(&b, 1024);
		assert_int_equal(go_quote(&b, c->in, n, c->max), 0);
		if (strcmp(b.data, c->want) != 0)
			fail_msg("case %zu: got %s, want %s", i, b.data, c->want);
		assert_int_equal(b.len, strlen(c->want));
		assert_ptr_equal(go_quote_fixed(fixed, sizeof(fixed), c->in, n, c->max), fixed);
		assert_string_equal(fixed, c->want);
		buf_free(&b);
	}
}

static void test_go_quote_limits(void **state)
{
	char out[8], big[400], huge[4 * 300 + 8];
	struct buf b;

	(void)state;
	/* The fixed form cuts at a byte, like snprintf, even inside an escape. */
	assert_string_equal(go_quote_fixed(out, 6, "abcdef", 6, 0), "\"abcd");
	assert_string_equal(go_quote_fixed(out, sizeof(out), "a\nbcdef", 7, 0), "\"a\\nbcd");
	assert_string_equal(go_quote_fixed(out, 4, "a\x01", 2, 0), "\"a\\");
	assert_string_equal(go_quote_fixed(out, 1, "abc", 3, 0), "");
	memset(out, 'z', sizeof(out));
	go_quote_fixed(out, 0, "abc", 3, 0);
	assert_int_equal(out[0], 'z');

	/* A cut quote is bounded by 4 * max + 5 bytes, however s looks. */
	memset(big, 0x01, sizeof(big));
	go_quote_fixed(huge, sizeof(huge), big, sizeof(big), 300);
	assert_int_equal(strlen(huge), 4 * 300 + 5);
	assert_non_null(strstr(huge, "\\x01...\""));

	/* The buffer's limit comes back, with part of the text kept. */
	buf_init(&b, 4);
	assert_int_equal(go_quote(&b, "abcdef", 6, 0), -EFBIG);
	assert_true(b.len <= 4);
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(go_quote(&b, "abcdef", 6, 0), 0);
	assert_string_equal(b.data, "\"abcdef\"");
	assert_int_equal(go_quote(&b, "", 0, 0), -EFBIG);
	buf_free(&b);
}

/* ---- request-line words ------------------------------------------------- */

static const struct split_rules plain = {.max_len = 16, .max_words = 3, .blanks = " \t"};
static const struct split_rules crlf = {
    .max_len = 16, .max_words = 3, .blanks = " \t", .flags = SPLIT_LEN_WITH_EOL | SPLIT_CRLF};
static const struct split_rules cr_blank = {.max_len = 16, .max_words = 8, .blanks = " \t\r"};

struct split_case {
	const struct split_rules *rules;
	const char *line;
	size_t len; /* 0: strlen(line) */
	int r;
	size_t n;
	const char *words; /* the stored words joined with "|" */
};

static const struct split_case split_cases[] = {
    {&plain, "", 0, 0, 0, ""},
    {&plain, "\n", 0, 0, 0, ""},
    {&plain, "  \t ", 0, 0, 0, ""},
    {&plain, "one", 0, 0, 1, "one"},
    {&plain, " a  b\tc \n", 0, 0, 3, "a|b|c"},
    /* More words than kept: counted, the first max_words stored. */
    {&plain, "a b c d e", 0, 0, 5, "a|b|c"},
    /* Only the listed blanks separate; '\r' is a word byte unless listed. */
    {&plain, "a\rb", 0, 0, 1, "a\rb"},
    {&plain, "a\x01 b", 0, 0, 2, "a\x01|b"},
    {&cr_blank, "a\rb c\r\n", 0, 0, 3, "a|b|c"},
    /* Line breaks and NUL bytes. */
    {&plain, "a\nb", 0, -EBADMSG, 0, NULL},
    {&plain, "a\n\n", 0, -EBADMSG, 0, NULL},
    {&plain, "a\0b", 3, -EILSEQ, 0, NULL},
    {&plain, "a\0\nb", 4, -EILSEQ, 0, NULL},
    {&crlf, "a\r\n", 0, 0, 1, "a"},
    {&crlf, "a b\r", 0, 0, 2, "a|b"},
    {&crlf, "a\rb", 0, -EBADMSG, 0, NULL},
    {&crlf, "a\r\r\n", 0, -EBADMSG, 0, NULL},
    /* Length: max_len bytes, the line end counted only with SPLIT_LEN_WITH_EOL. */
    {&plain, "0123456789abcdef", 0, 0, 1, "0123456789abcdef"},
    {&plain, "0123456789abcdef\n", 0, 0, 1, "0123456789abcdef"},
    {&plain, "0123456789abcdefg", 0, -EMSGSIZE, 0, NULL},
    {&plain, "a b c d e f g h i", 0, -EMSGSIZE, 0, NULL},
    {&crlf, "0123456789abcde\n", 0, 0, 1, "0123456789abcde"},
    {&crlf, "0123456789abcdef\n", 0, -EMSGSIZE, 0, NULL},
    {&crlf, "0123456789abcdef", 0, 0, 1, "0123456789abcdef"},
    /* The length is checked first, then NUL bytes, then line breaks. */
    {&plain, "0123456789abcde\0\nx", 18, -EMSGSIZE, 0, NULL},
    {&plain, "a\n\0", 3, -EILSEQ, 0, NULL},
};

static void test_split_words(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(split_cases); i++) {
		const struct split_case *c = &split_cases[i];
		size_t len = c->len ? c->len : strlen(c->line), n = 99;
		char buf[32], *v[8], joined[64] = "";
		int r = split_words(c->line, len, c->rules, buf, v, &n);

		if (r != c->r)
			fail_msg("case %zu: %d, want %d", i, r, c->r);
		if (r < 0) {
			assert_int_equal(n, 99);
			continue;
		}
		assert_int_equal(n, c->n);
		for (size_t k = 0; k < n && k < c->rules->max_words; k++)
			snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s",
				 k ? "|" : "", v[k]);
		if (strcmp(joined, c->words) != 0)
			fail_msg("case %zu: words \"%s\", want \"%s\"", i, joined, c->words);
	}
}

static void test_split_words_null(void **state)
{
	char buf[32], *v[8];
	size_t n = 99;

	(void)state;
	assert_int_equal(split_words(NULL, 0, &plain, buf, v, &n), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strv),
	    cmocka_unit_test(test_buf_limits),
	    cmocka_unit_test(test_parse_u64),
	    cmocka_unit_test(test_parse_nonneg_int),
	    cmocka_unit_test(test_hex_encode),
	    cmocka_unit_test(test_sha256_fd),
	    cmocka_unit_test(test_format_rfc3339),
	    cmocka_unit_test(test_errf),
	    cmocka_unit_test(test_go_quote),
	    cmocka_unit_test(test_go_quote_limits),
	    cmocka_unit_test(test_split_words),
	    cmocka_unit_test(test_split_words_null),
	    cmocka_unit_test_setup_teardown(test_files, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_mkdir_p, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_rm_rf, tmp_setup, tmp_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
