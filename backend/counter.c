/*
 * Counter storage and queries (SPEC §4.4), replacing the original store's
 * per-minute MongoDB documents aggregated by MapReduce at query time.
 *
 * Tokens get ids from an AUTOINCREMENT sequence (never count()+1, never
 * reused). A key is stored as its token ids in base 32, each followed by
 * ':' ("1:2:" for a:b, "" for the root), so that the keys under a prefix
 * form one index range ['1:2:', '1:2;'); counter_keys holds every key that
 * exists as a directory, with its parent, even when it counts nothing.
 *
 * Every increment of a key K of depth d, in one write transaction, adds to:
 *   counter_raw(K, minute)          the raw per-minute record (kept for audit
 *                                   and finer rollups later; no query reads it)
 *   counter_day(K, day), counter_week(K, week), counter_keys.count of K
 *   counter_pday(A, day), counter_pweek(A, week), counter_keys.sub of A
 *       for each of the d strict ancestors A of K, root included.
 * So ".sub" and the p-tables hold, per key, the sum over the keys that
 * extend it by at least one token: exactly the original's prefix match.
 * An increment costs O(depth) index updates (depth <= 16); in exchange no
 * query ever reads raw rows or scans the keys under a prefix:
 *   - total at any prefix, root included: one row of counter_keys;
 *   - list of a prefix: one index range of its children in counter_keys
 *     (count and sub of each), or their day/week rows when bucketed;
 *   - by day/week of a key or prefix: its own <= days-in-range rows.
 * Costs grow with the answer (children, buckets), never with the number of
 * increments. start/stop work at day granularity (the API only takes
 * dates), so filtered answers come from the day tables; a filtered by-week
 * answer groups day rows into weeks.
 *
 * Invariants: counter_keys.sub of the root is the grand total, and every
 * count and sum stays <= INT64_MAX (checked against the root before
 * adding); a key with count or sub > 0 has all its ancestors in counter_keys.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counter.h"
#include "db.h"
#include "banned.h"

#define EPOCH_2012 1325376000 /* 2012-01-01 00:00 UTC, a Sunday */
#define EPOCH_DAY 15340       /* the same, in days since 1970 */
#define WEEK_SECS 604800
#define MAX_UNIX 253402300799 /* 9999-12-31 23:59:59 */
/* Bytes of an encoded key: 16 ids of at most 13 base-32 digits and ':'. */
#define ENC_MAX (COUNTER_MAX_DEPTH * 14 + 1)

const char *const counter_schema[] = {
	"CREATE TABLE IF NOT EXISTS counter_tokens("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" token TEXT NOT NULL UNIQUE)",
	/* parent is NULL for the root (k = ''); tok is 0 for the root. */
	"CREATE TABLE IF NOT EXISTS counter_keys("
	" k TEXT PRIMARY KEY, parent TEXT, tok INTEGER NOT NULL,"
	" count INTEGER NOT NULL DEFAULT 0, sub INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID",
	"CREATE INDEX IF NOT EXISTS counter_keys_parent ON counter_keys(parent)",
	"CREATE TABLE IF NOT EXISTS counter_raw(k TEXT NOT NULL, minute INTEGER NOT NULL,"
	" count INTEGER NOT NULL, PRIMARY KEY(k, minute)) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS counter_day(k TEXT NOT NULL, day INTEGER NOT NULL,"
	" count INTEGER NOT NULL, PRIMARY KEY(k, day)) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS counter_week(k TEXT NOT NULL, week INTEGER NOT NULL,"
	" count INTEGER NOT NULL, PRIMARY KEY(k, week)) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS counter_pday(k TEXT NOT NULL, day INTEGER NOT NULL,"
	" count INTEGER NOT NULL, PRIMARY KEY(k, day)) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS counter_pweek(k TEXT NOT NULL, week INTEGER NOT NULL,"
	" count INTEGER NOT NULL, PRIMARY KEY(k, week)) WITHOUT ROWID",
	NULL,
};

