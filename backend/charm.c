/*
 * Charm archives (SPEC §4.2): charm_open() reads a published zip once,
 * streaming, with libarchive's seekable zip reader so that the central
 * directory is authoritative (no stray local headers, no garbage
 * accepted). Every entry's data is decompressed in 64 KiB chunks, counted and
 * hashed: sizes declared in headers are not trusted, and reading stops at
 * the first chunk that crosses a limit, so a zip bomb costs at most
 * max_expanded bytes of inflation. metadata.yaml and config.yaml are
 * buffered (at most YAML_MAX_BYTES each), and a small archive's data is held
 * (at most CHARM_HOLD_MAX bytes, see struct charm); otherwise memory is the
 * entry list: at most max_entries names of at most CHARM_NAME_MAX bytes. Name, symlink and tree
 * rules and the digest live in charmcheck.c; one rule needs the raw central
 * directory too, because libarchive reports fifo entries as regular files.
 *
 * charm_store() is in charmstore.c. An entry's `stored` flag (kept
 * uncompressed in the stored zip) is decided here, from a sample of its bytes.
 *
 * The content digest ("sha256:" + 64 lower-case hex digits) is the SHA-256
 * of this byte stream:
 *   for each file and symlink entry of the archive, excluding directory
 *   entries and the top-level `revision` entry, sorted by normalised name
 *   in strcmp() (byte) order:
 *     name      the normalised name (no "./" prefix, no trailing "/")
 *     0x00
 *     mode      the normalised mode as exactly 4 octal ASCII digits:
 *               "0755" or "0644" for files (after known hooks are made
 *               executable), "0777" for symlinks
 *     0x00
 *     hash      32 raw bytes: SHA-256 of the entry's data, or for a
 *               symlink of its target path (no terminator)
 * Directory entries, entry order, mtimes, compression and the `revision`
 * entry do not change it, so a stored archive digests like its source.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "charm.h"
#include "charm_int.h"
#include "charmcheck.h"
#include "banned.h"

#define RATIO_FLOOR (1024 * 1024)
#define SAMPLE_BYTES 4096 /* how much of an entry the compressibility guess looks at */
#define STORE_BELOW 1024 /* entries smaller than this are never deflated (see doc/internals.md) */

/* State of one charm_open() pass. */
struct reader {
	const struct charm_limits *lim;
	struct archive *a;
	uint64_t archive_size;
	uint64_t expanded;
	uint64_t headers;
	unsigned char *chunk;
	struct strv fifos; /* raw names the central directory calls fifos */
	struct buf meta_yaml, config_yaml;
	bool has_meta, has_config;
	struct buf *hold; /* the charm's held bytes while it still holds them, or NULL */
	unsigned char *raw; /* a small archive's bytes, read whole (see read_whole()) */
	struct strv *errors;
	int verdict; /* 0, -EINVAL or -EFBIG: the worst rule failure so far */
};


void charm_limits_default(struct charm_limits *l)
{
	l->max_archive = 1024ull * 1024 * 1024;
	l->max_expanded = 1024ull * 1024 * 1024;
	l->max_ratio = 100;
	l->max_entries = 10000;
}

int charm_archive_errno(struct archive *a, bool writing)
{
	int e = archive_errno(a);

	if (e == ENOMEM)
		return -ENOMEM;
	if (!writing)
		return e == EIO ? -EIO : -EINVAL;
	/* EILSEQ and EINVAL are libarchive's format and programmer errors. */
	if (e > 0 && e != EILSEQ && e != EINVAL)
		return -e;
	return -EIO;
}

static const char *archive_message(struct archive *a)
{
	const char *m = archive_error_string(a);

	return m ? m : "unknown error";
}

static int count_expanded(struct reader *rd, size_t n)
{
	const struct charm_limits *lim = rd->lim;

	rd->expanded += n;
	if (rd->expanded > lim->max_expanded)
		return strv_errf(rd->errors, -EFBIG, NULL, "archive expands to more than %llu bytes",
				 (unsigned long long)lim->max_expanded);
	if (rd->expanded > RATIO_FLOOR &&
	    (unsigned __int128)lim->max_ratio * rd->archive_size < rd->expanded)
		return strv_errf(rd->errors, -EFBIG, NULL,
				 "archive expands to more than %llu times its size of %llu bytes",
				 (unsigned long long)lim->max_ratio,
				 (unsigned long long)rd->archive_size);
	return 0;
}

/*
 * Streams the current entry's data through sink in chunks, hashing it.
 * Returns 0 with the hash and byte count, a sink error, or a libarchive
 * failure mapped by charm_archive_errno() (-EINVAL when reading).
 */
