/*
 * Read-only queries over the store's tables (revisions, url_revs, events,
 * event_urls) that the HTTP API needs and store.h does not offer. Each is a
 * single statement, so it sees one consistent snapshot even while a publish
 * or a deletion commits (WAL readers never wait for the writer).
 *
 * The series order of query_resolve_series() is the original store's
 * (Store.Series): LTS series first, newest first, then everything else in
 * reverse byte order. It is written into the SQL so that the database
 * returns only the winner.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "query.h"
#include "store_int.h"
#include "banned.h"

static void bind_url(sqlite3_stmt *st, const struct url *u)
{
	sqlite3_bind_text(st, 1, u->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, u->series, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, u->name, -1, SQLITE_STATIC);
}

static int step_error(int rc)
{
	int r = db_errno(rc);

	return r < 0 ? r : -EIO;
}

int query_resolve_series(struct store *s, const struct url *u, char *ret, size_t retlen)
{
	sqlite3_stmt *st;
	int rc, r = -ENOENT;

	if (strcmp(u->schema, "cs") != 0)
		return -ENOENT;
	st = db_prep(store_db(s), "SELECT series FROM url_revs WHERE user = ? AND name = ?"
				  " GROUP BY series ORDER BY CASE series"
				  " WHEN 'trusty' THEN 0 WHEN 'precise' THEN 1 WHEN 'lucid' THEN 2"
				  " ELSE 3 END, series DESC LIMIT 1");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, u->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, u->name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		if (v && strlen(v) < retlen) {
			memcpy(ret, v, strlen(v) + 1);
			r = 0;
		} else {
			r = -EIO;
		}
	} else if (rc != SQLITE_DONE) {
		r = step_error(rc);
	}
	db_reset(st);
	return r;
}

int query_rev(struct store *s, const struct url *u, struct store_rev *ret)
{
	sqlite3_stmt *st;
	int rc, r = -ENOENT;

	if (strcmp(u->schema, "cs") != 0 || !u->series[0])
		return -ENOENT;
	st = db_prep(store_db(s), "SELECT r.revision, r.sha256, r.digest, r.size, r.published"
				  " FROM url_revs u JOIN revisions r ON r.id = u.rev_id"
				  " WHERE u.user = ?1 AND u.series = ?2 AND u.name = ?3"
				  " AND (?4 < 0 OR u.revision = ?4)"
				  " ORDER BY u.revision DESC LIMIT 1");
	if (!st)
		return -EIO;
	bind_url(st, u);
	sqlite3_bind_int(st, 4, u->revision);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret->revision = sqlite3_column_int(st, 0);
		snprintf(ret->sha256, sizeof(ret->sha256), "%s", sqlite3_column_text(st, 1));
		snprintf(ret->digest, sizeof(ret->digest), "%s", sqlite3_column_text(st, 2));
		ret->size = (uint64_t)sqlite3_column_int64(st, 3);
		ret->published_ns = sqlite3_column_int64(st, 4);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = step_error(rc);
	}
	db_reset(st);
	return r;
}

/* Copies the strings of the JSON array o[key] (if any) into sv. */
static int take_strings(json_t *o, const char *key, struct strv *sv)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;

	if (!json_is_array(a))
		return 0;
	json_array_foreach(a, i, v) {
		if (json_is_string(v) && strv_push(sv, json_string_value(v)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int event_from_row(sqlite3_stmt *st, struct query_event *e)
{
	const char *line = (const char *)sqlite3_column_text(st, 4);
	json_t *o;
	int r;

	e->kind = sqlite3_column_int(st, 0);
	e->revision = sqlite3_column_int(st, 1);
	e->digest = strdup((const char *)sqlite3_column_text(st, 2));
	e->time_ns = sqlite3_column_int64(st, 3);
	if (!e->digest)
		return -ENOMEM;
	o = json_loads(line ? line : "", 0, NULL);
	if (!o)
		return -EIO;
	r = take_strings(o, "errors", &e->errors);
	if (r == 0)
		r = take_strings(o, "warnings", &e->warnings);
	json_decref(o);
	return r;
}

int query_event_latest(struct store *s, const struct url *u, const char *digest,
		       struct query_event *ret)
{
	struct query_event e = { 0 };
	sqlite3_stmt *st;
	int rc, r = -ENOENT;

	if (strcmp(u->schema, "cs") != 0 || !u->series[0] || u->revision >= 0)
		return -ENOENT;
	st = db_prep(store_db(s), "SELECT e.kind, e.revision, e.digest, e.time, e.line"
				  " FROM event_urls x JOIN events e ON e.id = x.event_id"
				  " WHERE x.user = ?1 AND x.series = ?2 AND x.name = ?3"
				  " AND e.kind IN (1, 2) AND (?4 IS NULL OR e.digest = ?4)"
				  " ORDER BY e.time DESC, e.id DESC LIMIT 1");
	if (!st)
		return -EIO;
	bind_url(st, u);
	if (digest)
		sqlite3_bind_text(st, 4, digest, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = event_from_row(st, &e);
	else if (rc != SQLITE_DONE)
		r = step_error(rc);
	db_reset(st);
	if (r < 0) {
		query_event_clear(&e);
		return r;
	}
	*ret = e;
	return 0;
}

void query_event_clear(struct query_event *e)
{
	if (!e)
		return;
	free(e->digest);
	strv_clear(&e->errors);
	strv_clear(&e->warnings);
	memset(e, 0, sizeof(*e));
}
