/*
 * Update locks in the store's database (SPEC §4.5): the original store's
 * LockUpdates/UpdateLock, made durable, renewable and addressable by id.
 *
 * Tables: locks holds one row per lock (id, holder, since, expires);
 * lock_urls one row per locked URL, keyed by the URL string
 * cs:[~user/]series/name, with its parts beside it for listings. Invariants:
 *  - A URL belongs to at most one lock (the primary key), and every
 *    lock_urls row names an existing lock.
 *  - A lock without URLs does not exist: whoever removes a lock's last URL
 *    removes the lock in the same transaction.
 *  - Expiry is a comparison with the caller's `now`, never a background
 *    job: an expired row stays until a taker takes its URL over, its
 *    holder releases it, or lock_purge() runs, and readers skip it.
 * Every change is one write transaction (db_write_begin()), so taking
 * several URLs is all or none and races between takers are decided by the
 * db layer's writer mutex. URLs are taken in sorted order, as the original
 * did, so that a future multi-host backend that locks row by row cannot
 * deadlock two takers.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "db.h"
#include "lock.h"
#include "banned.h"

const char *const lock_schema[] = {
    /* One lock; times in unix seconds, expired when now >= expires. */
    "CREATE TABLE IF NOT EXISTS locks("
    " id TEXT PRIMARY KEY,"
    " pid INTEGER NOT NULL,"
    " uid INTEGER NOT NULL,"
    " command TEXT NOT NULL,"
    " since INTEGER NOT NULL,"
    " expires INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS locks_expires ON locks(expires)",
    /* One locked URL; url is cs:[~user/]series/name, user '' for none. */
    "CREATE TABLE IF NOT EXISTS lock_urls("
    " url TEXT PRIMARY KEY,"
    " user TEXT NOT NULL, series TEXT NOT NULL, name TEXT NOT NULL,"
    " lock_id TEXT NOT NULL REFERENCES locks(id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS lock_urls_lock_id ON lock_urls(lock_id)",
    "CREATE INDEX IF NOT EXISTS lock_urls_path ON lock_urls(user, series, name)",
    NULL,
};

/* A URL as the tables key it. */
struct key {
	char url[URL_STR_MAX];
	const struct url *u;
};

int64_t lock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

bool lock_id_valid(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < LOCK_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

static bool url_lockable(const struct url *u)
{
	return strcmp(u->schema, "cs") == 0 && u->revision < 0 &&
	       (u->user[0] == '\0' || url_valid_user(u->user)) && url_valid_series(u->series) &&
	       url_valid_name(u->name);
}

static int make_key(const struct url *u, struct key *ret)
{
	if (!url_lockable(u))
		return -EINVAL;
	url_format(u, ret->url, sizeof(ret->url));
	ret->u = u;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct key *)a)->url, ((const struct key *)b)->url);
}

static int new_id(char ret[LOCK_ID_LEN + 1])
{
	unsigned char raw[LOCK_ID_LEN / 2];
	ssize_t n;

	do
		n = getrandom(raw, sizeof(raw), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(raw))
		return -EIO;
	hex_encode(raw, sizeof(raw), ret);
	return 0;
}

/* Steps a statement that returns no row, then resets it. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : db_errno(rc);

	if (rc == SQLITE_ROW)
		r = -EIO;
	db_reset(st);
	return r;
}

/* Drops everything added to sv past its first n0 entries (an emptied list owns nothing). */
static void strv_truncate(struct strv *sv, size_t n0)
{
	if (!sv)
		return;
	while (sv->n > n0)
		free(sv->v[--sv->n]);
	if (sv->n == 0) {
		free(sv->v);
		sv->v = NULL;
	} else {
		sv->v[sv->n] = NULL;
	}
}

/* The lock holding key, expired or not: 0, -ENOENT or -errno. */
static int find(struct db *db, const char *key, char ret_id[LOCK_ID_LEN + 1], int64_t *ret_expires)
{
	sqlite3_stmt *st = db_prep(db, "SELECT l.id, l.expires FROM lock_urls u"
				       " JOIN locks l ON l.id = u.lock_id WHERE u.url = ?");
	const char *id;
	int rc, r = -ENOENT;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		id = (const char *)sqlite3_column_text(st, 0);
		if (id && strlen(id) == LOCK_ID_LEN) {
			memcpy(ret_id, id, LOCK_ID_LEN + 1);
			*ret_expires = sqlite3_column_int64(st, 1);
			r = 0;
		} else {
			r = -EIO;
		}
	} else if (rc != SQLITE_DONE) {
		r = db_errno(rc);
	}
	db_reset(st);
	return r;
}

