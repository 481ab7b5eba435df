/*
 * Publishing (SPEC §4.2): lock the target URLs, validate the archive,
 * compute the revision over the URL set (or refuse a redundant update),
 * write the stored archive (a small one made in memory, straight to its
 * content-addressed name; a bigger one under tmp/, then moved), then record revision, URLs, event and the publish change in one
 * transaction. A crash before the commit leaves only unreferenced files,
 * which the next start removes. The change's extract-tree task, recorded
 * Do when a file needs the tree, is run by the engine after the return
 * (storetree.c); engine_notice() only sets a flag, so the publish costs
 * what it did before the engine, plus the rows of the change. A refused
 * archive leaves a publish-error event and a change in Error (one
 * transaction); a redundant or refused (busy) publish leaves neither.
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
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "charm.h"
#include "engine.h"
#include "evhook.h"
#include "lock.h"
#include "store_int.h"
#include "storetree.h"
#include "banned.h"

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
	store_bind_url(st, 1, u);
	rc = sqlite3_step(st);
	snprintf(digest, dlen, "%s", rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : "");
	db_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_errno(rc);
	st = db_prep(s->db, "SELECT max_revision FROM urls WHERE user = ? AND series = ?"
			    " AND name = ?");
	if (!st)
		return -EIO;
	store_bind_url(st, 1, u);
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
	char sha256[65];
	uint64_t size;
};

/*
 * Writes a held charm's stored archive, made in memory, straight to its
 * content-addressed name (none is written when it is there already). A
 * crash before the commit leaves it unreferenced, like a staged one.
 */
static int stage_held(struct store *s, const struct charm *c, int revision,
		      struct staged *out, struct store_inline *in)
{
	char blob[PATH_MAX];
	struct buf zip;
	int fd, r;

	buf_init(&zip, 4 * CHARM_HOLD_MAX);
	r = charm_store_buf(c, revision, &zip, store_inline_add, in);
	if (r == 0)
		r = sha256_mem(zip.data ? zip.data : "", zip.len, out->sha256);
	out->size = zip.len;
	store_blob_path(s, out->sha256, blob, sizeof(blob));
	fd = r == 0 ? open(blob, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444) : -1;
	if (r == 0 && fd < 0 && errno != EEXIST)
		r = -errno;
	if (fd >= 0) {
		r = write_all(fd, zip.data, zip.len);
		if (r == 0 && s->opts.sync_full && fsync(fd) < 0)
			r = -errno;
		if (close(fd) < 0 && r == 0)
			r = -errno;
		if (r < 0)
			(void)unlink(blob);
	}
	buf_free(&zip);
	return r;
}

/*
 * Writes the stored archive under tmp/ and hashes it, keeping small files'
 * data in in (the tree comes later, if at all).
 */
static int stage(struct store *s, const struct charm *c, int revision, struct staged *out,
		 struct store_inline *in)
{
	int fd, r;

	if (charm_holds(c))
		return stage_held(s, c, revision, out, in);

	snprintf(out->zip, sizeof(out->zip), "%s/tmp/pub-XXXXXX", s->dir);
	fd = mkostemp(out->zip, O_CLOEXEC);
	if (fd < 0) {
		out->zip[0] = '\0';
		return -errno;
	}
	r = charm_store_cb(c, revision, fd, NULL, store_inline_add, in);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	if (r == 0)
		r = sha256_fd(fd, out->sha256, &out->size);
	if (r == 0 && s->opts.sync_full && fsync(fd) < 0)
		r = -errno;
	if (fchmod(fd, 0444) < 0 && r == 0)
		r = -errno;
	close(fd);
	return r;
}

/* Moves staged files to their content-addressed names. */
static int install(struct store *s, struct staged *st)
{
	char blob[PATH_MAX], dir[PATH_MAX];
	struct stat sb;

	store_blob_path(s, st->sha256, blob, sizeof(blob));
	if (!st->zip[0]) {
		/* stage_held() wrote it there */
	} else if (stat(blob, &sb) == 0) {
		(void)unlink(st->zip);
	} else if (rename(st->zip, blob) < 0) {
		return -errno;
	}
	st->zip[0] = '\0';
	snprintf(dir, sizeof(dir), "%s/blobs", s->dir);
	return s->opts.sync_full ? fsync_dir(dir) : 0;
}

