/*
 * Releases, part three: release archives (SPEC §4.9). release_archive_read()
 * streams a tar (plain or gzip) or zip archive once with libarchive and
 * extracts into a fresh staging directory only what a release may hold:
 * charms/[~user/]series/name.charm, packages.json, migrate/pre and
 * migrate/post, and the directories leading to them.
 *
 * The archive is hostile until read: the limits are the charm limits
 * (struct charm_limits: archive size, entries, bytes expanded, expansion
 * ratio above 1 MiB), counted on the bytes really decompressed, chunk by
 * chunk, never on declared sizes; names are checked before anything is
 * created, every file is created with O_EXCL|O_NOFOLLOW under a directory
 * this function made, and no link of any kind is ever created, so nothing
 * can land outside the staging directory. Reading stops at the first
 * problem and the staging directory is removed again. Sparse entries are
 * refused: libarchive does not materialise a trailing hole, so the file
 * would not be what the archive declares (and no release needs one). Duplicate names are
 * found at the end (the sorted name list), and a duplicate file already
 * fails its O_EXCL create.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "release.h"
#include "url.h"
#include "banned.h"

#define CHUNK (64 * 1024)
#define RATIO_FLOOR (1024 * 1024)
#define NAME_MAX_BYTES 1024
#define SCRIPT_MAX (16 * 1024 * 1024)

enum kind { K_DIR, K_CHARM, K_PACKAGES, K_PRE, K_POST };

struct reader {
	const struct charm_limits *lim;
	struct archive *a;
	const char *staging;
	uint64_t archive_size, expanded, headers;
	unsigned char *chunk;
	struct strv seen;
	struct strv *errors;
	struct release_contents *c;
	size_t charms_cap;
};

static int complain(struct reader *rd, int r, const char *name, const char *what)
{
	char q[4 * 128 + 8];

	return strv_errf(rd->errors, r, NULL, "release entry %s %s",
			 go_quote_fixed(q, sizeof(q), name, strlen(name), 128), what);
}

static int archive_fail(struct reader *rd)
{
	const char *m = archive_error_string(rd->a);
	int e = archive_errno(rd->a);
	int r = e == ENOMEM ? -ENOMEM : e == EIO ? -EIO : -EINVAL;

	return strv_errf(rd->errors, r, NULL, "release archive is not a readable tar or zip: %s",
			 m ? m : "unknown error");
}

static int count_expanded(struct reader *rd, size_t n)
{
	const struct charm_limits *lim = rd->lim;

	rd->expanded += n;
	if (rd->expanded > lim->max_expanded)
		return strv_errf(rd->errors, -EFBIG, NULL,
				 "release archive expands to more than %llu bytes",
				 (unsigned long long)lim->max_expanded);
	if (rd->expanded > RATIO_FLOOR &&
	    (unsigned __int128)lim->max_ratio * rd->archive_size < rd->expanded)
		return strv_errf(rd->errors, -EFBIG, NULL,
				 "release archive expands to more than %llu times its size of %llu bytes",
				 (unsigned long long)lim->max_ratio,
				 (unsigned long long)rd->archive_size);
	return 0;
}

/* Strips "./" and, for a directory, a trailing "/"; refuses unsafe names. */
static int normalise(struct reader *rd, const char *raw, bool dir, char *out, size_t outlen)
{
	size_t n;

	if (!raw || !*raw)
		return complain(rd, -EINVAL, "", "has no name");
	n = strnlen(raw, NAME_MAX_BYTES + 1);
	if (n > NAME_MAX_BYTES || n >= outlen)
		return complain(rd, -EINVAL, raw, "has too long a name");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f || raw[i] == '\\')
			return complain(rd, -EINVAL, raw, "has a control character or backslash");
	if (raw[0] == '/')
		return complain(rd, -EINVAL, raw, "is an absolute path");
	if (raw[0] == '.' && raw[1] == '/')
		raw += 2, n -= 2;
	if (dir && n && raw[n - 1] == '/')
		n--;
	if (n == 0)
		return dir ? (out[0] = 0, 0) : complain(rd, -EINVAL, raw, "has no name");
	memcpy(out, raw, n);
	out[n] = 0;
	for (const char *p = out;;) {
		size_t len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return complain(rd, -EINVAL, raw, "has an empty, \".\" or \"..\" component");
		if (!p[len])
			break;
		p += len + 1;
	}
	return 0;
}