/* The unexpired lock holding key: 0, -ENOENT or -errno. */
static int find_live(struct db *db, const char *key, int64_t now, char ret_id[LOCK_ID_LEN + 1])
{
	int64_t expires;
	int r = find(db, key, ret_id, &expires);

	if (r == 0 && now >= expires)
		r = -ENOENT;
	return r;
}

/* Removes key from lock id, and the lock when that was its last URL. */
static int drop_url(struct db *db, const char *key, const char *id)
{
	sqlite3_stmt *st = db_prep(db, "DELETE FROM lock_urls WHERE url = ?");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	r = step_done(st);
	if (r < 0)
		return r;
	st = db_prep(db, "DELETE FROM locks WHERE id = ?1"
			 " AND NOT EXISTS (SELECT 1 FROM lock_urls WHERE lock_id = ?1)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return step_done(st);
}

/*
 * When a lock taken or renewed at now expires. now is the real time cut to
 * whole seconds, so the lock may be up to a second older than now says:
 * the extra second makes sure it is older than timeout when it expires
 * (SPEC §4.5), and never more than a second late.
 */
static int64_t expiry(int64_t now, unsigned timeout)
{
	return now + (int64_t)timeout + 1;
}

static int insert_lock(struct db *db, const char *id, const struct lock_holder *h, int64_t now,
		       unsigned timeout)
{
	sqlite3_stmt *st = db_prep(db, "INSERT INTO locks(id, pid, uid, command, since, expires)"
				       " VALUES(?, ?, ?, ?, ?, ?)");
	const char *cmd = h->command ? h->command : "";

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)h->pid);
	sqlite3_bind_int64(st, 3, (int64_t)h->uid);
	sqlite3_bind_text(st, 4, cmd, (int)strnlen(cmd, LOCK_COMMAND_MAX), SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, expiry(now, timeout));
	return step_done(st);
}

static int take_one(struct db *db, const struct key *k, const char *id, int64_t now,
		    struct strv *taken_over)
{
	char old[LOCK_ID_LEN + 1];
	int64_t expires;
	sqlite3_stmt *st;
	int r;

