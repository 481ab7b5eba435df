/*
 * Checking and repairing a store (charmfs --check [--repair]), and the
 * start-up chore of removing files no revision references.
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
#include <unistd.h>

#include <dirent.h>

#include "charm.h"
#include "counter.h"
#include "store_int.h"
#include "storetree.h"
#include "banned.h"

bool store_sha_referenced(struct store *s, const char *sha)
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
int store_sweep_orphans(struct store *s, const char *sub, const char *suffix, bool remove,
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
		if (*sha && store_sha_referenced(s, sha))
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

static void check_revision(struct store *s, const char *sha, uint64_t size, bool needs_tree,
			   bool repair, struct strv *problems, struct strv *notes)
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
	if (!needs_tree)
		return;
	store_tree_path(s, sha, path, sizeof(path));
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return;
	if (repair && store_trees_ready(s->trees, sha) == 0)
		return;
	/* Trees are derived from archives and rebuilt when the store is next mounted. */
	(void)strv_pushf(notes, "tree %s: missing (rebuilt from its archive at the next start)",
			 sha);
}

int store_check(struct store *s, bool repair, struct strv *problems, struct strv *notes)
{
	sqlite3_stmt *st;
	int rc;

	check_integrity(s, problems);
	/* A revision whose files are all in the database (storefiles.c) needs no tree. */
	st = db_prep(s->db, "SELECT DISTINCT sha256, size,"
			    " NOT EXISTS (SELECT 1 FROM rev_files f WHERE f.rev_id = r.id)"
			    " OR EXISTS (SELECT 1 FROM rev_files f WHERE f.rev_id = r.id"
			    " AND f.kind = 0 AND f.data IS NULL) FROM revisions r");
	if (!st) {
		(void)strv_pushf(problems, "database: %s", db_errmsg(s->db));
		return -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char sha[65];
		snprintf(sha, sizeof(sha), "%s", sqlite3_column_text(st, 0));
		check_revision(s, sha, (uint64_t)sqlite3_column_int64(st, 1),
			       sqlite3_column_int(st, 2) != 0, repair, problems, notes);
	}
	db_reset(st);
	if (rc != SQLITE_DONE)
		(void)strv_pushf(problems, "database: %s", db_errmsg(s->db));
	if (counter_check(s->db, problems) < 0 && !problems->n)
		(void)strv_push(problems, "counters: cannot check");
	(void)store_sweep_orphans(s, "blobs", ".charm", repair, notes);
	(void)store_sweep_orphans(s, "trees", "", repair, notes);
	return problems->n ? -EIO : 0;
}

