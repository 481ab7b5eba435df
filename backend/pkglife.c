/*
 * The lower half of packages (pkglife.h): their tables, their files under
 * STOREDIR/packages/, the order rule for their changes and the deploy and
 * purge tasks.
 *
 * Invariants:
 *  - The database is the truth. packages/NAME/charm is a copy of the tree
 *    of the archive recorded in packages.deployed, made under a temporary
 *    name and renamed into place (so it is whole or the previous one);
 *    when it is missing (a restored backup copies only state/), it is
 *    made again from the store's tree on first need.
 *  - pkg_changes holds the package's changes that may be unready; a row
 *    goes once its change is seen ready. A task of change C of package P
 *    runs only when no change of P older than C is unready, so one unit's
 *    hooks never run at once and a version change's deploy waits for the
 *    aborted hooks to be gone.
 *  - Writes to packages are serialised by one mutex (pkg_life_lock()),
 *    taken before the engine's lock and the db writer's.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "engine.h"
#include "pkglife.h"
#include "storetree.h"
#include "banned.h"

const char *const pkg_schema[] = {
	/*
	 * One package. version is '' or a canonical cs: URL with revision,
	 * sha256 its archive; settings the user's object (compact, sorted);
	 * installed the version whose install/upgrade-charm last succeeded;
	 * deployed the archive charm/ holds; cc_change the change whose
	 * config-changed has not begun (0: none); log_start/log_end the
	 * log's byte range (offsets since the package was made). Times in ns.
	 */
	"CREATE TABLE IF NOT EXISTS packages("
	" name TEXT PRIMARY KEY,"
	" version TEXT NOT NULL DEFAULT '',"
	" sha256 TEXT NOT NULL DEFAULT '',"
	" settings TEXT NOT NULL DEFAULT '{}',"
	" enabled INTEGER NOT NULL DEFAULT 1,"
	" state TEXT NOT NULL DEFAULT 'unknown',"
	" message TEXT NOT NULL DEFAULT '',"
	" failed INTEGER NOT NULL DEFAULT 0,"
	" removing INTEGER NOT NULL DEFAULT 0,"
	" installed TEXT NOT NULL DEFAULT '',"
	" deployed TEXT NOT NULL DEFAULT '',"
	" change_id INTEGER NOT NULL DEFAULT 0,"
	" cc_change INTEGER NOT NULL DEFAULT 0,"
	" log_start INTEGER NOT NULL DEFAULT 0,"
	" log_end INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL, version_ns INTEGER NOT NULL, settings_ns INTEGER NOT NULL,"
	" enabled_ns INTEGER NOT NULL, status_ns INTEGER NOT NULL, log_ns INTEGER NOT NULL"
	") WITHOUT ROWID",
	/* The package's changes that may be unready (kind: enum pkg_change_kind). */
	"CREATE TABLE IF NOT EXISTS pkg_changes("
	" name TEXT NOT NULL, change_id INTEGER NOT NULL, kind INTEGER NOT NULL,"
	" PRIMARY KEY(name, change_id)) WITHOUT ROWID",
	/* The log: chunks of at most PKG_LOG_CHUNK bytes at their offset. */
	"CREATE TABLE IF NOT EXISTS pkg_log("
	" name TEXT NOT NULL, off INTEGER NOT NULL, data BLOB NOT NULL,"
	" PRIMARY KEY(name, off)) WITHOUT ROWID",
	/* Opened ports: proto 'tcp', 'udp' or 'icmp' (0-0). */
	"CREATE TABLE IF NOT EXISTS pkg_ports("
	" name TEXT NOT NULL, proto TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,"
	" PRIMARY KEY(name, proto, lo, hi)) WITHOUT ROWID",
	NULL,
};

struct pkg_life {
	char *dir;
	struct db *db;
	struct store_trees *trees;
	struct engine *engine;
	pthread_mutex_t mu;
};

int pkg_life_new(const struct pkg_env *env, struct pkg_life **ret)
{
	struct pkg_life *l = calloc(1, sizeof(*l));

	if (!l || !(l->dir = strdup(env->dir))) {
		free(l);
		return -ENOMEM;
	}
	l->db = env->db;
	l->trees = env->trees;
	pthread_mutex_init(&l->mu, NULL);
	*ret = l;
	return 0;
}

void pkg_life_free(struct pkg_life *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l->dir);
	free(l);
}

void pkg_life_set_engine(struct pkg_life *l, struct engine *e)
{
	l->engine = e;
}

struct engine *pkg_life_engine(struct pkg_life *l)
{
	return l->engine;
}

struct db *pkg_life_db(struct pkg_life *l)
{
	return l->db;
}

void pkg_life_lock(struct pkg_life *l)
{
	pthread_mutex_lock(&l->mu);
}

