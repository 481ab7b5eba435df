/*
 * Entry rules and the content digest of charm archives (SPEC §4.2), split
 * from charm.c so that the zip reading there stays readable. Names arrive
 * raw from the archive and leave normalised or refused; the tree check runs
 * on the full list sorted by name (strcmp order), which is also the digest
 * order. Symlink targets are checked twice: lexically from the link's
 * directory (the original juju/charm rule and wording), then by walking the
 * target through the archive's own symlinks the way the kernel would, so a
 * chain of individually harmless links cannot leave the charm either.
 * Nothing here sees entry data; the digest uses the per-entry SHA-256 that
 * charm.c computed while streaming.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "charmcheck.h"
#include "banned.h"

#define SYMLINK_HOPS_MAX 40
#define EOCD_SEARCH (65535 + 22)
#define ZIP_CDH_SIG 0x02014b50u
#define ZIP_EOCD_SIG 0x06054b50u
#define ZIP64_LOC_SIG 0x07064b50u
#define ZIP64_EOCD_SIG 0x06064b50u
/* Room for a path grown by every hop's target. */
#define WALK_MAX ((SYMLINK_HOPS_MAX + 2) * (CHARM_NAME_MAX + 1))

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0);
}

char *charmcheck_quote(const char *s)
{
	struct buf b;

	buf_init(&b, 4 * CHARMCHECK_QUOTE_MAX + 8);
	/* A name past the limit is itself the problem: quote its start only. */
	if (go_quote(&b, s, strlen(s), CHARMCHECK_QUOTE_MAX) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b, NULL);
}

int charmcheck_complain2(struct strv *sv, int r, const char *head, const char *s, const char *mid,
			 const char *t, const char *tail)
{
	_cleanup_free_ char *qs = charmcheck_quote(s);
	_cleanup_free_ char *qt = t ? charmcheck_quote(t) : NULL;

	if (!qs || (t && !qt))
		return -ENOMEM;
	return strv_errf(sv, r, NULL, "%s%s%s%s%s", head, qs, mid, qt ? qt : "", tail);
}

int charmcheck_complain(struct strv *sv, int r, const char *head, const char *s, const char *tail)
{
	return charmcheck_complain2(sv, r, head, s, tail, NULL, "");
}

static const char *text_problem(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);

	if (len > CHARM_ENTRY_MAX)
		return "entry name is too long: ";
	for (size_t i = 0, n; i < len; i += n) {
		uint32_t cp;
		n = utf8_decode(p + i, len - i, &cp);
		if (n == 0)
			return "entry name is not valid UTF-8: ";
		if (is_control(cp))
			return "entry name contains a control character: ";
	}
	return NULL;
}

static const char *component_problem(const char *name)
{
	const char *p = name;

	if (name[0] == '/')
		return "entry name is absolute: ";
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return "entry name escapes the charm: ";
		if (len == 0)
			return "entry name has an empty component: ";
		if (len == 1 && p[0] == '.')
			return "entry name has a \".\" component: ";
		/* charm_store() creates each component in the tree: keep it creatable. */
		if (len > NAME_MAX)
			return "entry name has a component longer than 255 bytes: ";
		if (!slash)
			return NULL;
		p = slash + 1;
	}
}

int charmcheck_name(const char *raw, struct strv *errors, char **ret)
{
	const char *problem = text_problem(raw);
	const char *start = raw;
	size_t len;
	char *name;

	if (problem)
		return charmcheck_complain(errors, -EINVAL, problem, raw, "");
	if (start[0] == '.' && start[1] == '/')
		start += 2;
	len = strlen(start);
	if (len > 0 && start[len - 1] == '/')
		len--;
	name = strndup(start, len);
	if (!name)
		return -ENOMEM;
	if (strcmp(name, ".") == 0)
		name[0] = '\0';
	problem = name[0] ? component_problem(name) : NULL;
	if (problem) {
		free(name);
		return charmcheck_complain(errors, -EINVAL, problem, raw, "");
	}
	*ret = name;
	return 0;
}

