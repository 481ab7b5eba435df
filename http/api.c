/*
 * The JSON and counter endpoints of the original charm store API:
 * /charm-info, /charm-event and /stats/counter/KEY, with the original's
 * response shapes, messages, status codes and counting (server.go at
 * juju/charmstore b640e631).
 *
 * JSON objects are keyed by request strings, sorted bytewise as Go's
 * encoding/json sorts map keys; fields keep the original struct order.
 * Request strings are arbitrary bytes once percent-decoded: invalid UTF-8 is
 * replaced by U+FFFD byte by byte, as Go's encoder does, so every answer is
 * valid JSON. A request holds at most as many URLs as fit in the
 * connection's memory limit, which bounds the answer.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "counter.h"
#include "internal.h"
#include "query.h"
#include "banned.h"

#define NOT_FOUND "entry not found"
#define JSON_TYPE "application/json"
#define STATS_BODY_MAX (64u << 20)

/* ---- request values ------------------------------------------------------ */

struct values {
	const char **v;
	size_t n;
	bool nomem;
};

static enum MHD_Result collect_charms(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct values *vals = cls;
	const char **nv;

	(void)kind;
	if (strcmp(key, "charms") != 0)
		return MHD_YES;
	nv = realloc(vals->v, (vals->n + 1) * sizeof(*nv));
	if (!nv) {
		vals->nomem = true;
		return MHD_NO;
	}
	vals->v = nv;
	vals->v[vals->n++] = value ? value : "";
	return MHD_YES;
}

/* A copy of s with every invalid UTF-8 byte replaced by U+FFFD (caller frees), for object keys. */
static char *utf8_clean(const char *s)
{
	size_t len = strlen(s);
	struct buf b;

	buf_init(&b, 3 * len + 1);
	if (utf8_repair(s, len, &b) < 0 || buf_add(&b, "", 1) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

static json_t *jstr(const char *s)
{
	return json_text(s, strlen(s));
}

static int set_clean(json_t *o, const char *key, json_t *v)
{
	char *clean = utf8_clean(key);
	int r = clean && v ? json_object_set_new(o, clean, v) : (json_decref(v), -1);

	free(clean);
	return r;
}

static json_t *errors1(const char *msg)
{
	json_t *a = json_array();

	if (a)
		json_array_append_new(a, jstr(msg));
	return a;
}

static json_t *strv_json(const struct strv *sv)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < sv->n; i++)
		json_array_append_new(a, jstr(sv->v[i]));
	return a;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Queues all as JSON with its keys sorted bytewise (Go's map order). Takes all. */
static enum MHD_Result reply_sorted(struct MHD_Connection *c, json_t *all)
{
	size_t n = json_object_size(all), i = 0;
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	json_t *out = json_object(), *v;
	const char *k;
	char *text = NULL;

	if (keys && out) {
		json_object_foreach(all, k, v)
			keys[i++] = k;
		qsort(keys, n, sizeof(*keys), cmp_str);
		for (i = 0; i < n; i++)
			json_object_set(out, keys[i], json_object_get(all, keys[i]));
		text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	}
	free(keys);
	json_decref(out);
	json_decref(all);
	if (!text)
		return MHD_NO;
	return http_reply_take(c, MHD_HTTP_OK, JSON_TYPE, text, strlen(text));
}

/* ---- /charm-info ------------------------------------------------------------ */

static json_t *info_one(struct http_server *hs, const char *s, bool stats)
{
	json_t *o = json_object();
	struct store_rev rev;
	struct url u;
	char msg[URL_INPUT_MAX + 128], canon[URL_STR_MAX];
	int r;

	if (!o)
		return NULL;
	r = url_parse(s, &u, msg, sizeof(msg));
	if (r == 0) {
		r = http_resolve(hs, &u);
		if (r == 0) {
			r = query_rev(hs->store, &u, &rev);
			if (r == -ENOENT && stats)
				http_count(hs, STORE_COUNT_MISSING, &u);
		}
		snprintf(msg, sizeof(msg), "%s", r == -ENOENT ? NOT_FOUND : strerror(-r));
	}
	if (r < 0) {
		json_object_set_new(o, "revision", json_integer(0));
		json_object_set_new(o, "errors", errors1(msg));
		return o;
	}
	url_format(&u, canon, sizeof(canon));
	json_object_set_new(o, "canonical-url", json_string(canon));
	json_object_set_new(o, "revision", json_integer(rev.revision));
	json_object_set_new(o, "sha256", json_string(rev.sha256));
	if (rev.digest[0])
		json_object_set_new(o, "digest", jstr(rev.digest));
	if (stats)
		http_count(hs, STORE_COUNT_INFO, &u);
	return o;
}

enum MHD_Result http_serve_info(struct http_server *hs, struct MHD_Connection *c)
{
	struct values vals = { 0 };
	bool stats = http_stats_enabled(hs, c);
	json_t *all = json_object();

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_charms, &vals);
	for (size_t i = 0; all && !vals.nomem && i < vals.n; i++) {
		if (set_clean(all, vals.v[i], info_one(hs, vals.v[i], stats)) < 0)
			vals.nomem = true;
	}
	free(vals.v);
	if (!all || vals.nomem) {
		json_decref(all);
		return MHD_NO;
	}
	return reply_sorted(c, all);
}

/* ---- /charm-event ----------------------------------------------------------- */

static json_t *event_error(json_t *o, const char *msg)
{
	json_object_set_new(o, "kind", json_string(""));
	json_object_set_new(o, "revision", json_integer(0));
	json_object_set_new(o, "errors", errors1(msg));
	return o;
}

static json_t *event_one(struct http_server *hs, const char *url, const char *digest,
			 bool stats)
{
	json_t *o = json_object();
	struct query_event e = { 0 };
	struct url u;
	char msg[URL_INPUT_MAX + 128], text[URL_STR_MAX], ts[32];
	int r;

	if (!o)
		return NULL;
	r = url_parse(url, &u, msg, sizeof(msg));
	if (r < 0)
		return event_error(o, msg);
	r = http_resolve(hs, &u);
	if (r == 0 && u.revision >= 0) {
		url_format(&u, text, sizeof(text));
		snprintf(msg, sizeof(msg), "CharmEvent: got charm URL with revision: %s", text);
		return event_error(o, msg);
	}
	if (r == 0)
		r = query_event_latest(hs->store, &u, digest, &e);
	if (r < 0)
		return event_error(o, r == -ENOENT ? NOT_FOUND : strerror(-r));
	json_object_set_new(o, "kind", json_string(e.kind == QUERY_EVENT_PUBLISHED
							   ? "published"
							   : "publish-error"));
	json_object_set_new(o, "revision", json_integer(e.revision));
	if (e.digest[0])
		json_object_set_new(o, "digest", jstr(e.digest));
	if (e.errors.n)
		json_object_set_new(o, "errors", strv_json(&e.errors));
	if (e.warnings.n)
		json_object_set_new(o, "warnings", strv_json(&e.warnings));
	format_rfc3339(e.time_ns / 1000000000, ts);
	json_object_set_new(o, "time", json_string(ts));
	query_event_clear(&e);
	if (stats)
		http_count(hs, STORE_COUNT_EVENT, &u);
	return o;
}

enum MHD_Result http_serve_event(struct http_server *hs, struct MHD_Connection *c)
{
	const char *lk = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "long_keys");
	bool long_keys = lk && strcmp(lk, "1") == 0, stats = http_stats_enabled(hs, c);
	struct values vals = { 0 };
	json_t *all = json_object();

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_charms, &vals);
	for (size_t i = 0; all && !vals.nomem && i < vals.n; i++) {
		const char *full = vals.v[i], *at = strchr(full, '@');
		char *shorturl = at && at[1] ? strndup(full, (size_t)(at - full)) : strdup(full);
		const char *digest = at && at[1] ? at + 1 : NULL;

		if (!shorturl ||
		    set_clean(all, long_keys ? full : shorturl,
			      event_one(hs, shorturl, digest, stats)) < 0)
			vals.nomem = true;
		free(shorturl);
	}
	free(vals.v);
	if (!all || vals.nomem) {
		json_decref(all);
		return MHD_NO;
	}
	return reply_sorted(c, all);
}

