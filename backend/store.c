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
#include <malloc.h>
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

#include "backup_int.h"
#include "counter.h"
#include "counterlog.h"
#include "db.h"
#include "storecache.h"
#include "engine.h"
#include "evhook.h"
#include "lock.h"
#include "pkglife.h"
#include "store_int.h"
#include "storetree.h"
#include "worker.h"
#include "banned.h"


/*
 * The store's own tables, as step 1 creates them (the other modules bring
 * theirs: lock_schema, counter_schema). Never changed once released: a new
 * table, column or index is a new step below.
 */
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
	/*
	 * A revision's files/ (storefiles.c): kind 0 file, 1 directory, 2
	 * symlink; dir is "" at the top; data is a small file's content, and
	 * always metadata.yaml's and config.yaml's (NULL: read it from the
	 * tree). Revisions from before this table have no rows.
	 */
	"CREATE TABLE IF NOT EXISTS rev_files("
	" rev_id INTEGER NOT NULL,"
	" dir TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" kind INTEGER NOT NULL,"
	" mode INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" target TEXT,"
	" data BLOB,"
	" PRIMARY KEY(rev_id, dir, name)) WITHOUT ROWID",
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

/*
 * The schema's numbered steps (db.h), each the statements of the modules
 * that have work in it.
 *
 * Step 1 creates the schema as it stood when the steps were introduced:
 * every store that says version 1 was made by it, or by an older charmfs
 * that also said version 1 while tables were added without a new number
 * (`git log -p -- backend/store.c backend/lock.c backend/counter.c`):
 *  - 1d8c20e: revisions, url_revs, urls, events, event_urls, run only when
 *    a store was new;
 *  - a449265: locks, lock_urls and the counter_* tables, and from then on
 *    every statement ran at every open;
 *  - 7b1629f: rev_files (471cfcf had added rev_yaml, which 1642fd7 folded
 *    into rev_files; it stays, unread, in the stores that have it).
 * So a version-1 store not mounted since one of these lacks its tables.
 * Step 2 runs step 1's statements again: they are all CREATE ... IF NOT
 * EXISTS, so a store that has a table or index keeps it, and one that
 * lacks it gets it. No commit ever changed a column or an index of an
 * existing table, so a table that exists is as step 1 makes it.
 *
 * To change the schema, append a step (each module's statements for it,
 * and a C function if data must be rewritten) and raise DB_SCHEMA_VERSION.
 */
static const char *const *const schema_v1[] = { store_schema, lock_schema, counter_schema, NULL };
static const char *const *const schema_v3[] = { engine_schema, NULL };
static const char *const *const schema_v4[] = { pkg_schema, NULL };

static const struct db_step schema_steps[] = {
	{ .what = "create the tables", .sql = schema_v1 },
	{ .what = "add the tables older version-1 stores lack", .sql = schema_v1 },
	{ .what = "add the change engine's tables", .sql = schema_v3 },
	{ .what = "add the packages' tables", .sql = schema_v4 },
};

_Static_assert(sizeof(schema_steps) / sizeof(schema_steps[0]) == DB_SCHEMA_VERSION,
	       "DB_SCHEMA_VERSION is the number of schema steps");

static const struct db_schema schema = { schema_steps, DB_SCHEMA_VERSION };

void store_opts_default(struct store_opts *o)
{
	memset(o, 0, sizeof(*o));
	charm_limits_default(&o->limits);
	o->lock_timeout = 600;
	o->prune_age = 86400;
}

/* ---- background work ------------------------------------------------------- */

void store_quiesce(struct store *s)
{
	if (s->engine && engine_settle_kind(s->engine, STORE_TASK_EXTRACT, -1, NULL, NULL) < 0)
		abort(); /* no limit, no interrupt: it cannot fail */
	worker_quiesce(s->work);
}

int store_tree_ready(struct store *s, const char *sha256)
{
	return store_trees_ready(s->trees, sha256);
}

