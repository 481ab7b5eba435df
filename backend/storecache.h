/*
 * The store's read cache (backend only): recently read rows of the
 * charm store's read paths — a revision of a URL (store_get_rev()), a
 * URL's latest revision (store_latest()), a files/ entry
 * (store_file_get()) and a small file's data or a symlink's target
 * (store_file_data(), store_file_target()) — so that reading the same
 * files again, whether the kernel forgot their inodes or not, needs no
 * SQL.
 *
 * Validity is by generation, the rule of fs/tree.h's kept nodes: a value
 * is put with the generation its caller read BEFORE the query that
 * produced it, and a get names the generation the caller reads now; a
 * value kept with another one is dropped, never returned. The store
 * moves the generations after a change commits and before its call
 * returns (store_read_gen()), so a change is never hidden by a value read
 * before it: at worst a value read meanwhile is dropped too.
 *
 * Keys and values are byte strings chosen by the caller (store.c,
 * storefiles.c). Memory is bounded: at most max_bytes of keys, values and
 * entry headers, the least recently used entries going first; a value
 * larger than a sixteenth of that is never kept.
 *
 * Thread-safety: every function may be called from any thread (one
 * mutex, held for a hash probe and a copy).
 */
#ifndef CHARMFS_STORECACHE_H
#define CHARMFS_STORECACHE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct store_cache;

/* A cache of at most max_bytes. NULL on ENOMEM. */
struct store_cache *store_cache_new(size_t max_bytes);
/* Frees c and everything it keeps; NULL is fine. */
void store_cache_free(struct store_cache *c);

/*
 * Copies the value kept under key[klen] with generation gen into ret[len]
 * and returns its length; 0 when there is none, it was kept with another
 * generation (then it is dropped), or it does not fit in len.
 */
size_t store_cache_get(struct store_cache *c, const void *key, size_t klen, int64_t gen, void *ret,
		       size_t len);
/*
 * Appends the value kept under key[klen] with generation gen to out:
 * 1 when appended, 0 when there is none (as store_cache_get()), -ENOMEM
 * or -EFBIG (out's limit) from buf_add().
 */
int store_cache_get_buf(struct store_cache *c, const void *key, size_t klen, int64_t gen,
			struct buf *out) WUR;
/*
 * Keeps a copy of val[vlen] under key[klen] with generation gen,
 * replacing what was kept there. Keeping is only an optimisation: on
 * ENOMEM, or for a value over the size limit, nothing is kept.
 */
void store_cache_put(struct store_cache *c, const void *key, size_t klen, int64_t gen,
		     const void *val, size_t vlen);
/* Bytes kept now (entry headers included), for tests. */
size_t store_cache_bytes(struct store_cache *c);

#endif
