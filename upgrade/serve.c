/*
 * Releases to serve (serve.h): what STOREDIR/releases holds, as the
 * release publisher protocol's documents and archives. Nothing is kept
 * between calls: each one lists the directory again, so that a version
 * root adds, replaces or removes (through the mount or directly in
 * STOREDIR) is served as it is now. One listing (scan()) is the only
 * definition of what is served; every document and every download goes
 * through it, so the versions document never names a version whose
 * VERSION document or archive is a 404.
 *
 * Everything is opened relative to a descriptor of the directory with
 * O_NOFOLLOW: a symbolic link placed in STOREDIR/releases is never
 * followed out of it. The document text is release.h's encoders'.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "release.h"
#include "serve.h"
#include "banned.h"

struct entry {
	struct release_version v;
	char *name;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

static void entries_free(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].name);
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

static int entries_add(struct entries *e, const struct release_version *v, const char *name)
{
	struct entry *nv;

	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 16;
		nv = realloc(e->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n].v = *v;
	e->v[e->n].name = strdup(name);
	if (!e->v[e->n].name)
		return -ENOMEM;
	e->n++;
	return 0;
}

/* Precedence, then the name: of equal versions, the first by name sorts first. */
static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = release_version_cmp(&x->v, &y->v);

	return c ? c : strcmp(x->name, y->name);
}

static int releases_path(const char *storedir, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", storedir, SERVE_DIR);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* A read descriptor of STOREDIR/releases into *ret, or -1 when it does not exist. */
static int open_releases(const char *storedir, int *ret)
{
	char path[PATH_MAX];
	int r = releases_path(storedir, path, sizeof(path)), fd;

	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno != ENOENT)
		return -errno;
	*ret = fd;
	return 0;
}

/*
 * Whether dfd's entry name is a real directory and, with need_release,
 * holds a regular file `release`.
 */
