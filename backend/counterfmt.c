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

/* One row as a JSON array, ["key","date",count] with absent fields left out. */
static int json_row(const struct counter_row *row, struct buf *out)
{
	json_t *a = json_array();
	char date[40], *text = NULL;
	int r = a ? 0 : -ENOMEM;

	if (r == 0 && has_key(row) && json_array_append_new(a, json_string(row->key)) < 0)
		r = -EINVAL; /* not UTF-8: counter_token_valid() keeps such keys out */
	if (r == 0 && row->dated) {
		format_date(row->time, date);
		if (json_array_append_new(a, json_string(date)) < 0)
			r = -ENOMEM;
	}
	if (r == 0 && json_array_append_new(a, json_integer((json_int_t)row->count)) < 0)
		r = -ENOMEM;
	if (r == 0)
		text = json_dumps(a, JSON_COMPACT);
	if (r == 0)
		r = text ? buf_add(out, text, strlen(text)) : -ENOMEM;
	free(text);
	json_decref(a);
	return r;
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

/* Go's %q of s, as far as the messages need it, into out. */
static void go_quote(const char *s, char *out, size_t len)
{
	size_t o = 0;

	if (len < 3) {
		if (len)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 6 < len; p++) {
		static const char esc[] = "\a\b\f\n\r\t\v";
		static const char names[] = "abfnrtv";
		const char *e = *p ? strchr(esc, *p) : NULL;
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (e) {
			out[o++] = '\\';
			out[o++] = names[e - esc];
		} else if (*p < 0x20 || *p == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
}

static int bad_value(const char *what, const char *v, char *err, size_t errlen)
{
	char q[160];

	go_quote(v, q, sizeof(q));
	snprintf(err, errlen, "Invalid '%s' value: %s", what, q);
	return -EINVAL;
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

int counter_parse_query(const char *line, size_t len, struct counter_req *ret_req,
			enum counter_fmt *ret_fmt, char *err, size_t errlen)
{
	struct counter_req req = { .tokens = NULL };
	enum counter_fmt fmt = COUNTER_FMT_AUTO;
	char copy[COUNTER_MAX_QUERY + 1];
	char *p, *end;
	int r = 0;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > COUNTER_MAX_QUERY) {
		snprintf(err, errlen, "query longer than %d bytes", COUNTER_MAX_QUERY);
		return -EINVAL;
	}
	if (memchr(line, '\0', len) || memchr(line, '\n', len)) {
		snprintf(err, errlen, "a query is one line of text");
		return -EINVAL;
	}
	memcpy(copy, line, len);
	copy[len] = '\0';
	for (p = copy; r == 0 && *p; p = end) {
		char *eq;
		p += strspn(p, " \t\r");
		if (!*p)
			break;
		end = p + strcspn(p, " \t\r");
		if (*end)
			*end++ = '\0';
		eq = strchr(p, '=');
		if (strcmp(p, "exact") == 0) {
			req.prefix = false;
		} else if (strcmp(p, "prefix") == 0) {
			req.prefix = true;
		} else if (strcmp(p, "list") == 0) {
			req.list = true;
		} else if (eq && (!strncmp(p, "by=", 3) || !strncmp(p, "start=", 6) ||
				  !strncmp(p, "stop=", 5) || !strncmp(p, "format=", 7))) {
			*eq = '\0';
			if (!eq[1])
				r = bad_value(p, "", err, errlen);
			else
				r = counter_parse_param(p, eq + 1, &req, &fmt, err, errlen);
		} else {
			char q[160];
			go_quote(p, q, sizeof(q));
			snprintf(err, errlen, "unknown query word %s (expected [exact|prefix] [list]"
					      " [by=day|week] [start=YYYY-MM-DD] [stop=YYYY-MM-DD]"
					      " [format=text|csv|json])", q);
			r = -EINVAL;
		}
	}
	if (r == 0 && req.start && req.stop && req.stop < req.start) {
		snprintf(err, errlen, "stop is before start");
		r = -EINVAL;
	}
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