/* Links every archive the snapshot database in dir references into dir/blobs. */
static int link_blobs(struct store *s, const char *dir)
{
	char dbpath[PATH_MAX], blobs[PATH_MAX], src[PATH_MAX], dst[PATH_MAX + 80];
	sqlite3_stmt *st = NULL;
	sqlite3 *snap = NULL;
	int rc, r = 0;

	snprintf(dbpath, sizeof(dbpath), "%s/charmfs.db", dir);
	snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
	if (mkdir(blobs, 0755) < 0)
		return -errno;
	rc = sqlite3_open_v2(dbpath, &snap, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(snap, "SELECT DISTINCT sha256 FROM revisions", -1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(st, 0);
		store_blob_path(s, sha, src, sizeof(src));
		snprintf(dst, sizeof(dst), "%s/%s.charm", blobs, sha);
		if (link(src, dst) < 0) {
			r = -errno;
			break;
		}
		rc = SQLITE_OK;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	sqlite3_finalize(st);
	sqlite3_close_v2(snap);
	return r;
}

/*
 * STOREDIR/releases (the releases this charmfs serves, upgrade/serve.h)
 * copied into the snapshot dir, when there is one. Root may rewrite a
 * release in place, so it is copied, not linked; the database does not
 * refer to it, so the copy needs no publish lock.
 */
static int snapshot_releases(struct store *s, const char *dir)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(src, sizeof(src), "%s/releases", s->dir) >= sizeof(src) ||
	    (size_t)snprintf(dst, sizeof(dst), "%s/releases", dir) >= sizeof(dst))
		return -ENAMETOOLONG;
	return stat(src, &st) == 0 ? copy_tree(src, dst) : 0;
}

/*
 * The snapshot path (struct backup_source): background work (the one
 * quiesce waits for it, the one stop for it and refuses it after), taken
 * while no publish or deletion runs so that the database copy and the
 * archives linked beside it agree, and after the counter log is flushed
 * so that the copy holds every acknowledged increment.
 */
static int snapshot_to(void *ctx, const char *dir)
{
	struct store *s = ctx;
	char path[PATH_MAX];
	int r = worker_enter(s->work);

	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/charmfs.db", dir);
	pthread_mutex_lock(&s->pub_lock);
	r = counter_log_flush(s->counters);
	if (r == 0)
		r = db_backup_to(s->db, path);
	if (r == 0)
		r = link_blobs(s, dir);
	if (r == 0)
		r = pkg_life_snapshot(s->pkg, dir);
	if (r == 0)
		r = evhook_snapshot(s->evhooks, dir);
	pthread_mutex_unlock(&s->pub_lock);
	if (r == 0)
		r = snapshot_releases(s, dir);
	worker_leave(s->work);
	return r;
}

/* The worker count and the background components; after the database is open. */
static int background_new(struct store *s)
{
	const struct tree_env env = { .dir = s->dir, .db = s->db, .limits = &s->opts.limits };
	const struct backup_source src = { .dir = s->dir, .snapshot = snapshot_to, .ctx = s };
	int r = worker_new(&s->work);

	if (r == 0)
		r = store_trees_new(&env, &s->trees);
	if (r == 0)
		r = evhooks_new(&(struct evhook_env){ .dir = s->dir, .db = s->db }, &s->evhooks);
	if (r == 0) {
		const struct pkg_env pe = { .dir = s->dir, .db = s->db, .trees = s->trees };
		r = pkg_life_new(&pe, &s->pkg);
	}
	if (r == 0) {
		s->backup = backup_state_new(&src);
		if (!s->backup)
			r = -ENOMEM;
	}
	return r;
}

/* ---- opening -------------------------------------------------------------- */