/* An encoded key and the end of each of its prefixes: prefix i is enc[0..off[i]). */
struct enc {
	char s[ENC_MAX];
	size_t off[COUNTER_MAX_DEPTH + 1];
	int64_t ids[COUNTER_MAX_DEPTH];
	size_t n;
};

int counter_token_valid(const char *t)
{
	size_t len = t ? strlen(t) : 0;

	if (len == 0 || len > COUNTER_MAX_TOKEN || strcmp(t, "*") == 0 ||
	    strncmp(t, "counter.", 8) == 0)
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p == '/' || *p == ':' || *p < 0x20 || *p == 0x7f)
			return -EINVAL;
	return utf8_valid(t, len) ? 0 : -EINVAL;
}

static int check_key(const char *const *tokens, size_t n)
{
	if (n > COUNTER_MAX_DEPTH || (n > 0 && !tokens))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (counter_token_valid(tokens[i]) < 0)
			return -EINVAL;
	return 0;
}

static void enc_build(struct enc *e, size_t n)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
	size_t len = 0;

	e->n = n;
	e->off[0] = 0;
	for (size_t i = 0; i < n; i++) {
		char tmp[16];
		size_t m = 0;
		uint64_t v = (uint64_t)e->ids[i];
		do {
			tmp[m++] = digits[v % 32];
			v /= 32;
		} while (v);
		while (m)
			e->s[len++] = tmp[--m];
		e->s[len++] = ':';
		e->off[i + 1] = len;
	}
	e->s[len] = '\0';
}

static void bind_prefix(sqlite3_stmt *st, int col, const struct enc *e, size_t i)
{
	sqlite3_bind_text(st, col, e->s, (int)e->off[i], SQLITE_STATIC);
}

/* Runs a statement that returns no row (or ignores it). */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int r = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : db_errno(rc);

	db_reset(st);
	return r;
}

/* Finds the id of a token: 0, -ENOENT when unknown (and !create), or -errno. */
static int token_id(struct db *db, const char *token, bool create, int64_t *ret)
{
	sqlite3_stmt *st = db_prep(db, "SELECT id FROM counter_tokens WHERE token = ?1");
	int rc, r = -ENOENT;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = db_errno(rc);
	}
	db_reset(st);
	if (r != -ENOENT || !create)
		return r;
	st = db_prep(db, "INSERT INTO counter_tokens(token) VALUES(?1) RETURNING id");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		r = 0;
	} else {
		r = rc == SQLITE_DONE ? -EIO : db_errno(rc);
	}
	db_reset(st);
	return r;
}

/* Encodes a key; with create, makes missing tokens. -ENOENT for an unknown token. */
static int key_encode(struct db *db, const char *const *tokens, size_t n, bool create,
		      struct enc *e)
{
	for (size_t i = 0; i < n; i++) {
		int r = token_id(db, tokens[i], create, &e->ids[i]);
		if (r < 0)
			return r;
	}
	enc_build(e, n);
	return 0;
}

/* count and sub of the key e[0..off[i]): 0, -ENOENT, or -errno. */
static int key_get(struct db *db, const struct enc *e, size_t i, uint64_t *ret_count,
		   uint64_t *ret_sub)
{
	sqlite3_stmt *st = db_prep(db, "SELECT count, sub FROM counter_keys WHERE k = ?1");
	int rc, r = -ENOENT;

	if (!st)
		return -EIO;
	bind_prefix(st, 1, e, i);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret_count = (uint64_t)sqlite3_column_int64(st, 0);
		*ret_sub = (uint64_t)sqlite3_column_int64(st, 1);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = db_errno(rc);
	}
	db_reset(st);
	return r;
}

/* Adds to key i of e (creating it): count to its own count, sub to its prefix sum. */
static int key_add(struct db *db, const struct enc *e, size_t i, int64_t count, int64_t sub)
{
	sqlite3_stmt *st = db_prep(db, "INSERT INTO counter_keys(k, parent, tok, count, sub)"
				       " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(k) DO UPDATE"
				       " SET count = count + excluded.count, sub = sub + excluded.sub");

	if (!st)
		return -EIO;
	bind_prefix(st, 1, e, i);
	if (i > 0)
		bind_prefix(st, 2, e, i - 1);
	sqlite3_bind_int64(st, 3, i > 0 ? e->ids[i - 1] : 0);
	sqlite3_bind_int64(st, 4, count);
	sqlite3_bind_int64(st, 5, sub);
	return step_done(st);
}

