/*
 * The tree of SPEC §4, one top-level tree at a time. Each top-level name
 * (charms/, publish/, counters/, locks/, backup/, changes/, events, hooks/,
 * packages/) is one file
 * tree_NAME.c that fills a struct tree_ops; the root is tree_root.c. The
 * request layer (fs.c, fsfile.c) resolves a path to a struct node, whose
 * `tree` names those operations, and calls n->tree->op(...): it never
 * looks at what a tree keeps inside a node. tree.c holds the one table of
 * top-level trees (name -> ops) and the helpers they share.
 *
 * A node is small (< 1 KiB): the tree pointer, a tree-local kind, the
 * path it was resolved from and an aligned state area that the tree casts
 * to its own private struct (TREE_STATE(), checked by TREE_STATE_FITS()).
 * Whatever the state needs of the path (a path inside files/, a counter
 * key, a scratch name) is an offset into n->path, never a copy: a node is
 * valid only while the string at n->path is, and node_rebase() points a
 * copied node at another copy of the same path.
 *
 * Revalidation (resolve once per inode). When the kernel looks a path up
 * (LOOKUP) or first uses an inode, the resolved node is kept with the
 * inode (inode.c, inode_keep()), packed by its tree (tree_ops.pack: a
 * charms/ file keeps ~110 bytes of a 544-byte node, ~180 for info and
 * digest; a `grep -r` keeps tens of thousands), and later requests on
 * that inode (getattr, open, setattr, readlink, opendir, and mkdir,
 * create, rmdir, unlink in it as a parent) take it from there
 * (fs_resolve_ino()) instead of resolving again, as tree_cache() allows.
 * READDIRPLUS entries are not kept: an `ls -lR` would otherwise hold a
 * node per entry for as long as the kernel holds the inode; they are kept
 * at their first use instead.
 *
 *   TREE_CACHE_NONE   never kept: re-resolved by every request. Everything
 *                     that changes behind the kernel's back or by the clock:
 *                     publish/ scratch files, locks/ (expiry), counters/
 *                     (other front ends count, rmdir removes keys), backup/
 *                     (snapshots lapse), the events files (they grow), and
 *                     the fixed directories whose resolution costs nothing.
 *   TREE_CACHE_STORE  kept while store_changed_ns() is the value it had
 *                     just before the node was resolved. A stored revision
 *                     and everything under it (its files, files/ entries,
 *                     info, ...) never change once published; what can
 *                     happen to them (a deletion), and every other change
 *                     of charms/ (a publish moves `latest`, adds revisions,
 *                     names, series, users), moves the store's change time.
 *                     So charms/ files are cached with that time and
 *                     re-resolved after any publish, failed publish or
 *                     deletion (its directories and links are not kept:
 *                     the store's own read cache answers them without
 *                     SQL, and an `ls -lR` would keep one per directory).
 *
 * A rename or detach of the inode's path (unlink, rmdir) and its forget
 * drop the kept node too (inode.c). A tree added later picks one of the
 * two answers per node; a tree whose nodes depend on something else must
 * answer TREE_CACHE_NONE until it has a change time of its own.
 *
 * Threads: every function here may be called from any FUSE worker thread
 * at once; nodes are plain values owned by the caller.
 */
#ifndef CHARMFS_TREE_H
#define CHARMFS_TREE_H

#include <limits.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <fuse_lowlevel.h>

#include "scratch.h"
#include "store.h"
#include "storestate.h"
#include "url.h"

/* Cache lifetime of entries and attributes the daemon invalidates itself. */
#define NODE_TIMEOUT 86400.0

struct fs;
struct fh;
struct upgrader;

/* What the daemon is serving from, shared by every tree (fs.h: struct fs). */
struct node_ctx {
	struct store *store;
	struct scratch *scratch;
	uid_t uid;
	gid_t gid;
	/* -o group=NAME: the group that may publish, lock and count (SPEC §2, Access). */
	bool has_group;
	gid_t group;
	unsigned lock_timeout; /* seconds */
	bool stats;            /* count downloads */
	bool test_tasks;       /* -o test_tasks: changes/ctl takes "test" requests */
	struct upgrader *upgrader; /* upgrade/ (upgrade/upgrader.h) */
};

/* Bytes of per-tree state in a node. */
#define NODE_STATE_SIZE 512

struct node {
	const struct tree_ops *tree;
	const char *path; /* what was resolved ("" is the root); held by the caller */
	uint32_t leaf;    /* offset in path of the last component */
	int kind;         /* tree-local: each tree numbers its own kinds */
	int64_t gen;      /* store_changed_ns() just before it was resolved */
	alignas(max_align_t) unsigned char state[NODE_STATE_SIZE];
};
_Static_assert(sizeof(struct node) < 1024, "a resolved node stays under 1 KiB");

