/*
 * Inode table: two chained hash tables (by number, by path) over the same
 * entries. Numbers are handed out from a counter and never reused while the
 * daemon runs, so a stale number can never name a different node. A
 * detached entry (its path unlinked or replaced) keeps its number until the
 * kernel forgets it, but is no longer found by path.
 *
 * Memory: after an ls -lR the kernel holds hundreds of thousands of nodes,
 * so an entry is one allocation: 46 bytes of fields plus its last path
 * component (one 64-byte malloc chunk for names of up to 9 bytes, 80 for
 * up to 25: each field more would cost 16 bytes an entry for most names).
 * Its full path is its parent's path, "/" and its name; the parent is
 * another entry, shared by all its children, and the path is rebuilt on
 * demand. The two hash tables double when they hold two entries a bucket
 * on average (growing fourfold at one, their buckets were a fifth of the
 * table's memory). What inode_keep() stores, for a few entries only, is
 * in a third table of its own, by number, so that no entry carries a
 * pointer for it.
 *
 * Finding a path does not go through the parent, though: the by-path table
 * is keyed on the hash of the FULL path string, as when entries held whole
 * paths, and a candidate matches when its names, read from the leaf up,
 * spell the query backwards. What happened to a node's parent since (it
 * was forgotten, detached, renamed, or looked up again as a new entry)
 * therefore never changes how the node is found: an object's path is fixed
 * for its lifetime, and the parent pointer only serves to spell it.
 *
 * A parent the kernel does not hold (forgotten while its children are
 * held, or never looked up) is a "phantom": ino 0, kept in the by-path
 * table so that its later children share it, but never reported by
 * inode_find. inode_ref of its path gives it a fresh number, exactly what
 * a new entry would get. An object lives while it has a number or while
 * children point at it (it counts them); when the last reason goes it is
 * freed, and then its parent if that is no longer needed either. So every
 * object without a number has children, and every chain ends in a numbered
 * entry: the tables reach all objects.
 *
 * inode_rename moves the number, lookups and flags of the source to an
 * object at the new path and leaves the source object behind as a phantom
 * (or frees it): the source's children keep their old paths, as before.
 *
 * The parent chain is only read and written under the table's mutex.
 */
#include "config.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "banned.h"

struct inode {
	uint64_t ino; /* 0: a phantom, not in by_ino */
	uint64_t nlookup;
	struct inode *parent; /* NULL for the first component ("" for the root) */
	struct inode *next_ino;
	struct inode *next_path;
	uint32_t children;    /* objects whose parent this is */
	uint8_t flags;	      /* INODE_* */
	uint8_t attached : 1; /* in by_path */
	uint8_t has_kept : 1; /* in by_kept: only while it has a number and a path */
	char name[];	      /* the last component, without '/' */
};

/* What inode_keep() stored for the inode numbered ino. */
struct inode_kept {
	struct inode_kept *next; /* in its by_kept bucket */
	uint64_t ino;
	int64_t gen;
	uint32_t len;
	unsigned char data[];
};

struct inode_table {
	pthread_mutex_t lock;
	uint64_t next;
	size_t nbuckets;
	size_t count; /* objects, phantoms included */
	struct inode **by_ino;
	struct inode **by_path;
	size_t nkept_buckets, nkept;
	struct inode_kept **by_kept;
};