void pkg_life_unlock(struct pkg_life *l)
{
	pthread_mutex_unlock(&l->mu);
}

int pkg_life_path(const struct pkg_life *l, const char *name, const char *sub, char *out,
		  size_t len)
{
	int n = snprintf(out, len, "%s/packages/%s%s%s", l->dir, name, sub && *sub ? "/" : "",
			 sub ? sub : "");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int pkg_life_mkdirs(struct pkg_life *l, const char *name)
{
	char path[PATH_MAX];
	int r = pkg_life_path(l, name, NULL, path, sizeof(path));

	if (r == 0)
		r = mkdir_p(path);
	if (r == 0)
		r = pkg_life_path(l, name, "state", path, sizeof(path));
	if (r == 0)
		r = mkdir_mode(path, 0700);
	return r;
}

/* ---- copying trees ---------------------------------------------------------- */


/* ---- deploying ------------------------------------------------------------- */

static int text_col(struct pkg_life *l, const char *sql, const char *name, char *out, size_t len)
{
	sqlite3_stmt *st = db_prep(l->db, sql);
	int rc, r = -ENOENT;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
		r = 0;
	} else if (rc != SQLITE_DONE) {
		r = db_errno(rc);
	}
	db_reset(st);
	return r;
}

static int set_deployed(struct pkg_life *l, const char *name, const char *sha256)
{
	sqlite3_stmt *st;
	int r = db_write_begin(l->db);

	if (r < 0)
		return r;
	st = db_prep(l->db, "UPDATE packages SET deployed = ? WHERE name = ?");
	if (!st)
		return db_write_end(l->db, -EIO);
	sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return db_write_end(l->db, r);
}

/* Copies the tree of the archive sha256 into a new work directory (tmp[len]), no lock needed. */
static int stage_tree(struct pkg_life *l, const char *name, const char *sha256, char *tmp,
		      size_t len)
{
	static _Atomic unsigned seq;
	char src[PATH_MAX];
	int n, r = store_trees_ready(l->trees, sha256);

	if (r < 0)
		return r;
	snprintf(src, sizeof(src), "%s/trees/%s", l->dir, sha256);
	n = snprintf(tmp, len, "%s/tmp/pkg-%s-%u", l->dir, name, seq++);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	(void)rm_rf(tmp);
	r = copy_tree(src, tmp);
	if (r < 0)
		(void)rm_rf(tmp);
	return r;
}

/* Makes the staged tree tmp packages/NAME/charm in one rename (what was there goes). */
static int install_tree(struct pkg_life *l, const char *name, const char *tmp)
{
	char dst[PATH_MAX];
	int r = pkg_life_mkdirs(l, name);

	if (r == 0)
		r = pkg_life_path(l, name, "charm", dst, sizeof(dst));
	if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_EXCHANGE) < 0)
		r = errno == ENOENT && rename(tmp, dst) == 0 ? 0 : -errno;
	(void)rm_rf(tmp);
	return r;
}

static int copy_charm(struct pkg_life *l, const char *name, const char *sha256)
{
	char tmp[PATH_MAX];
	int r = stage_tree(l, name, sha256, tmp, sizeof(tmp));

	return r < 0 ? r : install_tree(l, name, tmp);
}

/* Whether packages/NAME/charm holds the tree of sha256 (per the row): -ENOENT without a row. */
static int deployed_is(struct pkg_life *l, const char *name, const char *sha256, bool *ret)
{
	char deployed[65], path[PATH_MAX];
	struct stat st;
	int r = text_col(l, "SELECT deployed FROM packages WHERE name = ?", name, deployed,
			 sizeof(deployed));

	if (r < 0)
		return r;
	*ret = pkg_life_path(l, name, "charm", path, sizeof(path)) == 0 &&
	       !strcmp(deployed, sha256) && stat(path, &st) == 0;
	return 0;
}

