/*
 * The charm event log (SPEC §4.3): one JSON line per event, built once
 * when the event is recorded and never changed, with its byte offset in
 * the root events file, so that any range of a growing events file can be
 * read with one indexed query. Lines are made by jansson only, at most
 * EVENT_LINE_MAX bytes: the URLs and digest are bounded, the lists get the
 * rest and are cut saying how many entries they left out. json_text() is the
 * one place text becomes JSON, so bytes that are not UTF-8 cannot make an
 * event fail.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "evhook.h"
#include "store_int.h"
#include "banned.h"

/* ---- events --------------------------------------------------------------- */

/*
 * Where the events file ends: the newest row's offset plus length (events
 * only grow, so this is max(off + len) without scanning the table).
 */
#define EVENTS_END "coalesce((SELECT off + len FROM events ORDER BY id DESC LIMIT 1), 0)"

int store_events_size(struct store *s, const struct url *u, uint64_t *ret)
{
	sqlite3_stmt *st;
	int rc;

	if (u) {
		st = db_prep(s->db, "SELECT coalesce(sum(e.len), 0) FROM event_urls x"
				    " JOIN events e ON e.id = x.event_id"
				    " WHERE x.user = ? AND x.series = ? AND x.name = ?");
		if (!st)
			return -EIO;
		store_bind_url(st, 1, u);
	} else {
		st = db_prep(s->db, "SELECT " EVENTS_END);
		if (!st)
			return -EIO;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = (uint64_t)sqlite3_column_int64(st, 0);
	db_reset(st);
	return rc == SQLITE_ROW ? 0 : db_errno(rc) ? db_errno(rc) : -EIO;
}

/* Copies the part of one line that overlaps [want, want+len) of the file. */
static int take_line(uint64_t line_off, const char *line, size_t line_len, uint64_t want,
		     size_t len, struct buf *out)
{
	uint64_t end = want + len;

	if (line_off + line_len <= want || line_off >= end)
		return 0;
	uint64_t from = want > line_off ? want - line_off : 0;
	uint64_t to = end < line_off + line_len ? end - line_off : line_len;
	return buf_add(out, line + from, (size_t)(to - from));
}

int store_events_read(struct store *s, const struct url *u, uint64_t off, size_t len,
		      struct buf *out)
{
	sqlite3_stmt *st;
	uint64_t pos = 0;
	int rc, r = 0;

	if (u) {
		st = db_prep(s->db, "SELECT e.line, e.len FROM event_urls x"
				    " JOIN events e ON e.id = x.event_id"
				    " WHERE x.user = ? AND x.series = ? AND x.name = ?"
				    " ORDER BY x.event_id");
		if (!st)
			return -EIO;
		store_bind_url(st, 1, u);
	} else {
		st = db_prep(s->db, "SELECT line, len, off FROM events WHERE id >="
				    " coalesce((SELECT id FROM events WHERE off <= ?"
				    " ORDER BY off DESC LIMIT 1), 0) ORDER BY id");
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)off);
	}
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_int64(st, 1);
		if (!u)
			pos = (uint64_t)sqlite3_column_int64(st, 2);
		if (pos >= off + len)
			break;
		r = take_line(pos, (const char *)sqlite3_column_text(st, 0), n, off, len, out);
		pos += n;
	}
	db_reset(st);
	return r;
}

/* ---- building an event line ------------------------------------------------ */

/* The dump flags of every event line. */
#define EVENT_JSON (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_ENCODE_ANY)
/* Longest string in an event's lists, encoded; a longer one is cut, ending in "…". */
#define EVENT_STRING_MAX 1024
/* Room kept in a list for its "… and N more" entry (or a revisions count). */
#define EVENT_MORE_ROOM 48

/* Bytes v takes in an event line. */
static size_t dumped_len(const json_t *v)
{
	return json_dumpb(v, NULL, 0, EVENT_JSON);
}

static json_t *jtext(const char *s)
{
	return json_text(s, strlen(s));
}

/* s as jtext() makes it, cut after the last whole character that keeps it within max bytes, with "…". */
static json_t *jtext_max(const char *s, size_t max)
{
	json_t *v = jtext(s), *cut;
	const char *c;
	size_t n, used = 2 + 6, i = 0; /* the quotes, and "…" as \u2026 */
	struct buf b;

	if (!v || dumped_len(v) <= max)
		return v;
	c = json_string_value(v);
	n = json_string_length(v);
	while (i < n) {
		uint32_t cp;
		size_t k = utf8_decode((const unsigned char *)c + i, n - i, &cp);
		json_t *ch = json_stringn(c + i, k ? k : 1);
		size_t cost = ch ? dumped_len(ch) - 2 : max;
		json_decref(ch);
		if (used + cost > max)
			break;
		used += cost;
		i += k ? k : 1;
	}
	buf_init(&b, i + 4);
	cut = buf_add(&b, c, i) == 0 && buf_add(&b, "\xe2\x80\xa6", 3) == 0
		      ? json_stringn(b.data, b.len)
		      : NULL;
	buf_free(&b);
	json_decref(v);
	return cut;
}