/* Entries a bucket of by_ino and by_path holds on average before they grow. */
#define LOAD_MAX 2

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t hash_add(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

/* FNV-1a of a whole string: inode_number_hint's numbers depend on it. */
static uint64_t hash_str(const char *s)
{
	return hash_add(FNV_OFFSET, s, strlen(s));
}

/*
 * The hash of n's full path without building it. FNV runs from the root
 * down while parents point up, so the chain is reversed in place on the
 * way up and restored on the way down: no allocation, no recursion.
 */
static uint64_t node_hash(struct inode *n)
{
	struct inode *up = NULL, *next;
	uint64_t h = FNV_OFFSET;

	for (; n; n = next) {
		next = n->parent;
		n->parent = up;
		up = n;
	}
	for (n = up, up = NULL; n; n = next) {
		if (up)
			h = hash_add(h, "/", 1);
		h = hash_add(h, n->name, strlen(n->name));
		next = n->parent;
		n->parent = up;
		up = n;
	}
	return h;
}

/* Whether n's path is path[0..len). Names never hold '/', so this is exact. */
static bool node_is(const struct inode *n, const char *path, size_t len)
{
	for (;; n = n->parent) {
		size_t nl = strlen(n->name);

		if (!n->parent)
			return nl == len && memcmp(n->name, path, len) == 0;
		if (nl >= len || path[len - nl - 1] != '/' ||
		    memcmp(path + len - nl, n->name, nl) != 0)
			return false;
		len -= nl + 1;
	}
}

/* A copy of n's full path (caller frees), NULL on ENOMEM. */
static char *node_path(const struct inode *n)
{
	size_t len = 0;
	char *p;

	for (const struct inode *m = n; m; m = m->parent)
		len += strlen(m->name) + (m->parent ? 1 : 0);
	p = malloc(len + 1);
	if (!p)
		return NULL;
	p[len] = '\0';
	for (; n; n = n->parent) {
		size_t nl = strlen(n->name);
		len -= nl;
		memcpy(p + len, n->name, nl);
		if (n->parent)
			p[--len] = '/';
	}
	return p;
}

static struct inode *find_path(struct inode_table *t, const char *path, size_t len)
{
	struct inode *n = t->by_path[hash_add(FNV_OFFSET, path, len) % t->nbuckets];

	for (; n; n = n->next_path)
		if (node_is(n, path, len))
			return n;
	return NULL;
}

static struct inode *find_ino(struct inode_table *t, uint64_t ino)
{
	struct inode *n = t->by_ino[ino % t->nbuckets];

	for (; n && n->ino != ino; n = n->next_ino)
		;
	return n;
}

static void link_path(struct inode_table *t, struct inode *n, uint64_t hash)
{
	size_t b = hash % t->nbuckets;

	n->next_path = t->by_path[b];
	t->by_path[b] = n;
	n->attached = true;
}

/* The link to ino's kept bytes in by_kept (*result NULL when there are none). */
static struct inode_kept **kept_slot(struct inode_table *t, uint64_t ino)
{
	struct inode_kept **pp = &t->by_kept[ino % t->nkept_buckets];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

/* Frees what is kept for n, if anything. */
static void drop_kept(struct inode_table *t, struct inode *n)
{
	struct inode_kept **pp, *k;

	if (!n->has_kept)
		return;
	pp = kept_slot(t, n->ino);
	k = *pp;
	if (k) {
		*pp = k->next;
		free(k);
		t->nkept--;
	}
	n->has_kept = false;
}

static void grow_kept(struct inode_table *t)
{
	size_t nb = t->nkept_buckets * 2;
	struct inode_kept **v = calloc(nb, sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < t->nkept_buckets; i++) {
		struct inode_kept *k = t->by_kept[i];
		while (k) {
			struct inode_kept *next = k->next;
			k->next = v[k->ino % nb];
			v[k->ino % nb] = k;
			k = next;
		}
	}
	free(t->by_kept);
	t->by_kept = v;
	t->nkept_buckets = nb;
}

static void unlink_path(struct inode_table *t, struct inode *n)
{
	struct inode **pp = &t->by_path[node_hash(n) % t->nbuckets];

	for (; *pp; pp = &(*pp)->next_path) {
		if (*pp == n) {
			*pp = n->next_path;
			break;
		}
	}
	n->next_path = NULL;
	n->attached = false;
	drop_kept(t, n);
}

static void link_ino(struct inode_table *t, struct inode *n)
{
	size_t b = n->ino % t->nbuckets;

	n->next_ino = t->by_ino[b];
	t->by_ino[b] = n;
}

/* Takes n's number away (it leaves by_ino); its flags and lookups go too. */
static void unlink_ino(struct inode_table *t, struct inode *n)
{
	struct inode **pp = &t->by_ino[n->ino % t->nbuckets];

	for (; *pp; pp = &(*pp)->next_ino) {
		if (*pp == n) {
			*pp = n->next_ino;
			break;
		}
	}
	drop_kept(t, n);
	n->next_ino = NULL;
	n->ino = 0;
	n->nlookup = 0;
	n->flags = 0;
}

static void grow(struct inode_table *t)
{
	size_t nb = t->nbuckets * 2;
	struct inode **bi = calloc(nb, sizeof(*bi)), **bp = calloc(nb, sizeof(*bp));

	if (!bi || !bp) {
		free(bi);
		free(bp);
		return;
	}
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct inode *n = t->by_ino[i];
		while (n) {
			struct inode *next = n->next_ino;
			n->next_ino = bi[n->ino % nb];
			bi[n->ino % nb] = n;
			n = next;
		}
	}
	/* Phantoms are in by_path only, so it is walked on its own. */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct inode *n = t->by_path[i];
		while (n) {
			struct inode *next = n->next_path;
			size_t b = node_hash(n) % nb;
			n->next_path = bp[b];
			bp[b] = n;
			n = next;
		}
	}
	free(t->by_ino);
	free(t->by_path);
	t->by_ino = bi;
	t->by_path = bp;
	t->nbuckets = nb;
}