static bool is_version_dir(int dfd, const char *name, bool need_release)
{
	char rel[NAME_MAX + sizeof("/" SERVE_RELEASE)];
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return false;
	if (!need_release)
		return true;
	snprintf(rel, sizeof(rel), "%s/%s", name, SERVE_RELEASE);
	return fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/*
 * The version directories of STOREDIR/releases into *ret, unsorted: those
 * with a release (need_release), or every real directory with a version's
 * name. A missing directory has none.
 */
static int scan(const char *storedir, bool need_release, struct entries *ret)
{
	struct entries out = { 0 };
	struct release_version v;
	struct dirent *de;
	DIR *d;
	int r, fd;

	r = open_releases(storedir, &fd);
	if (r < 0 || fd < 0) {
		*ret = out;
		return r;
	}
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while (r == 0 && (errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) ||
		    release_version_parse(de->d_name, &v) < 0 ||
		    !is_version_dir(fd, de->d_name, need_release))
			continue;
		r = entries_add(&out, &v, de->d_name);
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	if (r < 0) {
		entries_free(&out);
		return r;
	}
	*ret = out;
	return 0;
}

/*
 * What is served, ascending by precedence: one directory per precedence
 * (the first by name), the highest RELEASE_VERSIONS_MAX of them.
 */
static int served(const char *storedir, struct entries *ret)
{
	struct entries e;
	size_t n = 0, drop;
	int r = scan(storedir, true, &e);

	if (r < 0)
		return r;
	if (e.n)
		qsort(e.v, e.n, sizeof(*e.v), cmp_entry);
	for (size_t i = 0; i < e.n; i++) {
		if (n && release_version_cmp(&e.v[n - 1].v, &e.v[i].v) == 0) {
			free(e.v[i].name);
			continue;
		}
		e.v[n++] = e.v[i];
	}
	e.n = n;
	drop = n > RELEASE_VERSIONS_MAX ? n - RELEASE_VERSIONS_MAX : 0;
	if (drop) {
		for (size_t i = 0; i < drop; i++)
			free(e.v[i].name);
		memmove(e.v, e.v + drop, (n - drop) * sizeof(*e.v));
		e.n = n - drop;
	}
	*ret = e;
	return 0;
}

/* 0 when version is served, else -ENOENT (or -errno of reading the directory). */
static int find_served(const char *storedir, const char *version)
{
	struct entries e;
	int r;

	if (!serve_version_name(version))
		return -ENOENT;
	r = served(storedir, &e);
	if (r < 0)
		return r;
	r = -ENOENT;
	for (size_t i = 0; i < e.n && r < 0; i++)
		if (strcmp(e.v[i].name, version) == 0)
			r = 0;
	entries_free(&e);
	return r;
}

/* ---- names ----------------------------------------------------------------- */

int serve_dir_at(const char *storedir, int *ret_dirfd)
{
	char path[PATH_MAX];
	int r = releases_path(storedir, path, sizeof(path));

	return r < 0 ? r : dir_open_or_make(path, NULL, NULL, ret_dirfd);
}

bool serve_version_name(const char *name)
{
	struct release_version v;

	return release_version_parse(name, &v) == 0;
}

bool serve_file_name(const char *name)
{
	if (name[0] == '.')
		return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
	return strcmp(name, SERVE_RELEASE) == 0 || strcmp(name, SERVE_SIGNATURE) == 0;
}

int serve_version_check(const char *storedir, const char *name, const char *except)
{
	struct release_version v;
	struct entries e;
	size_t others = 0;
	int r;

	if (release_version_parse(name, &v) < 0)
		return -EINVAL;
	r = scan(storedir, false, &e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < e.n && r == 0; i++) {
		if (except && strcmp(e.v[i].name, except) == 0)
			continue;
		others++;
		if (strcmp(e.v[i].name, name) != 0 && release_version_cmp(&e.v[i].v, &v) == 0)
			r = -EEXIST;
	}
	if (r == 0 && others >= RELEASE_VERSIONS_MAX)
		r = -EMLINK;
	entries_free(&e);
	return r;
}

/* ---- documents ---------------------------------------------------------------- */

int serve_versions(const char *storedir, char **ret)
{
	const char **names;
	struct entries e;
	int r = served(storedir, &e);

	if (r < 0)
		return r;
	names = calloc(e.n ? e.n : 1, sizeof(*names));
	if (!names) {
		entries_free(&e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < e.n; i++)
		names[i] = e.v[i].name;
	r = release_format_versions(names, e.n, ret);
	free(names);
	entries_free(&e);
	return r;
}

int serve_latest(const char *storedir, char **ret)
{
	struct entries e;
	int r = served(storedir, &e);

	if (r < 0)
		return r;
	r = e.n ? release_format_latest(e.v[e.n - 1].name, ret) : -ENOENT;
	entries_free(&e);
	return r;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * The signature of the version whose directory is vfd, its white space
 * cut, into *ret: a new string, or NULL when there is none (no file, or
 * only white space in it).
 */
static int read_signature(int vfd, const char *version, char **ret, char *err, size_t errlen)
{
	char text[RELEASE_SIGNATURE_MAX + 2], *s, *end;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd = openat(vfd, SERVE_SIGNATURE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		*ret = NULL;
		return 0;
	}
	if (fd < 0 && errno != ELOOP)
		return errf(err, errlen, -errno, "signature of %s: %s", version, strerror(errno));
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return errf(err, errlen, -EBADMSG, "signature of %s is not a regular file",
			    version);
	}
	while (len < sizeof(text) - 1 && (n = read(fd, text + len, sizeof(text) - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return errf(err, errlen, -e, "signature of %s: %s", version, strerror(e));
		}
		len += (size_t)n;
	}
	close(fd);
	if (len > RELEASE_SIGNATURE_MAX)
		return errf(err, errlen, -EFBIG, "signature of %s is longer than %d bytes", version,
			    RELEASE_SIGNATURE_MAX);
	text[len] = '\0';
	for (s = text; is_space(*s); s++)
		;
	for (end = text + len; end > s && is_space(end[-1]); end--)
		;
	*end = '\0';
	for (const char *p = s; *p; p++)
		if (!is_hex(*p))
			return errf(err, errlen, -EBADMSG, "signature of %s is not hex text",
				    version);
	if (!*s) {
		*ret = NULL;
		return 0;
	}
	*ret = strdup(s);
	return *ret ? 0 : errf(err, errlen, -ENOMEM, "%s", strerror(ENOMEM));
}

/* A read descriptor of version's directory (a served version's). */
static int open_version(const char *storedir, const char *version, int *ret)
{
	int dfd, vfd, r = open_releases(storedir, &dfd);

	if (r < 0)
		return r;
	if (dfd < 0)
		return -ENOENT;
	vfd = openat(dfd, version, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = vfd < 0 ? (errno == ELOOP || errno == ENOTDIR ? -ENOENT : -errno) : 0;
	close(dfd);
	if (r == 0)
		*ret = vfd;
	return r;
}

int serve_upgrade(const char *storedir, const char *version, char **ret, char *err,
		  size_t errlen)
{
	char flist[RELEASE_VERSION_MAX + sizeof("/" SERVE_RELEASE)];
	struct release_upgrade u = { .flist = flist };
	int vfd, r = find_served(storedir, version);

	if (r == 0)
		r = open_version(storedir, version, &vfd);
	if (r < 0)
		return r == -ENOENT ? errf(err, errlen, r, "version %s is not served", version)
				    : errf(err, errlen, r, "%s/%s: %s", SERVE_DIR, version,
					   strerror(-r));
	r = read_signature(vfd, version, &u.signature, err, errlen);
	close(vfd);
	if (r < 0)
		return r;
	snprintf(flist, sizeof(flist), "%s/%s", version, SERVE_RELEASE);
	r = release_format_upgrade(&u, ret);
	free(u.signature);
	if (r < 0)
		return errf(err, errlen, r, "the document of %s: %s", version, strerror(-r));
	return 0;
}

int serve_open_release(const char *storedir, const char *version, int *ret_fd,
		       struct stat *ret_st)
{
	struct stat st;
	int vfd, fd, r = find_served(storedir, version);

	if (r == 0)
		r = open_version(storedir, version, &vfd);
	if (r < 0)
		return r;
	fd = openat(vfd, SERVE_RELEASE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	r = fd < 0 ? (errno == ELOOP ? -ENOENT : -errno) : 0;
	close(vfd);
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r == 0 && !S_ISREG(st.st_mode))
		r = -ENOENT;
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret_st = st;
	return 0;
}
