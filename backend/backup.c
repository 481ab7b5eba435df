/*
 * Backup snapshots. A snapshot is STOREDIR/snapshots/N/ holding
 * charmfs.db (an SQLite online-backup copy, made as of one read
 * transaction) and blobs/ (hard links to the archives that copy
 * references). Archives are immutable and only ever unlinked, so a hard
 * link keeps a deleted archive readable for the snapshot's life. The copy
 * and the links are the store core's (struct backup_source): this
 * component numbers snapshots, keeps the live one live and removes old
 * ones, and calls nothing of the store but store_backup() to find itself.
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
#include "backup_int.h"
#include "store_int.h"
#include "banned.h"

struct backup_state {
	struct backup_source src;
	pthread_mutex_t lock;
	unsigned seq;	    /* number of the newest snapshot; 0 = none yet */
	int64_t idle_since; /* ms: taken, or its last open file closed */
	unsigned open;	    /* files open under backup/ */
};

struct backup_state *backup_state_new(const struct backup_source *src)
{
	struct backup_state *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->src = *src;
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

static void snapshot_dir(const struct backup_state *b, unsigned seq, char *out, size_t len)
{
	snprintf(out, len, "%s/snapshots/%u", b->src.dir, seq);
}

/* A new snapshot, replacing every older one; b->lock held. */
static int take_snapshot(struct backup_state *b)
{
	char root[PATH_MAX], tmp[PATH_MAX + 32], dir[PATH_MAX];
	unsigned seq = b->seq + 1;
	int r;

	snprintf(root, sizeof(root), "%s/snapshots", b->src.dir);
	(void)rm_rf(root);
	r = mkdir_p(root);
	if (r < 0)
		return r;
	snprintf(tmp, sizeof(tmp), "%s/%u.tmp", root, seq);
	if (mkdir(tmp, 0755) < 0)
		return -errno;
	r = b->src.snapshot(b->src.ctx, tmp);
	snapshot_dir(b, seq, dir, sizeof(dir));
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
static int live_dir(struct backup_state *b, int64_t now, char *ret_dir, size_t len)
{
	int r = 0;

	if (!live(b, now)) {
		r = take_snapshot(b);
		if (r == 0)
			b->idle_since = now;
	}
	if (r == 0)
		snapshot_dir(b, b->seq, ret_dir, len);
	return r;
}

int backup_get(struct store *s, int64_t now, char *ret_dir, size_t len)
{
	struct backup_state *b = store_backup(s);
	int r;

	pthread_mutex_lock(&b->lock);
	r = live_dir(b, now, ret_dir, len);
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* The part of path below its snapshot directory ("" or "/..."), or NULL. */
static const char *below_snapshot(const struct backup_state *b, const char *path)
{
	char root[PATH_MAX];
	size_t n = (size_t)snprintf(root, sizeof(root), "%s/snapshots/", b->src.dir);

	if (strncmp(path, root, n) != 0 || !isdigit((unsigned char)path[n]))
		return NULL;
	path += n + strspn(path + n, "0123456789");
	return *path == '\0' || *path == '/' ? path : NULL;
}

int backup_hold(struct store *s, int64_t now, const char *path, char *ret, size_t len)
{
	struct backup_state *b = store_backup(s);
	const char *rest = below_snapshot(b, path);
	char dir[PATH_MAX];
	int r, n;

	if (!rest)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	r = live_dir(b, now, dir, sizeof(dir));
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