	r = find(db, k->url, old, &expires);
	if (r == 0) {
		if (now < expires)
			return -EEXIST;
		r = drop_url(db, k->url, old);
		if (r == 0 && taken_over)
			r = strv_pushf(taken_over, "%s %s", k->url, old);
	} else if (r == -ENOENT) {
		r = 0;
	}
	if (r < 0)
		return r;
	st = db_prep(db, "INSERT INTO lock_urls(url, user, series, name, lock_id)"
			 " VALUES(?, ?, ?, ?, ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, k->url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, k->u->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, k->u->series, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, k->u->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
	return step_done(st);
}

/* Keys of the n URLs, sorted, duplicates merged. Caller frees *ret. */
static int make_keys(const struct url *urls, size_t n, struct key **ret, size_t *ret_n)
{
	struct key *keys;
	size_t i, m = 0;

	if (n == 0)
		return -EINVAL;
	keys = calloc(n, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (make_key(&urls[i], &keys[i]) < 0) {
			free(keys);
			return -EINVAL;
		}
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 0; i < n; i++)
		if (m == 0 || strcmp(keys[m - 1].url, keys[i].url) != 0)
			keys[m++] = keys[i];
	*ret = keys;
	*ret_n = m;
	return 0;
}

int lock_take(struct db *db, const struct url *urls, size_t n, const struct lock_holder *h,
	      int64_t now, unsigned timeout, char ret_id[LOCK_ID_LEN + 1], struct strv *taken_over)
{
	size_t n0 = taken_over ? taken_over->n : 0, nk = 0;
	_cleanup_free_ struct key *keys = NULL;
	char id[LOCK_ID_LEN + 1];
	int r;

	if (!h)
		return -EINVAL;
	r = make_keys(urls, n, &keys, &nk);
	if (r < 0)
		return r;
	r = new_id(id);
	if (r < 0)
		return r;
	r = db_write_begin(db);
	if (r < 0)
		return r;
	r = insert_lock(db, id, h, now, timeout);
	for (size_t i = 0; r == 0 && i < nk; i++)
		r = take_one(db, &keys[i], id, now, taken_over);
	r = db_write_end(db, r);
	if (r < 0) {
		strv_truncate(taken_over, n0);
		return r;
	}
	memcpy(ret_id, id, sizeof(id));
	return 0;
}

/* Number of rows the last statement on st's connection changed. */
static int changes(sqlite3_stmt *st)
{
	return sqlite3_changes(sqlite3_db_handle(st));
}

static int release_locked(struct db *db, const char *id)
{
	sqlite3_stmt *st = db_prep(db, "DELETE FROM lock_urls WHERE lock_id = ?");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = step_done(st);
	if (r < 0)
		return r;
	st = db_prep(db, "DELETE FROM locks WHERE id = ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = step_done(st);
	if (r == 0 && changes(st) == 0)
		r = -ENOENT;
	return r;
}

int lock_release(struct db *db, const char *id)
{
	int r;

	if (!lock_id_valid(id))
		return -EINVAL;
	r = db_write_begin(db);
	if (r < 0)
		return r;
	return db_write_end(db, release_locked(db, id));
}

int lock_release_url(struct db *db, const struct url *u, int64_t now)
{
	char id[LOCK_ID_LEN + 1];
	struct key k;
	int r;

	if (make_key(u, &k) < 0)
		return -EINVAL;
	r = db_write_begin(db);
	if (r < 0)
		return r;
	r = find_live(db, k.url, now, id);
	if (r == 0)
		r = drop_url(db, k.url, id);
	return db_write_end(db, r);
}

int lock_renew(struct db *db, const struct url *u, int64_t now, unsigned timeout)
{
	char id[LOCK_ID_LEN + 1];
	sqlite3_stmt *st;
	struct key k;
	int r;

	if (make_key(u, &k) < 0)
		return -EINVAL;
	r = db_write_begin(db);
	if (r < 0)
		return r;
	r = find_live(db, k.url, now, id);
	if (r == 0) {
		st = db_prep(db, "UPDATE locks SET expires = ? WHERE id = ?");
		if (!st) {
			r = -EIO;
		} else {
			sqlite3_bind_int64(st, 1, expiry(now, timeout));
			sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
			r = step_done(st);
		}
	}
	return db_write_end(db, r);
}

static void copy_text(char *out, size_t outlen, const unsigned char *s)
{
	snprintf(out, outlen, "%s", s ? (const char *)s : "");
}

int lock_get(struct db *db, const struct url *u, int64_t now, struct lock_info *ret)
{
	sqlite3_stmt *st;
	struct lock_info li;
	struct key k;
	int rc, r = -ENOENT;

	if (make_key(u, &k) < 0)
		return -EINVAL;
	st = db_prep(db, "SELECT l.id, l.pid, l.uid, l.command, l.since, l.expires"
			 " FROM lock_urls u JOIN locks l ON l.id = u.lock_id"
			 " WHERE u.url = ? AND l.expires > ?");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, k.url, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(&li, 0, sizeof(li));
		copy_text(li.id, sizeof(li.id), sqlite3_column_text(st, 0));
		li.pid = (pid_t)sqlite3_column_int64(st, 1);
		li.uid = (uid_t)sqlite3_column_int64(st, 2);
		copy_text(li.command, sizeof(li.command), sqlite3_column_text(st, 3));
		li.since = sqlite3_column_int64(st, 4);
		li.expires = sqlite3_column_int64(st, 5);
		*ret = li;
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = db_errno(rc);
	}
	db_reset(st);
	return r;
}

static int each_text(sqlite3_stmt *st, lock_name_cb cb, void *ud)
{
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = cb(ud, (const char *)sqlite3_column_text(st, 0));
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	return r < 0 ? r : 0;
}

int lock_list_users(struct db *db, int64_t now, lock_name_cb cb, void *ud)
{
	sqlite3_stmt *st = db_prep(db, "SELECT DISTINCT u.user FROM lock_urls u"
				       " JOIN locks l ON l.id = u.lock_id"
				       " WHERE u.user != '' AND l.expires > ? ORDER BY u.user");

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, now);
	return each_text(st, cb, ud);
}