static void unstage(struct staged *st)
{
	if (st->zip[0])
		(void)unlink(st->zip);
}

/*
 * The publish's URLs for summaries, "cs:trusty/foo-3, cs:~bob/trusty/foo-3"
 * (revision < 0: without one), cut with "and N more" to fit the summaries
 * (ENGINE_SUMMARY_MAX with their longest prefix).
 */
static int pub_names(const struct store_publish_req *req, int revision, struct buf *out)
{
	char u[URL_STR_MAX];
	int r = 0;

	buf_init(out, ENGINE_SUMMARY_MAX - 64);
	for (size_t i = 0; r == 0 && i < req->n_urls; i++) {
		struct url one = req->urls[i];
		one.revision = revision;
		url_format(&one, u, sizeof(u));
		if (out->len + strlen(u) + 40 > out->max) {
			r = buf_addf(out, " and %zu more", req->n_urls - i);
			break;
		}
		r = buf_addf(out, "%s%s", i ? ", " : "", u);
	}
	if (r < 0)
		buf_free(out);
	return r < 0 ? -ENOMEM : 0;
}

/*
 * Records the publish change in the caller's transaction: validate and
 * store Done, extract-tree Do (its data the SHA-256) when a file needs the
 * tree, else Done at once.
 */
static int record_change(struct store *s, const struct store_publish_req *req, int revision,
			 const struct staged *sg, bool all_inline, const struct strv *warnings,
			 int64_t t)
{
	static const char *const no_tree[] = { "every file is kept in the database: no tree needed",
					       NULL };
	static const size_t after[] = { 0, 1 };
	char sum[3][ENGINE_SUMMARY_MAX], change[ENGINE_SUMMARY_MAX];
	_cleanup_free_ const char **wlog = calloc(warnings->n + 1, sizeof(*wlog));
	struct buf names;
	int r;

	if (!wlog)
		return -ENOMEM;
	for (size_t i = 0; i < warnings->n; i++)
		wlog[i] = warnings->v[i];
	r = pub_names(req, revision, &names);
	if (r < 0)
		return r;
	snprintf(change, sizeof(change), "Publish %s", names.data);
	snprintf(sum[0], sizeof(sum[0]), "Validate %s", names.data);
	snprintf(sum[1], sizeof(sum[1]), "Store %s (SHA-256 %s)", names.data, sg->sha256);
	snprintf(sum[2], sizeof(sum[2]), "Extract the tree of %s", names.data);
	buf_free(&names);
	const struct engine_task_spec tasks[] = {
		{ .kind = "validate", .summary = sum[0], .status = ENGINE_DONE, .log = wlog },
		{ .kind = "store", .summary = sum[1], .status = ENGINE_DONE, .wait_for = &after[0],
		  .n_wait = 1 },
		{ .kind = STORE_TASK_EXTRACT, .summary = sum[2], .wait_for = &after[1], .n_wait = 1,
		  .status = all_inline ? ENGINE_DONE : ENGINE_DO, .data = all_inline ? NULL : sg->sha256,
		  .log = all_inline ? no_tree : NULL },
	};
	return engine_record_tx(s->db, "publish", change, t / 1000000, tasks, ARRAY_SIZE(tasks),
				NULL);
}

