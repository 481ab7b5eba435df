/*
 * The charm store proper: which archive each charm URL revision holds,
 * publishing new revisions, deleting them, and the event log.
 *
 * Invariants:
 *  - A revisions row exists only when blobs/SHA256.charm and trees/SHA256/
 *    exist: files are written under tmp/ and renamed into place before the
 *    transaction that references them commits. A crash in between leaves
 *    unreferenced files, which store_open() removes.
 *  - urls.max_revision only grows, so a revision number is never reused,
 *    even after deletion.
 *  - events.off is the byte offset of the event's line in the root events
 *    file; lines never change once written.
 *  - Publishes and deletions are serialised by pub_lock, so the revision
 *    computed before the archive is written is still free at commit time,
 *    and a blob is never removed while a publish is about to reference it.
 */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "counter.h"
#include "db.h"
#include "lock.h"
#include "store.h"
#include "banned.h"

enum { EVENT_PUBLISHED = 1, EVENT_PUBLISH_ERROR = 2 };

/* The store's tables; the other modules bring theirs (db_open()). */
static const char *const store_schema[] = {
	/* One stored archive; shared by every URL it was published to. */
	"CREATE TABLE IF NOT EXISTS revisions("
	" id INTEGER PRIMARY KEY,"
	" revision INTEGER NOT NULL,"
	" sha256 TEXT NOT NULL,"
	" digest TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" published INTEGER NOT NULL)", /* nanoseconds since the epoch */
	"CREATE INDEX IF NOT EXISTS revisions_sha256 ON revisions(sha256)",
	/* URL -> revision. user is '' for none. */
	"CREATE TABLE IF NOT EXISTS url_revs("
	" user TEXT NOT NULL, series TEXT NOT NULL, name TEXT NOT NULL,"
	" revision INTEGER NOT NULL, rev_id INTEGER NOT NULL REFERENCES revisions(id),"
	" PRIMARY KEY(user, series, name, revision)) WITHOUT ROWID",
	"CREATE INDEX IF NOT EXISTS url_revs_rev_id ON url_revs(rev_id)",
	/* The highest revision ever assigned to a URL: numbers are never reused. */
	"CREATE TABLE IF NOT EXISTS urls("
	" user TEXT NOT NULL, series TEXT NOT NULL, name TEXT NOT NULL,"
	" max_revision INTEGER NOT NULL,"
	" PRIMARY KEY(user, series, name)) WITHOUT ROWID",
	/* Charm events; line is the JSON text shown in events files, off its byte offset there. */
	"CREATE TABLE IF NOT EXISTS events("
	" id INTEGER PRIMARY KEY,"
	" kind INTEGER NOT NULL,"
	" digest TEXT NOT NULL,"
	" revision INTEGER NOT NULL,"
	" time INTEGER NOT NULL,"
	" off INTEGER NOT NULL,"
	" len INTEGER NOT NULL,"
	" line TEXT NOT NULL)",
	"CREATE INDEX IF NOT EXISTS events_off ON events(off)",
	"CREATE TABLE IF NOT EXISTS event_urls("
	" user TEXT NOT NULL, series TEXT NOT NULL, name TEXT NOT NULL,"
	" event_id INTEGER NOT NULL,"
	" PRIMARY KEY(user, series, name, event_id)) WITHOUT ROWID",
	NULL,
};

static const char *const *const schemas[] = { store_schema, lock_schema, counter_schema, NULL };