int lock_list_series(struct db *db, const char *user, int64_t now, lock_name_cb cb, void *ud)
{
	sqlite3_stmt *st = db_prep(db, "SELECT DISTINCT u.series FROM lock_urls u"
				       " JOIN locks l ON l.id = u.lock_id"
				       " WHERE u.user = ? AND l.expires > ? ORDER BY u.series");

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, user ? user : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	return each_text(st, cb, ud);
}

int lock_list_names(struct db *db, const char *user, const char *series, int64_t now,
		    lock_name_cb cb, void *ud)
{
	sqlite3_stmt *st = db_prep(db, "SELECT u.name FROM lock_urls u"
				       " JOIN locks l ON l.id = u.lock_id"
				       " WHERE u.user = ? AND u.series = ? AND l.expires > ?"
				       " ORDER BY u.name");

	if (!series)
		return -EINVAL;
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, user ? user : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, series, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	return each_text(st, cb, ud);
}

int lock_list_urls(struct db *db, const char *id, lock_name_cb cb, void *ud)
{
	sqlite3_stmt *st = db_prep(db, "SELECT url FROM lock_urls WHERE lock_id = ? ORDER BY url");

	if (!lock_id_valid(id))
		return -EINVAL;
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return each_text(st, cb, ud);
}

int lock_check(struct db *db, const struct url *urls, size_t n, const char *lock_id, int64_t now)
{
	char id[LOCK_ID_LEN + 1];
	struct key k;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (make_key(&urls[i], &k) < 0)
			return -EINVAL;
		r = find_live(db, k.url, now, id);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		if (!lock_id || strcmp(id, lock_id) != 0)
			return -EBUSY;
	}
	return 0;
}

static int purge_locked(struct db *db, int64_t now, struct strv *gone)
{
	sqlite3_stmt *st;
	int rc, r = 0;

	if (gone) {
		st = db_prep(db, "SELECT u.url, u.lock_id FROM lock_urls u"
				 " JOIN locks l ON l.id = u.lock_id"
				 " WHERE l.expires <= ? ORDER BY u.url");
		if (!st)
			return -EIO;
		sqlite3_bind_int64(st, 1, now);
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
			r = strv_pushf(gone, "%s %s", (const char *)sqlite3_column_text(st, 0),
				       (const char *)sqlite3_column_text(st, 1));
		if (r == 0 && rc != SQLITE_DONE)
			r = db_errno(rc);
		db_reset(st);
		if (r < 0)
			return r;
	}
	st = db_prep(db, "DELETE FROM lock_urls WHERE lock_id IN"
			 " (SELECT id FROM locks WHERE expires <= ?)");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, now);
	r = step_done(st);
	if (r < 0)
		return r;
	st = db_prep(db, "DELETE FROM locks WHERE expires <= ?");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, now);
	return step_done(st);
}

int lock_purge(struct db *db, int64_t now, struct strv *gone)
{
	size_t n0 = gone ? gone->n : 0;
	int r;

	r = db_write_begin(db);
	if (r < 0)
		return r;
	r = db_write_end(db, purge_locked(db, now, gone));
	if (r < 0)
		strv_truncate(gone, n0);
	return r;
}

/* ---- locks/ctl requests ----------------------------------------------------- */

/* The command word, then at most one word past the URL limit (to say "too many"). */
#define LOCK_REQ_WORDS (LOCK_REQ_URLS_MAX + 1)

static const struct split_rules lock_rules = {
	.max_len = LOCK_REQ_MAX,
	.max_words = LOCK_REQ_WORDS,
	.blanks = " \t",
	.flags = SPLIT_LEN_WITH_EOL | SPLIT_CRLF,
};

/* A request being parsed: the result, then the line's words. */
struct lock_parse {
	struct lock_req rq;
	char buf[LOCK_REQ_MAX + 1];
	char *v[LOCK_REQ_WORDS];
	size_t n;
};