/* charms/[~user/]series/name.charm: the URL into url[URL_STR_MAX]. */
static bool charm_url(const char *name, char *url)
{
	char copy[NAME_MAX_BYTES + 1], *parts[4];
	size_t n = 0, len;
	struct url u;

	snprintf(copy, sizeof(copy), "%s", name);
	for (char *p = copy; n < 4;) {
		parts[n++] = p;
		p = strchr(p, '/');
		if (!p)
			break;
		*p++ = 0;
	}
	if (strcmp(parts[0], "charms") || (n != 3 && n != 4) || strchr(parts[n - 1], '/'))
		return false;
	if (n == 4 && parts[1][0] != '~')
		return false;
	len = strlen(parts[n - 1]);
	if (len <= 6 || strcmp(parts[n - 1] + len - 6, ".charm"))
		return false;
	parts[n - 1][len - 6] = 0;
	if (url_from_parts(n == 4 ? parts[1] + 1 : NULL, parts[n - 2], parts[n - 1], &u) < 0)
		return false;
	url_format(&u, url, URL_STR_MAX);
	return true;
}

/* A directory that leads to release content. */
static bool allowed_dir(const char *name)
{
	char copy[NAME_MAX_BYTES + 1], *a, *b;

	if (!*name || !strcmp(name, "charms") || !strcmp(name, "migrate"))
		return true;
	if (strncmp(name, "charms/", 7))
		return false;
	snprintf(copy, sizeof(copy), "%s", name + 7);
	a = copy;
	b = strchr(a, '/');
	if (b)
		*b++ = 0;
	if (a[0] == '~')
		return url_valid_user(a + 1) && (!b || url_valid_series(b));
	return !b && url_valid_series(a);
}

static int classify(struct reader *rd, const char *name, unsigned type, char *url,
		    enum kind *ret)
{
	if (type == AE_IFDIR) {
		if (!allowed_dir(name))
			return complain(rd, -EINVAL, name, "is not a directory a release may hold");
		*ret = K_DIR;
		return 0;
	}
	if (type != AE_IFREG)
		return complain(rd, -EINVAL, name,
				type == AE_IFLNK		      ? "is a symbolic link"
				: type == AE_IFIFO		      ? "is a named pipe"
				: type == AE_IFSOCK		      ? "is a socket"
				: type == AE_IFCHR || type == AE_IFBLK ? "is a device"
								       : "has an unsupported type");
	if (!strcmp(name, "packages.json"))
		*ret = K_PACKAGES;
	else if (!strcmp(name, "migrate/pre"))
		*ret = K_PRE;
	else if (!strcmp(name, "migrate/post"))
		*ret = K_POST;
	else if (charm_url(name, url))
		*ret = K_CHARM;
	else
		return complain(rd, -EINVAL, name,
				"is not charms/[~user/]series/name.charm, packages.json or migrate/{pre,post}");
	return 0;
}

static int staged_path(struct reader *rd, const char *name, struct buf *b)
{
	buf_init(b, 4096);
	if (buf_addf(b, "%s/%s", rd->staging, name) < 0)
		return complain(rd, -ENAMETOOLONG, name, "makes too long a path");
	return 0;
}

/* mkdir -p of the parent of the file at path (inside the staging directory). */
static int make_parent(struct reader *rd, const char *name, const char *path)
{
	char dir[4096 + 1];
	char *slash;
	int r;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	r = mkdir_p(dir);
	return r < 0 ? complain(rd, r, name, strerror(-r)) : 0;
}