/* The change engine, stopped, with the store's own task kind registered. */
static int engine_new(struct store *s)
{
	struct engine_opts eo;
	int r;

	engine_opts_default(&eo);
	eo.prune_age_ms = (int64_t)s->opts.prune_age * 1000;
	r = engine_open(s->db, &eo, &s->engine);
	if (r == 0)
		r = engine_add_handler(s->engine, STORE_TASK_EXTRACT, store_trees_task, NULL,
				       s->trees);
	if (r == 0) {
		pkg_life_set_engine(s->pkg, s->engine);
		r = engine_add_handler(s->engine, PKG_TASK_DEPLOY, pkg_deploy_task, NULL, s->pkg);
	}
	if (r == 0)
		r = engine_add_handler(s->engine, PKG_TASK_PURGE, pkg_purge_task, NULL, s->pkg);
	return r;
}

/* The pid a daemon wrote into the lock file, or "" (at most len - 1 characters). */
static void lock_holder_pid(int fd, char *out, size_t len)
{
	ssize_t n = pread(fd, out, len - 1, 0);

	out[n > 0 ? n : 0] = '\0';
	out[strspn(out, "0123456789")] = '\0';
}

/*
 * The daemon holds charmfs.lock exclusively and writes its pid into it;
 * charmfs --check holds it shared, so that neither runs beside the other.
 */
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
		char other[32];
		/* Only readers (--check) hold it when a shared lock can be had. */
		if (flock(s->lock_fd, LOCK_SH | LOCK_NB) == 0) {
			snprintf(err, errlen, "%s is being checked by charmfs --check", s->dir);
			return -EBUSY;
		}
		lock_holder_pid(s->lock_fd, other, sizeof(other));
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

/*
 * A read-only open (--check) shares the lock, never creating it: a store a
 * daemon serves is refused, since the check would race the daemon's work.
 */
static int share_lock(struct store *s, char *err, size_t errlen)
{
	char path[PATH_MAX], other[32];

	snprintf(path, sizeof(path), "%s/charmfs.lock", s->dir);
	s->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->lock_fd < 0 && errno == ENOENT)
		return 0; /* never mounted: nobody to wait for */
	if (s->lock_fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	if (flock(s->lock_fd, LOCK_SH | LOCK_NB) == 0)
		return 0;
	lock_holder_pid(s->lock_fd, other, sizeof(other));
	snprintf(err, errlen, "%s is in use by a charmfs daemon%s%s%s: unmount it to check it",
		 s->dir, *other ? " (pid " : "", other, *other ? ")" : "");
	return -EBUSY;
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

/*
 * glibc's malloc gives the top of a thread's heap back to the kernel
 * (madvise) once more than M_TRIM_THRESHOLD (128 KiB) of it is free. Every
 * publish writes its stored zip through libarchive, whose writer makes and
 * frees a ~260 KiB deflate state per entry, so each publish trimmed its
 * FUSE thread's heap and paid the page faults and zeroing of the pages
 * again (~0.1 ms of a 20 KiB publish). A store's process keeps up to 1 MiB
 * of free heap per arena instead. Setting a threshold turns off glibc's own
 * adjustment of the mmap threshold, which is therefore set too, to what
 * the adjustment reached (allocations up to 512 KiB come from the heap).
 * Process-wide, set once by the first store_open().
 */
#define STORE_TRIM_THRESHOLD (1 << 20)
#define STORE_MMAP_THRESHOLD (512 << 10)

/*
 * glibc gives each thread that allocates an arena of its own, up to eight
 * per CPU, and each keeps its free heap (up to the trim threshold above)
 * and its fragments apart: the daemon's FUSE, engine and HTTP threads had
 * 12. Four arenas (tcache still takes most small allocations without a
 * lock) left run.sh rss 3-4 MiB lower after the publishes and ~0.5 MiB
 * after the reads, at the same publish and read times.
 */
#define STORE_ARENA_MAX 4

static void tune_malloc(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, STORE_MMAP_THRESHOLD);
	(void)mallopt(M_TRIM_THRESHOLD, STORE_TRIM_THRESHOLD);
	(void)mallopt(M_ARENA_MAX, STORE_ARENA_MAX);
}

