/*
 * Shared helpers: message lists, bounded buffers, checked number parsing,
 * time formatting and a few file-system chores. Everything here is
 * thread-safe (no static state) and reports failures as -errno.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "util.h"
#include "banned.h"

int strv_push(struct strv *sv, const char *s)
{
	char **nv = realloc(sv->v, (sv->n + 2) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	sv->v = nv;
	nv[sv->n] = strdup(s);
	if (!nv[sv->n])
		return -ENOMEM;
	sv->n++;
	nv[sv->n] = NULL;
	return 0;
}

int strv_pushf(struct strv *sv, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	r = strv_push(sv, s);
	free(s);
	return r;
}

void strv_clear(struct strv *sv)
{
	if (!sv)
		return;
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

char *strv_join(const struct strv *sv, const char *sep)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	for (size_t i = 0; i < sv->n; i++) {
		if ((i && buf_add(&b, sep, strlen(sep)) < 0) ||
		    buf_add(&b, sv->v[i], strlen(sv->v[i])) < 0) {
			buf_free(&b);
			return NULL;
		}
	}
	if (buf_add(&b, "", 0) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

int errf(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

int strv_verrf(struct strv *sv, int r, const char *prefix, const char *fmt, va_list ap)
{
	char *msg;
	int n;

	if (vasprintf(&msg, fmt, ap) < 0)
		return -ENOMEM;
	n = prefix ? strv_pushf(sv, "%s: %s", prefix, msg) : strv_push(sv, msg);
	free(msg);
	return n < 0 ? n : r;
}

int strv_errf(struct strv *sv, int r, const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r = strv_verrf(sv, r, prefix, fmt, ap);
	va_end(ap);
	return r;
}

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
	if (n > b->max - b->len)
		return -EFBIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *nd = realloc(b->data, cap);
		if (!nd)
			return -ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	r = buf_add(b, s, (size_t)n);
	free(s);
	return r;
}

char *buf_steal(struct buf *b, size_t *ret_len)
{
	char *d = b->data;

	if (!d)
		d = calloc(1, 1);
	if (ret_len)
		*ret_len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

void buf_free(struct buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

int parse_nonneg_int(const char *s, int *ret)
{
	uint64_t v;
	int r = parse_u64(s, &v);

	if (r < 0)
		return r;
	if (v > INT_MAX)
		return -ERANGE;
	*ret = (int)v;
	return 0;
}

void hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void format_rfc3339(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		snprintf(out, 32, "1970-01-01T00:00:00Z");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	struct buf b;
	char tmp[65536];
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf_init(&b, max);
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		r = buf_add(&b, tmp, (size_t)n);
		if (r < 0)
			break;
	}
	close(fd);
	if (r == 0)
		r = buf_add(&b, "", 0);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	*ret = buf_steal(&b, ret_len);
	return 0;
}

int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0) {
		struct stat st;
		if (errno != EEXIST || stat(tmp, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
	}
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) < 0)
		return errno ? -errno : -EIO;
	return 0;
}


int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret)
{
	size_t len;
	uint32_t cp, min;

	if (s[0] < 0x80) {
		*ret = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret = cp;
	return len;
}

bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0, len; i < n; i += len)
		if ((len = utf8_decode(p + i, n - i, &cp)) == 0)
			return false;
	return true;
}

int utf8_repair(const char *s, size_t n, struct buf *out)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n;) {
		uint32_t cp;
		size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);

		r = k ? buf_add(out, s + i, k) : buf_add(out, "\xef\xbf\xbd", 3);
		i += k ? k : 1;
	}
	return r;
}

/*
 * Where quoted text goes: a struct buf, or a fixed array that is cut at a
 * byte. r becomes the buffer's error, or 1 once the array is full, and
 * then every later write is skipped.
 */
struct sink {
	struct buf *b;
	char *out;
	size_t len;
	size_t cap;
	int r;
};

static void sink_add(struct sink *k, const void *p, size_t n)
{
	if (k->r)
		return;
	if (k->b) {
		k->r = buf_add(k->b, p, n);
		return;
	}
	if (n > k->cap - 1 - k->len) {
		n = k->cap - 1 - k->len;
		k->r = 1;
	}
	memcpy(k->out + k->len, p, n);
	k->len += n;
	k->out[k->len] = '\0';
}

static void sink_escape(struct sink *k, char kind, int width, uint32_t v)
{
	char tmp[12];
	int n = snprintf(tmp, sizeof(tmp), "\\%c%0*x", kind, width, (unsigned)v);

	sink_add(k, tmp, (size_t)n);
}

/*
 * Whether Go's strconv.Quote prints the code point as is. This covers the
 * non-printable ranges likely in practice (controls, spaces other than
 * U+0020, format characters, private use, non-characters), not all of
 * Unicode's unassigned code points.
 */
static bool rune_printable(uint32_t cp)
{
	static const uint32_t np[][2] = {
	    {0x80, 0xa0},     {0xad, 0xad},	{0x1680, 0x1680}, {0x2000, 0x200f},
	    {0x2028, 0x202f}, {0x205f, 0x206f}, {0x3000, 0x3000}, {0xe000, 0xf8ff},
	    {0xfeff, 0xfeff}, {0xfff9, 0xfffb}, {0xfffe, 0xffff}, {0xe0000, 0xe007f},
	    {0xf0000, 0x10ffff},
	};

	for (size_t i = 0; i < ARRAY_SIZE(np); i++)
		if (cp >= np[i][0] && cp <= np[i][1])
			return false;
	return true;
}

