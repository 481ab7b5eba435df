/*
 * charm_store() (SPEC §4.2): writes the stored zip, the tree, or both, from
 * the data charm_open() held, or for a bigger archive by reading the source
 * again, re-hashing every entry against the list charm_open() made (the
 * file may have changed in between: -ESTALE). The stored zip
 * deflates an entry unless charm_open() marked it `stored` (tiny, or its
 * first bytes look random: already compressed data, images), since
 * deflating those costs most of a publish and saves nothing. Extraction
 * works relative to a directory descriptor with O_NOFOLLOW on every
 * component and O_CREAT|O_EXCL on every file, so even an unexpected symlink
 * is never followed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "charm_int.h"
#include "banned.h"

/* One charm_store() pass: the source reader, the zip writer, the tree. */
struct pass {
	const struct charm *c;
	charm_data_cb cb;
	void *cb_ud;
	struct archive *src;
	struct archive *w;
	int root; /* tree_dir, or -1 */
	unsigned char *chunk;
	int out_fd;
	struct buf *out_buf; /* instead of out_fd */
	int out_err;	     /* the first write error on out_fd or out_buf, as -errno */
};

/*
 * The zip writer's output. A write error is recorded and hidden from
 * libarchive, which would otherwise leak its deflate stream when an entry
 * fails half-way (libarchive 3.6); charm_store() returns the recorded error.
 */
static la_ssize_t pass_write(struct archive *a, void *ud, const void *buf, size_t n)
{
	struct pass *st = ud;

	(void)a;
	if (st->out_err == 0)
		st->out_err = st->out_buf ? buf_add(st->out_buf, buf, n) : write_all(st->out_fd, buf, n);
	return (la_ssize_t)n;
}

struct pass_sink {
	struct archive *w;
	int fd;
	uint64_t seen, expect;
	unsigned char *keep; /* with a data callback: the whole entry, when it is small */
};

static int pass_sink_add(void *ctx, const void *p, size_t n)
{
	struct pass_sink *s = ctx;

	if (s->seen + n > s->expect)
		return -ESTALE;
	if (s->keep)
		memcpy(s->keep + s->seen, p, n);
	s->seen += n;
	if (s->w && archive_write_data(s->w, p, n) != (la_ssize_t)n)
		return charm_archive_errno(s->w, true);
	return s->fd >= 0 ? write_all(s->fd, p, n) : 0;
}

/* Opens (creating 0755 if missing) the directory comp below dfd, following no symlink. */
static int tree_subdir(int dfd, const char *comp, int *ret_fd)
{
	int fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && fchmod(fd, 0755) < 0) {
			int r = -errno;
			close(fd);
			return r;
		}
	}
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/*
 * Opens the directory that holds name below root, creating missing ones;
 * *ret_base points at name's last component. 0 or -errno.
 */