int store_open(const char *dir, const struct store_opts *o, struct store **ret, char *err,
	       size_t errlen)
{
	static pthread_once_t tuned = PTHREAD_ONCE_INIT;
	struct store *s = calloc(1, sizeof(*s));
	char path[PATH_MAX];
	int r;

	(void)pthread_once(&tuned, tune_malloc);
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->trees_fd = -1;
	s->opts = *o;
	pthread_mutex_init(&s->pub_lock, NULL);
	pthread_mutex_init(&s->lock_mu, NULL);
	s->cache = store_cache_new(STORE_CACHE_BYTES);
	if (!s->cache) {
		snprintf(err, errlen, "cannot open %s: %s", dir, strerror(ENOMEM));
		r = -ENOMEM;
		goto fail;
	}
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
		r = share_lock(s, err, errlen);
		if (r < 0)
			goto fail;
		r = db_open_read_only(path, &schema, &s->db, err, errlen);
	} else {
		r = take_lock(s, err, errlen);
		if (r < 0)
			goto fail;
		snprintf(path, sizeof(path), "%s/snapshots", s->dir);
		(void)rm_rf(path);
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
		r = db_open(path, o->sync_full, &schema, &s->db, err, errlen);
	}
	if (r < 0)
		goto fail;
	r = background_new(s);
	if (r < 0) {
		snprintf(err, errlen, "cannot initialise %s: %s", s->dir, strerror(-r));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/trees", s->dir);
	s->trees_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!o->read_only) {
		r = ensure_uuid(s);
		/* No publish runs yet: locks left by publishes a crash interrupted go. */
		if (r == 0)
			r = lock_release_command(s->db, STORE_PUBLISH_HOLDER);
		if (r == 0) {
			snprintf(path, sizeof(path), "%s/counters.log", s->dir);
			r = counter_log_open(s->db, path, o->sync_full, &s->counters);
		}
		if (r == 0)
			r = store_sweep_orphans(s, "blobs", ".charm", true, NULL);
		if (r == 0)
			r = store_sweep_orphans(s, "trees", "", true, NULL);
		if (r == 0)
			r = engine_new(s);
		if (r < 0) {
			snprintf(err, errlen, "cannot initialise %s: %s", s->dir, strerror(-r));
			goto fail;
		}
	}
	atomic_store(&s->events_ns, newest_ns(s, "SELECT max(time) FROM events", store_now_ns()));
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

struct engine *store_engine(struct store *s)
{
	return s->engine;
}

struct evhooks *store_evhooks(struct store *s)
{
	return s->evhooks;
}

int store_start(struct store *s)
{
	return s->engine ? engine_start(s->engine) : 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	/* Handlers first (tree extraction among them): they may use everything below. */
	engine_close(s->engine);
	/* The one stop: no snapshot under way, before what it uses goes. */
	if (s->work)
		worker_stop(s->work);
	pkg_life_free(s->pkg);
	store_trees_free(s->trees);
	evhooks_free(s->evhooks);
	backup_state_free(s->backup);
	worker_free(s->work);
	counter_log_close(s->counters);
	db_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->trees_fd >= 0)
		close(s->trees_fd);
	pthread_mutex_destroy(&s->pub_lock);
	pthread_mutex_destroy(&s->lock_mu);
	strv_clear(&s->publishing);
	store_cache_free(s->cache);
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

int store_list_revisions(struct store *s, const struct url *u, int **ret, size_t *ret_n)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT revision FROM url_revs"
					  " WHERE user = ? AND series = ? AND name = ?"
					  " ORDER BY revision");
	int *v = NULL, rc, r = 0;
	size_t n = 0;

	if (!st)
		return -EIO;
	store_bind_url(st, 1, u);
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

/* A read cache key (storecache.h): tag, then u's user, series and name, then revision. */
struct url_key {
	unsigned char b[sizeof(struct url) + sizeof(int) + 1];
	size_t len;
};

static void url_key(struct url_key *k, char tag, const struct url *u, int revision)
{
	const char *parts[] = { u->user, u->series, u->name };

	k->b[0] = (unsigned char)tag;
	k->len = 1;
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		size_t n = strlen(parts[i]);
		memcpy(k->b + k->len, parts[i], n);
		k->len += n;
		k->b[k->len++] = '\0';
	}
	memcpy(k->b + k->len, &revision, sizeof(revision));
	k->len += sizeof(revision);
}

