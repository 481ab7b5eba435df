/*
 * The charm store: revisions of charm URLs, their archives and trees,
 * publishing, deletion and the event log (SPEC §4.1–§4.3). All SQL stays
 * behind this interface (and db.h), so that another database can replace
 * SQLite without touching fs/. Front ends reach the store's locks and
 * counters through storestate.h; its database and counter log are for
 * backend/ only (store_int.h).
 *
 * STOREDIR layout:
 *   charmfs.db          SQLite database (WAL)
 *   charmfs.lock        held (flock) by the running daemon, naming its pid;
 *                       shared by charmfs --check
 *   blobs/SHA256.charm  stored archives, one per distinct SHA-256
 *   trees/SHA256/       the extracted tree of each stored archive
 *   tmp/                work in progress; emptied at start
 *   scratch/            publish/ scratch files; emptied at start
 *   packages/NAME/charm/  the deployed tree of package NAME (a copy of its
 *                       revision's tree; remade from the store when missing)
 *   packages/NAME/state/  the package's hook state (0700); a backup copies it
 *   releases/VERSION/   the releases served under /releases/ (upgrade/serve.h);
 *                       a backup copies it
 *   (a package's row, settings, status, ports and log are in the database)
 *
 * Thread-safety: every function may be called from any thread. Publishes
 * are serialised among themselves; reads never wait for them.
 */
#ifndef CHARMFS_STORE_H
#define CHARMFS_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "charm.h"
#include "lock.h"
#include "url.h"
#include "util.h"

struct store;

struct store_opts {
	struct charm_limits limits;
	bool sync_full;  /* fsync blobs and use synchronous=FULL */
	bool read_only;  /* --check: never write */
	unsigned lock_timeout; /* seconds a publish's own URL locks last (600) */
	unsigned prune_age;    /* seconds a ready change is kept (86400); at most 500 are */
};

void store_opts_default(struct store_opts *o);

/*
 * Opens STOREDIR (creating it on first use) and takes its daemon lock.
 * -EBUSY when another charmfs holds it; -EPROTO for a newer schema. A
 * message for the user goes to err. The lock file names the calling
 * process: open the store in the process that will serve it (after any
 * fork). With read_only (--check), nothing is created, migrated or
 * written: the lock is shared instead (-EBUSY while a daemon holds it, and
 * a daemon is refused while it is shared) and the database must have this
 * charmfs's schema version (-EPROTO otherwise).
 */
int store_open(const char *dir, const struct store_opts *o, struct store **ret, char *err,
	       size_t errlen) WUR;
void store_close(struct store *s);

/*
 * The store's change engine (engine.h: changes/, SPEC §4.8), opened with
 * the store and stopped, with the store's own task kind (extract-tree)
 * registered: modules register theirs on it (engine_add_handler()), then
 * the daemon calls store_start(). It prunes ready changes itself
 * (prune_age). NULL for a store opened read-only. Any thread.
 */
struct engine *store_engine(struct store *s);
/*
 * Starts the engine's runner, which resumes the work a previous daemon
 * left Do or Doing. Once, from the thread that opened the store, after
 * every task kind is registered. 0, -EBUSY (started already), -errno.
 */
int store_start(struct store *s) WUR;
/*
 * The store's event hooks (evhook.h: hooks/, SPEC §4.7): fs/ serves their
 * folders and the daemon's handler runs them. Never NULL after store_open().
 */
struct evhooks *store_evhooks(struct store *s);

/* STOREDIR as an absolute path. */
const char *store_dir(const struct store *s);

/* The directory under which publish/ scratch files live (STOREDIR/scratch). */
const char *store_scratch_dir(const struct store *s);

/* Time of the most recent change to the store (ns since the epoch). */
int64_t store_changed_ns(const struct store *s);
/* Time of the newest event (ns since the epoch). */
int64_t store_events_ns(const struct store *s);

/* ---- reading ------------------------------------------------------------ */

typedef int (*store_name_cb)(void *ud, const char *name);

/* Users ("" excluded) that have at least one revision, sorted. */
int store_list_users(struct store *s, store_name_cb cb, void *ud) WUR;
/* Series with at least one revision for user ("" = no user), sorted. */
int store_list_series(struct store *s, const char *user, store_name_cb cb, void *ud) WUR;
/* Charm names with at least one revision for user/series, sorted. */
int store_list_names(struct store *s, const char *user, const char *series, store_name_cb cb,
		     void *ud) WUR;
/* Revisions of u, ascending, into a new array (caller frees). -ENOENT when none. */
int store_list_revisions(struct store *s, const struct url *u, int **ret, size_t *ret_n) WUR;
/* Highest stored revision of u; -ENOENT when none. */
int store_latest(struct store *s, const struct url *u, int *ret) WUR;

struct store_rev {
	int revision;
	char sha256[65];
	char digest[160];
	uint64_t size;
	int64_t published_ns;
	int64_t id;            /* the stored revision's row */
	bool in_db;            /* its files/ (with metadata.yaml) are in the database */
	bool has_config;       /* with in_db: there is a config.yaml */
	uint64_t meta_size, config_size;
};

/* One revision of u; -ENOENT when u has no such revision. */
int store_get_rev(struct store *s, const struct url *u, int revision, struct store_rev *ret) WUR;
/*
 * An entry of a revision's files/ kept in the database (rev must have in_db).
 * The revision's metadata.yaml and config.yaml are the entries of those names.
 */