/* Adds count to the bucket of key i of e in one of the bucket tables. */
static int bucket_add(struct db *db, const char *sql, const struct enc *e, size_t i,
		      int64_t bucket, int64_t count)
{
	sqlite3_stmt *st = db_prep(db, sql);

	if (!st)
		return -EIO;
	bind_prefix(st, 1, e, i);
	sqlite3_bind_int64(st, 2, bucket);
	sqlite3_bind_int64(st, 3, count);
	return step_done(st);
}

#define UPSERT(T, col)                                                                             \
	"INSERT INTO " T "(k, " col ", count) VALUES(?1, ?2, ?3)"                                \
	" ON CONFLICT(k, " col ") DO UPDATE SET count = count + excluded.count"

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int counter_inc_tx(struct db *db, const char *const *tokens, size_t n, uint64_t count,
		   int64_t now)
{
	struct enc e;
	uint64_t c0 = 0, total = 0;
	int64_t c = (int64_t)count, day, week;
	int r;

	if (n == 0 || check_key(tokens, n) < 0 || count == 0 || count > INT64_MAX || now < 0 ||
	    now > MAX_UNIX)
		return -EINVAL;
	day = floor_div(now, 86400);
	week = floor_div(now - EPOCH_2012, WEEK_SECS);
	r = key_encode(db, tokens, n, true, &e);
	if (r < 0)
		return r;
	r = key_get(db, &e, 0, &c0, &total);
	if (r == -ENOENT)
		total = 0;
	else if (r < 0)
		return r;
	if (total > (uint64_t)INT64_MAX - count)
		return -EOVERFLOW;
	for (size_t i = 0; i < n; i++) {
		r = key_add(db, &e, i, 0, c);
		if (r == 0)
			r = bucket_add(db, UPSERT("counter_pday", "day"), &e, i, day, c);
		if (r == 0)
			r = bucket_add(db, UPSERT("counter_pweek", "week"), &e, i, week, c);
		if (r < 0)
			return r;
	}
	r = key_add(db, &e, n, c, 0);
	if (r == 0)
		r = bucket_add(db, UPSERT("counter_raw", "minute"), &e, n, floor_div(now, 60), c);
	if (r == 0)
		r = bucket_add(db, UPSERT("counter_day", "day"), &e, n, day, c);
	if (r == 0)
		r = bucket_add(db, UPSERT("counter_week", "week"), &e, n, week, c);
	return r;
}

int counter_inc(struct db *db, const char *const *tokens, size_t n, uint64_t count, int64_t now)
{
	int r;

	if (n == 0 || check_key(tokens, n) < 0 || count == 0 || count > INT64_MAX)
		return -EINVAL;
	r = db_write_begin(db);
	if (r < 0)
		return r;
	return db_write_end(db, counter_inc_tx(db, tokens, n, count, now));
}

int counter_mkkey(struct db *db, const char *const *tokens, size_t n)
{
	struct enc e;
	uint64_t cnt, sub;
	int r;

	if (check_key(tokens, n) < 0)
		return -EINVAL;
	if (n == 0)
		return -EEXIST;
	r = db_write_begin(db);
	if (r < 0)
		return r;
	r = key_encode(db, tokens, n, true, &e);
	if (r == 0) {
		r = key_get(db, &e, n, &cnt, &sub);
		r = r == 0 ? -EEXIST : r == -ENOENT ? 0 : r;
	}
	for (size_t i = 0; r == 0 && i <= n; i++)
		r = key_add(db, &e, i, 0, 0);
	return db_write_end(db, r);
}

/* Encodes an existing key for reading: 0, -ENOENT, or -errno. */
static int key_find(struct db *db, const char *const *tokens, size_t n, struct enc *e,
		    uint64_t *ret_count, uint64_t *ret_sub)
{
	int r;

	if (check_key(tokens, n) < 0)
		return -ENOENT;
	r = key_encode(db, tokens, n, false, e);
	if (r < 0)
		return r;
	r = key_get(db, e, n, ret_count, ret_sub);
	if (r == -ENOENT && n == 0) {
		*ret_count = *ret_sub = 0;
		r = 0;
	}
	return r;
}