int charm_stream_data(struct archive *a, unsigned char *chunk, data_sink sink, void *ctx,
		      unsigned char ret_sha[32], uint64_t *ret_size)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint64_t size = 0;
	int r = 0;

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		r = -ENOMEM;
	while (r == 0) {
		la_ssize_t n = archive_read_data(a, chunk, CHUNK);
		if (n < 0)
			r = charm_archive_errno(a, false);
		if (n <= 0)
			break;
		size += (uint64_t)n;
		r = sink(ctx, chunk, (size_t)n);
		if (r == 0 && !EVP_DigestUpdate(md, chunk, (size_t)n))
			r = -ENOMEM;
	}
	if (r == 0 && !EVP_DigestFinal_ex(md, ret_sha, NULL))
		r = -ENOMEM;
	EVP_MD_CTX_free(md);
	if (r == 0)
		*ret_size = size;
	return r;
}

static int sha256_of(const char *s, unsigned char out[32])
{
	return EVP_Digest(s, strlen(s), out, NULL, EVP_sha256(), NULL) ? 0 : -ENOMEM;
}

struct open_sink {
	struct reader *rd;
	struct buf *yaml; /* NULL unless the entry is metadata.yaml or config.yaml */
	const char *name;
	uint32_t hist[256]; /* byte counts of the first SAMPLE_BYTES */
	size_t sampled;
};

static void sample_bytes(struct open_sink *s, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n && s->sampled < SAMPLE_BYTES; i++, s->sampled++)
		s->hist[p[i]]++;
}

/*
 * Whether the sample looks incompressible: the chance that two sampled
 * bytes are equal is close to uniform (1/256; English text is near 1/16).
 * sum(c^2) / n^2 < 1.5 / 256 is a second-order entropy above ~7.4 bits/byte.
 */
static bool looks_random(const struct open_sink *s)
{
	uint64_t sq = 0, n = s->sampled;

	if (n < STORE_BELOW)
		return true;
	for (size_t i = 0; i < 256; i++)
		sq += (uint64_t)s->hist[i] * s->hist[i];
	return sq * 256 * 2 < n * n * 3;
}

/* Keeps n more bytes of a file's data, or stops holding any past CHARM_HOLD_MAX. */
static int hold_add(struct reader *rd, const void *p, size_t n)
{
	int r = buf_add(rd->hold, p, n);

	if (r == -EFBIG) {
		buf_free(rd->hold);
		rd->hold = NULL;
		r = 0;
	}
	return r;
}

static int open_sink_add(void *ctx, const void *p, size_t n)
{
	struct open_sink *s = ctx;
	int r = count_expanded(s->rd, n);

	sample_bytes(s, p, n);
	if (r == 0 && s->rd->hold)
		r = hold_add(s->rd, p, n);

	if (r < 0 || !s->yaml)
		return r;
	r = buf_add(s->yaml, p, n);
	if (r == -EFBIG)
		return strv_errf(s->rd->errors, -EFBIG, NULL, "%s is bigger than %d bytes", s->name,
				 YAML_MAX_BYTES);
	return r;
}

/* Records a rule failure (-EINVAL, -EFBIG) and returns 0; other errors pass. */
static int rule(struct reader *rd, int r)
{
	if (r != -EINVAL && r != -EFBIG)
		return r;
	if (rd->verdict != -EFBIG)
		rd->verdict = r;
	return 0;
}

static int fail_unreadable(struct strv *errors, struct archive *a)
{
	int r = charm_archive_errno(a, false);

	return strv_errf(errors, r, NULL, "archive is not a readable zip: %s", archive_message(a));
}

