/*
 * Inode table: two chained hash tables (by number, by path) over the same
 * entries. Numbers are handed out from a counter and never reused while the
 * daemon runs, so a stale number can never name a different node. A
 * detached entry (its path unlinked or replaced) keeps its number until the
 * kernel forgets it, but is no longer found by path.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "util.h"
#include "banned.h"

struct inode {
	uint64_t ino;
	uint64_t nlookup;
	unsigned flags;
	bool detached;
	char *path;
	struct inode *next_ino;
	struct inode *next_path;
};

struct inode_table {
	pthread_mutex_t lock;
	uint64_t next;
	size_t nbuckets;
	size_t count;
	struct inode **by_ino;
	struct inode **by_path;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct inode_table *inode_table_new(void)
{
	struct inode_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nbuckets = 4096;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_path = calloc(t->nbuckets, sizeof(*t->by_path));
	if (!t->by_ino || !t->by_path) {
		inode_table_free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->next = INODE_ROOT + 1;
	return t;
}

void inode_table_free(struct inode_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->by_ino && i < t->nbuckets; i++) {
		struct inode *n = t->by_ino[i];
		while (n) {
			struct inode *next = n->next_ino;
			free(n->path);
			free(n);
			n = next;
		}
	}
	free(t->by_ino);
	free(t->by_path);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct inode *find_path(struct inode_table *t, const char *path)
{
	struct inode *n = t->by_path[hash_str(path) % t->nbuckets];

	for (; n; n = n->next_path)
		if (strcmp(n->path, path) == 0)
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

static void unlink_path(struct inode_table *t, struct inode *n)
{
	struct inode **pp = &t->by_path[hash_str(n->path) % t->nbuckets];

	for (; *pp; pp = &(*pp)->next_path) {
		if (*pp == n) {
			*pp = n->next_path;
			break;
		}
	}
	n->next_path = NULL;
	n->detached = true;
}

static void link_path(struct inode_table *t, struct inode *n)
{
	size_t b = hash_str(n->path) % t->nbuckets;

	n->next_path = t->by_path[b];
	t->by_path[b] = n;
	n->detached = false;
}

static void grow(struct inode_table *t)
{
	size_t nb = t->nbuckets * 4;
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
			if (!n->detached) {
				size_t b = hash_str(n->path) % nb;
				n->next_path = bp[b];
				bp[b] = n;
			}
			n = next;
		}
	}
	free(t->by_ino);
	free(t->by_path);
	t->by_ino = bi;
	t->by_path = bp;
	t->nbuckets = nb;
}

uint64_t inode_ref(struct inode_table *t, const char *path)
{
	struct inode *n;
	uint64_t ino = 0;

	pthread_mutex_lock(&t->lock);
	n = find_path(t, path);
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (n)
			n->path = strdup(path);
		if (!n || !n->path) {
			free(n);
			goto out;
		}
		n->ino = *path ? t->next++ : INODE_ROOT;
		if (t->count > t->nbuckets)
			grow(t);
		n->next_ino = t->by_ino[n->ino % t->nbuckets];
		t->by_ino[n->ino % t->nbuckets] = n;
		link_path(t, n);
		t->count++;
	}
	n->nlookup++;
	ino = n->ino;
out:
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
	n = find_path(t, path);
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
		p = strdup(n->path);
	pthread_mutex_unlock(&t->lock);
	return p;
}

void inode_forget(struct inode_table *t, uint64_t ino, uint64_t count)
{
	struct inode *n, **pp;

	if (ino == INODE_ROOT)
		return;
	pthread_mutex_lock(&t->lock);
	n = find_ino(t, ino);
	if (!n)
		goto out;
	n->nlookup = count >= n->nlookup ? 0 : n->nlookup - count;
	if (n->nlookup)
		goto out;
	if (!n->detached)
		unlink_path(t, n);
	for (pp = &t->by_ino[ino % t->nbuckets]; *pp; pp = &(*pp)->next_ino) {
		if (*pp == n) {
			*pp = n->next_ino;
			break;
		}
	}
	free(n->path);
	free(n);
	t->count--;
out:
	pthread_mutex_unlock(&t->lock);
}

void inode_rename(struct inode_table *t, const char *from, const char *to)
{
	struct inode *n, *old;
	char *p = strdup(to);

	if (!p)
		return;
	pthread_mutex_lock(&t->lock);
	old = find_path(t, to);
	if (old)
		unlink_path(t, old);
	n = find_path(t, from);
	if (n) {
		unlink_path(t, n);
		free(n->path);
		n->path = TAKE_PTR(p);
		link_path(t, n);
	}
	pthread_mutex_unlock(&t->lock);
	free(p);
}

void inode_detach(struct inode_table *t, const char *path)
{
	struct inode *n;

	pthread_mutex_lock(&t->lock);
	n = find_path(t, path);
	if (n)
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
		n->flags = on ? n->flags | flag : n->flags & ~flag;
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

uint64_t inode_number_hint(struct inode_table *t, const char *path)
{
	uint64_t ino = inode_find(t, path);

	/* Bit 62 set, bit 63 clear: never one of the counter's numbers, never 0. */
	return ino ? ino : (hash_str(path) | (1ULL << 62)) & ~(1ULL << 63);
}