int counter_rmkey(struct db *db, const char *const *tokens, size_t n)
{
	struct enc e;
	uint64_t cnt = 0, sub = 0;
	sqlite3_stmt *st;
	int r;

	if (n == 0)
		return -EBUSY;
	r = db_write_begin(db);
	if (r < 0)
		return r;
	r = key_find(db, tokens, n, &e, &cnt, &sub);
	if (r == 0 && (cnt || sub))
		r = -ENOTEMPTY;
	if (r == 0) {
		st = db_prep(db, "SELECT 1 FROM counter_keys WHERE parent = ?1 LIMIT 1");
		if (!st) {
			r = -EIO;
		} else {
			bind_prefix(st, 1, &e, n);
			int rc = sqlite3_step(st);
			r = rc == SQLITE_ROW ? -ENOTEMPTY : db_errno(rc);
			db_reset(st);
		}
	}
	if (r == 0) {
		st = db_prep(db, "DELETE FROM counter_keys WHERE k = ?1");
		if (!st) {
			r = -EIO;
		} else {
			bind_prefix(st, 1, &e, n);
			r = step_done(st);
		}
	}
	return db_write_end(db, r);
}

int counter_exists(struct db *db, const char *const *tokens, size_t n)
{
	struct enc e;
	uint64_t cnt, sub;

	return key_find(db, tokens, n, &e, &cnt, &sub);
}

int counter_total(struct db *db, uint64_t *ret)
{
	struct enc e;
	uint64_t cnt;

	return key_find(db, NULL, 0, &e, &cnt, ret);
}

int counter_children(struct db *db, const char *const *tokens, size_t n, counter_name_cb cb,
		     void *ud)
{
	struct enc e;
	uint64_t cnt, sub;
	sqlite3_stmt *st;
	int rc, r;

	r = key_find(db, tokens, n, &e, &cnt, &sub);
	if (r < 0)
		return r;
	st = db_prep(db, "SELECT t.token FROM counter_keys c JOIN counter_tokens t ON t.id = c.tok"
			 " WHERE c.parent = ?1 ORDER BY t.token");
	if (!st)
		return -EIO;
	bind_prefix(st, 1, &e, n);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = cb(ud, (const char *)sqlite3_column_text(st, 0));
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	return r;
}

/* ---- queries ---------------------------------------------------------------- */

/* Shapes of bucketed statements. ALL_BOUNDED returns bucket 0. */
enum shape { SH_ALL_BOUNDED, SH_DAY, SH_WEEK, SH_WEEK_BOUNDED, SH_N };

#define WEEK_OF(d) "((" d " - 15340 + 7000000) / 7 - 1000000)"
#define ONE_SUM(T)                                                                                 \
	"SELECT 0, SUM(count) FROM " T " WHERE k = ?1 AND day BETWEEN ?2 AND ?3"                \
	" HAVING SUM(count) > 0"
#define ONE_DAY(T) "SELECT day, count FROM " T " WHERE k = ?1 AND day BETWEEN ?2 AND ?3"
#define ONE_WEEK(T) "SELECT week, count FROM " T " WHERE k = ?1"
#define ONE_WEEKD(T)                                                                               \
	"SELECT " WEEK_OF("day") ", SUM(count) FROM " T " WHERE k = ?1"                         \
	" AND day BETWEEN ?2 AND ?3 GROUP BY 1"
#define LIST_FROM(T)                                                                               \
	" FROM counter_keys c JOIN counter_tokens t ON t.id = c.tok JOIN " T " d ON d.k = c.k"  \
	" WHERE c.parent = ?1"
#define LIST_SUM(T)                                                                                \
	"SELECT t.token, 0, SUM(d.count)" LIST_FROM(T) " AND d.day BETWEEN ?2 AND ?3 GROUP BY c.k"
