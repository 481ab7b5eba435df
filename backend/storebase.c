/*
 * The store structure's accessors, STOREDIR's paths and the small helpers
 * every store file uses (store_int.h). The bottom of the store's files:
 * it calls none of them, so any of them may call it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "store_int.h"
#include "banned.h"

int64_t store_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct db *store_db(struct store *s)
{
	return s->db;
}

struct counter_log *store_counters(struct store *s)
{
	return s->counters;
}

struct pkg_life *store_pkg(struct store *s)
{
	return s->pkg;
}

struct backup_state *store_backup(struct store *s)
{
	return s->backup;
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

void store_mark_changed(struct store *s, int64_t t, bool deletion)
{
	if (deletion)
		atomic_fetch_add(&s->gen_deletions, 1);
	atomic_fetch_add(&s->gen_changes, 1);
	atomic_store(&s->changed_ns, t);
	atomic_store(&s->events_ns, t);
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

int store_tree_at(const struct store *s, const char *sha256, const char *sub, int *ret_dirfd,
		  char *rel, size_t len)
{
	int n;

	if (s->trees_fd >= 0) {
		*ret_dirfd = s->trees_fd;
		n = snprintf(rel, len, "%s%s%s", sha256, sub[0] ? "/" : "", sub);
	} else {
		*ret_dirfd = AT_FDCWD;
		n = snprintf(rel, len, "%s/trees/%s%s%s", s->dir, sha256, sub[0] ? "/" : "", sub);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void store_bind_url(sqlite3_stmt *st, int first, const struct url *u)
{
	sqlite3_bind_text(st, first, u->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 1, u->series, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 2, u->name, -1, SQLITE_STATIC);
}