/* The tree's private state of n, as type. */
#define TREE_STATE(n, type) ((type *)(void *)(n)->state)
#define TREE_CSTATE(n, type) ((const type *)(const void *)(n)->state)
/* In each tree file: its state type fits a node's state area. */
#define TREE_STATE_FITS(type)                                                        \
	_Static_assert(sizeof(type) <= NODE_STATE_SIZE &&                            \
			       alignof(type) <= alignof(max_align_t),                \
		       #type " fits in struct node's state")

/* The last path component of n ("" for the root). */
static inline const char *node_leaf(const struct node *n)
{
	return n->path + n->leaf;
}

/* Points n, a copy of a node resolved from an equal path string, at path. */
static inline void node_rebase(struct node *n, const char *path)
{
	n->path = path;
}

/* A path split into components: v[i] point into buf, a copy of the path. */
#define TREE_MAX_DEPTH 256
struct comps {
	const char *path;
	char buf[PATH_MAX];
	const char *v[TREE_MAX_DEPTH];
	size_t n;
};

/* Offset of component i in the path that was split. */
static inline uint32_t comps_off(const struct comps *cp, size_t i)
{
	return (uint32_t)(cp->v[i] - cp->buf);
}

enum tree_cache { TREE_CACHE_NONE, TREE_CACHE_STORE };

typedef int (*tree_list_cb)(void *ud, const char *name, mode_t type);

/*
 * The operations of one top-level tree. Every function gets the daemon
 * state and a node its own resolve() filled. NULL means "not supported":
 * the request layer answers as the table at each field says. Return 0 or
 * -errno.
 */
struct tree_ops {
	const char *name; /* top-level name; "" for the root */
	mode_t type;      /* S_IFDIR or S_IFREG: how the root lists it */
	/* Lookups of missing names in this tree may be cached this long. */
	double negative_timeout;

	/* Required. cp->v[0] is the tree's name (cp->n == 0 for the root). -ENOENT: nothing there. */
	int (*resolve)(struct fs *fs, const struct comps *cp, struct node *ret);
	/* Required. Fills what tree_stat() did not preset (it presets uid, gid, nlink 1, mtime). */
	int (*stat)(struct fs *fs, const struct node *n, struct stat *st);
	/* Children in a stable order; dirstate is what opendir set (or NULL). NULL: -ENOTDIR. */
	int (*list)(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb, void *ud);
	/* Optional: state for an open directory, freed by releasedir. */
	int (*opendir)(struct fs *fs, const struct node *n, void **ret_dirstate);
	void (*releasedir)(struct fs *fs, void *dirstate);
	/* Symlink target into target[len]. NULL: -EINVAL. */
	int (*readlink)(struct fs *fs, const struct node *n, char *target, size_t len);
	/* Opens a file: fills *ret (fsfile.h, fh_new()) and fi's cache flags. NULL: -EISDIR. */
	int (*open)(struct fs *fs, const struct node *n, struct fuse_file_info *fi, struct fh **ret);
	/* Creates name in the directory parent. NULL: -EACCES. */
	int (*create)(fuse_req_t req, struct fs *fs, const struct node *parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi, struct fh **ret);
	/* Makes name in parent with mkdir(2)'s mode (-EEXIST is answered already). NULL: -EACCES. */
	int (*mkdir)(fuse_req_t req, struct fs *fs, const struct node *parent, const char *name,
		     mode_t mode);
	/*
	 * Removes the directory n in the directory at ppath; detaches n->path from
	 * its inode and logs its own failures. NULL: -EACCES.
	 */
	int (*rmdir)(fuse_req_t req, struct fs *fs, const struct node *n, const char *ppath);
	/* Removes the file n. NULL: -EACCES. */
	int (*unlink)(struct fs *fs, const struct node *n);
	/* Renames src (at from) into the directory dst_dir as to, with rename2() flags. NULL: -EACCES. */
	int (*rename)(struct fs *fs, uid_t uid, const struct node *src, const struct node *dst_dir,
		      const char *from, const char *to, unsigned flags);
	/* Makes name in parent a symbolic link to target. NULL: -EACCES. */
	int (*symlink)(fuse_req_t req, struct fs *fs, const struct node *parent, const char *name,
		       const char *target);
	/* Makes name in parent a hard link to src (a node of the same tree). NULL: -EACCES. */
	int (*link)(struct fs *fs, const struct node *src, const struct node *parent,
		    const char *name);
	/*
	 * Changes attributes; may re-resolve *n in place; *ret_timeout (preset 0)
	 * is the attribute timeout of the reply. NULL: -EACCES.
	 */
	int (*setattr)(fuse_req_t req, struct fs *fs, struct node *n, const struct stat *attr,
		       int to_set, struct fuse_file_info *fi, double *ret_timeout);

	/* Open files (fsfile.c calls these for handles the tree made). */
	/* A transaction file's request (FH_CTL): reply as SPEC §4, *malformed for EINVAL. */
	int (*request)(fuse_req_t req, struct fs *fs, const struct node *n, const char *data,
		       size_t size, struct buf *reply, bool *malformed);
	/* Attributes of an open file the kernel names (fstat), even when its path is gone. NULL: stat(). */
	int (*fstat)(struct fs *fs, struct fh *h, struct stat *st);
	/* FH_STREAM: size bytes at off into out. */
	int (*read)(struct fs *fs, struct fh *h, uint64_t off, size_t size, struct buf *out);
	/* Writes to a handle that is not FH_CTL; replies itself. NULL: EBADF. */
	void (*write)(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fh *h, const char *data,
		      size_t size, off_t off);
	/* At close; replies itself. NULL: nothing to do, and opens ask for no FLUSH (fsfile.h). */
	void (*flush)(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fh *h);

	/* Caching. */
	/* Entry timeout of n. NULL: NODE_TIMEOUT. */
	double (*entry_timeout)(const struct node *n);
	/* True when n's attributes change without the kernel seeing it (attributes not cached). */
	bool (*attr_volatile)(const struct node *n);
	/* True for directories whose listing the daemon invalidates itself (cache_readdir). */
	bool (*listing_cached)(const struct node *n);
	/* How long a resolved node may be kept (see above). NULL: TREE_CACHE_NONE. */
	enum tree_cache (*cache)(const struct node *n);
	/*
	 * Optional, both or neither: what is kept of a node (tree_pack()).
	 * pack writes what unpack needs of n's state into out[len] and returns
	 * its length, or 0 to keep nothing; unpack gets a node whose tree,
	 * path, leaf and gen are set and whose kind and state are zero, and
	 * rebuilds the rest from data[len] (0, or -EINVAL for bytes it did not
	 * write). NULL: the whole struct node is kept.
	 */
	size_t (*pack)(const struct node *n, void *out, size_t len);
	int (*unpack)(struct node *n, const void *data, size_t len);
};

extern const struct tree_ops tree_root, tree_backup, tree_changes, tree_charms, tree_counters,
	tree_events, tree_hooks, tree_locks, tree_packages, tree_publish, tree_upgrade;

/* The top-level trees, sorted by name (tree.c); tree_root lists them. */
extern const struct tree_ops *const tree_top[];
extern const size_t tree_top_count;

/*
 * Resolves path ("" is the root, else "/a/b", no empty components) into
 * *ret, which points at path. -ENOENT when it names nothing, -ENAMETOOLONG.
 */
int tree_resolve(struct fs *fs, const char *path, struct node *ret);
/* The tree path's first component names (the root's for "" or an unknown name). */
const struct tree_ops *tree_of_path(const char *path);
/*
 * Attributes of n: common fields, then n->tree->stat(). st_ino is left 0
 * (the request layer gives the inode number) unless the tree sets it.
 */
int tree_stat(struct fs *fs, const struct node *n, struct stat *st);
double tree_entry_timeout(const struct node *n);
/* 0 for volatile nodes, else the entry timeout. */
double tree_attr_timeout(const struct node *n);
enum tree_cache tree_cache(const struct node *n);
/*
 * Keeping a node with its inode (fs.c): tree_pack() writes n into
 * out[TREE_PACK_MAX] as its tree packs it (tree_ops.pack; a copy of the
 * node without one) and returns the length, 0 when nothing is to be
 * kept. tree_unpack() rebuilds from data[len] the node that was packed
 * from an equal path string into *ret, pointing at path, with gen:
 * 0, or -EINVAL when data is not a packed node of path's tree.
 */
#define TREE_PACK_MAX sizeof(struct node)
size_t tree_pack(const struct node *n, void *out);
int tree_unpack(const char *path, int64_t gen, const void *data, size_t len, struct node *ret);

/*
 * Ownership (SPEC §2, Access). Everything belongs to the daemon's user
 * (root on a shared host) except scratch files under publish/, which
 * belong to their creator. What the -o group may write (publish/, locks/,
 * counters/ and their control files) has that group and the given mode;
 * without -o group it has the daemon's group and loses the group write
 * bit, so that only the owner writes. Sets st_mode (type | mode), st_gid
 * and, for directories, st_nlink.
 */
void tree_group_mode(const struct fs *fs, struct stat *st, mode_t type_mode);
/* Sets st's three times to ns since the epoch. */
void tree_set_time(struct stat *st, int64_t ns);
/*
 * Names from a store listing (store_list_*, store_lock_list,
 * store_counter_children) as directory entries: pass tree_list_dirs and a
 * struct tree_dirs as the store's callback and its ud; each name reaches
 * cb as prefix + name (prefix may be NULL), type S_IFDIR.
 */
struct tree_dirs {
	tree_list_cb cb;
	void *ud;
	const char *prefix;
};
int tree_list_dirs(void *ud, const char *name);
/* Lists a real directory relative to dirfd (sorted, without . and ..) through cb. */
int tree_list_real(int dirfd, const char *real, tree_list_cb cb, void *ud);
/* Parses a non-negative decimal without leading zeros ("0" itself is fine). */
bool tree_parse_rev(const char *s, int *ret);
/* "~user" with a valid user. */
bool tree_is_user(const char *s);

/* Cross-tree notices (each in the tree that owns the paths). */
/* tree_charms.c: invalidates what a publish to urls (revision, or -1 after a failure) changed. */
void charms_invalidate_publish(struct fs *fs, const struct url *urls, size_t n, int revision);
struct notify_batch;
/* tree_locks.c: adds u's entry under locks/ (taken or released) to b. */
void locks_invalidate(struct notify_batch *b, const struct url *u);

#endif
