/*
 * A revision's files/ view in the database (table rev_files): one row per
 * entry of the stored archive, including the directories its names imply
 * and the `revision` file, keyed by (revision row, directory, name) so that
 * a lookup is one index probe and a listing one range. A file of at most
 * CHARM_INLINE_MAX bytes keeps its data in the row (up to INLINE_TOTAL bytes
 * per revision), and so do metadata.yaml and config.yaml whatever their size
 * (validation holds their text anyway; the revision directory shows them);
 * a bigger file is read from the extracted tree. A cold `cat` of a small
 * file thus costs the database page the lookup read anyway, and a revision
 * whose files are all inline needs no tree at all.
 *
 * Revisions published before this table existed have no rows
 * (store_rev.in_db is false) and are served from their trees.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "charm.h"
#include "charmcheck.h"
#include "store_int.h"
#include "storecache.h"
#include "banned.h"

#define INLINE_TOTAL (1024 * 1024)

void store_inline_free(struct store_inline *in)
{
	for (size_t i = 0; i < in->n; i++)
		free(in->data[i]);
	free(in->data);
	free(in->len);
	memset(in, 0, sizeof(*in));
}

/* Keeps a copy of text as entry i's data. */
static int keep(struct store_inline *in, size_t i, const void *text, size_t len)
{
	in->data[i] = malloc(len ? len : 1);
	if (!in->data[i])
		return -ENOMEM;
	memcpy(in->data[i], text, len);
	in->len[i] = len;
	return 0;
}

int store_inline_init(struct store_inline *in, const struct charm *c)
{
	int r = 0;

	memset(in, 0, sizeof(*in));
	in->entries = charm_entries(c, &in->n);
	in->data = calloc(in->n ? in->n : 1, sizeof(*in->data));
	in->len = calloc(in->n ? in->n : 1, sizeof(*in->len));
	if (!in->data || !in->len)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < in->n; i++) {
		const struct charm_entry *e = &in->entries[i];
		const struct buf *text = NULL;
		if (e->type == CE_FILE && strcmp(e->name, "metadata.yaml") == 0)
			text = charm_yaml(c, false);
		else if (e->type == CE_FILE && strcmp(e->name, "config.yaml") == 0)
			text = charm_yaml(c, true);
		if (text)
			r = keep(in, i, text->data ? text->data : "", text->len);
	}
	if (r < 0)
		store_inline_free(in);
	return r;
}

int store_inline_add(void *ud, const struct charm_entry *e, const void *data, size_t len)
{
	struct store_inline *in = ud;
	size_t i = (size_t)(e - in->entries);

	int r;

	if (i >= in->n || in->data[i] || in->total + len > INLINE_TOTAL)
		return 0; /* kept already, or read from the tree instead */
	r = keep(in, i, data, len);
	if (r == 0)
		in->total += len;
	return r;
}

/* Splits path into its directory ("" at the top) and last name, in place. */
static const char *split_last(char *path, const char **ret_dir)
{
	char *slash = strrchr(path, '/');

	if (!slash) {
		*ret_dir = "";
		return path;
	}
	*slash = '\0';
	*ret_dir = path;
	return slash + 1;
}

