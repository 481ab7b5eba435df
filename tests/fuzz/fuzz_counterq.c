/*
 * Fuzz target for the counter request parsers (backend/counterfmt.c): the
 * counter.query line, the /stats/counter parameters and key. The input's
 * first byte picks the parser; the rest is the untrusted text. Checked: a
 * refusal is -EINVAL (or the key's documented codes) with a message, and
 * an accepted query line yields a request counter_format() can answer.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counter.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_counterq: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                            \
			abort();                                                             \
		}                                                                            \
	} while (0)

static void query_line(const char *s, size_t n)
{
	struct counter_req req;
	enum counter_fmt fmt;
	char err[256] = "";
	int r = counter_parse_query(s, n, &req, &fmt, err, sizeof(err));

	if (r < 0) {
		CHECK(r == -EINVAL && err[0]);
		return;
	}
	CHECK(fmt != COUNTER_FMT_AUTO);
	CHECK(req.by == COUNTER_BY_ALL || req.by == COUNTER_BY_DAY || req.by == COUNTER_BY_WEEK);
	struct counter_result res = { 0 };
	struct buf out;
	buf_init(&out, 1 << 16);
	CHECK(counter_format(&res, fmt, &out) == 0);
	buf_free(&out);
}

static void param(char *s)
{
	static const char *const names[] = { "list", "by", "start", "stop", "format", "x" };
	struct counter_req req = { 0 };
	enum counter_fmt fmt = COUNTER_FMT_AUTO;
	char err[256] = "";
	char *eq = strchr(s, '=');
	int r;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		err[0] = '\0';
		r = counter_parse_param(names[i], eq ? eq + 1 : s, &req, &fmt, err, sizeof(err));
		CHECK(r == 0 || (r == -EINVAL && err[0]));
	}
}

static void key(char *s)
{
	const char *tok[COUNTER_MAX_DEPTH];
	size_t n = 0;
	bool prefix = false;
	int r = counter_split_key(s, tok, COUNTER_MAX_DEPTH, &n, &prefix);

	CHECK(r == 0 || r == -ENOENT || r == -EPERM || r == -E2BIG);
	if (r == 0)
		CHECK(n >= 1 && n <= COUNTER_MAX_DEPTH);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > 4096)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		query_line((const char *)data + 1, size - 1);
		break;
	case 1:
		param(s);
		break;
	default:
		key(s);
		break;
	}
	free(s);
	return 0;
}