#define LIST_DAY(T) "SELECT t.token, d.day, d.count" LIST_FROM(T) " AND d.day BETWEEN ?2 AND ?3"
#define LIST_WEEK(T) "SELECT t.token, d.week, d.count" LIST_FROM(T)
#define LIST_WEEKD(T)                                                                              \
	"SELECT t.token, " WEEK_OF("d.day") ", SUM(d.count)" LIST_FROM(T)                       \
	" AND d.day BETWEEN ?2 AND ?3 GROUP BY c.k, 2"

/* [list][prefix source][shape] */
static const char *const bucket_sql[2][2][SH_N] = {
	{ { ONE_SUM("counter_day"), ONE_DAY("counter_day"), ONE_WEEK("counter_week"),
	    ONE_WEEKD("counter_day") },
	  { ONE_SUM("counter_pday"), ONE_DAY("counter_pday"), ONE_WEEK("counter_pweek"),
	    ONE_WEEKD("counter_pday") } },
	{ { LIST_SUM("counter_day"), LIST_DAY("counter_day"), LIST_WEEK("counter_week"),
	    LIST_WEEKD("counter_day") },
	  { LIST_SUM("counter_pday"), LIST_DAY("counter_pday"), LIST_WEEK("counter_pweek"),
	    LIST_WEEKD("counter_pday") } },
};

struct qctx {
	struct db *db;
	const struct counter_req *req;
	struct enc e;
	char base[COUNTER_MAX_DEPTH * (COUNTER_MAX_TOKEN + 1) + 1]; /* the key as printed */
	size_t baselen;
	enum shape shape;
	bool bounded;
	int64_t day_lo, day_hi;
	struct counter_result res;
	size_t cap;
};

/* Appends a row; child is the next-level token when listing a prefix, else NULL. */
static int add_row(struct qctx *q, const char *child, bool prefix, int64_t bucket, int64_t count)
{
	struct counter_row *row;

	if (count <= 0)
		return 0;
	if (q->res.n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct counter_row *rows;
		if (q->res.n >= COUNTER_MAX_ROWS)
			return -EFBIG;
		rows = realloc(q->res.rows, cap * sizeof(*rows));
		if (!rows)
			return -ENOMEM;
		q->res.rows = rows;
		q->cap = cap;
	}
	row = &q->res.rows[q->res.n];
	memset(row, 0, sizeof(*row));
	if (q->req->list) {
		size_t clen = child ? strlen(child) : 0;
		size_t len = q->baselen + (child ? clen + (q->baselen > 0) : 0);
		row->key = malloc(len + 3);
		if (!row->key)
			return -ENOMEM;
		memcpy(row->key, q->base, q->baselen);
		if (child) {
			if (q->baselen)
				row->key[q->baselen] = ':';
			memcpy(row->key + len - clen, child, clen);
		}
		row->baselen = len;
		if (prefix)
			memcpy(row->key + len, ":*", 2);
		row->key[len + (prefix ? 2 : 0)] = '\0';
	}
	row->prefix = prefix;
	if (q->req->by != COUNTER_BY_ALL) {
		row->dated = true;
		row->time = q->req->by == COUNTER_BY_DAY ? bucket * 86400
							 : EPOCH_2012 + (bucket + 1) * WEEK_SECS;
	}
	row->count = (uint64_t)count;
	q->res.n++;
	return 0;
}

/* The one undated zero row of an empty answer without list (add_row() skips zeros). */
static int add_zero_row(struct counter_result *res)
{
	res->rows = calloc(1, sizeof(*res->rows));
	if (!res->rows)
		return -ENOMEM;
	res->n = 1;
	return 0;
}

/* Rows of the key itself (exact) or of its strict descendants (prefix), or per child. */
static int fetch(struct qctx *q, bool list, bool prefix)
{
	sqlite3_stmt *st = db_prep(q->db, bucket_sql[list][prefix][q->shape]);
	int rc, r = 0;

	if (!st)
		return -EIO;
	bind_prefix(st, 1, &q->e, q->e.n);
	if (sqlite3_bind_parameter_count(st) >= 3) {
		sqlite3_bind_int64(st, 2, q->day_lo);
		sqlite3_bind_int64(st, 3, q->day_hi);
	}
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int c = list ? 1 : 0;
		const char *child = list ? (const char *)sqlite3_column_text(st, 0) : NULL;
		r = add_row(q, child, prefix && list, sqlite3_column_int64(st, c),
			    sqlite3_column_int64(st, c + 1));
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	return r;
}