static int insert_row(sqlite3_stmt *st, sqlite3_int64 id, const char *path, int kind,
		      unsigned mode, uint64_t size, const char *target, const void *data,
		      size_t len)
{
	char tmp[CHARM_NAME_MAX + 1];
	const char *dir, *name;
	int r;

	if (strlen(path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s", path);
	name = split_last(tmp, &dir);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, kind);
	sqlite3_bind_int(st, 5, (int)mode);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)size);
	if (target)
		sqlite3_bind_text(st, 7, target, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	if (data)
		sqlite3_bind_blob(st, 8, len ? data : "", (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	r = db_errno(sqlite3_step(st));
	db_reset(st);
	return r;
}

/* The directories name implies ("a" and "a/b" for "a/b/c"). */
static int insert_parents(sqlite3_stmt *st, sqlite3_int64 id, const char *name)
{
	char tmp[CHARM_NAME_MAX + 1];
	int r = 0;

	for (const char *p = strchr(name, '/'); r == 0 && p; p = strchr(p + 1, '/')) {
		size_t len = (size_t)(p - name);
		if (len >= sizeof(tmp))
			return -ENAMETOOLONG;
		memcpy(tmp, name, len);
		tmp[len] = '\0';
		r = insert_row(st, id, tmp, STORE_FILE_DIR, 0755, 0, NULL, NULL, 0);
	}
	return r;
}

int store_files_record(struct store *s, sqlite3_int64 id, int revision,
		       const struct store_inline *in, bool *ret_all_inline)
{
	sqlite3_stmt *st = db_prep(s->db, "INSERT OR IGNORE INTO rev_files"
					  " VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
	char text[16];
	int n = snprintf(text, sizeof(text), "%d", revision), r;
	bool all = true;

	if (!st)
		return -EIO;
	r = insert_row(st, id, "revision", STORE_FILE_REG, 0644, (uint64_t)n, NULL, text,
		       (size_t)n);
	for (size_t i = 0; r == 0 && i < in->n; i++) {
		const struct charm_entry *e = &in->entries[i];
		if (charmcheck_is_revision(e))
			continue;
		r = insert_parents(st, id, e->name);
		if (r < 0)
			break;
		switch (e->type) {
		case CE_DIR:
			r = insert_row(st, id, e->name, STORE_FILE_DIR, e->mode, 0, NULL, NULL, 0);
			break;
		case CE_SYMLINK:
			r = insert_row(st, id, e->name, STORE_FILE_LINK, e->mode, strlen(e->target),
				       e->target, NULL, 0);
			break;
		case CE_FILE:
		default:
			if (!in->data[i])
				all = false;
			r = insert_row(st, id, e->name, STORE_FILE_REG, e->mode, e->size, NULL,
				       in->data[i], in->len[i]);
			break;
		}
	}
	*ret_all_inline = all;
	return r;
}

/*
 * Prepares sql, whose three parameters are a revision row, a directory and
 * a name, for the entry at sub (not "") of rev; tmp holds the split path
 * until the statement is reset. NULL with *err set on failure.
 */
static sqlite3_stmt *prep_entry(struct store *s, const char *sql, const struct store_rev *rev,
				const char *sub, char *tmp, size_t len, int *err)
{
	sqlite3_stmt *st;
	const char *dir, *name;

	if (strlen(sub) >= len) {
		*err = -ENAMETOOLONG;
		return NULL;
	}
	st = db_prep(s->db, sql);
	if (!st) {
		*err = -EIO;
		return NULL;
	}
	snprintf(tmp, len, "%s", sub);
	name = split_last(tmp, &dir);
	sqlite3_bind_int64(st, 1, rev->id);
	sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	return st;
}

/*
 * The read cache's key (storecache.h) of the entry at sub of rev under
 * tag: a revision row's files/ rows never change while it exists, and
 * only a deletion removes them (or lets a later revision reuse its id),
 * so entries, data and targets found are kept under gen_deletions.
 */
struct entry_key {
	unsigned char b[1 + sizeof(int64_t) + PATH_MAX];
	size_t len;
};

static void entry_key(struct entry_key *k, char tag, const struct store_rev *rev, const char *sub,
		      size_t sublen)
{
	k->b[0] = (unsigned char)tag;
	memcpy(k->b + 1, &rev->id, sizeof(rev->id));
	memcpy(k->b + 1 + sizeof(rev->id), sub, sublen);
	k->len = 1 + sizeof(rev->id) + sublen;
}

int store_file_get(struct store *s, const struct store_rev *rev, const char *sub,
		   struct store_file *ret)
{
	int64_t gen = atomic_load(&s->gen_deletions);
	size_t sublen = strlen(sub);
	struct entry_key k;
	sqlite3_stmt *st;
	char tmp[PATH_MAX];
	int rc, r = 0;

	memset(ret, 0, sizeof(*ret));
	if (!sub[0]) {
		ret->kind = STORE_FILE_DIR;
		ret->mode = 0755;
		return 0;
	}
	if (sublen >= PATH_MAX)
		return -ENAMETOOLONG;
	entry_key(&k, 'F', rev, sub, sublen);
	if (store_cache_get(s->cache, k.b, k.len, gen, ret, sizeof(*ret)))
		return 0;
	st = prep_entry(s, "SELECT kind, mode, size, data IS NOT NULL FROM rev_files"
			   " WHERE rev_id = ? AND dir = ? AND name = ?",
			rev, sub, tmp, sizeof(tmp), &r);
	if (!st)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret->kind = sqlite3_column_int(st, 0);
		ret->mode = (unsigned)sqlite3_column_int(st, 1);
		ret->size = (uint64_t)sqlite3_column_int64(st, 2);
		ret->inline_data = sqlite3_column_int(st, 3) != 0;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
	}
	db_reset(st);
	if (r == 0)
		store_cache_put(s->cache, k.b, k.len, gen, ret, sizeof(*ret));
	return r;
}

int store_file_list(struct store *s, const struct store_rev *rev, const char *sub,
		    store_file_cb cb, void *ud)
{
	sqlite3_stmt *st = db_prep(s->db, "SELECT name, kind FROM rev_files"
					  " WHERE rev_id = ? AND dir = ? ORDER BY name");
	struct strv names = { 0 };
	int *kinds = NULL, rc = SQLITE_DONE, r = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, rev->id);
	sqlite3_bind_text(st, 2, sub, -1, SQLITE_STATIC);
	/* Collected first: the callback may run other statements on this connection. */
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int *v = reallocarray(kinds, names.n + 1, sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			break;
		}
		kinds = v;
		kinds[names.n] = sqlite3_column_int(st, 1);
		r = strv_push(&names, (const char *)sqlite3_column_text(st, 0));
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = db_errno(rc);
	db_reset(st);
	for (size_t i = 0; r == 0 && i < names.n; i++)
		r = cb(ud, names.v[i], kinds[i]);
	free(kinds);
	strv_clear(&names);
	return r;
}

/*
 * Appends the one column sql selects (data or target) of sub's row to
 * out, from the read cache under tag when it is there.
 */
static int read_column(struct store *s, const struct store_rev *rev, const char *sub,
		       const char *sql, char tag, struct buf *out)
{
	int64_t gen = atomic_load(&s->gen_deletions);
	size_t sublen = strlen(sub);
	struct entry_key k;
	char tmp[PATH_MAX];
	sqlite3_stmt *st;
	int rc, r = 0;

	if (sublen >= PATH_MAX)
		return -ENAMETOOLONG;
	entry_key(&k, tag, rev, sub, sublen);
	r = store_cache_get_buf(s->cache, k.b, k.len, gen, out);
	if (r != 0)
		return r < 0 ? r : 0;
	st = prep_entry(s, sql, rev, sub, tmp, sizeof(tmp), &r);
	if (!st)
		return r;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		const void *p = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);
		r = n > 0 ? buf_add(out, p, (size_t)n) : 0;
		if (r == 0)
			store_cache_put(s->cache, k.b, k.len, gen, p, n > 0 ? (size_t)n : 0);
	} else {
		r = rc == SQLITE_ROW || rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
	}
	db_reset(st);
	return r;
}

int store_file_data(struct store *s, const struct store_rev *rev, const char *sub,
		    struct buf *out)
{
	return read_column(s, rev, sub,
			   "SELECT data FROM rev_files WHERE rev_id = ? AND dir = ? AND name = ?",
			   'D', out);
}

int store_file_target(struct store *s, const struct store_rev *rev, const char *sub,
		      struct buf *out)
{
	return read_column(s, rev, sub,
			   "SELECT target FROM rev_files WHERE rev_id = ? AND dir = ? AND name = ?",
			   'T', out);
}