static int tree_parent(int root, const char *name, int *ret_fd, const char **ret_base)
{
	char comp[NAME_MAX + 1];
	const char *p = name, *slash;
	int fd = fcntl(root, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	while ((slash = strchr(p, '/'))) {
		size_t len = (size_t)(slash - p);
		int next, r = len <= NAME_MAX ? 0 : -ENAMETOOLONG;
		if (r == 0) {
			memcpy(comp, p, len);
			comp[len] = '\0';
			r = tree_subdir(fd, comp, &next);
		}
		close(fd);
		if (r < 0)
			return r;
		fd = next;
		p = slash + 1;
	}
	*ret_fd = fd;
	*ret_base = p;
	return 0;
}

static int tree_create(int root, const struct charm_entry *e, int *ret_fd)
{
	const char *base = NULL;
	int pfd = -1, fd = -1, r = tree_parent(root, e->name, &pfd, &base);

	if (r < 0)
		return r;
	if (e->type == CE_DIR) {
		r = tree_subdir(pfd, base, &fd);
	} else if (e->type == CE_SYMLINK) {
		struct timespec ts[2] = { { .tv_sec = e->mtime }, { .tv_sec = e->mtime } };
		if (symlinkat(e->target, pfd, base) < 0 ||
		    utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			r = -errno;
	} else {
		fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e->mode);
		if (fd < 0 || fchmod(fd, e->mode) < 0)
			r = -errno;
	}
	close(pfd);
	if (r < 0 || e->type != CE_FILE) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

static int tree_finish_file(int fd, int64_t mtime)
{
	struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
	int r = futimens(fd, ts) < 0 ? -errno : 0;

	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Writes e's zip header, choosing its compression; nothing without a zip writer. */
static int write_header(struct archive *w, const struct charm_entry *e)
{
	struct archive_entry *ae;
	_cleanup_free_ char *dirname = NULL;
	int r = 0;

	if (!w)
		return 0;
	if ((e->type != CE_FILE || e->stored ? archive_write_zip_set_compression_store(w)
					     : archive_write_zip_set_compression_deflate(w)) != ARCHIVE_OK)
		return charm_archive_errno(w, true);
	ae = archive_entry_new();
	if (!ae || (e->type == CE_DIR && asprintf(&dirname, "%s/", e->name) < 0)) {
		archive_entry_free(ae);
		return -ENOMEM;
	}
	archive_entry_copy_pathname(ae, dirname ? dirname : e->name);
	archive_entry_set_filetype(ae, e->type == CE_DIR	   ? AE_IFDIR
				       : e->type == CE_SYMLINK ? AE_IFLNK
							       : AE_IFREG);
	archive_entry_set_perm(ae, e->mode);
	archive_entry_set_mtime(ae, e->mtime, 0);
	archive_entry_set_size(ae, e->type == CE_FILE ? (la_int64_t)e->size : 0);
	if (e->type == CE_SYMLINK)
		archive_entry_copy_symlink(ae, e->target);
	if (archive_write_header(w, ae) < ARCHIVE_WARN)
		r = charm_archive_errno(w, true);
	archive_entry_free(ae);
	return r;
}

/* Copies the held data of e to the zip, the tree and the callback. */
static int pass_held_data(struct pass *st, const struct charm_entry *e, int fd)
{
	struct pass_sink s = { .w = st->w, .fd = fd, .expect = e->size };
	const char *data = st->c->held.data ? st->c->held.data + e->held_at : "";
	int r = e->size ? pass_sink_add(&s, data, (size_t)e->size) : 0;

	if (r == 0 && st->cb && e->size <= CHARM_INLINE_MAX)
		r = st->cb(st->cb_ud, e, data, (size_t)e->size);
	return r;
}

/* Copies the source entry's data to the zip and the tree, re-checking its hash. */
static int pass_data(struct pass *st, const struct charm_entry *e, int fd)
{
	struct pass_sink s = { .w = st->w, .fd = fd, .expect = e->size };
	unsigned char sha[32];
	uint64_t size;
	int r;

	if (st->c->holds)
		return pass_held_data(st, e, fd);
	if (st->cb && e->size <= CHARM_INLINE_MAX)
		s.keep = st->chunk + CHUNK;
	r = charm_stream_data(st->src, st->chunk, pass_sink_add, &s, sha, &size);
	if (r == -EINVAL)
		return -ESTALE;
	if (r == 0 && (size != e->size || memcmp(sha, e->sha256, sizeof(sha)) != 0))
		r = -ESTALE;
	if (r == 0 && s.keep)
		r = st->cb(st->cb_ud, e, s.keep, (size_t)size);
	return r;
}

static int pass_entry(struct pass *st, const struct charm_entry *e)
{
	int fd = -1, r = write_header(st->w, e);

	if (r == 0 && st->root >= 0)
		r = tree_create(st->root, e, &fd);
	if (r == 0 && e->type == CE_FILE)
		r = pass_data(st, e, fd);
	if (fd >= 0) {
		int r2 = tree_finish_file(fd, e->mtime);
		if (r == 0)
			r = r2;
	}
	return r;
}

static int pass_revision(struct pass *st, int revision)
{
	struct charm_entry e = { .name = (char *)"revision", .type = CE_FILE, .mode = 0644,
				 .stored = true };
	char text[16];
	int n = snprintf(text, sizeof(text), "%d", revision), fd = -1, r;

	for (size_t i = 0; i < st->c->n_entries; i++) {
		if (st->c->entries[i].mtime > e.mtime)
			e.mtime = st->c->entries[i].mtime;
	}
	e.size = (uint64_t)n;
	r = write_header(st->w, &e);
	if (r == 0 && st->w && archive_write_data(st->w, text, (size_t)n) != n)
		r = charm_archive_errno(st->w, true);
	if (r == 0 && st->root >= 0)
		r = tree_create(st->root, &e, &fd);
	if (r == 0 && fd >= 0)
		r = write_all(fd, text, (size_t)n);
	if (fd >= 0) {
		int r2 = tree_finish_file(fd, e.mtime);
		if (r == 0)
			r = r2;
	}
	return r;
}

/* The next source entry that charm_open() kept, or NULL at the end. -ESTALE if it differs. */
static int next_source_entry(struct pass *st, size_t idx, bool *ret_end)
{
	struct archive_entry *ae;
	struct strv scratch = { 0 };
	const struct charm_entry *want = idx < st->c->n_entries ? &st->c->entries[idx] : NULL;

	for (;;) {
		_cleanup_free_ char *name = NULL;
		const char *raw;
		int r = archive_read_next_header(st->src, &ae);
		if (r == ARCHIVE_EOF) {
			*ret_end = true;
			return want ? -ESTALE : 0;
		}
		raw = r < ARCHIVE_WARN ? NULL : charm_raw_name(ae);
		r = raw ? charmcheck_name(raw, &scratch, &name) : -ESTALE;
		strv_clear(&scratch);
		if (r < 0)
			return r == -ENOMEM ? r : -ESTALE;
		if (name[0] == '\0' && archive_entry_filetype(ae) == AE_IFDIR)
			continue;
		*ret_end = false;
		return want && strcmp(name, want->name) == 0 ? 0 : -ESTALE;
	}
}

static int pass_entries(struct pass *st)
{
	const struct charm *c = st->c;

	for (size_t i = 0;; i++) {
		bool end = i == c->n_entries;
		int r = c->holds ? 0 : next_source_entry(st, i, &end);
		if (r < 0 || end)
			return r;
		if (charmcheck_is_revision(&c->entries[i]))
			continue;
		r = pass_entry(st, &c->entries[i]);
		if (r < 0)
			return r;
	}
}

static int pass_open(struct pass *st, bool zip, const char *tree_dir, int *src_fd)
{
	uint64_t size;
	int r = st->c->holds ? 0 : charm_source_open(st->c->path, src_fd, &size);

	if (r == 0 && !st->c->holds)
		r = charm_zip_reader(*src_fd, &st->src);
	if (r == -EINVAL)
		r = -ESTALE;
	if (r < 0)
		return r;
	if (zip) {
		st->w = archive_write_new();
		if (!st->w)
			return -ENOMEM;
		if (archive_write_set_format_zip(st->w) != ARCHIVE_OK ||
		    archive_write_set_bytes_in_last_block(st->w, 1) != ARCHIVE_OK ||
		    archive_write_open2(st->w, st, NULL, pass_write, NULL, NULL) != ARCHIVE_OK)
			return charm_archive_errno(st->w, true);
	}
	if (tree_dir) {
		st->root = open(tree_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (st->root < 0)
			return -errno;
	}
	return 0;
}

int charm_store(const struct charm *c, int revision, int zip_fd, const char *tree_dir)
{
	return charm_store_cb(c, revision, zip_fd, tree_dir, NULL, NULL);
}

/* One pass writing to zip_fd or zip (or neither) and tree_dir (or not). */
static int store_pass(const struct charm *c, int revision, int zip_fd, struct buf *zip,
		      const char *tree_dir, charm_data_cb cb, void *ud)
{
	struct pass st = { .c = c, .cb = cb, .cb_ud = ud, .root = -1, .out_fd = zip_fd,
			   .out_buf = zip };
	struct charm_locale loc;
	int src_fd = -1, r;

	if (revision < 0 || (zip_fd < 0 && !zip && !tree_dir))
		return -EINVAL;
	charm_locale_begin(&loc);
	st.chunk = c->holds ? NULL : malloc(CHUNK + CHARM_INLINE_MAX);
	r = st.chunk || c->holds ? pass_open(&st, zip_fd >= 0 || zip, tree_dir, &src_fd) : -ENOMEM;
	if (r == 0)
		r = pass_revision(&st, revision);
	if (r == 0)
		r = pass_entries(&st);
	if (r == 0 && st.w && archive_write_close(st.w) != ARCHIVE_OK)
		r = charm_archive_errno(st.w, true);
	if (st.out_err < 0 && (r == 0 || r == -EIO || r == -ESTALE))
		r = st.out_err;
	archive_write_free(st.w);
	archive_read_free(st.src);
	if (src_fd >= 0)
		close(src_fd);
	if (st.root >= 0)
		close(st.root);
	free(st.chunk);
	charm_locale_end(&loc);
	return r;
}

int charm_store_cb(const struct charm *c, int revision, int zip_fd, const char *tree_dir,
		   charm_data_cb cb, void *ud)
{
	return store_pass(c, revision, zip_fd, NULL, tree_dir, cb, ud);
}

int charm_store_buf(const struct charm *c, int revision, struct buf *zip, charm_data_cb cb,
		    void *ud)
{
	return zip ? store_pass(c, revision, -1, zip, NULL, cb, ud) : -EINVAL;
}
