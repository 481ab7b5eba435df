/*
 * The text side of counters: the answer formats of the original
 * /stats/counter API (number, text, csv, json; byte-exact, including the
 * json without a final newline), the counter.query line of the counters/
 * tree, and the original's HTTP parameters with their 400 messages.
 *
 * Parsing is bounded (COUNTER_MAX_QUERY) and strict: dates are exactly
 * YYYY-MM-DD and must exist, like Go's time.Parse("2006-01-02"). Messages
 * quote the offending value the way Go's %q does, so that the HTTP front
 * end answers with the original bodies. The only deliberate difference is
 * that json keys are escaped (the original pasted them in raw): json is
 * made by jansson, one row at a time.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "counter.h"
#include "banned.h"

enum counter_fmt counter_fmt_resolve(const struct counter_req *req, enum counter_fmt fmt,
				     bool newline)
{
	if (fmt != COUNTER_FMT_AUTO)
		return fmt;
	if (!req->list && req->by == COUNTER_BY_ALL)
		return newline ? COUNTER_FMT_NUMBER_NL : COUNTER_FMT_NUMBER;
	return COUNTER_FMT_TEXT;
}

static void format_date(int64_t t, char out[40])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm)) {
		snprintf(out, 40, "?");
		return;
	}
	snprintf(out, 40, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static bool has_key(const struct counter_row *row)
{
	return row->key && row->key[0];
}

static int format_text(const struct counter_result *res, struct buf *out)
{
	size_t width = 0;
	char date[40];
	int r = 0;

	for (size_t i = 0; i < res->n; i++)
		if (has_key(&res->rows[i]) && strlen(res->rows[i].key) > width)
			width = strlen(res->rows[i].key);
	for (size_t i = 0; r == 0 && i < res->n; i++) {
		const struct counter_row *row = &res->rows[i];
		if (has_key(row))
			r = buf_addf(out, "%-*s", (int)(width + 2), row->key);
		if (r == 0 && row->dated) {
			format_date(row->time, date);
			r = buf_addf(out, "%s  ", date);
		}
		if (r == 0)
			r = buf_addf(out, "%llu\n", (unsigned long long)row->count);
	}
	return r;
}

static int format_csv(const struct counter_result *res, struct buf *out)
{
	char date[40];
	int r = 0;

	for (size_t i = 0; r == 0 && i < res->n; i++) {
		const struct counter_row *row = &res->rows[i];
		if (has_key(row))
			r = buf_addf(out, "%s,", row->key);
		if (r == 0 && row->dated) {
			format_date(row->time, date);
			r = buf_addf(out, "%s,", date);
		}
		if (r == 0)
			r = buf_addf(out, "%llu\n", (unsigned long long)row->count);
	}
	return r;
}

/* json_dump_callback() output appended to a buffer; r keeps the buffer's error. */
struct json_sink {
	struct buf *out;
	int r;
};

static int json_to_buf(const char *p, size_t n, void *data)
{
	struct json_sink *k = data;

	k->r = buf_add(k->out, p, n);
	return k->r < 0 ? -1 : 0;
}

/* One row as a JSON array, ["key","date",count] with absent fields left out. */
static int json_row(const struct counter_row *row, struct buf *out)
{
	const char *key = has_key(row) ? row->key : NULL, *day = NULL;
	struct json_sink k = { .out = out };
	char date[40];
	json_t *a;

	/* Not UTF-8: counter_token_valid() keeps such keys out. */
	if (key && !utf8_valid(key, strlen(key)))
		return -EINVAL;
	if (row->dated) {
		format_date(row->time, date);
		day = date;
	}
	a = json_pack("[s*s*I]", key, day, (json_int_t)row->count);
	if (!a)
		return -ENOMEM;
	if (json_dump_callback(a, json_to_buf, &k, JSON_COMPACT) < 0 && k.r == 0)
		k.r = -ENOMEM;
	json_decref(a);
	return k.r;
}

/* Rows are encoded one at a time, so a long answer never holds a whole JSON tree. */
static int format_json(const struct counter_result *res, struct buf *out)
{
	int r = buf_add(out, "[", 1);

	for (size_t i = 0; r == 0 && i < res->n; i++) {
		if (i)
			r = buf_add(out, ",", 1);
		if (r == 0)
			r = json_row(&res->rows[i], out);
	}
	return r ? r : buf_add(out, "]", 1);
}

int counter_format(const struct counter_result *res, enum counter_fmt fmt, struct buf *out)
{
	unsigned long long n = res->n ? (unsigned long long)res->rows[0].count : 0;

	switch (fmt) {
	case COUNTER_FMT_NUMBER:
		return buf_addf(out, "%llu", n);
	case COUNTER_FMT_NUMBER_NL:
		return buf_addf(out, "%llu\n", n);
	case COUNTER_FMT_TEXT:
		return format_text(res, out);
	case COUNTER_FMT_CSV:
		return format_csv(res, out);
	case COUNTER_FMT_JSON:
		return format_json(res, out);
	default:
		return -EINVAL;
	}
}

/* ---- parsing ------------------------------------------------------------------- */

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int counter_parse_date(const char *s, int64_t *ret)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int v[3] = { 0, 0, 0 };
	static const int widths[3] = { 4, 2, 2 };
	struct tm tm;
	time_t t;

	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -EINVAL;
	for (int f = 0, pos = 0; f < 3; f++, pos++)
		for (int i = 0; i < widths[f]; i++, pos++) {
			if (s[pos] < '0' || s[pos] > '9')
				return -EINVAL;
			v[f] = v[f] * 10 + (s[pos] - '0');
		}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 ||
	    v[2] > mdays[v[1] - 1] + (v[1] == 2 && is_leap(v[0])))
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	t = timegm(&tm);
	*ret = (int64_t)t;
	return 0;
}