/* Writes the publish's rows, at time t, in the caller's write transaction. */
static int record(struct store *s, const struct store_publish_req *req, int revision,
		  const char *digest, const struct staged *sg, const struct store_inline *in,
		  bool *ret_all_inline, const struct strv *warnings, int64_t t)
{
	sqlite3_stmt *st;
	sqlite3_int64 id;
	int r;

	st = db_prep(s->db, "INSERT INTO revisions(revision, sha256, digest, size, published)"
			    " VALUES(?, ?, ?, ?, ?)");
	if (!st)
		return -EIO;
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
		r = store_files_record(s, id, revision, in, ret_all_inline);
	}
	for (size_t i = 0; r == 0 && i < req->n_urls; i++) {
		st = db_prep(s->db, "INSERT INTO url_revs VALUES(?, ?, ?, ?, ?)");
		if (!st) {
			r = -EIO;
			break;
		}
		store_bind_url(st, 1, &req->urls[i]);
		sqlite3_bind_int(st, 4, revision);
		sqlite3_bind_int64(st, 5, id);
		r = db_errno(sqlite3_step(st));
		db_reset(st);
		st = db_prep(s->db, "INSERT INTO urls VALUES(?, ?, ?, ?) ON CONFLICT DO UPDATE"
				    " SET max_revision = max(max_revision, excluded.max_revision)");
		if (r == 0 && !st)
			r = -EIO;
		if (r == 0) {
			store_bind_url(st, 1, &req->urls[i]);
			sqlite3_bind_int(st, 4, revision);
			r = db_errno(sqlite3_step(st));
			db_reset(st);
		}
	}
	if (r == 0)
		r = store_event_insert(s, &(struct store_event){ .kind = EVENT_PUBLISHED,
			.urls = req->urls, .n_urls = req->n_urls, .revision = revision,
			.digest = digest, .warnings = warnings, .uid = req->uid, .t_ns = t });
	if (r == 0)
		r = record_change(s, req, revision, sg, *ret_all_inline, warnings, t);
	return r;
}

/*
 * Records a refused publish in one transaction of its own (the refusal
 * writes nothing else): its publish-error event and a publish change in
 * Error, whose validate task logs the warnings and then the problems (the
 * change's err names them), its store and extract-tree tasks held.
 */
static int record_refusal(struct store *s, const struct store_publish_req *req,
			  const struct store_event *ev)
{
	static const size_t after[] = { 0, 1 };
	static const char *const none[] = { "the archive is invalid", NULL };
	char sum[3][ENGINE_SUMMARY_MAX], change[ENGINE_SUMMARY_MAX];
	_cleanup_free_ const char **elog = calloc(ev->errors->n + 1, sizeof(*elog));
	_cleanup_free_ const char **wlog = calloc(ev->warnings->n + 1, sizeof(*wlog));
	struct buf names;
	int r;

	if (!elog || !wlog)
		return -ENOMEM;
	for (size_t i = 0; i < ev->errors->n; i++)
		elog[i] = ev->errors->v[i];
	for (size_t i = 0; i < ev->warnings->n; i++)
		wlog[i] = ev->warnings->v[i];
	r = pub_names(req, -1, &names);
	if (r < 0)
		return r;
	snprintf(change, sizeof(change), "Publish %s", names.data);
	snprintf(sum[0], sizeof(sum[0]), "Validate %s", names.data);
	snprintf(sum[1], sizeof(sum[1]), "Store %s", names.data);
	snprintf(sum[2], sizeof(sum[2]), "Extract the tree of %s", names.data);
	buf_free(&names);
	const struct engine_task_spec tasks[] = {
		{ .kind = "validate", .summary = sum[0], .status = ENGINE_ERROR, .log = wlog,
		  .errors = ev->errors->n ? elog : none },
		{ .kind = "store", .summary = sum[1], .status = ENGINE_HOLD, .wait_for = &after[0],
		  .n_wait = 1 },
		{ .kind = STORE_TASK_EXTRACT, .summary = sum[2], .status = ENGINE_HOLD,
		  .wait_for = &after[1], .n_wait = 1 },
	};
	r = db_write_begin(s->db);
	if (r < 0)
		return r;
	r = store_event_insert(s, ev);
	if (r == 0)
		r = engine_record_tx(s->db, "publish", change, ev->t_ns / 1000000, tasks,
				     ARRAY_SIZE(tasks), NULL);
	r = db_write_end(s->db, r);
	if (r == 0) {
		store_mark_changed(s, ev->t_ns, false);
		if (s->engine)
			engine_notice(s->engine); /* for its prune */
	}
	return r;
}