/* Does target, read from the directory of the entry name, climb above the root? */
static bool lexically_escapes(const char *name, const char *target)
{
	long depth = 0;
	const char *p;

	for (p = name; (p = strchr(p, '/')); p++)
		depth++;
	for (p = target;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			depth++;
		}
		if (!slash)
			return false;
		p = slash + 1;
	}
}

int charmcheck_symlink(const char *name, const char *target, struct strv *errors)
{
	if (target[0] == '\0')
		return charmcheck_complain(errors, -EINVAL, "symlink ", name, " has an empty target");
	/* symlinkat() refuses targets of PATH_MAX bytes or more (ENAMETOOLONG). */
	if (strlen(target) > CHARM_NAME_MAX || strlen(target) >= PATH_MAX)
		return charmcheck_complain(errors, -EINVAL, "symlink ", name,
					   " has a target that is too long");
	if (target[0] == '/')
		return charmcheck_complain2(errors, -EINVAL, "symlink ", name, " is absolute: ",
					    target, "");
	if (lexically_escapes(name, target))
		return charmcheck_complain2(errors, -EINVAL, "symlink ", name,
					    " links out of charm: ", target, "");
	return 0;
}

bool charmcheck_is_revision(const struct charm_entry *e)
{
	return strcmp(e->name, "revision") == 0;
}

static int cmp_entry_ptr(const void *a, const void *b)
{
	const struct charm_entry *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static int cmp_key_entry(const void *key, const void *elem)
{
	const struct charm_entry *const *e = elem;

	return strcmp(key, (*e)->name);
}

static const struct charm_entry **sort_entries(const struct charm_entry *e, size_t n)
{
	const struct charm_entry **v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = &e[i];
	qsort(v, n, sizeof(*v), cmp_entry_ptr);
	return v;
}

static const struct charm_entry *lookup(const struct charm_entry **v, size_t n, const char *name)
{
	const struct charm_entry **hit = bsearch(name, v, n, sizeof(*v), cmp_key_entry);

	return hit ? *hit : NULL;
}

/* Walks target from the directory cur through the archive's symlinks. */
static int walk_escapes(const struct charm_entry **v, size_t n, char *cur, const char *target,
			bool *ret_escapes)
{
	_cleanup_free_ char *rest = strdup(target);
	size_t pos = 0, hops = 0;

	if (!rest)
		return -ENOMEM;
	*ret_escapes = false;
	while (rest[pos]) {
		char *comp = rest + pos, *slash = strchr(comp, '/');
		size_t len = slash ? (size_t)(slash - comp) : strlen(comp);
		size_t curlen = strlen(cur);
		const struct charm_entry *e;

		pos += len + (slash ? 1 : 0);
		if (len == 0 || (len == 1 && comp[0] == '.'))
			continue;
		if (len == 2 && comp[0] == '.' && comp[1] == '.') {
			char *up = strrchr(cur, '/');
			if (curlen == 0) {
				*ret_escapes = true;
				return 0;
			}
			*(up ? up : cur) = '\0';
			continue;
		}
		if (curlen + len + 2 > WALK_MAX)
			return -ENAMETOOLONG;
		if (curlen)
			cur[curlen++] = '/';
		memcpy(cur + curlen, comp, len);
		cur[curlen + len] = '\0';
		e = lookup(v, n, cur);
		if (!e || e->type != CE_SYMLINK || !e->target)
			continue;
		if (++hops > SYMLINK_HOPS_MAX || e->target[0] == '/')
			return 0;
		cur[curlen ? curlen - 1 : 0] = '\0';
		char *next;
		if (asprintf(&next, "%s/%s", e->target, rest + pos) < 0)
			return -ENOMEM;
		free(rest);
		rest = next;
		pos = 0;
	}
	return 0;
}

static int check_symlink_chain(const struct charm_entry **v, size_t n, const struct charm_entry *e,
			       char *cur, struct strv *errors)
{
	const char *slash = strrchr(e->name, '/');
	size_t dirlen = slash ? (size_t)(slash - e->name) : 0;
	bool escapes;
	int r;

	if (e->target[0] == '/' || lexically_escapes(e->name, e->target))
		return 0;
	memcpy(cur, e->name, dirlen);
	cur[dirlen] = '\0';
	r = walk_escapes(v, n, cur, e->target, &escapes);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		escapes = true;
	if (escapes)
		return charmcheck_complain2(errors, -EINVAL, "symlink ", e->name,
					    " links out of charm: ", e->target, "");
	return 0;
}

/* The first proper prefix of name that is an entry but not a directory. */
static const struct charm_entry *blocking_parent(const struct charm_entry **v, size_t n,
						 const char *name, char *scratch)
{
	for (const char *p = name; (p = strchr(p, '/')); p++) {
		size_t len = (size_t)(p - name);
		memcpy(scratch, name, len);
		scratch[len] = '\0';
		const struct charm_entry *e = lookup(v, n, scratch);
		if (e && e->type != CE_DIR)
			return e;
	}
	return NULL;
}

static int note(int *verdict, int r)
{
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		*verdict = r;
	return 0;
}

int charmcheck_tree(const struct charm_entry *e, size_t n, struct strv *errors)
{
	_cleanup_free_ const struct charm_entry **v = sort_entries(e, n);
	_cleanup_free_ char *scratch = malloc(WALK_MAX);
	int verdict = 0;

	if (!v || !scratch)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct charm_entry *parent;
		if (i > 0 && strcmp(v[i]->name, v[i - 1]->name) == 0) {
			if ((i < 2 || strcmp(v[i]->name, v[i - 2]->name) != 0) &&
			    note(&verdict, charmcheck_complain(errors, -EINVAL, "duplicate entry name: ",
							       v[i]->name, "")))
				return -ENOMEM;
			continue;
		}
		parent = blocking_parent(v, n, v[i]->name, scratch);
		if (parent &&
		    note(&verdict, charmcheck_complain2(errors, -EINVAL, "entry ", v[i]->name,
							" is below ", parent->name,
							", which is not a directory")))
			return -ENOMEM;
		if (v[i]->type == CE_SYMLINK && v[i]->target &&
		    note(&verdict, check_symlink_chain(v, n, v[i], scratch, errors)))
			return -ENOMEM;
	}
	return verdict;
}