/* Bytes the strings of sv would take in a list, counted until they pass max. */
static size_t list_need(const struct strv *sv, size_t max)
{
	size_t need = 0;

	for (size_t i = 0; sv && i < sv->n && need <= max; i++) {
		json_t *v = jtext_max(sv->v[i], EVENT_STRING_MAX);
		need += v ? dumped_len(v) + 1 : 0;
		json_decref(v);
	}
	return need;
}

/*
 * Fills the array a with the first strings of sv that fit in room bytes,
 * each cut to EVENT_STRING_MAX, then "… and N more" for the N left out.
 * Returns the bytes used.
 */
static size_t fill_list(json_t *a, const struct strv *sv, size_t room)
{
	size_t used = 0, i, n = sv ? sv->n : 0;

	for (i = 0; i < n; i++) {
		json_t *v = jtext_max(sv->v[i], EVENT_STRING_MAX);
		size_t len = v ? dumped_len(v) + 1 : 0;
		if (!v || used + len + (i + 1 < n ? EVENT_MORE_ROOM : 0) > room) {
			json_decref(v);
			break;
		}
		json_array_append_new(a, v);
		used += len;
	}
	if (i < n) {
		char more[64];
		snprintf(more, sizeof(more), "\xe2\x80\xa6 and %zu more", n - i);
		json_array_append_new(a, json_string(more));
		used += EVENT_MORE_ROOM;
	}
	return used;
}

/* Fills a with the first revisions that fit in room bytes; returns how many were left out. */
static size_t fill_revisions(json_t *a, const int *revs, size_t n, size_t room)
{
	size_t used = 0, i;

	for (i = 0; i < n; i++) {
		json_t *v = json_integer(revs[i]);
		size_t len = v ? dumped_len(v) + 1 : 0;
		if (!v || used + len + (i + 1 < n ? EVENT_MORE_ROOM : 0) > room) {
			json_decref(v);
			break;
		}
		json_array_append_new(a, v);
		used += len;
	}
	return n - i;
}

static json_t *jurls(const struct store_event *ev)
{
	json_t *a = json_array();
	char u[URL_STR_MAX];

	for (size_t i = 0; a && i < ev->n_urls; i++) {
		url_format(&ev->urls[i], u, sizeof(u));
		json_array_append_new(a, jtext(u));
	}
	return a;
}

/*
 * The event as an object whose lists use at most room bytes in all (the
 * rest of the line is bounded: at most REQ_MAX_URLS URLs and one digest).
 */
static json_t *event_json(const struct store_event *ev, size_t room)
{
	json_t *o, *errs = json_array(), *warns = json_array(), *revs = json_array();
	size_t left = 0;
	char ts[32];

	format_rfc3339(ev->t_ns / 1000000000, ts);
	if (ev->kind == EVENT_DELETED) {
		if (revs)
			left = fill_revisions(revs, ev->revisions, ev->n_revisions, room);
		o = json_pack("{s:s, s:o, s:o, s:I, s:s}", "kind", "deleted", "urls", jurls(ev),
			      "revisions", revs, "uid", (json_int_t)ev->uid, "time", ts);
		if (o && left)
			json_object_set_new(o, "revisions-left-out", json_integer((json_int_t)left));
		json_decref(errs);
		json_decref(warns);
		return o;
	}
	if (errs && warns) {
		size_t w_need = list_need(ev->warnings, room);
		size_t e_room = room - (w_need < room / 4 ? w_need : room / 4);
		size_t used = fill_list(errs, ev->errors, e_room);
		(void)fill_list(warns, ev->warnings, room > used ? room - used : 0);
	}
	json_decref(revs);
	return json_pack("{s:s, s:o, s:i, s:o, s:o, s:o, s:I, s:s}", "kind",
			 ev->kind == EVENT_PUBLISHED ? "published" : "publish-error", "urls",
			 jurls(ev), "revision", ev->revision, "digest", jtext(ev->digest ? ev->digest : ""),
			 "errors", errs, "warnings", warns, "uid", (json_int_t)ev->uid, "time", ts);
}

/*
 * Builds an event's JSON line (with its newline), at most EVENT_LINE_MAX
 * bytes: the lists get what the rest of the line leaves. Caller frees.
 */
static char *event_line(const struct store_event *ev)
{
	json_t *o = event_json(ev, 0);
	size_t base = o ? dumped_len(o) : EVENT_LINE_MAX;
	char *text, *line = NULL;

	json_decref(o);
	if (base >= EVENT_LINE_MAX)
		return NULL;
	o = event_json(ev, EVENT_LINE_MAX - 1 - base);
	text = o ? json_dumps(o, EVENT_JSON) : NULL;
	json_decref(o);
	if (text && strlen(text) < EVENT_LINE_MAX && asprintf(&line, "%s\n", text) < 0)
		line = NULL;
	free(text);
	return line;
}