/* Streams the entry's data into fd (fd < 0: into mem, bounded by memmax). */
static int copy_data(struct reader *rd, const char *name, int fd, struct buf *mem,
		     uint64_t filemax)
{
	uint64_t size = 0;

	for (;;) {
		la_ssize_t n = archive_read_data(rd->a, rd->chunk, CHUNK);
		int r;
		if (n < 0)
			return archive_fail(rd);
		if (n == 0)
			return 0;
		size += (uint64_t)n;
		r = count_expanded(rd, (size_t)n);
		if (r < 0)
			return r;
		if (size > filemax)
			return complain(rd, -EFBIG, name, "is too large");
		if (fd >= 0)
			r = write_all(fd, rd->chunk, (size_t)n);
		else
			r = buf_add(mem, rd->chunk, (size_t)n);
		if (r == -EFBIG)
			return complain(rd, r, name, "is too large");
		if (r < 0)
			return complain(rd, r, name, strerror(-r));
	}
}

static int add_charm(struct reader *rd, const char *url, char *path)
{
	struct release_contents *c = rd->c;

	if (c->n_charms == rd->charms_cap) {
		size_t cap = rd->charms_cap ? 2 * rd->charms_cap : 8;
		struct release_charm *v = realloc(c->charms, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->charms = v;
		rd->charms_cap = cap;
	}
	c->charms[c->n_charms].url = strdup(url);
	if (!c->charms[c->n_charms].url)
		return -ENOMEM;
	c->charms[c->n_charms++].path = path;
	return 0;
}

static int read_packages(struct reader *rd, const char *name)
{
	char err[512];
	struct buf mem;
	int r;

	if (rd->c->has_packages)
		return complain(rd, -EINVAL, name, "is in the archive twice");
	buf_init(&mem, RELEASE_PACKAGES_DOC_MAX);
	r = copy_data(rd, name, -1, &mem, RELEASE_PACKAGES_DOC_MAX);
	if (r == 0) {
		r = release_parse_packages(mem.data, mem.len, &rd->c->packages, err, sizeof(err));
		if (r == -EBADMSG)
			r = strv_errf(rd->errors, -EINVAL, NULL, "%s", err);
		rd->c->has_packages = r == 0;
	}
	buf_free(&mem);
	return r;
}

static int extract_file(struct reader *rd, const char *name, enum kind kind, const char *url)
{
	struct buf path;
	mode_t mode = kind == K_CHARM ? 0644 : 0755;
	int fd, r = staged_path(rd, name, &path);

	if (r == 0)
		r = make_parent(rd, name, path.data);
	if (r < 0)
		goto out;
	fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		r = complain(rd, errno == EEXIST ? -EINVAL : -errno, name,
			     errno == EEXIST ? "is in the archive twice" : strerror(errno));
		goto out;
	}
	r = fchmod(fd, mode) < 0 ? complain(rd, -errno, name, strerror(errno)) : 0;
	if (r == 0)
		r = copy_data(rd, name, fd, NULL, kind == K_CHARM ? rd->lim->max_archive : SCRIPT_MAX);
	if (close(fd) < 0 && r == 0)
		r = complain(rd, -errno, name, strerror(errno));
	if (r < 0)
		goto out;
	if (kind == K_CHARM) {
		r = add_charm(rd, url, path.data);
		if (r == 0)
			path.data = NULL;
	} else {
		char **slot = kind == K_PRE ? &rd->c->migrate_pre : &rd->c->migrate_post;
		*slot = TAKE_PTR(path.data);
	}
out:
	buf_free(&path);
	return r;
}

