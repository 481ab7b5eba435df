/*
 * The engine's persistence: its tables, loading them into memory, writing
 * what moved (eng_flush()), adding changes (also inside a caller's own
 * transaction, engine_record_tx()), lanes and pruning.
 *
 * Tables: engine_changes (one row per change) and engine_tasks (one per
 * task, seq its place in the change). Both use AUTOINCREMENT, so an id is
 * never handed out twice, even after its row was pruned and the store
 * reopened (A9). Lists (wait-for ids, lanes) are space-separated decimal
 * text, a task's log its lines joined by '\n'. ready_ms is 0 while not
 * ready; times are unix milliseconds. engine_seq holds the lane counter.
 *
 * Changes are only ever added with a larger id than every committed one
 * (writers are serialised by the db layer, and ids come from the table's
 * sequence), so eng_refresh() finds every change it has not seen yet with
 * one indexed query, "id > the largest id loaded": that is how changes
 * recorded in other modules' transactions reach the engine's cache.
 * Only the engine deletes (prune), under its lock.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "engine_int.h"
#include "banned.h"

const char *const engine_schema[] = {
	"CREATE TABLE IF NOT EXISTS engine_changes("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" kind TEXT NOT NULL, summary TEXT NOT NULL,"
	" spawn_ms INTEGER NOT NULL, ready_ms INTEGER NOT NULL DEFAULT 0)",
	"CREATE INDEX IF NOT EXISTS engine_changes_ready ON engine_changes(ready_ms)",
	"CREATE TABLE IF NOT EXISTS engine_tasks("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" change_id INTEGER NOT NULL REFERENCES engine_changes(id),"
	" seq INTEGER NOT NULL,"
	" kind TEXT NOT NULL, summary TEXT NOT NULL,"
	" status INTEGER NOT NULL,"
	" wait_for TEXT NOT NULL DEFAULT '',"
	" lanes TEXT NOT NULL DEFAULT '',"
	" log TEXT NOT NULL DEFAULT '',"
	" progress_label TEXT NOT NULL DEFAULT '',"
	" progress_done INTEGER NOT NULL DEFAULT 0,"
	" progress_total INTEGER NOT NULL DEFAULT 0,"
	" at_ms INTEGER NOT NULL DEFAULT 0,"
	" data TEXT,"
	" spawn_ms INTEGER NOT NULL, ready_ms INTEGER NOT NULL DEFAULT 0)",
	"CREATE INDEX IF NOT EXISTS engine_tasks_change ON engine_tasks(change_id, seq)",
	"CREATE TABLE IF NOT EXISTS engine_seq(name TEXT PRIMARY KEY, last INTEGER NOT NULL)"
	" WITHOUT ROWID",
	NULL,
};

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : rc == SQLITE_ROW ? -EIO : db_errno(rc);

	db_reset(st);
	return r;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return strdup(s ? (const char *)s : "");
}

/* Parses "1 2 3" into a new array. 0, -EIO (malformed) or -ENOMEM. */
static int parse_ids(const char *s, int64_t **ret, size_t *ret_n)
{
	int64_t *v = NULL;
	size_t n = 0, cap = 0;

	while (*s) {
		char *end;
		long long x;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		errno = 0;
		x = strtoll(s, &end, 10);
		if (errno || end == s || (*end && *end != ' ')) {
			free(v);
			return -EIO;
		}
		if (n == cap) {
			size_t c = cap ? cap * 2 : 4;
			int64_t *nv = realloc(v, c * sizeof(*nv));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = c;
		}
		v[n++] = x;
		s = end;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int parse_log(struct eng_task *t, const char *s)
{
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char *line = strndup(s, len);

		if (!line)
			return -ENOMEM;
		eng_log_push(t, line);
		s += len + (nl ? 1 : 0);
	}
	return 0;
}

static int task_from_row(sqlite3_stmt *st, struct eng_change *c, struct eng_task **ret)
{
	struct eng_task *t = calloc(1, sizeof(*t));
	int64_t *lanes = NULL;
	size_t nl = 0;
	const unsigned char *data;
	int r;

	if (!t)
		return -ENOMEM;
	t->chg = c;
	t->id = sqlite3_column_int64(st, 0);
	t->kind = col_dup(st, 2);
	t->summary = col_dup(st, 3);
	t->status = (enum engine_status)sqlite3_column_int(st, 4);
	if (t->status == ENGINE_DEFAULT || (unsigned)t->status > ENGINE_ERROR)
		t->status = ENGINE_DO;
	r = parse_ids((const char *)sqlite3_column_text(st, 5), &t->wait, &t->n_wait);
	if (r == 0)
		r = parse_ids((const char *)sqlite3_column_text(st, 6), &lanes, &nl);
	if (r == 0 && nl > 0) {
		t->lanes = malloc(nl * sizeof(*t->lanes));
		if (!t->lanes)
			r = -ENOMEM;
		for (size_t i = 0; t->lanes && i < nl; i++)
			t->lanes[t->n_lanes++] = (int)lanes[i];
	}
	free(lanes);
	if (r == 0)
		r = parse_log(t, (const char *)sqlite3_column_text(st, 7));
	t->plabel = col_dup(st, 8);
	t->pdone = sqlite3_column_int64(st, 9);
	t->ptotal = sqlite3_column_int64(st, 10);
	t->at_ms = sqlite3_column_int64(st, 11);
	data = sqlite3_column_text(st, 12);
	if (data)
		t->data = strdup((const char *)data);
	t->spawn_ms = sqlite3_column_int64(st, 13);
	t->ready_ms = sqlite3_column_int64(st, 14);
	if (r == 0 && (!t->kind || !t->summary || !t->plabel || (data && !t->data)))
		r = -ENOMEM;
	if (r < 0) {
		eng_task_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

static int add_task(struct eng_change *c, struct eng_task *t)
{
	struct eng_task **v = realloc(c->tasks, (c->n_tasks + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	c->tasks = v;
	c->tasks[c->n_tasks++] = t;
	return 0;
}

/* Reads the changes with ids in (lo, ...) and their tasks into *ret (ascending). */
static int read_changes(struct db *db, int64_t lo, struct eng_change ***ret, size_t *ret_n)
{
	sqlite3_stmt *st = db_prep(db, "SELECT id, kind, summary, spawn_ms, ready_ms"
				       " FROM engine_changes WHERE id > ? ORDER BY id");
	struct eng_change **v = NULL;
	size_t n = 0, at = 0;
	int rc, r = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, lo);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct eng_change *c = calloc(1, sizeof(*c)), **nv;
		nv = c ? realloc(v, (n + 1) * sizeof(*v)) : NULL;
		if (!nv) {
			free(c);
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[n++] = c;
		c->id = sqlite3_column_int64(st, 0);
		c->kind = col_dup(st, 1);
		c->summary = col_dup(st, 2);
		c->spawn_ms = sqlite3_column_int64(st, 3);
		c->ready_ms = sqlite3_column_int64(st, 4);
		if (!c->kind || !c->summary)
			r = -ENOMEM;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc) ? db_errno(rc) : -EIO;
	db_reset(st);
	if (r == 0 && n > 0) {
		st = db_prep(db, "SELECT id, change_id, kind, summary, status, wait_for, lanes, log,"
				 " progress_label, progress_done, progress_total, at_ms, data,"
				 " spawn_ms, ready_ms FROM engine_tasks"
				 " WHERE change_id > ? AND change_id <= ? ORDER BY change_id, seq");
		if (!st)
			r = -EIO;
	}
	if (r == 0 && n > 0) {
		sqlite3_bind_int64(st, 1, lo);
		sqlite3_bind_int64(st, 2, v[n - 1]->id);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			int64_t cid = sqlite3_column_int64(st, 1);
			struct eng_task *t;
			while (at < n && v[at]->id < cid)
				at++;
			if (at == n || v[at]->id != cid)
				continue; /* cannot happen: tasks come with their change */
			r = task_from_row(st, v[at], &t);
			if (r == 0 && add_task(v[at], t) < 0) {
				eng_task_free(t);
				r = -ENOMEM;
			}
		}
		if (r == 0 && rc != SQLITE_DONE)
			r = db_errno(rc) ? db_errno(rc) : -EIO;
		db_reset(st);
	}
	for (size_t i = 0; r == 0 && i < n; i++)
		r = eng_link(v[i]);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			eng_change_free(v[i]);
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int eng_refresh(struct engine *e)
{
	struct eng_change **v = NULL;
	size_t n = 0;
	int r;

	r = read_changes(e->db, e->max_change_id, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		int r2 = eng_change_insert(e, v[i]);
		if (r2 < 0 && r == 0)
			r = r2;
	}
	free(v);
	if (n > 0)
		eng_changed(e);
	e->unread = r < 0;
	return r;
}

int eng_catch_up(struct engine *e)
{
	return e->unread ? eng_refresh(e) : 0;
}

int eng_load(struct engine *e)
{
	return eng_refresh(e);
}

static int write_task(struct db *db, struct eng_task *t)
{
	sqlite3_stmt *st;
	int r = 0;

	if (t->dirty & DIRTY_STATUS) {
		st = db_prep(db, "UPDATE engine_tasks SET status = ?, ready_ms = ?, at_ms = ?"
				 " WHERE id = ?");
		if (!st)
			return -EIO;
		sqlite3_bind_int(st, 1, (int)t->status);
		sqlite3_bind_int64(st, 2, t->ready_ms);
		sqlite3_bind_int64(st, 3, t->at_ms);
		sqlite3_bind_int64(st, 4, t->id);
		r = step_done(st);
	}
	if (r == 0 && (t->dirty & DIRTY_LOG)) {
		struct strv sv = {.v = t->log, .n = t->n_log};
		_cleanup_free_ char *log = t->n_log ? strv_join(&sv, "\n") : strdup("");
		st = db_prep(db, "UPDATE engine_tasks SET log = ? WHERE id = ?");
		if (!log)
			return -ENOMEM;
		if (!st)
			return -EIO;
		sqlite3_bind_text(st, 1, log, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, t->id);
		r = step_done(st);
	}
	if (r == 0 && (t->dirty & DIRTY_PROGRESS)) {
		st = db_prep(db, "UPDATE engine_tasks SET progress_label = ?, progress_done = ?,"
				 " progress_total = ? WHERE id = ?");
		if (!st)
			return -EIO;
		sqlite3_bind_text(st, 1, t->plabel ? t->plabel : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, t->pdone);
		sqlite3_bind_int64(st, 3, t->ptotal);
		sqlite3_bind_int64(st, 4, t->id);
		r = step_done(st);
	}
	if (r == 0 && (t->dirty & DIRTY_DATA)) {
		st = db_prep(db, "UPDATE engine_tasks SET data = ? WHERE id = ?");
		if (!st)
			return -EIO;
		if (t->data)
			sqlite3_bind_text(st, 1, t->data, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, t->id);
		r = step_done(st);
	}
	return r;
}

static int write_change(struct db *db, struct eng_change *c)
{
	sqlite3_stmt *st = db_prep(db, "UPDATE engine_changes SET ready_ms = ? WHERE id = ?");

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, c->ready ? c->ready_ms : 0);
	sqlite3_bind_int64(st, 2, c->id);
	return step_done(st);
}

/* Rebuilds the cache from the database after a failed commit, keeping the runs. */
static void reload(struct engine *e)
{
	eng_forget(e);
	e->broken = eng_refresh(e) < 0;
	for (struct engine_run *run = e->active; run; run = run->anext) {
		struct eng_task *t = eng_task_find(e, run->task_id);
		if (t)
			t->run = run;
	}
	eng_changed(e);
}

static int select_victims(struct engine *e, int64_t now_ms, int64_t age_ms, bool clean,
			  struct eng_change ***ret, size_t *ret_k);
static int delete_victims(struct db *db, struct eng_change *const *v, size_t k);
static void drop_victims(struct engine *e, struct eng_change **v, size_t k);

/*
 * Writes what moved in one transaction. prune (eng_flush_prune()): the
 * automatic prune's deletes (opts.prune_age_ms) go into that same
 * transaction, chosen as eng_prune() would choose them once it is
 * committed; when one of them would be a change being written now, they
 * are left to the next eng_prune().
 */
static int flush(struct engine *e, bool prune)
{
	_cleanup_free_ struct eng_change **victims = NULL;
	size_t k = 0;
	int r;

	if (e->broken) {
		reload(e);
		return -EIO;
	}
	if (e->n_dirty == 0 && e->n_dirty_chg == 0)
		return 0;
	if (prune && e->o.prune_age_ms >= 0 && e->n_dirty_chg > 0 &&
	    select_victims(e, eng_now(e), e->o.prune_age_ms, true, &victims, &k) < 0)
		k = 0;
	r = db_write_begin(e->db);
	if (r == 0) {
		for (size_t i = 0; r == 0 && i < e->n_dirty; i++)
			r = write_task(e->db, e->dirty[i]);
		for (size_t i = 0; r == 0 && i < e->n_dirty_chg; i++)
			r = write_change(e->db, e->dirty_chg[i]);
		if (r == 0)
			r = delete_victims(e->db, victims, k);
		r = db_write_end(e->db, r);
	}
	if (r < 0) {
		reload(e);
		return r;
	}
	for (size_t i = 0; i < e->n_dirty; i++) {
		e->dirty[i]->dirty = 0;
		e->dirty[i]->in_dirty = false;
	}
	for (size_t i = 0; i < e->n_dirty_chg; i++)
		e->dirty_chg[i]->dirty = false;
	e->n_dirty = e->n_dirty_chg = 0;
	drop_victims(e, victims, k);
	eng_changed(e);
	return 0;
}

int eng_flush(struct engine *e)
{
	return flush(e, false);
}

int eng_flush_prune(struct engine *e)
{
	return flush(e, true);
}

/* "1 2 3" of n numbers (v64 or v32), duplicates of v64 dropped. NULL on ENOMEM. */
static char *join_ids(const int64_t *v64, const int *v32, size_t n)
{
	struct buf b;
	int r = 0;

	buf_init(&b, SIZE_MAX);
	r = buf_add(&b, "", 0);
	for (size_t i = 0; r == 0 && i < n; i++) {
		bool dup = false;
		for (size_t k = 0; v64 && k < i; k++)
			dup = dup || v64[k] == v64[i];
		if (!dup)
			r = buf_addf(&b, "%s%" PRId64, b.len ? " " : "",
				     v64 ? v64[i] : (int64_t)v32[i]);
	}
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

/* The log text of a spec: its INFO lines, then its ERROR lines, the last ENGINE_LOG_MAX. */
static char *spec_log(const struct engine_task_spec *t, int64_t now_ms)
{
	struct eng_task tmp = {0};
	struct strv sv;
	char *s;
	int r = 0;

	for (int pass = 0; pass < 2 && r == 0; pass++) {
		const char *const *msgs = pass ? t->errors : t->log;
		for (size_t i = 0; r == 0 && msgs && msgs[i]; i++) {
			char *line;
			r = eng_format_line(now_ms, pass == 1, msgs[i], &line);
			if (r == 0)
				eng_log_push(&tmp, line);
		}
	}
	sv.v = tmp.log;
	sv.n = tmp.n_log;
	s = r < 0 ? NULL : tmp.n_log ? strv_join(&sv, "\n") : strdup("");
	for (size_t i = 0; i < tmp.n_log; i++)
		free(tmp.log[i]);
	return s;
}

/* Inserts task t, waiting for wait (its wait-for text, "" when it is set later). */
static int insert_task(struct db *db, int64_t cid, size_t seq, const struct engine_task_spec *t,
		       const char *wait, int64_t now_ms, int64_t *ret_id)
{
	sqlite3_stmt *st = db_prep(db, "INSERT INTO engine_tasks(change_id, seq, kind, summary,"
				       " status, lanes, log, data, spawn_ms, ready_ms, wait_for)"
				       " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	enum engine_status s = t->status == ENGINE_DEFAULT ? ENGINE_DO : t->status;
	_cleanup_free_ char *lanes = join_ids(NULL, t->lanes, t->n_lanes);
	_cleanup_free_ char *log = spec_log(t, now_ms);
	int r;

	if (!lanes || !log)
		return -ENOMEM;
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, cid);
	sqlite3_bind_int64(st, 2, (int64_t)seq);
	sqlite3_bind_text(st, 3, t->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->summary, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)s);
	sqlite3_bind_text(st, 6, lanes, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, log, -1, SQLITE_STATIC);
	if (t->data)
		sqlite3_bind_text(st, 8, t->data, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, now_ms);
	sqlite3_bind_int64(st, 10, engine_status_ready(s) ? now_ms : 0);
	sqlite3_bind_text(st, 11, wait, -1, SQLITE_STATIC);
	r = step_done(st);
	if (r == 0)
		*ret_id = sqlite3_last_insert_rowid(sqlite3_db_handle(st));
	return r;
}

/* The wait-for text of t, whose prerequisites' ids are in ids. NULL on ENOMEM. */
static char *wait_text(const int64_t *ids, const struct engine_task_spec *t)
{
	_cleanup_free_ int64_t *w = calloc(t->n_wait ? t->n_wait : 1, sizeof(*w));

	if (!w)
		return NULL;
	for (size_t k = 0; k < t->n_wait; k++)
		w[k] = ids[t->wait_for[k]];
	return join_ids(w, NULL, t->n_wait);
}

/* Does t wait only for tasks before task i (their ids known when t is inserted)? */
static bool waits_back(const struct engine_task_spec *t, size_t i)
{
	for (size_t k = 0; k < t->n_wait; k++)
		if (t->wait_for[k] >= i)
			return false;
	return true;
}

static int set_wait(struct db *db, int64_t id, const int64_t *ids, const struct engine_task_spec *t)
{
	_cleanup_free_ char *text = wait_text(ids, t);
	sqlite3_stmt *st;

	if (!text)
		return -ENOMEM;
	st = db_prep(db, "UPDATE engine_tasks SET wait_for = ? WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	return step_done(st);
}

int eng_db_insert(struct db *db, const char *kind, const char *summary, int64_t now_ms,
		  const struct engine_task_spec *v, size_t n, bool record, int64_t *ret_id)
{
	_cleanup_free_ int64_t *ids = NULL;
	bool ready = true;
	sqlite3_stmt *st;
	int64_t cid;
	int r;

	if (!kind || !summary || !*kind || strnlen(kind, ENGINE_KIND_MAX + 1) > ENGINE_KIND_MAX ||
	    strnlen(summary, ENGINE_SUMMARY_MAX + 1) > ENGINE_SUMMARY_MAX)
		return -EINVAL;
	r = eng_spec_check(v, n, record);
	if (r < 0)
		return r;
	ids = calloc(n, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ready = ready && engine_status_ready(v[i].status);
	st = db_prep(db, "INSERT INTO engine_changes(kind, summary, spawn_ms, ready_ms)"
			 " VALUES(?, ?, ?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, summary, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	sqlite3_bind_int64(st, 4, ready ? now_ms : 0);
	r = step_done(st);
	if (r < 0)
		return r;
	cid = sqlite3_last_insert_rowid(sqlite3_db_handle(st));
	/* A task that waits only for earlier ones (a publish's) is inserted whole. */
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_free_ char *wait =
		    v[i].n_wait && waits_back(&v[i], i) ? wait_text(ids, &v[i]) : strdup("");
		r = wait ? insert_task(db, cid, i, &v[i], wait, now_ms, &ids[i]) : -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < n; i++)
		if (v[i].n_wait && !waits_back(&v[i], i))
			r = set_wait(db, ids[i], ids, &v[i]);
	if (r == 0 && ret_id)
		*ret_id = cid;
	return r;
}

int engine_record_tx(struct db *db, const char *kind, const char *summary, int64_t now_ms,
		     const struct engine_task_spec *tasks, size_t n, int64_t *ret_id)
{
	return eng_db_insert(db, kind, summary, now_ms, tasks, n, true, ret_id);
}

static int bump_lane(struct db *db, int64_t *ret)
{
	sqlite3_stmt *st = db_prep(db, "INSERT INTO engine_seq(name, last) VALUES('lane', 1)"
				       " ON CONFLICT(name) DO UPDATE SET last = last + 1");
	int rc, r;

	if (!st)
		return -EIO;
	r = step_done(st);
	if (r < 0)
		return r;
	st = db_prep(db, "SELECT last FROM engine_seq WHERE name = 'lane'");
	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	r = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -EIO : db_errno(rc);
	db_reset(st);
	if (r == 0 && (*ret <= 0 || *ret > INT32_MAX))
		r = -EOVERFLOW;
	return r;
}

int engine_new_lane(struct engine *e, int *ret)
{
	int64_t last = 0;
	int r;

	pthread_mutex_lock(&e->lock);
	r = db_write_begin(e->db);
	if (r == 0)
		r = db_write_end(e->db, bump_lane(e->db, &last));
	pthread_mutex_unlock(&e->lock);
	if (r == 0)
		*ret = (int)last;
	return r;
}

/*
 * ---- prune ---------------------------------------------------------------------
 * eng_prune() (engine.lock held, dirty lists empty: every mutator flushes
 * before it unlocks) is engine_prune()'s body and the runner's automatic
 * prune; eng_prune_due() is the in-memory check the runner makes first,
 * with when the oldest ready change comes of age.
 */

static int by_ready(const void *a, const void *b)
{
	const struct eng_change *x = *(struct eng_change *const *)a;
	const struct eng_change *y = *(struct eng_change *const *)b;

	if (x->ready_ms != y->ready_ms)
		return x->ready_ms < y->ready_ms ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int delete_change(struct db *db, int64_t id)
{
	sqlite3_stmt *st = db_prep(db, "DELETE FROM engine_tasks WHERE change_id = ?");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	r = step_done(st);
	if (r < 0)
		return r;
	st = db_prep(db, "DELETE FROM engine_changes WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	return step_done(st);
}

bool eng_prune_due(const struct engine *e, int64_t now_ms, int64_t age_ms, int64_t *ret_at)
{
	int64_t oldest = 0;
	size_t n_ready = 0;

	for (size_t i = 0; i < e->n_chg; i++) {
		const struct eng_change *c = e->chg[i];
		if (!c->ready)
			continue;
		n_ready++;
		if (n_ready == 1 || c->ready_ms < oldest)
			oldest = c->ready_ms;
	}
	*ret_at = n_ready ? oldest + age_ms + 1 : 0;
	return n_ready > ENGINE_READY_MAX || (n_ready > 0 && oldest < now_ms - age_ms);
}

/*
 * The ready changes eng_prune() deletes at now_ms, oldest first, in a new
 * array (NULL when none). clean: none when one of them has a write
 * pending (a dirty change or task), which only a flush may choose.
 */
static int select_victims(struct engine *e, int64_t now_ms, int64_t age_ms, bool clean,
			  struct eng_change ***ret, size_t *ret_k)
{
	struct eng_change **ready = NULL;
	size_t n_ready = 0, k = 0;

	*ret = NULL;
	*ret_k = 0;
	for (size_t i = 0; i < e->n_chg; i++)
		n_ready += e->chg[i]->ready;
	if (n_ready == 0)
		return 0;
	ready = malloc(n_ready * sizeof(*ready));
	if (!ready)
		return -ENOMEM;
	n_ready = 0;
	for (size_t i = 0; i < e->n_chg; i++)
		if (e->chg[i]->ready)
			ready[n_ready++] = e->chg[i];
	qsort(ready, n_ready, sizeof(*ready), by_ready);
	while (k < n_ready && ready[k]->ready_ms < now_ms - age_ms)
		k++;
	if (n_ready - k > ENGINE_READY_MAX)
		k = n_ready - ENGINE_READY_MAX;
	for (size_t i = 0; clean && i < k; i++) {
		bool pending = ready[i]->dirty;
		for (size_t j = 0; !pending && j < ready[i]->n_tasks; j++)
			pending = ready[i]->tasks[j]->in_dirty;
		if (pending)
			k = 0;
	}
	if (k == 0) {
		free(ready);
		return 0;
	}
	*ret = ready;
	*ret_k = k;
	return 0;
}

static int delete_victims(struct db *db, struct eng_change *const *v, size_t k)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < k; i++)
		r = delete_change(db, v[i]->id);
	return r;
}

/* Frees the k deleted changes v and their tasks; no change or task is dirty. */
static void drop_victims(struct engine *e, struct eng_change **v, size_t k)
{
	size_t m = 0, mt = 0;

	if (k == 0)
		return;
	for (size_t i = 0; i < k; i++)
		v[i]->dirty = true; /* doomed (the dirty lists are empty here) */
	for (size_t i = 0; i < e->n_tasks; i++)
		if (!e->tasks[i]->chg->dirty)
			e->tasks[mt++] = e->tasks[i];
	e->n_tasks = mt;
	for (size_t i = 0; i < e->n_chg; i++) {
		if (e->chg[i]->dirty)
			eng_change_free(e->chg[i]);
		else
			e->chg[m++] = e->chg[i];
	}
	e->n_chg = m;
	eng_changed(e);
}

int eng_prune(struct engine *e, int64_t now_ms, int64_t age_ms, size_t *ret_n)
{
	_cleanup_free_ struct eng_change **victims = NULL;
	size_t k = 0;
	int r;

	r = select_victims(e, now_ms, age_ms, false, &victims, &k);
	if (r == 0 && k > 0) {
		r = db_write_begin(e->db);
		if (r == 0)
			r = db_write_end(e->db, delete_victims(e->db, victims, k));
	}
	if (r == 0)
		drop_victims(e, victims, k);
	if (r == 0 && ret_n)
		*ret_n = k;
	return r;
}

int engine_prune(struct engine *e, int64_t now_ms, int64_t age_ms, size_t *ret_n)
{
	int r;

	pthread_mutex_lock(&e->lock);
	r = eng_refresh(e);
	if (r == 0)
		r = eng_prune(e, now_ms, age_ms, ret_n);
	pthread_mutex_unlock(&e->lock);
	return r;
}