/* The SHA-256 of a refused file, unless it is over max bytes (not worth the read). */
static int raw_digest(const char *path, uint64_t max, char *out, size_t len)
{
	char hex[65];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
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

static bool space_for(struct store *s, uint64_t need)
{
	struct statvfs sv;

	return statvfs(s->dir, &sv) < 0 || (uint64_t)sv.f_bavail * sv.f_frsize >= need;
}

/*
 * The tree is made after the publish returns: refuse now (ENOSPC) when the
 * archive, its tree and some room for the database would not fit, once the
 * database's write-ahead log has given back what it can.
 */
static int check_space(struct store *s, const struct charm *c)
{
	uint64_t need = charm_disk_estimate(c) * 2 + (1 << 20);

	if (space_for(s, need))
		return 0;
	(void)db_shrink(s->db);
	return space_for(s, need) ? 0 : -ENOSPC;
}

/* The revision for the publish, with the message of a redundant one. */
static int revision_for(struct store *s, const struct store_publish_req *req, const char *digest,
			int *ret, struct strv *errors)
{
	int r = next_revision(s, req, digest, ret);

	if (r == -EEXIST)
		(void)strv_push(errors, "charm is up-to-date");
	return r;
}

/*
 * Stores and records the charm, and sets *ret_revision. A held charm
 * (small: its stored zip is made in memory) does it all in one write
 * transaction, whose reads of the URLs' revisions hit the writer's page
 * cache instead of a reader's, which every commit empties; a bigger one
 * computes the revision and stages its archive before the transaction.
 */
static int store_and_record(struct store *s, const struct store_publish_req *req,
			    const struct charm *c, const char *digest,
			    const struct strv *warnings, int *ret_revision, struct strv *errors,
			    struct staged *sg, struct store_inline *in)
{
	bool one_tx = charm_holds(c), all_inline = false;
	int64_t t = 0;
	int r = one_tx ? 0 : revision_for(s, req, digest, ret_revision, errors);

	if (r == 0)
		r = check_space(s, c);
	if (r == 0)
		r = store_inline_init(in, c);
	if (r == 0 && !one_tx)
		r = stage(s, c, *ret_revision, sg, in);
	if (r == 0 && !one_tx)
		r = install(s, sg);
	if (r < 0)
		return r;
	r = db_write_begin(s->db);
	if (r < 0)
		return r;
	if (one_tx) {
		r = revision_for(s, req, digest, ret_revision, errors);
		if (r == 0)
			r = stage(s, c, *ret_revision, sg, in);
		if (r == 0)
			r = install(s, sg);
	}
	if (r == 0) {
		t = store_now_ns();
		r = record(s, req, *ret_revision, digest, sg, in, &all_inline, warnings, t);
	}
	r = db_write_end(s->db, r);
	if (r == 0)
		store_mark_changed(s, t, false);
	return r;
}

static int publish_locked(struct store *s, const struct store_publish_req *req,
			  const struct charm *c, const char *digest,
			  const struct strv *warnings, int *ret_revision, struct strv *errors)
{
	struct staged sg = { .zip = "" };
	struct store_inline in = { 0 };
	int revision = -1, r;

	r = store_and_record(s, req, c, digest, warnings, &revision, errors, &sg, &in);
	if (r == 0 && s->engine)
		engine_notice(s->engine); /* the runner takes the tree from here */
	store_inline_free(&in);
	unstage(&sg);
	if (r == -EEXIST)
		return r;
	if (r == -ESTALE) {
		(void)strv_push(errors, "the archive changed while it was being published");
		return -EBUSY;
	}
	if (r < 0) {
		(void)strv_pushf(errors, "cannot store charm: %s", strerror(-r));
		return r;
	}
	*ret_revision = revision;
	return 0;
}

/* Where the URL string u is in s->publishing, or -1. Under lock_mu. */
static ssize_t publishing_at(const struct store *s, const char *u)
{
	for (size_t k = 0; k < s->publishing.n; k++)
		if (strcmp(s->publishing.v[k], u) == 0)
			return (ssize_t)k;
	return -1;
}

static bool publishing(const struct store *s, const struct url *urls, size_t n)
{
	char u[URL_STR_MAX];

	for (size_t i = 0; i < n; i++) {
		url_format(&urls[i], u, sizeof(u));
		if (publishing_at(s, u) >= 0)
			return true;
	}
	return false;
}

/*
 * The lock-expired event hooks of a lock found expired when it was taken
 * over (over: lock_take()'s "URL ID" line); their JSON is {"kind":
 * "lock-expired", "url": URL, "lock": ID}, their facts CHARMFS_URL and
 * CHARMFS_LOCK. A hook run that cannot be recorded is not the lock's failure.
 */
static void lock_expired_hooks(struct store *s, const char *over)
{
	size_t n = strcspn(over, " ");
	const char *id = over[n] ? over + n + 1 : "";
	char *url, *json = NULL;
	json_t *o;

	if (!evhook_wanted(s->evhooks, "lock-expired"))
		return;
	url = strndup(over, n);
	o = url ? json_pack("{s:s, s:s, s:s}", "kind", "lock-expired", "url", url, "lock", id) : NULL;
	json = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (json)
		(void)evhook_fire(s->evhooks, s->engine, "lock-expired", json,
				  (const struct evhook_fact[]){ { "url", url }, { "lock", id } }, 2);
	free(json);
	json_decref(o);
	free(url);
}

int store_lock_take(struct store *s, const struct url *urls, size_t n, const struct lock_holder *h,
		    unsigned timeout, char ret_id[LOCK_ID_LEN + 1], struct strv *taken_over)
{
	size_t before = taken_over ? taken_over->n : 0;
	int r;

	pthread_mutex_lock(&s->lock_mu);
	r = publishing(s, urls, n) ? -EEXIST
				   : lock_take(s->db, urls, n, h, lock_now(), timeout, ret_id,
					       taken_over);
	pthread_mutex_unlock(&s->lock_mu);
	for (size_t i = before; r == 0 && taken_over && i < taken_over->n; i++)
		lock_expired_hooks(s, taken_over->v[i]);
	return r;
}

/*
 * Holds the target URLs' update locks while the publish runs. They are
 * kept in memory (this daemon is the store's only writer), so a publish
 * costs no lock transactions and a crash leaves no lock behind; lock takes
 * go through store_lock_take(), which sees them. With lock_id, URLs held by
 * that lock are the caller's.
 */
static int publish_lock(struct store *s, const struct store_publish_req *req,
			struct strv *errors)
{
	char u[URL_STR_MAX];
	int r;

	pthread_mutex_lock(&s->lock_mu);
	r = lock_check(s->db, req->urls, req->n_urls, req->lock_id, lock_now());
	if (r == 0 && publishing(s, req->urls, req->n_urls))
		r = -EBUSY;
	for (size_t i = 0; r == 0 && i < req->n_urls; i++) {
		url_format(&req->urls[i], u, sizeof(u));
		r = strv_push(&s->publishing, u);
	}
	pthread_mutex_unlock(&s->lock_mu);
	if (r == -EEXIST || r == -EBUSY) {
		(void)strv_push(errors, "charm update in progress");
		r = -EBUSY;
	}
	return r;
}

static void publish_unlock(struct store *s, const struct store_publish_req *req)
{
	struct strv *p = &s->publishing;
	char u[URL_STR_MAX];

	pthread_mutex_lock(&s->lock_mu);
	for (size_t i = 0; i < req->n_urls; i++) {
		ssize_t k;
		url_format(&req->urls[i], u, sizeof(u));
		k = publishing_at(s, u);
		if (k < 0)
			continue;
		free(p->v[k]);
		p->v[k] = p->v[--p->n];
		p->v[p->n] = NULL;
	}
	pthread_mutex_unlock(&s->lock_mu);
}

int store_publish(struct store *s, const struct store_publish_req *req, int *ret_revision,
		  struct strv *errors)
{
	struct strv warnings = { 0 };
	struct charm *c = NULL;
	char digest[160] = "";
	int r;

	if (req->n_urls == 0)
		return -EINVAL;
	r = publish_lock(s, req, errors);
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
		else if (raw_digest(req->path, s->opts.limits.max_archive, digest,
				    sizeof(digest)) < 0)
			snprintf(digest, sizeof(digest), "unknown");
		(void)record_refusal(s, req, &(struct store_event){ .kind = EVENT_PUBLISH_ERROR,
			.urls = req->urls, .n_urls = req->n_urls, .digest = digest, .errors = errors,
			.warnings = &warnings, .uid = req->uid, .t_ns = store_now_ns() });
		goto out;
	}
	if (r < 0)
		goto out;
	snprintf(digest, sizeof(digest), "%s", req->digest ? req->digest : charm_digest(c));
	pthread_mutex_lock(&s->pub_lock);
	r = publish_locked(s, req, c, digest, &warnings, ret_revision, errors);
	pthread_mutex_unlock(&s->pub_lock);
out:
	publish_unlock(s, req);
	charm_free(c);
	strv_clear(&warnings);
	return r;
}