/* Unbounded totals straight from counter_keys. */
static int fetch_totals(struct qctx *q, uint64_t cnt, uint64_t sub)
{
	const struct counter_req *req = q->req;
	sqlite3_stmt *st;
	int rc, r = 0;

	if (!req->list || !req->prefix) {
		uint64_t v = req->prefix ? sub + (req->self ? cnt : 0) : cnt;
		return add_row(q, NULL, false, 0, (int64_t)v);
	}
	st = db_prep(q->db, "SELECT t.token, c.count, c.sub FROM counter_keys c"
			    " JOIN counter_tokens t ON t.id = c.tok WHERE c.parent = ?1");
	if (!st)
		return -EIO;
	bind_prefix(st, 1, &q->e, q->e.n);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *child = (const char *)sqlite3_column_text(st, 0);
		r = add_row(q, child, false, 0, sqlite3_column_int64(st, 1));
		if (r == 0)
			r = add_row(q, child, true, 0, sqlite3_column_int64(st, 2));
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	return r;
}

/* Token-wise order of two printed keys (tokens never contain ':'). */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0;

	for (;; i++) {
		int ca = i < alen ? (a[i] == ':' ? 0 : (unsigned char)a[i] + 1) : -1;
		int cb = i < blen ? (b[i] == ':' ? 0 : (unsigned char)b[i] + 1) : -1;
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca < 0)
			return 0;
	}
}

static int row_cmp(const void *pa, const void *pb)
{
	const struct counter_row *a = pa, *b = pb;
	int c;

	if (a->time != b->time)
		return a->time < b->time ? -1 : 1;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	if (a->key && b->key) {
		c = key_cmp(a->key, a->baselen, b->key, b->baselen);
		if (c)
			return c;
	}
	return (int)a->prefix - (int)b->prefix;
}

/* Without list, rows of the same bucket (exact + prefix with self) become one. */
static void merge_buckets(struct counter_result *res)
{
	size_t w = 0;

	for (size_t i = 0; i < res->n; i++) {
		if (w > 0 && res->rows[w - 1].time == res->rows[i].time)
			res->rows[w - 1].count += res->rows[i].count;
		else
			res->rows[w++] = res->rows[i];
	}
	res->n = w;
}

static int query_rows(struct qctx *q)
{
	const struct counter_req *req = q->req;
	uint64_t cnt = 0, sub = 0;
	int r;

	r = key_find(q->db, req->tokens, req->n, &q->e, &cnt, &sub);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (req->by == COUNTER_BY_ALL && !q->bounded)
		return fetch_totals(q, cnt, sub);
	if (!req->prefix || req->self || !req->list) {
		bool exact = !req->prefix || req->self;
		if (exact && (r = fetch(q, false, false)) < 0)
			return r;
		if (req->prefix && (r = fetch(q, false, true)) < 0)
			return r;
		return 0;
	}
	r = fetch(q, true, false);
	return r < 0 ? r : fetch(q, true, true);
}

static int64_t day_of(int64_t t, int64_t dflt)
{
	return t ? floor_div(t, 86400) : dflt;
}