/* ---- /stats/counter/KEY ------------------------------------------------------ */

static enum MHD_Result stats_bad(struct MHD_Connection *c, const char *msg)
{
	return http_reply_text(c, MHD_HTTP_BAD_REQUEST, "text/plain; charset=utf-8", msg);
}

/* Applies the parameter name (its first value) to req and fmt. */
static int stats_param(struct MHD_Connection *c, const char *name, struct counter_req *req,
		       enum counter_fmt *fmt, char *err, size_t errlen)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);

	return counter_parse_param(name, v ? v : "", req, fmt, err, errlen);
}

enum MHD_Result http_serve_stats(struct http_server *hs, struct MHD_Connection *c,
				 const char *key)
{
	static const char *const first[] = { "list", "by", "start", "stop" };
	const char *tokens[COUNTER_MAX_DEPTH + 1];
	struct counter_req req = { 0 };
	struct counter_result res = { 0 };
	struct counter_row zero = { 0 };
	enum counter_fmt fmt = COUNTER_FMT_AUTO;
	struct buf out;
	char err[256], *body, *k;
	size_t len;
	int r;

	if (strchr(key, '/'))
		return http_reply_not_found(c);
	if (!key[0])
		return http_reply_text(c, MHD_HTTP_FORBIDDEN, NULL, "");
	for (size_t i = 0; i < ARRAY_SIZE(first); i++)
		if (stats_param(c, first[i], &req, &fmt, err, sizeof(err)) < 0)
			return stats_bad(c, err);
	k = strdup(key);
	if (!k)
		return MHD_NO;
	r = counter_split_key(k, tokens, ARRAY_SIZE(tokens), &req.n, &req.prefix);
	if (r == -EPERM || r == -ENOENT) {
		free(k);
		return r == -EPERM ? http_reply_text(c, MHD_HTTP_FORBIDDEN, NULL, "")
				   : http_reply_not_found(c);
	}
	if (stats_param(c, "format", &req, &fmt, err, sizeof(err)) < 0) {
		free(k);
		return stats_bad(c, err);
	}
	req.tokens = tokens;
	fmt = counter_fmt_resolve(&req, fmt, false);
	if (r == 0) {
		r = store_counter_query(hs->store, &req, &res);
		if (r == -EINVAL)
			r = -E2BIG; /* stop before start: nothing matches, as in the original */
	}
	if (r == -E2BIG) {
		/* Deeper than any key can be, or an empty period: the answer for no rows. */
		zero.prefix = req.prefix;
		res.rows = &zero;
		res.n = req.list ? 0 : 1;
		r = 0;
	}
	buf_init(&out, STATS_BODY_MAX);
	if (r == 0)
		r = counter_format(&res, fmt, &out);
	if (res.rows != &zero)
		counter_result_free(&res);
	free(k);
	if (r < 0) {
		buf_free(&out);
		return http_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "");
	}
	body = buf_steal(&out, &len);
	if (!body)
		body = strdup("");
	if (!body)
		return MHD_NO;
	return http_reply_take(c, MHD_HTTP_OK, "text/plain", body, len);
}