int pkg_life_deploy(struct pkg_life *l, const char *name, const char *sha256)
{
	char tmp[PATH_MAX];
	bool done = false;
	int r;

	pkg_life_lock(l);
	r = deployed_is(l, name, sha256, &done);
	pkg_life_unlock(l);
	if (r < 0 || done)
		return r;
	/* The copy, the long part, runs while other packages' writes go on. */
	r = stage_tree(l, name, sha256, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	pkg_life_lock(l);
	r = deployed_is(l, name, sha256, &done); /* -ENOENT: removed meanwhile */
	if (r == 0 && !done)
		r = install_tree(l, name, tmp);
	if (r == 0 && !done)
		r = set_deployed(l, name, sha256);
	pkg_life_unlock(l);
	(void)rm_rf(tmp);
	return r;
}

int pkg_life_ensure_charm(struct pkg_life *l, const char *name)
{
	char deployed[65], path[PATH_MAX];
	struct stat st;
	int r = text_col(l, "SELECT deployed FROM packages WHERE name = ?", name, deployed,
			 sizeof(deployed));

	if (r == -ENOENT)
		deployed[0] = '\0'; /* being created */
	else if (r < 0)
		return r;
	r = pkg_life_path(l, name, "charm", path, sizeof(path));
	if (r < 0 || stat(path, &st) == 0)
		return r;
	if (deployed[0])
		return copy_charm(l, name, deployed);
	r = pkg_life_mkdirs(l, name);
	return r < 0 ? r : mkdir_mode(path, 0755);
}

/* ---- the order of a package's changes --------------------------------------- */

static int forget_ids(struct pkg_life *l, const char *name, const int64_t *ids, size_t n)
{
	sqlite3_stmt *st;
	int r;

	if (n == 0)
		return 0;
	r = db_write_begin(l->db);
	if (r < 0)
		return r;
	st = db_prep(l->db, "DELETE FROM pkg_changes WHERE name = ? AND change_id = ?");
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!st) {
			r = -EIO;
			break;
		}
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, ids[i]);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	return db_write_end(l->db, r);
}

static int push_id(int64_t **v, size_t *n, int64_t id)
{
	int64_t *nv = reallocarray(*v, *n + 1, sizeof(**v));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = id;
	*v = nv;
	return 0;
}

int pkg_life_unready(struct pkg_life *l, const char *name, unsigned mask, int64_t before,
		     int64_t **ret, size_t *ret_n)
{
	sqlite3_stmt *st = db_prep(l->db, "SELECT change_id, kind FROM pkg_changes"
					  " WHERE name = ? AND (?2 = 0 OR change_id < ?2)"
					  " ORDER BY change_id");
	int64_t *all = NULL, *live = NULL, *gone = NULL;
	unsigned *kinds = NULL;
	size_t n = 0, n_live = 0, n_gone = 0;
	int rc, r = 0;

	if (!l->engine)
		return -EROFS; /* a read-only store (--check) records no changes */
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, before);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		unsigned *nk = reallocarray(kinds, n + 1, sizeof(*kinds));
		if (!nk) {
			r = -ENOMEM;
			break;
		}
		kinds = nk;
		kinds[n] = (unsigned)sqlite3_column_int(st, 1);
		r = push_id(&all, &n, sqlite3_column_int64(st, 0));
		if (r < 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = db_errno(rc);
	db_reset(st);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct engine_change_info *ci = NULL;
		int g = engine_change_get(l->engine, all[i], &ci);
		if (g == -ENOENT || (g == 0 && ci->ready))
			r = push_id(&gone, &n_gone, all[i]);
		else if (g < 0)
			r = g;
		else if (!mask || (mask & (1u << kinds[i])))
			r = push_id(&live, &n_live, all[i]);
		engine_change_info_free(ci);
	}
	if (r == 0)
		r = forget_ids(l, name, gone, n_gone);
	free(all);
	free(kinds);
	free(gone);
	if (r < 0) {
		free(live);
		return r;
	}
	*ret = live;
	*ret_n = n_live;
	return 0;
}

int pkg_life_note_change(struct pkg_life *l, const char *name, int64_t id, enum pkg_change_kind kind)
{
	sqlite3_stmt *st = db_prep(l->db, "INSERT OR REPLACE INTO pkg_changes VALUES(?, ?, ?)");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int(st, 3, (int)kind);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return r;
}

int pkg_life_forget(struct pkg_life *l, const char *name)
{
	sqlite3_stmt *st = db_prep(l->db, "DELETE FROM pkg_changes WHERE name = ?");
	int r;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return r;
}

/* -EAGAIN while a change of the package older than the run's is unready. */
static int check_order(struct pkg_life *l, const char *name, int64_t change_id)
{
	int64_t *ids = NULL;
	size_t n = 0;
	int r = pkg_life_unready(l, name, 0, change_id, &ids, &n);

	free(ids);
	return r < 0 ? r : n ? -EAGAIN : 0;
}

/* ---- tasks ------------------------------------------------------------------ */

/* The task's "package" (a copy into out) and optionally "sha256" from its JSON data. */
static int task_args(struct engine_run *run, char *name, size_t len, char *sha, size_t shalen)
{
	const char *data = engine_run_data(run);
	json_t *j = data ? json_loads(data, 0, NULL) : NULL;
	const char *p = j ? json_string_value(json_object_get(j, "package")) : NULL;
	const char *h = j ? json_string_value(json_object_get(j, "sha256")) : NULL;
	int r = 0;

	if (!p || strlen(p) >= len || strchr(p, '/') || (sha && (!h || strlen(h) != 64)))
		r = -EINVAL;
	else {
		snprintf(name, len, "%s", p);
		if (sha)
			snprintf(sha, shalen, "%s", h);
	}
	json_decref(j);
	return r;
}