struct store {
	char *dir;
	char scratch[PATH_MAX];
	struct store_opts opts;
	struct db *db;
	int lock_fd;
	pthread_mutex_t pub_lock;
	_Atomic int64_t changed_ns;
	_Atomic int64_t events_ns;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void store_opts_default(struct store_opts *o)
{
	memset(o, 0, sizeof(*o));
	charm_limits_default(&o->limits);
	o->lock_timeout = 600;
}

struct db *store_db(struct store *s)
{
	return s->db;
}

const char *store_dir(const struct store *s)
{
	return s->dir;
}

const char *store_scratch_dir(const struct store *s)
{
	return s->scratch;
}

int64_t store_changed_ns(const struct store *s)
{
	return atomic_load(&((struct store *)s)->changed_ns);
}

int64_t store_events_ns(const struct store *s)
{
	return atomic_load(&((struct store *)s)->events_ns);
}

void store_blob_path(const struct store *s, const char *sha256, char *out, size_t len)
{
	snprintf(out, len, "%s/blobs/%s.charm", s->dir, sha256);
}

void store_tree_path(const struct store *s, const char *sha256, char *out, size_t len)
{
	snprintf(out, len, "%s/trees/%s", s->dir, sha256);
}

/* ---- opening -------------------------------------------------------------- */

static int take_lock(struct store *s, char *err, size_t errlen)
{
	char path[PATH_MAX], pid[32];

	snprintf(path, sizeof(path), "%s/charmfs.lock", s->dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char other[32] = "";
		ssize_t n = pread(s->lock_fd, other, sizeof(other) - 1, 0);
		other[n > 0 ? n : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		snprintf(err, errlen, "%s is in use by another charmfs daemon%s%s%s", s->dir,
			 *other ? " (pid " : "", other, *other ? ")" : "");
		return -EBUSY;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(s->lock_fd, 0) < 0 || write_all(s->lock_fd, pid, strlen(pid)) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

static int ensure_uuid(struct store *s)
{
	unsigned char b[16];
	char uuid[37], *v = NULL;
	sqlite3_stmt *st;
	int r;

	if (db_meta_get(s->db, "uuid", &v) == 0) {
		free(v);
		return 0;
	}
	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		return -EIO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
	r = db_write_begin(s->db);
	if (r < 0)
		return r;
	st = db_prep(s->db, "INSERT OR IGNORE INTO meta VALUES('uuid', ?)");
	if (!st)
		return db_write_end(s->db, -EIO);
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return db_write_end(s->db, r);
}

static bool sha_referenced(struct store *s, const char *sha)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT 1 FROM revisions WHERE sha256 = ? LIMIT 1");
	bool found;

	if (!st)
		return true; /* when in doubt, keep */
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
	found = sqlite3_step(st) != SQLITE_DONE;
	db_reset(st);
	return found;
}

/*
 * Lists entries of STOREDIR/sub that no revision references (leftovers of
 * interrupted publishes and deletions), removing them when remove is set.
 */
static int sweep_orphans(struct store *s, const char *sub, const char *suffix, bool remove,
			 struct strv *notes)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;
	size_t slen = strlen(suffix);

	snprintf(dir, sizeof(dir), "%s/%s", s->dir, sub);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char sha[65];
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.')
			continue;
		if (n != 64 + slen || strcmp(de->d_name + 64, suffix) != 0) {
			sha[0] = '\0';
		} else {
			memcpy(sha, de->d_name, 64);
			sha[64] = '\0';
		}
		if (*sha && sha_referenced(s, sha))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (notes)
			(void)strv_pushf(notes, "unreferenced %s/%s", sub, de->d_name);
		if (remove)
			(void)rm_rf(path);
	}
	closedir(d);
	return 0;
}

/* The newest time in a one-value query, or fallback when there is none. */
static int64_t newest_ns(struct store *s, const char *sql, int64_t fallback)
{
	sqlite3_stmt *st = db_prep(s->db, sql);
	int64_t t = 0;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		t = sqlite3_column_int64(st, 0);
	db_reset(st);
	return t > 0 ? t : fallback;
}

static int fresh_dir(const char *dir, const char *sub, char *out, size_t len)
{
	int r;

	snprintf(out, len, "%s/%s", dir, sub);
	r = rm_rf(out);
	return r < 0 ? r : mkdir_p(out);
}

int store_open(const char *dir, const struct store_opts *o, struct store **ret, char *err,
	       size_t errlen)
{
	struct store *s = calloc(1, sizeof(*s));
	char path[PATH_MAX];
	int r;

	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->opts = *o;
	pthread_mutex_init(&s->pub_lock, NULL);
	s->dir = realpath(dir, NULL);
	if (!s->dir && errno == ENOENT && !o->read_only) {
		r = mkdir_p(dir);
		if (r < 0) {
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-r));
			goto fail;
		}
		s->dir = realpath(dir, NULL);
	}
	if (!s->dir) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/charmfs.db", s->dir);
	if (o->read_only) {
		if (access(path, R_OK) < 0) {
			r = -errno;
			snprintf(err, errlen, "%s is not a charmfs store: %s", s->dir,
				 strerror(errno));
			goto fail;
		}
	} else {
		r = take_lock(s, err, errlen);
		if (r < 0)
			goto fail;
		r = fresh_dir(s->dir, "tmp", s->scratch, sizeof(s->scratch));
		if (r == 0)
			r = fresh_dir(s->dir, "scratch", s->scratch, sizeof(s->scratch));
		if (r == 0) {
			snprintf(path, sizeof(path), "%s/blobs", s->dir);
			r = mkdir_p(path);
		}
		if (r == 0) {
			snprintf(path, sizeof(path), "%s/trees", s->dir);
			r = mkdir_p(path);
		}
		if (r < 0) {
			snprintf(err, errlen, "cannot prepare %s: %s", s->dir, strerror(-r));
			goto fail;
		}
		snprintf(path, sizeof(path), "%s/charmfs.db", s->dir);
	}
	r = db_open(path, o->sync_full, schemas, &s->db, err, errlen);
	if (r < 0)
		goto fail;
	if (!o->read_only) {
		r = ensure_uuid(s);
		if (r == 0)
			r = sweep_orphans(s, "blobs", ".charm", true, NULL);
		if (r == 0)
			r = sweep_orphans(s, "trees", "", true, NULL);
		if (r < 0) {
			snprintf(err, errlen, "cannot initialise %s: %s", s->dir, strerror(-r));
			goto fail;
		}
	}
	atomic_store(&s->events_ns, newest_ns(s, "SELECT max(time) FROM events", now_ns()));
	atomic_store(&s->changed_ns,
		     newest_ns(s, "SELECT max(published) FROM revisions", s->events_ns));
	if (s->events_ns > s->changed_ns)
		atomic_store(&s->changed_ns, s->events_ns);
	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	db_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	pthread_mutex_destroy(&s->pub_lock);
	free(s->dir);
	free(s);
}