static int parse_url(const char *s, struct url *ret, char *err, size_t errlen)
{
	char canon[URL_STR_MAX];
	struct url u;

	if (strlen(s) > URL_INPUT_MAX)
		return errf(err, errlen, -EINVAL, "charm URL too long (over %d bytes)",
			    URL_INPUT_MAX);
	if (url_parse(s, &u, err, errlen) < 0)
		return -EINVAL;
	url_format(&u, canon, sizeof(canon));
	if (strcmp(u.schema, "cs") != 0)
		return errf(err, errlen, -EINVAL, "charm URL is not a cs: URL: \"%s\"", canon);
	if (u.series[0] == '\0')
		return errf(err, errlen, -EINVAL, "charm URL has no series: \"%s\"", canon);
	if (u.revision >= 0)
		return errf(err, errlen, -EINVAL, "charm URL has a revision: \"%s\"", canon);
	*ret = u;
	return 0;
}

/* lock URL [URL...]: the URLs are checked in order before their number. */
static int parse_lock(struct lock_parse *p, char *err, size_t errlen)
{
	struct lock_req *rq = &p->rq;
	int r;

	rq->kind = LOCK_REQ_LOCK;
	for (size_t i = 1; i < p->n; i++) {
		if (rq->n_urls == LOCK_REQ_URLS_MAX)
			return errf(err, errlen, -EINVAL, "too many URLs (at most %d)",
				    LOCK_REQ_URLS_MAX);
		r = parse_url(p->v[i], &rq->urls[rq->n_urls], err, errlen);
		if (r < 0)
			return r;
		rq->n_urls++;
	}
	if (rq->n_urls == 0)
		return errf(err, errlen, -EINVAL, "usage: lock URL [URL...]");
	return 0;
}

static int parse_unlock(struct lock_parse *p, char *err, size_t errlen)
{
	const char *w = p->n > 1 ? p->v[1] : "";

	p->rq.kind = LOCK_REQ_UNLOCK;
	if (p->n != 2)
		return errf(err, errlen, -EINVAL, "usage: unlock LOCKID");
	if (strlen(w) != LOCK_ID_LEN || !lock_id_valid(w))
		return errf(err, errlen, -EINVAL, "invalid lock id");
	memcpy(p->rq.id, w, LOCK_ID_LEN + 1);
	return 0;
}

int lock_parse_request(const char *line, size_t len, struct lock_req *ret, char *err, size_t errlen)
{
	struct lock_parse *p;
	int r;

	if (!line && len > 0)
		return errf(err, errlen, -EINVAL, "no request");
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = split_words(line, len, &lock_rules, p->buf, p->v, &p->n);
	if (r == -EMSGSIZE)
		r = errf(err, errlen, -EINVAL, "request too long (over %d bytes)", LOCK_REQ_MAX);
	else if (r == -EILSEQ)
		r = errf(err, errlen, -EINVAL, "request contains a NUL byte");
	else if (r < 0)
		r = errf(err, errlen, -EINVAL, "one request per line");
	else if (p->n == 0)
		r = errf(err, errlen, -EINVAL, "empty request");
	else if (strcmp(p->v[0], "lock") == 0)
		r = parse_lock(p, err, errlen);
	else if (strcmp(p->v[0], "unlock") == 0)
		r = parse_unlock(p, err, errlen);
	else
		r = errf(err, errlen, -EINVAL,
			 "unknown request (want \"lock URL...\" or \"unlock LOCKID\")");
	if (r == 0)
		*ret = p->rq;
	free(p);
	return r;
}

int lock_release_command(struct db *db, const char *command)
{
	static const char *const sql[] = {
		"DELETE FROM lock_urls WHERE lock_id IN (SELECT id FROM locks WHERE command = ?)",
		"DELETE FROM locks WHERE command = ?",
	};
	int r = db_write_begin(db);

	for (size_t i = 0; r == 0 && i < 2; i++) {
		sqlite3_stmt *st = db_prep(db, sql[i]);
		if (!st) {
			r = -EIO;
			break;
		}
		sqlite3_bind_text(st, 1, command, -1, SQLITE_STATIC);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	return db_write_end(db, r);
}