int pkg_deploy_task(struct engine_run *run, void *ud)
{
	struct pkg_life *l = ud;
	char name[128], sha[65];
	int r = task_args(run, name, sizeof(name), sha, sizeof(sha));

	if (r < 0)
		return engine_run_fail(run, r, "bad task data");
	r = check_order(l, name, engine_run_change_id(run));
	if (r == -EAGAIN || (r == 0 && engine_run_stopping(run)))
		return engine_run_retry(run, 20); /* aborted: the engine holds it */
	if (r == 0)
		r = pkg_life_deploy(l, name, sha);
	if (r == -ENOENT)
		return 0; /* the package went meanwhile */
	if (r < 0)
		return engine_run_fail(run, r, "cannot deploy %s: %s", name, strerror(-r));
	(void)engine_run_logf(run, false, "deployed %.64s", sha);
	return 0;
}

/* Deletes the rows of a removed package in one transaction; *ret_gone when it was deleted. */
static int purge_rows(struct pkg_life *l, const char *name, bool *ret_gone)
{
	static const char *const more[] = {
		"DELETE FROM pkg_log WHERE name = ?",
		"DELETE FROM pkg_ports WHERE name = ?",
		"DELETE FROM pkg_changes WHERE name = ?",
	};
	sqlite3_stmt *st;
	int r = db_write_begin(l->db);

	if (r < 0)
		return r;
	/* Kept when re-created (D9); gone when deleted now or by an attempt a crash cut short. */
	st = db_prep(l->db, "SELECT 1 FROM packages WHERE name = ? AND (removing = 0 OR version != '')");
	if (!st)
		return db_write_end(l->db, -EIO);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	*ret_gone = r == SQLITE_DONE;
	r = r == SQLITE_ROW ? 0 : db_errno(r);
	db_reset(st);
	/* A kept package does not go on saying "maintenance: removing". */
	st = r == 0 ? db_prep(l->db, *ret_gone ? "DELETE FROM packages WHERE name = ?"
			      : "UPDATE packages SET state = 'unknown', message = ''"
				" WHERE name = ? AND state = 'maintenance' AND message = 'removing'")
		    : NULL;
	if (r == 0 && !st)
		r = -EIO;
	if (st) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	for (size_t i = 0; r == 0 && *ret_gone && i < ARRAY_SIZE(more); i++) {
		st = db_prep(l->db, more[i]);
		if (!st) {
			r = -EIO;
			break;
		}
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
	}
	return db_write_end(l->db, r);
}

int pkg_purge_task(struct engine_run *run, void *ud)
{
	struct pkg_life *l = ud;
	char name[128], path[PATH_MAX];
	bool gone = false;
	int r = task_args(run, name, sizeof(name), NULL, 0);

	if (r < 0)
		return engine_run_fail(run, r, "bad task data");
	pkg_life_lock(l);
	r = purge_rows(l, name, &gone);
	if (r == 0 && gone && pkg_life_path(l, name, NULL, path, sizeof(path)) == 0)
		r = rm_rf(path);
	pkg_life_unlock(l);
	if (r < 0)
		return engine_run_fail(run, r, "cannot delete package %s: %s", name, strerror(-r));
	(void)engine_run_logf(run, false, gone ? "deleted package %s" : "kept package %s: it was re-created",
			      name);
	return 0;
}

/* ---- backup ----------------------------------------------------------------- */

int pkg_life_snapshot(struct pkg_life *l, const char *dir)
{
	sqlite3_stmt *st = db_prep(l->db, "SELECT name FROM packages ORDER BY name");
	char src[PATH_MAX], dst[PATH_MAX];
	struct strv names = { 0 };
	int rc, r = 0;

	if (!st)
		return -EIO;
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		r = strv_push(&names, (const char *)sqlite3_column_text(st, 0));
	db_reset(st);
	for (size_t i = 0; r == 0 && i < names.n; i++) {
		struct stat sb;
		int n;
		if (pkg_life_path(l, names.v[i], "state", src, sizeof(src)) < 0 || stat(src, &sb) < 0)
			continue;
		n = snprintf(dst, sizeof(dst), "%s/packages/%s", dir, names.v[i]);
		if (n < 0 || (size_t)n >= sizeof(dst) - 8) {
			r = -ENAMETOOLONG;
			break;
		}
		r = mkdir_p(dst);
		if (r == 0) {
			snprintf(dst + n, sizeof(dst) - (size_t)n, "/state");
			r = copy_tree(src, dst);
		}
	}
	strv_clear(&names);
	return r;
}