/* ---- reading -------------------------------------------------------------- */

static int each_text(sqlite3_stmt *st, store_name_cb cb, void *ud)
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
	return r;
}

int store_list_users(struct store *s, store_name_cb cb, void *ud)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT DISTINCT user FROM url_revs WHERE user != ''"
					  " ORDER BY user");

	return st ? each_text(st, cb, ud) : -EIO;
}

int store_list_series(struct store *s, const char *user, store_name_cb cb, void *ud)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT DISTINCT series FROM url_revs WHERE user = ?"
					  " ORDER BY series");

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	return each_text(st, cb, ud);
}

int store_list_names(struct store *s, const char *user, const char *series, store_name_cb cb,
		     void *ud)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT DISTINCT name FROM url_revs"
					  " WHERE user = ? AND series = ? ORDER BY name");

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, series, -1, SQLITE_STATIC);
	return each_text(st, cb, ud);
}

static void bind_url(sqlite3_stmt *st, int first, const struct url *u)
{
	sqlite3_bind_text(st, first, u->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 1, u->series, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 2, u->name, -1, SQLITE_STATIC);
}

int store_list_revisions(struct store *s, const struct url *u, int **ret, size_t *ret_n)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT revision FROM url_revs"
					  " WHERE user = ? AND series = ? AND name = ?"
					  " ORDER BY revision");
	int *v = NULL, rc, r = 0;
	size_t n = 0;

	if (!st)
		return -EIO;
	bind_url(st, 1, u);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int *nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[n++] = sqlite3_column_int(st, 0);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	if (r == 0 && n == 0)
		r = -ENOENT;
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_latest(struct store *s, const struct url *u, int *ret)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT max(revision) FROM url_revs"
					  " WHERE user = ? AND series = ? AND name = ?");
	int rc, r = -ENOENT;

	if (!st)
		return -EIO;
	bind_url(st, 1, u);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*ret = sqlite3_column_int(st, 0);
		r = 0;
	} else if (rc != SQLITE_ROW) {
		r = db_errno(rc);
	}
	db_reset(st);
	return r;
}

int store_get_rev(struct store *s, const struct url *u, int revision, struct store_rev *ret)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT r.revision, r.sha256, r.digest, r.size,"
					  " r.published FROM url_revs u JOIN revisions r"
					  " ON r.id = u.rev_id WHERE u.user = ? AND u.series = ?"
					  " AND u.name = ? AND u.revision = ?");
	int rc, r = -ENOENT;

	if (!st)
		return -EIO;
	bind_url(st, 1, u);
	sqlite3_bind_int(st, 4, revision);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret->revision = sqlite3_column_int(st, 0);
		snprintf(ret->sha256, sizeof(ret->sha256), "%s", sqlite3_column_text(st, 1));
		snprintf(ret->digest, sizeof(ret->digest), "%s", sqlite3_column_text(st, 2));
		ret->size = (uint64_t)sqlite3_column_int64(st, 3);
		ret->published_ns = sqlite3_column_int64(st, 4);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = db_errno(rc);
	}
	db_reset(st);
	return r;
}