/* A new phantom named name[0..nlen) under parent, in no table yet. */
static struct inode *node_new(struct inode_table *t, struct inode *parent, const char *name,
			      size_t nlen)
{
	size_t size = offsetof(struct inode, name) + nlen + 1;
	struct inode *n;

	if (t->count > LOAD_MAX * t->nbuckets)
		grow(t);
	/* Only the name's bytes past the fields, but never less than the struct. */
	n = malloc(size < sizeof(*n) ? sizeof(*n) : size);
	if (!n)
		return NULL;
	memset(n, 0, offsetof(struct inode, name));
	memcpy(n->name, name, nlen);
	n->name[nlen] = '\0';
	n->parent = parent;
	if (parent)
		parent->children++;
	t->count++;
	return n;
}

/* Frees n, then its ancestors, as long as nothing needs them: no number, no children. */
static void release(struct inode_table *t, struct inode *n)
{
	while (n && !n->ino && !n->children) {
		struct inode *parent = n->parent;
		if (n->attached)
			unlink_path(t, n);
		free(n);
		t->count--;
		if (parent)
			parent->children--;
		n = parent;
	}
}

/*
 * The attached object of path[0..len), made a phantom (with any missing
 * ancestors) if there is none. NULL on ENOMEM, with nothing left behind.
 */
static struct inode *obtain(struct inode_table *t, const char *path, size_t len)
{
	struct inode *n, *c;
	size_t end = len, pos, stop;

	/* The longest prefix ending at a '/' (or the whole path) already there. */
	while (!(n = find_path(t, path, end))) {
		while (end > 0 && path[end - 1] != '/')
			end--;
		if (end == 0)
			break;
		end--;
	}
	if (n && end == len)
		return n;
	/* Then the missing components, each under the one before. */
	for (pos = n ? end + 1 : 0;; pos = stop + 1) {
		for (stop = pos; stop < len && path[stop] != '/'; stop++)
			;
		c = node_new(t, n, path + pos, stop - pos);
		if (!c) {
			release(t, n);
			return NULL;
		}
		link_path(t, c, hash_add(FNV_OFFSET, path, stop));
		n = c;
		if (stop == len)
			return n;
	}
}

struct inode_table *inode_table_new(void)
{
	struct inode_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->nbuckets = 4096;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_path = calloc(t->nbuckets, sizeof(*t->by_path));
	t->nkept_buckets = 1024;
	t->by_kept = calloc(t->nkept_buckets, sizeof(*t->by_kept));
	if (!t->by_ino || !t->by_path || !t->by_kept) {
		inode_table_free(t);
		return NULL;
	}
	t->next = INODE_ROOT + 1;
	return t;
}

