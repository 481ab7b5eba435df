/*
 * The charm event log (SPEC §4.3): one JSON line per event, built once
 * when the event is recorded and never changed, with its byte offset in
 * the root events file, so that any range of a growing events file can be
 * read with one indexed query.
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

static json_t *strv_json(const struct strv *sv)
{
	json_t *a = json_array();

	for (size_t i = 0; sv && a && i < sv->n; i++)
		json_array_append_new(a, json_string(sv->v[i]));
	return a;
}

/* Builds an event's JSON line (with its newline). Caller frees. */
static char *event_line(int kind, const struct url *urls, size_t n_urls, int revision,
			const char *digest, const struct strv *errors, const struct strv *warnings,
			int64_t t_ns)
{
	json_t *o = json_object(), *a = json_array();
	char ts[32], u[URL_STR_MAX], *text = NULL, *line = NULL;

	if (!o || !a)
		goto out;
	json_object_set_new(o, "kind",
			    json_string(kind == EVENT_PUBLISHED ? "published" : "publish-error"));
	for (size_t i = 0; i < n_urls; i++) {
		url_format(&urls[i], u, sizeof(u));
		json_array_append_new(a, json_string(u));
	}
	json_object_set(o, "urls", a);
	json_object_set_new(o, "revision", json_integer(revision));
	json_object_set_new(o, "digest", json_string(digest));
	json_object_set_new(o, "errors", strv_json(errors));
	json_object_set_new(o, "warnings", strv_json(warnings));
	format_rfc3339(t_ns / 1000000000, ts);
	json_object_set_new(o, "time", json_string(ts));
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	if (text && asprintf(&line, "%s\n", text) < 0)
		line = NULL;
out:
	free(text);
	json_decref(a);
	json_decref(o);
	return line;
}

/* Inserts an event inside the caller's write transaction. */
int store_event_insert(struct store *s, int kind, const struct url *urls, size_t n_urls,
			int revision, const char *digest, const struct strv *errors,
			const struct strv *warnings, int64_t t_ns)
{
	_cleanup_free_ char *line = event_line(kind, urls, n_urls, revision, digest, errors,
					      warnings, t_ns);
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
	sqlite3_bind_int(st, 1, kind);
	sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, revision);
	sqlite3_bind_int64(st, 4, t_ns);
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
	for (size_t i = 0; r == 0 && i < n_urls; i++) {
		store_bind_url(st, 1, &urls[i]);
		sqlite3_bind_int64(st, 4, id);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	return r;
}

int store_log_error_event(struct store *s, const struct url *urls, size_t n_urls,
			   const char *digest, const struct strv *errors,
			   const struct strv *warnings)
{
	int64_t t = store_now_ns();
	int r = db_write_begin(s->db);

	if (r < 0)
		return r;
	r = store_event_insert(s, EVENT_PUBLISH_ERROR, urls, n_urls, 0, digest, errors, warnings, t);
	r = db_write_end(s->db, r);
	if (r == 0) {
		atomic_store(&s->changed_ns, t);
		atomic_store(&s->events_ns, t);
	}
	return r;
}