/* ---- events --------------------------------------------------------------- */

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
		bind_url(st, 1, u);
	} else {
		st = db_prep(s->db, "SELECT coalesce(max(off + len), 0) FROM events");
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
		bind_url(st, 1, u);
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
static int event_insert(struct store *s, int kind, const struct url *urls, size_t n_urls,
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
			    " (SELECT coalesce(max(off + len), 0) FROM events), ?, ?)");
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
		bind_url(st, 1, &urls[i]);
		sqlite3_bind_int64(st, 4, id);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	return r;
}

static int log_error_event(struct store *s, const struct url *urls, size_t n_urls,
			   const char *digest, const struct strv *errors,
			   const struct strv *warnings)
{
	int64_t t = now_ns();
	int r = db_write_begin(s->db);

	if (r < 0)
		return r;
	r = event_insert(s, EVENT_PUBLISH_ERROR, urls, n_urls, 0, digest, errors, warnings, t);
	r = db_write_end(s->db, r);
	if (r == 0) {
		atomic_store(&s->changed_ns, t);
		atomic_store(&s->events_ns, t);
	}
	return r;
}

/* ---- publishing ------------------------------------------------------------- */

/* Reads a URL's newest digest (or "" when it has none) and its highest revision ever. */
static int url_state(struct store *s, const struct url *u, char *digest, size_t dlen,
		     int *max_rev)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT r.digest FROM url_revs u JOIN revisions r"
					  " ON r.id = u.rev_id WHERE u.user = ? AND u.series = ?"
					  " AND u.name = ? ORDER BY u.revision DESC LIMIT 1");
	int rc;

	if (!st)
		return -EIO;
	bind_url(st, 1, u);
	rc = sqlite3_step(st);
	snprintf(digest, dlen, "%s", rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "");
	db_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_errno(rc);
	st = db_prep(s->db, "SELECT max_revision FROM urls WHERE user = ? AND series = ?"
			    " AND name = ?");
	if (!st)
		return -EIO;
	bind_url(st, 1, u);
	rc = sqlite3_step(st);
	*max_rev = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	db_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_errno(rc);
}

/* Computes the revision for a publish, or -EEXIST when it is redundant. */
static int next_revision(struct store *s, const struct store_publish_req *req,
			 const char *digest, int *ret)
{
	bool needed = false;
	int max = -1;

	for (size_t i = 0; i < req->n_urls; i++) {
		char latest[160];
		int m, r = url_state(s, &req->urls[i], latest, sizeof(latest), &m);
		if (r < 0)
			return r;
		if (strcmp(latest, digest) != 0)
			needed = true;
		if (m > max)
			max = m;
	}
	if (!needed)
		return -EEXIST;
	if (max == INT32_MAX)
		return -EOVERFLOW;
	*ret = max + 1;
	return 0;
}

struct staged {
	char zip[PATH_MAX];
	char tree[PATH_MAX];
	char sha256[65];
	uint64_t size;
};

static int sync_tree_file(const struct store *s, int fd)
{
	return s->opts.sync_full && fsync(fd) < 0 ? -errno : 0;
}

/* Writes the stored archive and tree under tmp/ and hashes the archive. */
static int stage(struct store *s, const struct charm *c, int revision, struct staged *out)
{
	int fd, r;

	snprintf(out->zip, sizeof(out->zip), "%s/tmp/pub-XXXXXX", s->dir);
	snprintf(out->tree, sizeof(out->tree), "%s/tmp/tree-XXXXXX", s->dir);
	if (!mkdtemp(out->tree)) {
		out->tree[0] = '\0';
		return -errno;
	}
	if (chmod(out->tree, 0755) < 0)
		return -errno;
	fd = mkostemp(out->zip, O_CLOEXEC);
	if (fd < 0) {
		out->zip[0] = '\0';
		return -errno;
	}
	r = charm_store(c, revision, fd, out->tree);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	if (r == 0)
		r = sha256_fd(fd, out->sha256, &out->size);
	if (r == 0)
		r = sync_tree_file(s, fd);
	if (fchmod(fd, 0444) < 0 && r == 0)
		r = -errno;
	close(fd);
	return r;
}