/*
 * The event hooks of ev (evhook.h), in the same transaction: the hooks see
 * the event's line as their standard input, and its URLs, revision,
 * digest and errors as CHARMFS_URL (the first, with the revision
 * published), CHARMFS_URLS,
 * CHARMFS_REVISION(S), CHARMFS_DIGEST and CHARMFS_ERRORS.
 */
static const char *const event_names[] = {
	[EVENT_PUBLISHED] = "charm-published",
	[EVENT_PUBLISH_ERROR] = "charm-publish-error",
	[EVENT_DELETED] = "charm-deleted",
};

static int fire_hooks(struct store *s, const struct store_event *ev, const char *line)
{
	struct strv urls = { 0 }, revs = { 0 };
	struct evhook_fact f[5];
	char url[URL_STR_MAX], rev[16], *joined_urls, *joined_revs, *errors = NULL, *json;
	size_t n = 0;
	bool recorded;
	int r = 0;

	for (size_t i = 0; r == 0 && i < ev->n_urls; i++) {
		url_format(&ev->urls[i], url, sizeof(url));
		r = strv_push(&urls, url);
	}
	for (size_t i = 0; r == 0 && i < ev->n_revisions; i++)
		r = strv_pushf(&revs, "%d", ev->revisions[i]);
	joined_urls = strv_join(&urls, " ");
	joined_revs = strv_join(&revs, " ");
	if (ev->errors)
		errors = strv_join(ev->errors, "; ");
	json = strndup(line, strcspn(line, "\n"));
	if (r == 0 && (!joined_urls || !joined_revs || (ev->errors && !errors) || !json))
		r = -ENOMEM;
	/* A published revision's URL names it. */
	if (r == 0 && ev->kind == EVENT_PUBLISHED && ev->n_urls) {
		struct url u = ev->urls[0];
		u.revision = ev->revision;
		url_format(&u, url, sizeof(url));
	} else if (r == 0) {
		snprintf(url, sizeof(url), "%s", urls.n ? urls.v[0] : "");
	}
	if (r == 0) {
		f[n++] = (struct evhook_fact){ "url", url };
		f[n++] = (struct evhook_fact){ "urls", joined_urls };
		if (ev->kind == EVENT_DELETED) {
			f[n++] = (struct evhook_fact){ "revisions", joined_revs };
		} else {
			snprintf(rev, sizeof(rev), "%d", ev->revision);
			f[n++] = (struct evhook_fact){ "revision", ev->revision >= 0 ? rev : "" };
			f[n++] = (struct evhook_fact){ "digest", ev->digest ? ev->digest : "" };
			f[n++] = (struct evhook_fact){ "errors", errors ? errors : "" };
		}
		r = evhook_record_tx(s->evhooks, event_names[ev->kind], json, f, n, &recorded);
	}
	free(json);
	free(errors);
	free(joined_revs);
	free(joined_urls);
	strv_clear(&revs);
	strv_clear(&urls);
	return r;
}

/*
 * Inserts an event inside the caller's write transaction, with the change
 * that runs its event hooks (the caller notices the engine after the commit).
 */
int store_event_insert(struct store *s, const struct store_event *ev)
{
	_cleanup_free_ char *line = event_line(ev);
	sqlite3_stmt *st;
	sqlite3_int64 id;
	int r;

	if (!line)
		return -ENOMEM;
	st = db_prep(s->db, "INSERT INTO events(kind, digest, revision, time, off, len, line)"
			    " VALUES(?, ?, ?, ?,"
			    " " EVENTS_END ", ?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, ev->kind);
	sqlite3_bind_text(st, 2, ev->digest ? ev->digest : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, ev->kind == EVENT_DELETED ? -1 : ev->revision);
	sqlite3_bind_int64(st, 4, ev->t_ns);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)strlen(line));
	sqlite3_bind_text(st, 6, line, -1, SQLITE_STATIC);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	if (r < 0)
		return r;
	st = db_prep(s->db, "SELECT last_insert_rowid()");
	if (!st)
		return -EIO;
	sqlite3_step(st);
	id = sqlite3_column_int64(st, 0);
	db_reset(st);
	st = db_prep(s->db, "INSERT OR IGNORE INTO event_urls VALUES(?, ?, ?, ?)");
	if (!st)
		return -EIO;
	for (size_t i = 0; r == 0 && i < ev->n_urls; i++) {
		store_bind_url(st, 1, &ev->urls[i]);
		sqlite3_bind_int64(st, 4, id);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	if (r < 0 || !s->evhooks || !evhook_wanted(s->evhooks, event_names[ev->kind]))
		return r;
	return fire_hooks(s, ev, line);
}