static int read_entry(struct reader *rd, struct archive_entry *ae)
{
	char name[NAME_MAX_BYTES + 1], url[URL_STR_MAX];
	const char *raw = archive_entry_pathname(ae);
	unsigned type = archive_entry_filetype(ae);
	enum kind kind;
	int r;

	if (!raw)
		raw = archive_entry_pathname_utf8(ae);
	if (++rd->headers > rd->lim->max_entries)
		return strv_errf(rd->errors, -EFBIG, NULL, "release archive has more than %llu entries",
				 (unsigned long long)rd->lim->max_entries);
	if (archive_entry_hardlink(ae))
		return complain(rd, -EINVAL, raw ? raw : "", "is a hard link");
	r = normalise(rd, raw, type == AE_IFDIR, name, sizeof(name));
	if (r == 0)
		r = classify(rd, name, type, url, &kind);
	if (r < 0)
		return r;
	if (archive_entry_size_is_set(ae) && archive_entry_size(ae) > 0 &&
	    (uint64_t)archive_entry_size(ae) > rd->lim->max_expanded)
		return complain(rd, -EFBIG, name, "is larger than the expansion limit");
	if (archive_entry_sparse_count(ae) > 0)
		return complain(rd, -EINVAL, name, "is a sparse file");
	r = strv_push(&rd->seen, name);
	if (r < 0)
		return r;
	switch (kind) {
	case K_DIR: {
		struct buf path;
		r = staged_path(rd, name, &path);
		if (r == 0 && (r = mkdir_p(path.data)) < 0)
			r = complain(rd, r, name, strerror(-r));
		buf_free(&path);
		return r;
	}
	case K_PACKAGES:
		return read_packages(rd, name);
	default:
		return extract_file(rd, name, kind, url);
	}
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int check_duplicates(struct reader *rd)
{
	if (rd->seen.n < 2)
		return 0;
	qsort(rd->seen.v, rd->seen.n, sizeof(*rd->seen.v), cmp_strp);
	for (size_t i = 1; i < rd->seen.n; i++)
		if (!strcmp(rd->seen.v[i - 1], rd->seen.v[i]))
			return complain(rd, -EINVAL, rd->seen.v[i], "is in the archive twice");
	return 0;
}

static int read_all(struct reader *rd, int fd)
{
	struct archive_entry *ae;
	int r;

	rd->a = archive_read_new();
	rd->chunk = malloc(CHUNK);
	if (!rd->a || !rd->chunk)
		return -ENOMEM;
	if (archive_read_support_filter_gzip(rd->a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(rd->a) != ARCHIVE_OK ||
	    archive_read_support_format_zip_seekable(rd->a) != ARCHIVE_OK ||
	    archive_read_open_fd(rd->a, fd, CHUNK) != ARCHIVE_OK)
		return archive_fail(rd);
	for (;;) {
		r = archive_read_next_header(rd->a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return archive_fail(rd);
		r = read_entry(rd, ae);
		if (r < 0)
			return r;
	}
	return check_duplicates(rd);
}

int release_archive_read(const char *path, const struct charm_limits *lim,
			 const char *staging_dir, struct release_contents *ret,
			 struct strv *errors)
{
	struct release_contents c = { 0 };
	struct reader rd = { .lim = lim, .staging = staging_dir, .errors = errors, .c = &c };
	struct stat st;
	int r, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return strv_errf(errors, -errno, NULL, "%s: %s", path, strerror(errno));
	errno = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = errno;
		r = strv_errf(errors, r ? -r : -EINVAL, NULL, "%s: %s", path,
			      r ? strerror(r) : "not a regular file");
		close(fd);
		return r;
	}
	rd.archive_size = (uint64_t)st.st_size;
	if (rd.archive_size > lim->max_archive) {
		close(fd);
		return strv_errf(errors, -EFBIG, NULL, "release archive is larger than %llu bytes",
				 (unsigned long long)lim->max_archive);
	}
	if (mkdir(staging_dir, 0700) < 0) {
		r = strv_errf(errors, -errno, NULL, "%s: %s", staging_dir, strerror(errno));
		close(fd);
		return r;
	}
	r = read_all(&rd, fd);
	archive_read_free(rd.a);
	free(rd.chunk);
	strv_clear(&rd.seen);
	close(fd);
	if (r < 0) {
		release_contents_free(&c);
		(void)rm_rf(staging_dir);
		return r;
	}
	*ret = c;
	return 0;
}

void release_contents_free(struct release_contents *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_charms; i++) {
		free(c->charms[i].url);
		free(c->charms[i].path);
	}
	free(c->charms);
	release_packages_free(&c->packages);
	free(c->migrate_pre);
	free(c->migrate_post);
	memset(c, 0, sizeof(*c));
}
