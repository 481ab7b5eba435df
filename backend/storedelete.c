/*
 * Deleting (store_delete(), SPEC §4.1): the rows of one revision or all of
 * a URL's, the archives and trees no other URL refers to, the `deleted`
 * event and its ready `delete` change, in one transaction.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "db.h"
#include "storecache.h"
#include "engine.h"
#include "store_int.h"
#include "banned.h"

/* Deletes the stored revision id (and its files/ rows) unless a URL still refers to it. */
static int delete_unreferenced(struct store *s, sqlite3_int64 id, struct strv *gone)
{
	sqlite3_stmt *st = db_prep(s->db, "DELETE FROM revisions WHERE id = ?1 AND NOT EXISTS"
					  " (SELECT 1 FROM url_revs WHERE rev_id = ?1) RETURNING sha256");
	int rc, r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = strv_push(gone, (const char *)sqlite3_column_text(st, 0));
	else
		r = rc == SQLITE_DONE ? 1 : db_errno(rc);
	db_reset(st);
	if (r != 0)
		return r > 0 ? 0 : r;
	st = db_prep(s->db, "DELETE FROM rev_files WHERE rev_id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return r;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Records the deletion as a ready change of kind "delete", in the caller's transaction. */
static int record_delete(struct store *s, const struct url *u, int revision, const int *revs,
			 size_t n, int64_t t)
{
	char us[URL_STR_MAX], summary[URL_STR_MAX + 64];
	const char *log[2] = { NULL, NULL };
	struct url one = *u;
	struct buf b;
	int r;

	one.revision = revision;
	url_format(&one, us, sizeof(us));
	snprintf(summary, sizeof(summary), revision < 0 ? "Delete all revisions of %s" : "Delete %s",
		 us);
	buf_init(&b, ENGINE_LOG_MSG_MAX);
	r = buf_addf(&b, "deleted revision%s", n == 1 ? "" : "s");
	for (size_t i = 0; r == 0 && i < n; i++)
		r = buf_addf(&b, " %d", revs[i]);
	if (r == -ENOMEM) {
		buf_free(&b);
		return r;
	}
	log[0] = b.data; /* a list cut at the log line's limit (EFBIG) is still a true prefix */
	r = engine_record_tx(s->db, "delete", summary, t / 1000000,
			     &(struct engine_task_spec){ .kind = "delete", .summary = summary,
							 .status = ENGINE_DONE, .log = log },
			     1, NULL);
	buf_free(&b);
	return r;
}

/*
 * Deletes u's revision (all of them when revision < 0), then the stored
 * revisions no URL refers to any more; their SHA-256s go to gone. Records
 * the deleted event (SPEC §4.3) for uid at t.
 */
static int delete_rows(struct store *s, const struct url *u, int revision, uid_t uid, int64_t t,
		       struct strv *gone)
{
	sqlite3_int64 *ids = NULL;
	int *revs = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int r = 0, rc;

	st = db_prep(s->db, "DELETE FROM url_revs WHERE user = ? AND series = ? AND name = ?"
			    " AND (? < 0 OR revision = ?) RETURNING rev_id, revision");
	if (!st)
		return -EIO;
	store_bind_url(st, 1, u);
	sqlite3_bind_int(st, 4, revision);
	sqlite3_bind_int(st, 5, revision);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			sqlite3_int64 *v = reallocarray(ids, ncap, sizeof(*v));
			int *w = v ? reallocarray(revs, ncap, sizeof(*w)) : NULL;
			if (v)
				ids = v;
			if (w)
				revs = w;
			if (!v || !w) {
				r = -ENOMEM;
				break;
			}
			cap = ncap;
		}
		ids[n] = sqlite3_column_int64(st, 0);
		revs[n++] = sqlite3_column_int(st, 1);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	if (r == 0 && n == 0)
		r = -ENOENT;
	for (size_t i = 0; r == 0 && i < n; i++)
		r = delete_unreferenced(s, ids[i], gone);
	if (r == 0) {
		qsort(revs, n, sizeof(*revs), cmp_int);
		r = store_event_insert(s, &(struct store_event){ .kind = EVENT_DELETED, .urls = u,
			.n_urls = 1, .revisions = revs, .n_revisions = n, .uid = uid, .t_ns = t });
	}
	if (r == 0)
		r = record_delete(s, u, revision, revs, n, t);
	free(ids);
	free(revs);
	return r;
}

int store_delete(struct store *s, const struct url *u, int revision, uid_t uid)
{
	struct strv gone = { 0 };
	char path[PATH_MAX];
	int64_t t = store_now_ns();
	int r;

	pthread_mutex_lock(&s->pub_lock);
	r = db_write_begin(s->db);
	if (r == 0)
		r = db_write_end(s->db, delete_rows(s, u, revision, uid, t, &gone));
	for (size_t i = 0; r == 0 && i < gone.n; i++) {
		if (store_sha_referenced(s, gone.v[i]))
			continue;
		store_blob_path(s, gone.v[i], path, sizeof(path));
		(void)unlink(path);
		store_tree_path(s, gone.v[i], path, sizeof(path));
		(void)rm_rf(path);
	}
	pthread_mutex_unlock(&s->pub_lock);
	strv_clear(&gone);
	if (r == 0) {
		store_mark_changed(s, t, true);
		if (s->engine)
			engine_notice(s->engine); /* for its prune */
	}
	return r;
}