int counter_query(struct db *db, const struct counter_req *req, struct counter_result *ret)
{
	struct qctx *q;
	bool started;
	int r;

	if (!req || (req->n > 0 && !req->tokens) || (req->self && req->list) ||
	    req->by > COUNTER_BY_WEEK)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->db = db;
	q->req = req;
	q->bounded = req->start || req->stop;
	q->day_lo = day_of(req->start, INT64_MIN);
	q->day_hi = day_of(req->stop, INT64_MAX);
	q->shape = req->by == COUNTER_BY_DAY	 ? SH_DAY
		   : req->by == COUNTER_BY_ALL	 ? SH_ALL_BOUNDED
		   : q->bounded			 ? SH_WEEK_BOUNDED
						 : SH_WEEK;
	for (size_t i = 0; req->list && i < req->n && i < COUNTER_MAX_DEPTH; i++) {
		size_t len = strnlen(req->tokens[i], COUNTER_MAX_TOKEN + 1);
		if (len > COUNTER_MAX_TOKEN)
			break;
		if (i)
			q->base[q->baselen++] = ':';
		memcpy(q->base + q->baselen, req->tokens[i], len);
		q->baselen += len;
	}
	r = db_read_begin(db, &started);
	if (r == 0) {
		r = query_rows(q);
		db_read_end(db, started);
	}
	if (r == 0 && q->res.n > 1)
		qsort(q->res.rows, q->res.n, sizeof(*q->res.rows), row_cmp);
	if (r == 0 && !req->list)
		merge_buckets(&q->res);
	if (r == 0 && !req->list && q->res.n == 0)
		r = add_zero_row(&q->res);
	if (r == 0) {
		*ret = q->res;
		q->res.rows = NULL;
		q->res.n = 0;
	}
	counter_result_free(&q->res);
	free(q);
	return r;
}

void counter_result_free(struct counter_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->n; i++)
		free(res->rows[i].key);
	free(res->rows);
	res->rows = NULL;
	res->n = 0;
}

/* ---- checking --------------------------------------------------------------- */

/*
 * Each query lists keys whose stored totals disagree with the rows they
 * summarise: a key's count with its per-minute, day and week rows, a key's
 * sub with its children, and the prefix rollups with their children's rows.
 */
static const struct {
	const char *what;
	const char *sql;
} counter_checks[] = {
	{ "count differs from its per-minute counts",
	  "SELECT k.k FROM counter_keys k LEFT JOIN (SELECT k, sum(count) c FROM counter_raw"
	  " GROUP BY k) r ON r.k = k.k WHERE k.count != coalesce(r.c, 0) LIMIT 20" },
	{ "count differs from its day rollup",
	  "SELECT k.k FROM counter_keys k LEFT JOIN (SELECT k, sum(count) c FROM counter_day"
	  " GROUP BY k) r ON r.k = k.k WHERE k.count != coalesce(r.c, 0) LIMIT 20" },
	{ "count differs from its week rollup",
	  "SELECT k.k FROM counter_keys k LEFT JOIN (SELECT k, sum(count) c FROM counter_week"
	  " GROUP BY k) r ON r.k = k.k WHERE k.count != coalesce(r.c, 0) LIMIT 20" },
	{ "prefix total differs from its children",
	  "SELECT p.k FROM counter_keys p LEFT JOIN (SELECT parent, sum(count + sub) c"
	  " FROM counter_keys WHERE parent IS NOT NULL GROUP BY parent) ch ON ch.parent = p.k"
	  " WHERE p.sub != coalesce(ch.c, 0) LIMIT 20" },
	{ "prefix day rollup differs from its children",
	  "SELECT x.k FROM (SELECT c.parent AS k, d.day, sum(d.count) s FROM counter_keys c"
	  " JOIN (SELECT k, day, count FROM counter_day UNION ALL"
	  " SELECT k, day, count FROM counter_pday) d ON d.k = c.k"
	  " WHERE c.parent IS NOT NULL GROUP BY c.parent, d.day) x"
	  " LEFT JOIN counter_pday p ON p.k = x.k AND p.day = x.day"
	  " WHERE coalesce(p.count, 0) != x.s LIMIT 20" },
};

int counter_check(struct db *db, struct strv *problems)
{
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(counter_checks); i++) {
		sqlite3_stmt *st = db_prep(db, counter_checks[i].sql);
		int rc;
		if (!st)
			return -EIO;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			(void)strv_pushf(problems, "counter key %s: %s",
					 (const char *)sqlite3_column_text(st, 0), counter_checks[i].what);
			r = -EIO;
		}
		db_reset(st);
		if (rc != SQLITE_DONE)
			return db_errno(rc);
	}
	return r;
}