static int digest_entry(EVP_MD_CTX *ctx, const struct charm_entry *e)
{
	char mode[8];

	snprintf(mode, sizeof(mode), "%04o", e->mode & 07777);
	if (!EVP_DigestUpdate(ctx, e->name, strlen(e->name) + 1) ||
	    !EVP_DigestUpdate(ctx, mode, strlen(mode) + 1) ||
	    !EVP_DigestUpdate(ctx, e->sha256, sizeof(e->sha256)))
		return -ENOMEM;
	return 0;
}

int charmcheck_digest(const struct charm_entry *e, size_t n, char out[CHARM_DIGEST_LEN])
{
	_cleanup_free_ const struct charm_entry **v = sort_entries(e, n);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned mdlen = 0;
	int r = 0;

	if (!v || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		r = -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (v[i]->type != CE_DIR && !charmcheck_is_revision(v[i]))
			r = digest_entry(ctx, v[i]);
	}
	if (r == 0 && (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != sizeof(md)))
		r = -ENOMEM;
	EVP_MD_CTX_free(ctx);
	if (r < 0)
		return r;
	memcpy(out, "sha256:", 7);
	hex_encode(md, sizeof(md), out + 7);
	return 0;
}

static uint64_t le(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* A zip's bytes: a file, or (mem not NULL) size bytes in memory. */
struct zsrc {
	int fd;
	const unsigned char *mem;
	uint64_t size;
};

static bool pread_all(const struct zsrc *z, void *p, size_t n, uint64_t off)
{
	if (!z->mem)
		return pread(z->fd, p, n, (off_t)off) == (ssize_t)n;
	if (off > z->size || n > z->size - off)
		return false;
	memcpy(p, z->mem + off, n);
	return true;
}

/* The zip64 end record's directory offset and count, when the classic one overflowed. */
static bool zip64_end(const struct zsrc *src, const unsigned char *eocd, uint64_t *off, uint64_t *count)
{
	unsigned char z[56];

	if (le(eocd - 20, 4) != ZIP64_LOC_SIG || !pread_all(src, z, sizeof(z), le(eocd - 12, 8)) ||
	    le(z, 4) != ZIP64_EOCD_SIG)
		return false;
	*count = le(z + 32, 8);
	*off = le(z + 48, 8);
	return true;
}

/* Where the central directory starts and how many records it holds. */
static bool find_central_directory(const struct zsrc *src, uint64_t size, uint64_t *ret_off, uint64_t *ret_count)
{
	size_t n = size < EOCD_SEARCH ? (size_t)size : EOCD_SEARCH;
	_cleanup_free_ unsigned char *tail = malloc(n ? n : 1);
	unsigned char sig[4];
	uint64_t off, count, cdsize, eocd_at;
	size_t i;

	if (!tail || n < 22 || !pread_all(src, tail, n, size - n))
		return false;
	for (i = n - 22; i > 0 && le(tail + i, 4) != ZIP_EOCD_SIG; i--)
		;
	if (le(tail + i, 4) != ZIP_EOCD_SIG)
		return false;
	count = le(tail + i + 10, 2);
	cdsize = le(tail + i + 12, 4);
	off = le(tail + i + 16, 4);
	eocd_at = size - n + i;
	if ((off == 0xffffffffu || count == 0xffffu) && i >= 20 && !zip64_end(src, tail + i, &off, &count))
		return false;
	if ((!pread_all(src, sig, 4, off) || le(sig, 4) != ZIP_CDH_SIG) && cdsize <= eocd_at)
		off = eocd_at - cdsize; /* data prepended to the zip */
	*ret_off = off;
	*ret_count = count;
	return true;
}

static int zip_fifos(const struct zsrc *src, uint64_t size, uint64_t max_entries,
		     struct strv *ret, struct strv *ret_nul)
{
	uint64_t off, count;

	if (!find_central_directory(src, size, &off, &count))
		return 0;
	for (uint64_t k = 0; k < count && k <= max_entries; k++) {
		unsigned char h[46];
		char name[CHARM_NAME_MAX + 1];
		size_t nlen;
		if (!pread_all(src, h, sizeof(h), off) || le(h, 4) != ZIP_CDH_SIG)
			return 0;
		nlen = (size_t)le(h + 28, 2);
		if (nlen <= CHARM_NAME_MAX && pread_all(src, name, nlen, off + 46) &&
		    memchr(name, '\0', nlen)) {
			name[nlen] = '\0';
			if (strv_push(ret_nul, name) < 0)
				return -ENOMEM;
		}
		if (h[5] == 3 && ((le(h + 38, 4) >> 16) & S_IFMT) == S_IFIFO && nlen <= CHARM_NAME_MAX &&
		    pread_all(src, name, nlen, off + 46)) {
			name[nlen] = '\0';
			if (strv_push(ret, name) < 0)
				return -ENOMEM;
		}
		off += 46 + nlen + le(h + 30, 2) + le(h + 32, 2);
	}
	return 0;
}

int charmcheck_zip_fifos(int fd, uint64_t size, uint64_t max_entries, struct strv *ret,
			 struct strv *ret_nul)
{
	const struct zsrc z = { .fd = fd, .size = size };

	return zip_fifos(&z, size, max_entries, ret, ret_nul);
}

int charmcheck_zip_fifos_mem(const void *mem, size_t size, uint64_t max_entries,
			     struct strv *ret, struct strv *ret_nul)
{
	const struct zsrc z = { .fd = -1, .mem = mem, .size = size };

	return zip_fifos(&z, size, max_entries, ret, ret_nul);
}
