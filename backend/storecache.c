/*
 * The store's read cache (storecache.h): one chained hash table of
 * entries, each a single allocation holding its key and value, on a
 * doubly linked list in order of use, most recent first. A put past the
 * byte bound frees entries from the tail. A get that finds an entry of
 * another generation frees it at once: generations only move forward, so
 * it can never become valid again.
 *
 * The table has a fixed number of buckets, sized for the entries the
 * bound allows at their smallest (a revision row is ~350 bytes, a files/
 * entry ~100), so chains stay short without ever rehashing.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "storecache.h"
#include "banned.h"

struct entry {
	struct entry *hnext;	   /* hash chain */
	struct entry *prev, *next; /* use order; the list head is c->lru */
	uint64_t hash;
	int64_t gen;
	uint32_t klen, vlen;
	unsigned char kv[]; /* key, then value */
};

struct store_cache {
	pthread_mutex_t lock;
	size_t max_bytes, bytes;
	size_t nbuckets;
	struct entry **buckets;
	struct entry lru; /* sentinel: lru.next is the most recently used */
};

#define ENTRY_MIN_BYTES 128

static uint64_t hash_key(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static size_t entry_bytes(const struct entry *e)
{
	return sizeof(*e) + e->klen + e->vlen;
}

struct store_cache *store_cache_new(size_t max_bytes)
{
	struct store_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max_bytes = max_bytes;
	c->nbuckets = max_bytes / ENTRY_MIN_BYTES + 1;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->lru.next = c->lru.prev = &c->lru;
	return c;
}

void store_cache_free(struct store_cache *c)
{
	if (!c)
		return;
	for (struct entry *e = c->lru.next, *next; e != &c->lru; e = next) {
		next = e->next;
		free(e);
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void lru_unlink(struct entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_push(struct store_cache *c, struct entry *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	c->lru.next->prev = e;
	c->lru.next = e;
}

/* The slot pointing at the entry of key (or at the chain's NULL end). */
static struct entry **slot_of(struct store_cache *c, const void *key, size_t klen, uint64_t h)
{
	struct entry **pp = &c->buckets[h % c->nbuckets];

	for (; *pp; pp = &(*pp)->hnext)
		if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->kv, key, klen) == 0)
			break;
	return pp;
}

/* Unlinks and frees the entry *pp points at. */
static void drop(struct store_cache *c, struct entry **pp)
{
	struct entry *e = *pp;

	*pp = e->hnext;
	lru_unlink(e);
	c->bytes -= entry_bytes(e);
	free(e);
}

/* The valid entry of key, made the most recently used; NULL when none (a stale one is freed). */
static struct entry *lookup(struct store_cache *c, const void *key, size_t klen, int64_t gen)
{
	uint64_t h = hash_key(key, klen);
	struct entry **pp = slot_of(c, key, klen, h);

	if (!*pp)
		return NULL;
	if ((*pp)->gen != gen) {
		drop(c, pp);
		return NULL;
	}
	lru_unlink(*pp);
	lru_push(c, *pp);
	return *pp;
}

size_t store_cache_get(struct store_cache *c, const void *key, size_t klen, int64_t gen, void *ret,
		       size_t len)
{
	struct entry *e;
	size_t got = 0;

	pthread_mutex_lock(&c->lock);
	e = lookup(c, key, klen, gen);
	if (e && e->vlen <= len) {
		memcpy(ret, e->kv + e->klen, e->vlen);
		got = e->vlen;
	}
	pthread_mutex_unlock(&c->lock);
	return got;
}

int store_cache_get_buf(struct store_cache *c, const void *key, size_t klen, int64_t gen,
			struct buf *out)
{
	struct entry *e;
	int r = 0;

	pthread_mutex_lock(&c->lock);
	e = lookup(c, key, klen, gen);
	if (e) {
		r = e->vlen ? buf_add(out, e->kv + e->klen, e->vlen) : 0;
		if (r == 0)
			r = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

void store_cache_put(struct store_cache *c, const void *key, size_t klen, int64_t gen,
		     const void *val, size_t vlen)
{
	uint64_t h = hash_key(key, klen);
	struct entry *e, **pp;

	if (klen + vlen > c->max_bytes / 16 || klen > UINT32_MAX)
		return;
	e = malloc(sizeof(*e) + klen + vlen);
	if (!e)
		return;
	e->hash = h;
	e->gen = gen;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	memcpy(e->kv, key, klen);
	if (vlen)
		memcpy(e->kv + klen, val, vlen);
	pthread_mutex_lock(&c->lock);
	pp = slot_of(c, key, klen, h);
	if (*pp)
		drop(c, pp);
	while (c->bytes + entry_bytes(e) > c->max_bytes && c->lru.prev != &c->lru) {
		struct entry *old = c->lru.prev;
		drop(c, slot_of(c, old->kv, old->klen, old->hash));
	}
	pp = &c->buckets[h % c->nbuckets];
	e->hnext = *pp;
	*pp = e;
	lru_push(c, e);
	c->bytes += entry_bytes(e);
	pthread_mutex_unlock(&c->lock);
}

size_t store_cache_bytes(struct store_cache *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->bytes;
	pthread_mutex_unlock(&c->lock);
	return n;
}