/* Moves staged files to their content-addressed names. */
static int install(struct store *s, struct staged *st)
{
	char blob[PATH_MAX], tree[PATH_MAX];
	struct stat sb;

	store_blob_path(s, st->sha256, blob, sizeof(blob));
	store_tree_path(s, st->sha256, tree, sizeof(tree));
	if (stat(blob, &sb) == 0) {
		(void)unlink(st->zip);
	} else if (rename(st->zip, blob) < 0) {
		return -errno;
	}
	st->zip[0] = '\0';
	if (stat(tree, &sb) == 0) {
		(void)rm_rf(st->tree);
	} else if (rename(st->tree, tree) < 0) {
		return -errno;
	}
	st->tree[0] = '\0';
	if (s->opts.sync_full) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/blobs", s->dir);
		int r = fsync_dir(dir);
		if (r == 0) {
			snprintf(dir, sizeof(dir), "%s/trees", s->dir);
			r = fsync_dir(dir);
		}
		return r;
	}
	return 0;
}

static void unstage(struct staged *st)
{
	if (st->zip[0])
		(void)unlink(st->zip);
	if (st->tree[0])
		(void)rm_rf(st->tree);
}

static int record(struct store *s, const struct store_publish_req *req, int revision,
		  const char *digest, const struct staged *sg, const struct strv *warnings)
{
	int64_t t = now_ns();
	sqlite3_stmt *st;
	sqlite3_int64 id;
	int r = db_write_begin(s->db);

	if (r < 0)
		return r;
	st = db_prep(s->db, "INSERT INTO revisions(revision, sha256, digest, size, published)"
			    " VALUES(?, ?, ?, ?, ?)");
	if (!st)
		return db_write_end(s->db, -EIO);
	sqlite3_bind_int(st, 1, revision);
	sqlite3_bind_text(st, 2, sg->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, digest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)sg->size);
	sqlite3_bind_int64(st, 5, t);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	st = db_prep(s->db, "SELECT last_insert_rowid()");
	if (r == 0 && !st)
		r = -EIO;
	if (r == 0) {
		sqlite3_step(st);
		id = sqlite3_column_int64(st, 0);
		db_reset(st);
	}
	for (size_t i = 0; r == 0 && i < req->n_urls; i++) {
		st = db_prep(s->db, "INSERT INTO url_revs VALUES(?, ?, ?, ?, ?)");
		if (!st) {
			r = -EIO;
			break;
		}
		bind_url(st, 1, &req->urls[i]);
		sqlite3_bind_int(st, 4, revision);
		sqlite3_bind_int64(st, 5, id);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
		st = db_prep(s->db, "INSERT INTO urls VALUES(?, ?, ?, ?) ON CONFLICT DO UPDATE"
				    " SET max_revision = max(max_revision, excluded.max_revision)");
		if (r == 0 && !st)
			r = -EIO;
		if (r == 0) {
			bind_url(st, 1, &req->urls[i]);
			sqlite3_bind_int(st, 4, revision);
			r = db_errno(sqlite3_step(st));
			db_reset(st);
		}
	}
	if (r == 0)
		r = event_insert(s, EVENT_PUBLISHED, req->urls, req->n_urls, revision, digest,
				 NULL, warnings, t);
	r = db_write_end(s->db, r);
	if (r == 0) {
		atomic_store(&s->changed_ns, t);
		atomic_store(&s->events_ns, t);
	}
	return r;
}

static int raw_digest(const char *path, char *out, size_t len)
{
	char hex[65];
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = sha256_fd(fd, hex, NULL);
	close(fd);
	if (r == 0)
		snprintf(out, len, "sha256:%s", hex);
	return r;
}

static int check_names(const struct charm *c, const struct store_publish_req *req,
		       struct strv *errors)
{
	int r = 0;

	for (size_t i = 0; i < req->n_urls; i++) {
		if (strcmp(charm_name(c), req->urls[i].name) == 0)
			continue;
		(void)strv_pushf(errors, "charm name \"%s\" does not match URL name \"%s\"",
				 charm_name(c), req->urls[i].name);
		r = -EINVAL;
	}
	return r;
}