void inode_table_free(struct inode_table *t)
{
	if (!t)
		return;
	/*
	 * Everything leaves by_path first; then each numbered object loses its
	 * number and release() frees it with every ancestor it was the last
	 * child of. Objects still to be visited keep their number, so nothing
	 * is freed under the walk, and every object has a numbered descendant.
	 */
	for (size_t i = 0; t->by_path && i < t->nbuckets; i++)
		for (struct inode *n = t->by_path[i]; n; n = n->next_path)
			n->attached = false;
	for (size_t i = 0; t->by_ino && i < t->nbuckets; i++) {
		struct inode *n = t->by_ino[i];
		while (n) {
			struct inode *next = n->next_ino;
			drop_kept(t, n);
			n->ino = 0;
			release(t, n);
			n = next;
		}
	}
	free(t->by_ino);
	free(t->by_path);
	free(t->by_kept);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

uint64_t inode_ref(struct inode_table *t, const char *path)
{
	struct inode *n;
	uint64_t ino = 0;

	pthread_mutex_lock(&t->lock);
	n = obtain(t, path, strlen(path));
	if (n) {
		if (!n->ino) {
			n->ino = *path ? t->next++ : INODE_ROOT;
			link_ino(t, n);
		}
		n->nlookup++;
		ino = n->ino;
	}
	pthread_mutex_unlock(&t->lock);
	return ino;
}

uint64_t inode_find(struct inode_table *t, const char *path)
{
	struct inode *n;
	uint64_t ino;

	if (!*path)
		return INODE_ROOT;
	pthread_mutex_lock(&t->lock);
	n = find_path(t, path, strlen(path));
	ino = n ? n->ino : 0;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

char *inode_path(struct inode_table *t, uint64_t ino)
{
	struct inode *n;
	char *p = NULL;

	if (ino == INODE_ROOT)
		return strdup("");
	pthread_mutex_lock(&t->lock);
	n = find_ino(t, ino);
	if (n)
		p = node_path(n);
	pthread_mutex_unlock(&t->lock);
	return p;
}

void inode_forget(struct inode_table *t, uint64_t ino, uint64_t count)
{
	struct inode *n;

	if (ino == INODE_ROOT)
		return;
	pthread_mutex_lock(&t->lock);
	n = find_ino(t, ino);
	if (n) {
		n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
		/* At zero: a phantom if its children still spell paths with it, else gone. */
		if (!n->nlookup) {
			unlink_ino(t, n);
			release(t, n);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

void inode_rename(struct inode_table *t, const char *from, const char *to)
{
	size_t tlen = strlen(to);
	struct inode *n, *old, *dst = NULL;

	pthread_mutex_lock(&t->lock);
	n = find_path(t, from, strlen(from));
	old = find_path(t, to, tlen);
	/* A phantom source is no node; from == to only detaches, as it always did. */
	if (n && (!n->ino || n == old))
		n = NULL;
	if (n) {
		/* Where the number goes: the phantom at to, or a new object there. */
		if (old && !old->ino)
			dst = old;
		else if (old)
			dst = node_new(t, old->parent, old->name, strlen(old->name));
		else
			dst = obtain(t, to, tlen);
		if (!dst)
			goto out; /* ENOMEM: nothing changes */
	}
	if (old && old->ino)
		unlink_path(t, old);
	if (!n)
		goto out;
	if (!dst->attached)
		link_path(t, dst, hash_add(FNV_OFFSET, to, tlen));
	dst->ino = n->ino;
	dst->nlookup = n->nlookup;
	dst->flags = n->flags;
	unlink_ino(t, n);
	link_ino(t, dst);
	release(t, n);
out:
	pthread_mutex_unlock(&t->lock);
}

void inode_detach(struct inode_table *t, const char *path)
{
	struct inode *n;

	pthread_mutex_lock(&t->lock);
	n = find_path(t, path, strlen(path));
	if (n && n->ino)
		unlink_path(t, n);
	pthread_mutex_unlock(&t->lock);
}

bool inode_flag_set(struct inode_table *t, uint64_t ino, unsigned flag, bool on)
{
	struct inode *n;
	bool was = false;

	pthread_mutex_lock(&t->lock);
	n = find_ino(t, ino);
	if (n) {
		was = n->flags & flag;
		n->flags = (uint8_t)(on ? n->flags | flag : n->flags & ~flag);
	}
	pthread_mutex_unlock(&t->lock);
	return was;
}

bool inode_flag_get(struct inode_table *t, uint64_t ino, unsigned flag)
{
	struct inode *n;
	bool on = false;

	pthread_mutex_lock(&t->lock);
	n = find_ino(t, ino);
	if (n)
		on = n->flags & flag;
	pthread_mutex_unlock(&t->lock);
	return on;
}

void inode_keep(struct inode_table *t, uint64_t ino, const void *data, size_t len, int64_t gen)
{
	struct inode_kept *k =
		len <= UINT32_MAX ? malloc(offsetof(struct inode_kept, data) + len) : NULL;
	struct inode *n;

	if (!k)
		return;
	k->ino = ino;
	k->gen = gen;
	k->len = (uint32_t)len;
	memcpy(k->data, data, len);
	pthread_mutex_lock(&t->lock);
	n = ino == INODE_ROOT ? NULL : find_ino(t, ino);
	if (n && n->attached) {
		struct inode_kept **pp;
		drop_kept(t, n);
		if (t->nkept >= t->nkept_buckets)
			grow_kept(t);
		pp = &t->by_kept[ino % t->nkept_buckets];
		k->next = *pp;
		*pp = k;
		t->nkept++;
		n->has_kept = true;
		k = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	free(k);
}

size_t inode_kept(struct inode_table *t, uint64_t ino, void *ret, size_t len, int64_t gen)
{
	struct inode_kept *k;
	size_t got = 0;

	pthread_mutex_lock(&t->lock);
	k = ino == INODE_ROOT ? NULL : *kept_slot(t, ino);
	if (k && k->gen == gen && k->len <= len) {
		memcpy(ret, k->data, k->len);
		got = k->len;
	}
	pthread_mutex_unlock(&t->lock);
	return got;
}

uint64_t inode_number_hint(struct inode_table *t, const char *path)
{
	uint64_t ino = inode_find(t, path);

	/* Bit 62 set, bit 63 clear: never one of the counter's numbers, never 0. */
	return ino ? ino : (hash_str(path) | (1ULL << 62)) & ~(1ULL << 63);
}