/* One ASCII byte, escaped as Go does. */
static void quote_ascii(struct sink *k, unsigned char c)
{
	static const char named[] = "\a\b\f\n\r\t\v";
	static const char letter[] = "abfnrtv";
	const char *q = c ? strchr(named, c) : NULL;
	char e[2] = {'\\', (char)c};

	if (c == '"' || c == '\\') {
		sink_add(k, e, 2);
	} else if (c >= 0x20 && c < 0x7f) {
		sink_add(k, &c, 1);
	} else if (q) {
		e[1] = letter[q - named];
		sink_add(k, e, 2);
	} else {
		sink_escape(k, 'x', 2, c);
	}
}

static void quote_into(struct sink *k, const char *s, size_t n, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	sink_add(k, "\"", 1);
	while (i < n && !k->r) {
		uint32_t cp = p[i];
		size_t len = p[i] < 0x80 ? 1 : utf8_decode(p + i, n - i, &cp);

		if (max && i + (len ? len : 1) > max) {
			sink_add(k, "...", 3);
			break;
		}
		if (len == 0)
			sink_escape(k, 'x', 2, p[i]);
		else if (len == 1)
			quote_ascii(k, p[i]);
		else if (rune_printable(cp))
			sink_add(k, p + i, len);
		else if (cp < 0x10000)
			sink_escape(k, 'u', 4, cp);
		else
			sink_escape(k, 'U', 8, cp);
		i += len ? len : 1;
	}
	sink_add(k, "\"", 1);
}

int go_quote(struct buf *out, const char *s, size_t n, size_t max)
{
	struct sink k = {.b = out};

	quote_into(&k, s, n, max);
	return k.r;
}

const char *go_quote_fixed(char *out, size_t size, const char *s, size_t n, size_t max)
{
	struct sink k = {.out = out, .cap = size};

	if (size == 0)
		return out;
	out[0] = '\0';
	quote_into(&k, s, n, max);
	return out;
}

int split_words(const char *line, size_t len, const struct split_rules *rules, char *buf,
		char **ret_v, size_t *ret_n)
{
	bool crlf = rules->flags & SPLIT_CRLF;
	size_t n = 0;
	char *p;

	if (!line)
		line = "";
	if ((rules->flags & SPLIT_LEN_WITH_EOL) && len > rules->max_len)
		return -EMSGSIZE;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (crlf && len > 0 && line[len - 1] == '\r')
		len--;
	if (len > rules->max_len)
		return -EMSGSIZE;
	if (memchr(line, '\0', len))
		return -EILSEQ;
	if (memchr(line, '\n', len) || (crlf && memchr(line, '\r', len)))
		return -EBADMSG;
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (p = buf; *p;) {
		while (*p && strchr(rules->blanks, *p))
			*p++ = '\0';
		if (!*p)
			break;
		if (n < rules->max_words)
			ret_v[n] = p;
		n++;
		while (*p && !strchr(rules->blanks, *p))
			p++;
	}
	*ret_n = n;
	return 0;
}

json_t *json_text(const char *s, size_t n)
{
	struct buf b;
	json_t *v;

	if (utf8_valid(s, n))
		return json_stringn(s, n);
	buf_init(&b, 3 * n + 1);
	v = utf8_repair(s, n, &b) == 0 ? json_stringn(b.data ? b.data : "", b.len) : NULL;
	buf_free(&b);
	return v;
}

static int copy_file_at(int sfd, int dfd, const char *name, mode_t mode)
{
	char chunk[65536];
	int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), out, r = 0;
	ssize_t n;

	if (in < 0)
		return -errno;
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	while ((n = read(in, chunk, sizeof(chunk))) > 0 && r == 0)
		r = write_all(out, chunk, (size_t)n);
	if (n < 0 && r == 0)
		r = -errno;
	if (r == 0 && fchmod(out, mode & 07777) < 0)
		r = -errno;
	close(in);
	if (close(out) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Copies the directory sfd's entries into the existing directory dfd (files, dirs, symlinks). */
static int copy_dir_at(int sfd, int dfd, int depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0, fd = dup(sfd);

	if (fd < 0)
		return -errno;
	if (depth > 64) {
		close(fd);
		return -ELOOP;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (r == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = errno == ENOENT ? 0 : -errno; /* removed meanwhile */
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			r = copy_file_at(sfd, dfd, de->d_name, st.st_mode);
		} else if (S_ISDIR(st.st_mode)) {
			int s2, d2;
			if (mkdirat(dfd, de->d_name, 0700) < 0) {
				r = -errno;
				break;
			}
			s2 = openat(sfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			d2 = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 < 0 || d2 < 0)
				r = -errno;
			else
				r = copy_dir_at(s2, d2, depth + 1);
			if (r == 0 && fchmod(d2, st.st_mode & 07777) < 0)
				r = -errno;
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlinkat(sfd, de->d_name, target, sizeof(target) - 1);
			if (n < 0) {
				r = -errno;
				break;
			}
			target[n] = '\0';
			if (symlinkat(target, dfd, de->d_name) < 0)
				r = -errno;
		} /* sockets, fifos and devices are not copied */
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	return r;
}

int copy_tree(const char *src, const char *dst)
{
	int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC), dfd = -1, r = 0;
	struct stat st;

	if (sfd < 0)
		return -errno;
	if (fstat(sfd, &st) < 0 || mkdir(dst, 0700) < 0)
		r = -errno;
	if (r == 0 && (dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = -errno;
	if (r == 0)
		r = copy_dir_at(sfd, dfd, 0);
	if (r == 0 && fchmod(dfd, st.st_mode & 07777) < 0)
		r = -errno;
	close(sfd);
	if (dfd >= 0)
		close(dfd);
	return r;
}

int dir_open_or_make(const char *path, int (*make)(void *ud), void *ud, int *ret_fd)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC), r;

	if (fd < 0 && errno == ENOENT) {
		r = make ? make(ud) : mkdir_p(path);
		if (r < 0)
			return r;
		fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}