static int publish_locked(struct store *s, const struct store_publish_req *req,
			  const struct charm *c, const char *digest,
			  const struct strv *warnings, int *ret_revision, struct strv *errors)
{
	struct staged sg = { .zip = "", .tree = "" };
	int revision, r;

	r = next_revision(s, req, digest, &revision);
	if (r == -EEXIST) {
		(void)strv_push(errors, "charm is up-to-date");
		return r;
	}
	if (r < 0)
		return r;
	r = stage(s, c, revision, &sg);
	if (r == 0)
		r = install(s, &sg);
	if (r == 0)
		r = record(s, req, revision, digest, &sg, warnings);
	unstage(&sg);
	if (r < 0) {
		(void)strv_pushf(errors, "cannot store charm: %s", strerror(-r));
		return r;
	}
	*ret_revision = revision;
	return 0;
}

/*
 * Takes the target URLs' update locks for the publish (id receives the
 * lock to release, "" when the caller's own lock_id covers them).
 */
static int publish_lock(struct store *s, const struct store_publish_req *req,
			char id[LOCK_ID_LEN + 1], struct strv *errors)
{
	struct lock_holder h = { .pid = getpid(), .uid = getuid(), .command = "charmfs publish" };
	int r;

	id[0] = '\0';
	if (req->lock_id)
		r = lock_check(s->db, req->urls, req->n_urls, req->lock_id, lock_now());
	else
		r = lock_take(s->db, req->urls, req->n_urls, &h, lock_now(), s->opts.lock_timeout,
			      id, NULL);
	if (r == -EEXIST || r == -EBUSY) {
		(void)strv_push(errors, "charm update in progress");
		r = -EBUSY;
	}
	return r;
}

int store_publish(struct store *s, const struct store_publish_req *req, int *ret_revision,
		  struct strv *errors)
{
	struct strv warnings = { 0 };
	struct charm *c = NULL;
	char digest[160] = "", lock_id[LOCK_ID_LEN + 1];
	int r;

	if (req->n_urls == 0)
		return -EINVAL;
	r = publish_lock(s, req, lock_id, errors);
	if (r < 0)
		return r;
	r = charm_open(req->path, &s->opts.limits, &c, errors, &warnings);
	if (r == 0)
		r = check_names(c, req, errors);
	if (r == -EINVAL || r == -EFBIG) {
		if (req->digest)
			snprintf(digest, sizeof(digest), "%s", req->digest);
		else if (c)
			snprintf(digest, sizeof(digest), "%s", charm_digest(c));
		else if (raw_digest(req->path, digest, sizeof(digest)) < 0)
			snprintf(digest, sizeof(digest), "unknown");
		(void)log_error_event(s, req->urls, req->n_urls, digest, errors, &warnings);
		goto out;
	}
	if (r < 0)
		goto out;
	snprintf(digest, sizeof(digest), "%s", req->digest ? req->digest : charm_digest(c));
	pthread_mutex_lock(&s->pub_lock);
	r = publish_locked(s, req, c, digest, &warnings, ret_revision, errors);
	pthread_mutex_unlock(&s->pub_lock);
out:
	if (lock_id[0] && lock_release(s->db, lock_id) < 0)
		(void)strv_push(errors, "cannot release the publish's update lock");
	charm_free(c);
	strv_clear(&warnings);
	return r;
}

/* ---- deleting --------------------------------------------------------------- */