/* Opens the archive file at path read-only. 0, -EINVAL (not a regular file) or -errno. */
int charm_source_open(const char *path, int *ret_fd, uint64_t *ret_size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int r = fstat(fd, &st) < 0 ? -errno : -EINVAL;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

/* A seekable zip reader on fd, or on len bytes at mem when mem is not NULL. */
static int zip_reader(int fd, const void *mem, size_t len, struct archive **ret_a)
{
	struct archive *a = archive_read_new();

	*ret_a = a;
	if (!a)
		return -ENOMEM;
	if (archive_read_support_format_zip_seekable(a) != ARCHIVE_OK ||
	    (mem ? archive_read_open_memory(a, mem, len) : archive_read_open_fd(a, fd, CHUNK)) !=
		    ARCHIVE_OK)
		return charm_archive_errno(a, false);
	return 0;
}

/*
 * Starts a seekable zip reader on fd; *ret_a is set even on failure so the
 * caller can read libarchive's message. 0, -ENOMEM or the mapped failure.
 */
int charm_zip_reader(int fd, struct archive **ret_a)
{
	return zip_reader(fd, NULL, 0, ret_a);
}

/*
 * Reads an archive of at most CHARM_HOLD_MAX bytes whole, in one call
 * when it can: the checks below then parse memory, and what they validate
 * is exactly these bytes (a file that grows meanwhile is read as it was).
 */
static int read_whole(struct reader *rd, int fd)
{
	size_t n = (size_t)rd->archive_size, got = 0;

	rd->raw = malloc(n ? n : 1);
	if (!rd->raw)
		return -ENOMEM;
	while (got < n) {
		ssize_t k = pread(fd, rd->raw + got, n - got, (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	rd->archive_size = got;
	return 0;
}

/*
 * The C.UTF-8 locale object is made once and kept for the life of the
 * process (a locale_t may be used by several threads at once): making and
 * freeing one per archive mapped and unmapped the locale files each time,
 * ~0.15 ms of a publish, and every munmap() interrupted the other CPU.
 */
static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_make(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

void charm_locale_begin(struct charm_locale *l)
{
	(void)pthread_once(&utf8_once, utf8_make);
	l->utf8 = utf8_locale;
	l->old = l->utf8 ? uselocale(l->utf8) : (locale_t)0;
}

void charm_locale_end(struct charm_locale *l)
{
	if (l->utf8)
		uselocale(l->old);
}

const char *charm_raw_name(struct archive_entry *ae)
{
	const char *n = archive_entry_pathname(ae);

	return n ? n : archive_entry_pathname_utf8(ae);
}

static const char *raw_target(struct archive_entry *ae)
{
	const char *t = archive_entry_symlink(ae);

	return t ? t : archive_entry_symlink_utf8(ae);
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Our type for an entry, or -EINVAL with the original juju/charm wording. */
static int entry_type(struct archive_entry *ae, const char *name, const struct strv *fifos,
		      struct strv *errors, enum charm_entry_type *ret)
{
	unsigned type = archive_entry_hardlink(ae) ? 0 : archive_entry_filetype(ae);
	const char *raw = charm_raw_name(ae);
	const char *what;

	if (type == AE_IFREG && fifos->n &&
	    bsearch(&raw, fifos->v, fifos->n, sizeof(*fifos->v), cmp_strp))
		type = AE_IFIFO;
	switch (type) {
	case AE_IFREG:
		*ret = CE_FILE;
		return 0;
	case AE_IFDIR:
		*ret = CE_DIR;
		return 0;
	case AE_IFLNK:
		*ret = CE_SYMLINK;
		return 0;
	case AE_IFIFO:
		what = "file is a named pipe: ";
		break;
	case AE_IFSOCK:
		what = "file is a socket: ";
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		what = "file is a device: ";
		break;
	default:
		what = "file has an unsupported type: ";
		break;
	}
	return charmcheck_complain(errors, -EINVAL, what, name, "");
}

/* metadata.yaml, config.yaml and revision must be regular files. */
static int special_name_rule(const char *name, enum charm_entry_type type, struct strv *errors)
{
	static const char *const names[] = { "metadata.yaml", "config.yaml", "revision" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (type != CE_FILE && strcmp(name, names[i]) == 0)
			return charmcheck_complain(errors, -EINVAL, "", name, " is not a regular file");
	}
	return 0;
}

static int read_symlink(struct reader *rd, struct archive_entry *ae, struct charm_entry *e)
{
	const char *t = raw_target(ae);
	int r;

	if (!t)
		t = "";
	r = count_expanded(rd, strlen(t));
	if (r < 0)
		return r;
	r = charmcheck_symlink(e->name, t, rd->errors);
	if (r < 0)
		return rule(rd, r);
	e->target = strdup(t);
	if (!e->target)
		return -ENOMEM;
	return sha256_of(t, e->sha256);
}

static int read_file_data(struct reader *rd, struct charm_entry *e)
{
	struct open_sink s = { .rd = rd, .name = e->name };
	int r;

	if (strcmp(e->name, "metadata.yaml") == 0) {
		s.yaml = &rd->meta_yaml;
		rd->has_meta = true;
	} else if (strcmp(e->name, "config.yaml") == 0) {
		s.yaml = &rd->config_yaml;
		rd->has_config = true;
	}
	e->held_at = rd->hold ? rd->hold->len : 0;
	r = charm_stream_data(rd->a, rd->chunk, open_sink_add, &s, e->sha256, &e->size);
	e->stored = looks_random(&s);
	return r == -EINVAL ? fail_unreadable(rd->errors, rd->a) : r;
}

static struct charm_entry *new_entry(struct charm *c, size_t *cap)
{
	if (c->n_entries == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		struct charm_entry *v = reallocarray(c->entries, ncap, sizeof(*v));
		if (!v)
			return NULL;
		c->entries = v;
		*cap = ncap;
	}
	memset(&c->entries[c->n_entries], 0, sizeof(*c->entries));
	return &c->entries[c->n_entries++];
}

static int add_entry(struct reader *rd, struct archive_entry *ae, char **name,
		     enum charm_entry_type type, struct charm *c, size_t *cap)
{
	struct charm_entry *e = new_entry(c, cap);

	if (!e)
		return -ENOMEM;
	e->name = TAKE_PTR(*name);
	e->type = type;
	e->mtime = archive_entry_mtime(ae);
	switch (type) {
	case CE_DIR:
		e->mode = 0755;
		return 0;
	case CE_SYMLINK:
		e->mode = 0777;
		return read_symlink(rd, ae, e);
	case CE_FILE:
	default:
		e->mode = (archive_entry_perm(ae) & 0100) ? 0755 : 0644;
		return read_file_data(rd, e);
	}
}

static int read_entry(struct reader *rd, struct archive_entry *ae, struct charm *c, size_t *cap)
{
	_cleanup_free_ char *name = NULL;
	const char *raw = charm_raw_name(ae);
	enum charm_entry_type type = CE_FILE;
	int r;

	if (++rd->headers > rd->lim->max_entries)
		return strv_errf(rd->errors, -EFBIG, NULL, "archive has more than %llu entries",
				 (unsigned long long)rd->lim->max_entries);
	if (!raw)
		return rule(rd, strv_push(rd->errors, "archive has an entry with an unreadable name") < 0
					? -ENOMEM : -EINVAL);
	r = charmcheck_name(raw, rd->errors, &name);
	if (r == 0 && name[0] == '\0') {
		if (archive_entry_filetype(ae) == AE_IFDIR)
			return 0;
		r = charmcheck_complain(rd->errors, -EINVAL, "entry name is empty: ", raw, "");
	}
	if (r == 0)
		r = entry_type(ae, name, &rd->fifos, rd->errors, &type);
	if (r == 0)
		r = special_name_rule(name, type, rd->errors);
	if (r < 0)
		return rule(rd, r);
	return add_entry(rd, ae, &name, type, c, cap);
}

static int read_entries(struct reader *rd, struct charm *c)
{
	struct archive_entry *ae;
	size_t cap = 0;

	for (;;) {
		int r = archive_read_next_header(rd->a, &ae);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN)
			return fail_unreadable(rd->errors, rd->a);
		r = read_entry(rd, ae, c, &cap);
		if (r < 0)
			return r;
	}
}

static int make_hooks_executable(struct charm *c, struct strv *warnings)
{
	for (size_t i = 0; i < c->n_entries; i++) {
		struct charm_entry *e = &c->entries[i];
		if (e->type != CE_FILE || e->mode == 0755 || strncmp(e->name, "hooks/", 6) != 0 ||
		    strchr(e->name + 6, '/') || !meta_is_known_hook(c->meta, e->name + 6))
			continue;
		e->mode = 0755;
		if (charmcheck_complain(warnings, 0, "making ", e->name, " executable in charm") < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse_yaml(struct reader *rd, struct charm *c)
{
	int r;

	if (!rd->has_meta)
		return rule(rd, strv_push(rd->errors, "archive has no metadata.yaml") < 0 ? -ENOMEM
											 : -EINVAL);
	r = rule(rd, meta_parse(rd->meta_yaml.data ? rd->meta_yaml.data : "", rd->meta_yaml.len,
				&c->meta, rd->errors));
	if (r < 0 || !rd->has_config)
		return r;
	return rule(rd, config_parse(rd->config_yaml.data ? rd->config_yaml.data : "",
				     rd->config_yaml.len, &c->config, rd->errors));
}

static int check_contents(struct reader *rd, struct charm *c, struct strv *warnings)
{
	int r = rule(rd, charmcheck_tree(c->entries, c->n_entries, rd->errors));

	if (r == 0)
		r = parse_yaml(rd, c);
	if (r == 0 && c->meta)
		r = make_hooks_executable(c, warnings);
	return r;
}

static int open_archive(struct reader *rd, const char *path, int *fd)
{
	int r = charm_source_open(path, fd, &rd->archive_size);

	if (r == -EINVAL)
		return charmcheck_complain(rd->errors, -EINVAL, "archive is not a regular file: ",
					   path, "");
	if (r < 0)
		return r;
	if (rd->archive_size > rd->lim->max_archive)
		return strv_errf(rd->errors, -EFBIG, NULL,
				 "archive is %llu bytes, over the limit of %llu bytes",
				 (unsigned long long)rd->archive_size,
				 (unsigned long long)rd->lim->max_archive);
	if (rd->archive_size <= CHARM_HOLD_MAX) {
		r = read_whole(rd, *fd);
		if (r < 0)
			return r;
	}
	struct strv nul = { 0 };
	r = rd->raw ? charmcheck_zip_fifos_mem(rd->raw, (size_t)rd->archive_size,
					       rd->lim->max_entries, &rd->fifos, &nul)
		    : charmcheck_zip_fifos(*fd, rd->archive_size, rd->lim->max_entries, &rd->fifos,
					   &nul);
	for (size_t i = 0; r == 0 && i < nul.n; i++)
		r = charmcheck_complain(rd->errors, -EINVAL, "entry name contains a NUL byte: ",
					nul.v[i], "");
	strv_clear(&nul);
	if (r < 0)
		return r;
	if (rd->fifos.n)
		qsort(rd->fifos.v, rd->fifos.n, sizeof(*rd->fifos.v), cmp_strp);
	if (r == 0)
		r = zip_reader(*fd, rd->raw, (size_t)rd->archive_size, &rd->a);
	if (r < 0 && rd->a)
		return fail_unreadable(rd->errors, rd->a);
	return r;
}

int charm_open(const char *path, const struct charm_limits *lim, struct charm **ret,
	       struct strv *errors, struct strv *warnings)
{
	struct reader rd = { .lim = lim, .errors = errors };
	struct charm *c = calloc(1, sizeof(*c));
	struct charm_locale loc;
	int fd = -1, r;

	charm_locale_begin(&loc);
	buf_init(&rd.meta_yaml, YAML_MAX_BYTES);
	buf_init(&rd.config_yaml, YAML_MAX_BYTES);
	rd.chunk = malloc(CHUNK);
	if (!c || !rd.chunk || !(c->path = strdup(path)))
		r = -ENOMEM;
	else
		r = open_archive(&rd, path, &fd);
	if (r == 0 && rd.archive_size <= CHARM_HOLD_MAX) {
		buf_init(&c->held, CHARM_HOLD_MAX);
		rd.hold = &c->held;
	}
	if (r == 0)
		r = read_entries(&rd, c);
	if (r == 0)
		r = check_contents(&rd, c, warnings);
	if (r == 0)
		r = rd.verdict;
	if (r == 0)
		r = charmcheck_digest(c->entries, c->n_entries, c->digest);
	archive_read_free(rd.a);
	free(rd.raw);
	if (fd >= 0)
		close(fd);
	if (r == 0) {
		c->meta_yaml = rd.meta_yaml;
		c->config_yaml = rd.config_yaml;
		c->has_config = rd.has_config;
		c->holds = rd.hold != NULL;
	} else {
		buf_free(&rd.meta_yaml);
		buf_free(&rd.config_yaml);
	}
	strv_clear(&rd.fifos);
	free(rd.chunk);
	charm_locale_end(&loc);
	if (r < 0) {
		charm_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void charm_free(struct charm *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_entries; i++) {
		free(c->entries[i].name);
		free(c->entries[i].target);
	}
	free(c->entries);
	meta_free(c->meta);
	config_free(c->config);
	buf_free(&c->meta_yaml);
	buf_free(&c->config_yaml);
	buf_free(&c->held);
	free(c->path);
	free(c);
}

const struct charm_entry *charm_entries(const struct charm *c, size_t *ret_n)
{
	*ret_n = c->n_entries;
	return c->entries;
}

const struct buf *charm_yaml(const struct charm *c, bool config)
{
	if (config)
		return c->has_config ? &c->config_yaml : NULL;
	return &c->meta_yaml;
}

const char *charm_name(const struct charm *c)
{
	return c->meta->name;
}

const char *charm_digest(const struct charm *c)
{
	return c->digest;
}

bool charm_holds(const struct charm *c)
{
	return c->holds;
}

uint64_t charm_disk_estimate(const struct charm *c)
{
	uint64_t total = 0;

	/* Each entry rounded up to whole 4 KiB blocks, plus one block of metadata. */
	for (size_t i = 0; i < c->n_entries; i++)
		total += (c->entries[i].size + 4095) / 4096 * 4096 + 4096;
	return total;
}

const struct charm_meta *charm_meta(const struct charm *c)
{
	return c->meta;
}

const struct charm_config *charm_config(const struct charm *c)
{
	return c->config;
}