enum { STORE_FILE_REG = 0, STORE_FILE_DIR = 1, STORE_FILE_LINK = 2 };
struct store_file {
	int kind;
	unsigned mode;     /* as stored: 0644/0755 files, 0755 directories, 0777 symlinks */
	uint64_t size;     /* file bytes, or the symlink target's length */
	bool inline_data;  /* the file's data is in the database (store_file_data()) */
};
/* The entry at sub ("a/b"; "" is files/ itself). -ENOENT when there is none. */
int store_file_get(struct store *s, const struct store_rev *rev, const char *sub,
		   struct store_file *ret) WUR;
typedef int (*store_file_cb)(void *ud, const char *name, int kind);
/* Lists the directory sub in name order; a callback error stops and is returned. */
int store_file_list(struct store *s, const struct store_rev *rev, const char *sub,
		    store_file_cb cb, void *ud) WUR;
/* Appends the inline data of the file at sub, or the target of the symlink at sub, to out. */
int store_file_data(struct store *s, const struct store_rev *rev, const char *sub,
		    struct buf *out) WUR;
int store_file_target(struct store *s, const struct store_rev *rev, const char *sub,
		      struct buf *out) WUR;
/*
 * Makes sure the extracted tree of the archive with this SHA-256 exists
 * (trees are made by a publish's extract-tree task after it returns, or
 * on first need, here). 0 or -errno.
 */
int store_tree_ready(struct store *s, const char *sha256) WUR;
/* Paths of a stored archive and its extracted tree. */
void store_blob_path(const struct store *s, const char *sha256, char *out, size_t len);
void store_tree_path(const struct store *s, const char *sha256, char *out, size_t len);
/*
 * Where the file sub ("" for the tree itself) of the extracted tree of the
 * archive with this SHA-256 is, for the *at() calls: *ret_dirfd (the
 * store's trees/ directory, held open while the store is) and rel, the
 * path relative to it. An entry name of CHARM_ENTRY_MAX bytes fits in
 * PATH_MAX however long the store's own path is. -ENAMETOOLONG when rel
 * does not fit in len. Any thread.
 */
int store_tree_at(const struct store *s, const char *sha256, const char *sub, int *ret_dirfd,
		  char *rel, size_t len) WUR;

/* ---- events --------------------------------------------------------------- */

/* Bytes in the events file of u (NULL: the whole store's). */
int store_events_size(struct store *s, const struct url *u, uint64_t *ret) WUR;
/*
 * Appends to out the bytes [off, off+len) of the events file of u (NULL:
 * all). Lines are immutable once written, so successive reads of a growing
 * file are consistent.
 */
int store_events_read(struct store *s, const struct url *u, uint64_t off, size_t len,
		      struct buf *out) WUR;

/* ---- changing --------------------------------------------------------------- */

struct store_publish_req {
	const char *path;       /* the archive to publish */
	const struct url *urls; /* target URLs, without revision */
	size_t n_urls;
	const char *digest;     /* NULL: the content digest */
	const char *lock_id;    /* a lock the publisher holds, or NULL */
	uid_t uid;              /* the publisher, recorded in the event */
};

/*
 * Publishes an archive (SPEC §4.2): validates it, assigns the revision,
 * stores the archive, records the event and a change of kind "publish"
 * (tasks validate, store, extract-tree) in one transaction; durable on
 * return. The tree is made after the return by the change's extract-tree
 * task, when a file needs it (then the change becomes ready), or on first
 * need (store_tree_ready()).
 * The URLs' update locks are held while it runs (taken here, or, with
 * lock_id, held by the caller already).
 * Returns 0 and *ret_revision; -EINVAL/-EFBIG (bad archive; a publish-error
 * event and a publish change in Error, the problems in its validate
 * task's log, are recorded), -EEXIST (redundant: nothing stored, no event), -EBUSY
 * (a URL is locked by another: nothing stored, no event), -ENOSPC/-EIO.
 * Messages are appended to errors.
 */
int store_publish(struct store *s, const struct store_publish_req *req, int *ret_revision,
		  struct strv *errors) WUR;

/*
 * Deletes one revision of u (revision >= 0) or all of them (-1). Archives
 * and trees no other URL references are removed; uid (the caller) goes into the
 * `deleted` event, recorded with a ready change of kind "delete" (one task,
 * delete) in the deletion's transaction. -ENOENT when nothing matched.
 */
int store_delete(struct store *s, const struct url *u, int revision, uid_t uid) WUR;

/*
 * Takes update locks (mkdir in locks/, locks/ctl) as lock_take() does,
 * treating URLs a publish is storing right now as held (-EEXIST).
 */
int store_lock_take(struct store *s, const struct url *urls, size_t n, const struct lock_holder *h,
		    unsigned timeout, char ret_id[LOCK_ID_LEN + 1], struct strv *taken_over) WUR;

/* ---- checking ------------------------------------------------------------ */

/*
 * Verifies the store (charmfs --check): database integrity, every
 * referenced archive present with its SHA-256 and its tree present.
 * Problems go to problems, leftovers of interrupted work to notes. With
 * repair, fixes what can be fixed (recreates a missing tree from its
 * archive, removes leftovers). Returns 0 when no problem remains.
 */
int store_check(struct store *s, bool repair, struct strv *problems, struct strv *notes) WUR;

#endif