static int delete_rows(struct store *s, const struct url *u, int revision, struct strv *gone)
{
	sqlite3_stmt *st;
	int r, rc;

	st = db_prep(s->db, "DELETE FROM url_revs WHERE user = ? AND series = ? AND name = ?"
			    " AND (? < 0 OR revision = ?)");
	if (!st)
		return -EIO;
	bind_url(st, 1, u);
	sqlite3_bind_int(st, 4, revision);
	sqlite3_bind_int(st, 5, revision);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	if (r < 0)
		return r;
	st = db_prep(s->db, "SELECT changes()");
	if (!st)
		return -EIO;
	sqlite3_step(st);
	rc = sqlite3_column_int(st, 0);
	db_reset(st);
	if (rc == 0)
		return -ENOENT;
	st = db_prep(s->db, "DELETE FROM revisions WHERE id NOT IN"
			    " (SELECT rev_id FROM url_revs) RETURNING sha256");
	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		(void)strv_push(gone, (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int store_delete(struct store *s, const struct url *u, int revision)
{
	struct strv gone = { 0 };
	char path[PATH_MAX];
	int r;

	pthread_mutex_lock(&s->pub_lock);
	r = db_write_begin(s->db);
	if (r == 0)
		r = db_write_end(s->db, delete_rows(s, u, revision, &gone));
	for (size_t i = 0; r == 0 && i < gone.n; i++) {
		if (sha_referenced(s, gone.v[i]))
			continue;
		store_blob_path(s, gone.v[i], path, sizeof(path));
		(void)unlink(path);
		store_tree_path(s, gone.v[i], path, sizeof(path));
		(void)rm_rf(path);
	}
	pthread_mutex_unlock(&s->pub_lock);
	strv_clear(&gone);
	if (r == 0)
		atomic_store(&s->changed_ns, now_ns());
	return r;
}

/* ---- checking --------------------------------------------------------------- */

static int check_integrity(struct store *s, struct strv *problems)
{
	sqlite3_stmt *st = db_prep(s->db, "PRAGMA integrity_check");
	int rc;

	if (!st)
		return strv_pushf(problems, "database: %s", db_errmsg(s->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *msg = (const char *)sqlite3_column_text(st, 0);
		if (strcmp(msg, "ok") != 0)
			(void)strv_pushf(problems, "database: %s", msg);
	}
	db_reset(st);
	if (rc != SQLITE_DONE)
		(void)strv_pushf(problems, "database: %s", db_errmsg(s->db));
	return 0;
}

static int rebuild_tree(struct store *s, const char *sha, int revision)
{
	struct charm_limits lim;
	struct strv e = { 0 }, w = { 0 };
	struct charm *c = NULL;
	char blob[PATH_MAX], tree[PATH_MAX];
	int fd, r;

	charm_limits_default(&lim);
	store_blob_path(s, sha, blob, sizeof(blob));
	store_tree_path(s, sha, tree, sizeof(tree));
	r = charm_open(blob, &lim, &c, &e, &w);
	if (r == 0) {
		(void)rm_rf(tree);
		r = mkdir_p(tree);
	}
	fd = r == 0 ? open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;
	if (r == 0 && fd < 0)
		r = -errno;
	if (r == 0)
		r = charm_store(c, revision, fd, tree);
	if (fd >= 0)
		close(fd);
	charm_free(c);
	strv_clear(&e);
	strv_clear(&w);
	return r;
}

static void check_revision(struct store *s, const char *sha, uint64_t size, int revision,
			   bool repair, struct strv *problems)
{
	char path[PATH_MAX], hex[65];
	struct stat sb;
	uint64_t got = 0;
	int fd;

	store_blob_path(s, sha, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		(void)strv_pushf(problems, "archive %s: missing", sha);
		return;
	}
	if (sha256_fd(fd, hex, &got) < 0 || strcmp(hex, sha) != 0 || got != size)
		(void)strv_pushf(problems, "archive %s: content does not match its SHA-256", sha);
	close(fd);
	store_tree_path(s, sha, path, sizeof(path));
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return;
	if (repair && rebuild_tree(s, sha, revision) == 0)
		return;
	(void)strv_pushf(problems, "tree %s: missing", sha);
}

int store_check(struct store *s, bool repair, struct strv *problems, struct strv *notes)
{
	sqlite3_stmt *st;
	int rc;

	check_integrity(s, problems);
	st = db_prep(s->db, "SELECT DISTINCT sha256, size, revision FROM revisions");
	if (!st) {
		(void)strv_pushf(problems, "database: %s", db_errmsg(s->db));
		return -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char sha[65];
		snprintf(sha, sizeof(sha), "%s", sqlite3_column_text(st, 0));
		check_revision(s, sha, (uint64_t)sqlite3_column_int64(st, 1),
			       sqlite3_column_int(st, 2), repair, problems);
	}
	db_reset(st);
	if (rc != SQLITE_DONE)
		(void)strv_pushf(problems, "database: %s", db_errmsg(s->db));
	(void)sweep_orphans(s, "blobs", ".charm", repair, notes);
	(void)sweep_orphans(s, "trees", "", repair, notes);
	return problems->n ? -EIO : 0;
}