/*
 * The latest revision of a URL moves with every publish and deletion, so
 * it is kept under gen_changes, the answer "none" (-1) as well.
 */
int store_latest(struct store *s, const struct url *u, int *ret)
{
	int64_t gen = atomic_load(&s->gen_changes);
	sqlite3_stmt *st;
	struct url_key k;
	int rc, r = -ENOENT, latest = -1;

	url_key(&k, 'L', u, 0);
	if (store_cache_get(s->cache, k.b, k.len, gen, &latest, sizeof(latest))) {
		if (latest < 0)
			return -ENOENT;
		*ret = latest;
		return 0;
	}
	st = db_prep(s->db, "SELECT max(revision) FROM url_revs"
			    " WHERE user = ? AND series = ? AND name = ?");
	if (!st)
		return -EIO;
	store_bind_url(st, 1, u);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		latest = sqlite3_column_int(st, 0);
		r = 0;
	} else if (rc != SQLITE_ROW) {
		r = db_errno(rc);
	}
	db_reset(st);
	if (r == 0 || r == -ENOENT)
		store_cache_put(s->cache, k.b, k.len, gen, &latest, sizeof(latest));
	if (r == 0)
		*ret = latest;
	return r;
}

static int get_rev(struct store *s, const struct url *u, int revision, struct store_rev *ret)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT r.revision, r.sha256, r.digest, r.size,"
					  " r.published, r.id, m.rev_id IS NOT NULL, m.size,"
					  " c.rev_id IS NOT NULL, c.size"
					  " FROM url_revs u JOIN revisions r ON r.id = u.rev_id"
					  " LEFT JOIN rev_files m ON m.rev_id = r.id AND m.dir = ''"
					  " AND m.name = 'metadata.yaml' AND m.kind = 0"
					  " LEFT JOIN rev_files c ON c.rev_id = r.id AND c.dir = ''"
					  " AND c.name = 'config.yaml' AND c.kind = 0"
					  " WHERE u.user = ? AND u.series = ?"
					  " AND u.name = ? AND u.revision = ?");
	int rc, r = -ENOENT;

	if (!st)
		return -EIO;
	store_bind_url(st, 1, u);
	sqlite3_bind_int(st, 4, revision);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret->revision = sqlite3_column_int(st, 0);
		snprintf(ret->sha256, sizeof(ret->sha256), "%s", sqlite3_column_text(st, 1));
		snprintf(ret->digest, sizeof(ret->digest), "%s", sqlite3_column_text(st, 2));
		ret->size = (uint64_t)sqlite3_column_int64(st, 3);
		ret->published_ns = sqlite3_column_int64(st, 4);
		ret->id = sqlite3_column_int64(st, 5);
		ret->in_db = sqlite3_column_int(st, 6) != 0;
		ret->meta_size = (uint64_t)sqlite3_column_int64(st, 7);
		ret->has_config = sqlite3_column_int(st, 8) != 0;
		ret->config_size = (uint64_t)sqlite3_column_int64(st, 9);
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = db_errno(rc);
	}
	db_reset(st);
	return r;
}

/*
 * A revision of a URL never changes while it exists, and only a deletion
 * removes it (a number is never reused), so a row found is kept under
 * gen_deletions; "no such revision" is not kept (a publish adds one).
 */
int store_get_rev(struct store *s, const struct url *u, int revision, struct store_rev *ret)
{
	int64_t gen = atomic_load(&s->gen_deletions);
	struct url_key k;
	int r;

	url_key(&k, 'R', u, revision);
	if (store_cache_get(s->cache, k.b, k.len, gen, ret, sizeof(*ret)))
		return 0;
	r = get_rev(s, u, revision, ret);
	if (r == 0)
		store_cache_put(s->cache, k.b, k.len, gen, ret, sizeof(*ret));
	return r;
}