/* Bytes of a value that messages quote; the rest is cut. */
#define QUOTE_CUT 153
/* Every word of a query line fits: words are at least a byte and a blank apart. */
#define QUERY_WORDS_MAX (COUNTER_MAX_QUERY / 2 + 1)

static const struct split_rules query_rules = {
	.max_len = COUNTER_MAX_QUERY,
	.max_words = QUERY_WORDS_MAX,
	.blanks = " \t\r",
};

static int bad_value(const char *what, const char *v, char *err, size_t errlen)
{
	char q[4 * QUOTE_CUT + 8];

	return errf(err, errlen, -EINVAL, "Invalid '%s' value: %s", what,
		    go_quote_fixed(q, sizeof(q), v, strlen(v), QUOTE_CUT));
}

int counter_parse_param(const char *name, const char *v, struct counter_req *req,
			enum counter_fmt *fmt, char *err, size_t errlen)
{
	int64_t t;

	if (strcmp(name, "list") == 0) {
		req->list = strcmp(v, "1") == 0;
	} else if (strcmp(name, "by") == 0) {
		if (!v[0])
			req->by = COUNTER_BY_ALL;
		else if (strcmp(v, "day") == 0)
			req->by = COUNTER_BY_DAY;
		else if (strcmp(v, "week") == 0)
			req->by = COUNTER_BY_WEEK;
		else
			return bad_value("by", v, err, errlen);
	} else if (strcmp(name, "start") == 0 || strcmp(name, "stop") == 0) {
		bool start = name[3] == 'r';
		if (!v[0])
			t = 0;
		else if (counter_parse_date(v, &t) < 0)
			return bad_value(name, v, err, errlen);
		/* 0 means unbounded: a stop on 1970-01-01 still means that day. */
		if (!start && v[0] && t == 0)
			t = 1;
		if (start)
			req->start = t;
		else
			req->stop = t;
	} else if (strcmp(name, "format") == 0) {
		if (!v[0])
			*fmt = COUNTER_FMT_AUTO;
		else if (strcmp(v, "text") == 0)
			*fmt = COUNTER_FMT_TEXT;
		else if (strcmp(v, "csv") == 0)
			*fmt = COUNTER_FMT_CSV;
		else if (strcmp(v, "json") == 0)
			*fmt = COUNTER_FMT_JSON;
		else
			return bad_value("format", v, err, errlen);
	}
	return 0;
}

/* One word of a counter.query line applied to req and fmt. 0 or -EINVAL. */
static int query_word(char *p, struct counter_req *req, enum counter_fmt *fmt, char *err,
		      size_t errlen)
{
	char *eq = strchr(p, '=');
	char q[4 * QUOTE_CUT + 8];

	if (strcmp(p, "exact") == 0) {
		req->prefix = false;
	} else if (strcmp(p, "prefix") == 0) {
		req->prefix = true;
	} else if (strcmp(p, "list") == 0) {
		req->list = true;
	} else if (eq && (!strncmp(p, "by=", 3) || !strncmp(p, "start=", 6) ||
			  !strncmp(p, "stop=", 5) || !strncmp(p, "format=", 7))) {
		*eq = '\0';
		if (!eq[1])
			return bad_value(p, "", err, errlen);
		return counter_parse_param(p, eq + 1, req, fmt, err, errlen);
	} else {
		return errf(err, errlen, -EINVAL,
			    "unknown query word %s (expected [exact|prefix] [list]"
			    " [by=day|week] [start=YYYY-MM-DD] [stop=YYYY-MM-DD]"
			    " [format=text|csv|json])",
			    go_quote_fixed(q, sizeof(q), p, strlen(p), QUOTE_CUT));
	}
	return 0;
}

int counter_parse_query(const char *line, size_t len, struct counter_req *ret_req,
			enum counter_fmt *ret_fmt, char *err, size_t errlen)
{
	struct counter_req req = { .tokens = NULL };
	enum counter_fmt fmt = COUNTER_FMT_AUTO;
	char copy[COUNTER_MAX_QUERY + 1], *words[QUERY_WORDS_MAX];
	size_t n;
	int r;

	r = split_words(line, len, &query_rules, copy, words, &n);
	if (r == -EMSGSIZE)
		return errf(err, errlen, -EINVAL, "query longer than %d bytes", COUNTER_MAX_QUERY);
	if (r < 0)
		return errf(err, errlen, -EINVAL, "a query is one line of text");
	for (size_t i = 0; r == 0 && i < n; i++)
		r = query_word(words[i], &req, &fmt, err, errlen);
	if (r == 0 && req.start && req.stop && req.stop < req.start)
		r = errf(err, errlen, -EINVAL, "stop is before start");
	if (r < 0)
		return r;
	*ret_fmt = counter_fmt_resolve(&req, fmt, true);
	*ret_req = req;
	return 0;
}

int counter_split_key(char *key, const char **ret_tokens, size_t max, size_t *ret_n,
		      bool *ret_prefix)
{
	size_t n = 0;
	bool prefix = false;
	char *p = key;

	if (strchr(key, '/'))
		return -ENOENT;
	if (!key[0])
		return -EPERM;
	for (;;) {
		char *c = strchr(p, ':');
		if (c)
			*c = '\0';
		if (!c && strcmp(p, "*") == 0) {
			prefix = true;
			break;
		}
		if (n == max)
			return -E2BIG;
		ret_tokens[n++] = p;
		if (!c)
			break;
		p = c + 1;
	}
	if (n == 0)
		return -EPERM;
	*ret_n = n;
	*ret_prefix = prefix;
	return 0;
}
