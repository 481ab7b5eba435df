/*
 * Backup snapshots. A snapshot is STOREDIR/snapshots/N/ holding
 * charmfs.db (an SQLite online-backup copy, made as of one read
 * transaction) and blobs/ (hard links to the archives that copy
 * references). Archives are immutable and only ever unlinked, so a hard
 * link keeps a deleted archive readable for the snapshot's life. The copy
 * and the links are made while no publish or deletion runs, so the
 * database and the archives agree exactly.
 *
 * Snapshots are replaced, never changed: a new one gets a new number and
 * the old directory is removed once nothing under it is open.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "counterlog.h"
#include "db.h"
#include "banned.h"

struct backup_state {
	pthread_mutex_t lock;
	unsigned seq;	    /* number of the newest snapshot; 0 = none yet */
	int64_t idle_since; /* ms: taken, or its last open file closed */
	unsigned open;	    /* files open under backup/ */
};

struct backup_state *backup_state_new(void)
{
	struct backup_state *b = calloc(1, sizeof(*b));

	if (b)
		pthread_mutex_init(&b->lock, NULL);
	return b;
}

void backup_state_free(struct backup_state *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

struct linker {
	struct store *s;
	const char *dir;
};

/* Links every archive the snapshot database references into dir/blobs. */
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

struct snap_args {
	struct store *s;
	const char *dir;
};

static int snapshot_quiesced(void *ud)
{
	struct snap_args *a = ud;
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/charmfs.db", a->dir);
	r = counter_log_flush(store_counters(a->s));
	if (r == 0)
		r = db_backup_to(store_db(a->s), path);
	return r < 0 ? r : link_blobs(a->s, a->dir);
}

static void snapshot_dir(struct store *s, unsigned seq, char *out, size_t len)
{
	snprintf(out, len, "%s/snapshots/%u", store_dir(s), seq);
}

static int take_snapshot(struct store *s, struct backup_state *b)
{
	char root[PATH_MAX], tmp[PATH_MAX + 32], dir[PATH_MAX];
	unsigned seq = b->seq + 1;
	int r;

	snprintf(root, sizeof(root), "%s/snapshots", store_dir(s));
	(void)rm_rf(root);
	r = mkdir_p(root);
	if (r < 0)
		return r;
	snprintf(tmp, sizeof(tmp), "%s/%u.tmp", root, seq);
	if (mkdir(tmp, 0755) < 0)
		return -errno;
	struct snap_args a = { .s = s, .dir = tmp };
	r = store_quiesced(s, snapshot_quiesced, &a);
	snapshot_dir(s, seq, dir, sizeof(dir));
	if (r == 0 && rename(tmp, dir) < 0)
		r = -errno;
	if (r < 0) {
		(void)rm_rf(tmp);
		return r;
	}
	b->seq = seq;
	return 0;
}

int64_t backup_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool live(const struct backup_state *b, int64_t now)
{
	return b->seq != 0 && (b->open > 0 || now - b->idle_since < BACKUP_LINGER_MS);
}

/* The live snapshot's directory, taking one first if none is live; b->lock held. */
static int live_dir(struct store *s, struct backup_state *b, int64_t now, char *ret_dir,
		    size_t len)
{
	int r = 0;

	if (!live(b, now)) {
		r = take_snapshot(s, b);
		if (r == 0)
			b->idle_since = now;
	}
	if (r == 0)
		snapshot_dir(s, b->seq, ret_dir, len);
	return r;
}

int backup_get(struct store *s, int64_t now, char *ret_dir, size_t len)
{
	struct backup_state *b = store_backup(s);
	int r;

	pthread_mutex_lock(&b->lock);
	r = live_dir(s, b, now, ret_dir, len);
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* The part of path below its snapshot directory ("" or "/..."), or NULL. */
static const char *below_snapshot(struct store *s, const char *path)
{
	char root[PATH_MAX];
	size_t n = (size_t)snprintf(root, sizeof(root), "%s/snapshots/", store_dir(s));

	if (strncmp(path, root, n) != 0 || !isdigit((unsigned char)path[n]))
		return NULL;
	path += n + strspn(path + n, "0123456789");
	return *path == '\0' || *path == '/' ? path : NULL;
}

int backup_hold(struct store *s, int64_t now, const char *path, char *ret, size_t len)
{
	struct backup_state *b = store_backup(s);
	const char *rest = below_snapshot(s, path);
	char dir[PATH_MAX];
	int r, n;

	if (!rest)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	r = live_dir(s, b, now, dir, sizeof(dir));
	if (r == 0) {
		n = snprintf(ret, len, "%s%s", dir, rest);
		r = n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
	}
	if (r == 0)
		b->open++;
	pthread_mutex_unlock(&b->lock);
	return r;
}

void backup_put(struct store *s, int64_t now)
{
	struct backup_state *b = store_backup(s);

	pthread_mutex_lock(&b->lock);
	if (b->open && --b->open == 0)
		b->idle_since = now;
	pthread_mutex_unlock(&b->lock);
}
