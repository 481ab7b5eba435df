/*
 * What a path below the mount means. node_resolve() turns a path such as
 * "/charms/~bob/trusty/wordpress/3/files/hooks/install" into a typed node,
 * asking the store whether it exists; node_stat() and node_list() give its
 * attributes and children. No FUSE request state is involved, so every
 * handler resolves the path it is given afresh.
 */
#ifndef CHARMFS_NODE_H
#define CHARMFS_NODE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>

/* Cache lifetime of entries and attributes the daemon invalidates itself. */
#define NODE_TIMEOUT 86400.0

#include "counter.h"
#include "lock.h"
#include "scratch.h"
#include "store.h"
#include "storestate.h"
#include "url.h"

enum node_kind {
	N_ROOT,
	N_EVENTS,     /* /events */
	N_CHARMS,     /* /charms */
	N_CH_USER,    /* /charms/~user */
	N_CH_SERIES,  /* /charms/[~user/]series */
	N_CH_NAME,    /* .../name */
	N_CH_LATEST,  /* .../name/latest */
	N_CH_EVENTS,  /* .../name/events */
	N_CH_REV,     /* .../name/N */
	N_CH_FILE,    /* .../name/N/{archive.charm,metadata.yaml,...} */
	N_CH_TREE,    /* .../name/N/files[/...] */
	N_PUBLISH,    /* /publish */
	N_PUB_CTL,    /* /publish/ctl */
	N_PUB_USER,   /* /publish/~user */
	N_PUB_DIR,    /* /publish/[~user/]series, /publish/incoming */
	N_PUB_FILE,   /* a scratch file in a N_PUB_DIR */
	N_LOCKS,      /* /locks */
	N_LOCK_CTL,   /* /locks/ctl */
	N_LK_USER,    /* /locks/~user */
	N_LK_SERIES,  /* /locks/[~user/]series */
	N_LK_NAME,    /* /locks/[~user/]series/name: a held lock */
	N_LK_FILE,    /* .../name/{id,holder,since,expires} */
	N_CNT_DIR,    /* /counters[/token...]: a counter key */
	N_CNT_FILE,   /* .../counter.{value,total,list,by-day,by-week} */
	N_CNT_INC,    /* .../counter.inc */
	N_CNT_QUERY,  /* .../counter.query */
	N_BACKUP,     /* /backup: the snapshot's root */
	N_BK_ENTRY,   /* a file or directory of the snapshot (sub: its real path) */
};

enum lock_file { LF_EXPIRES, LF_HOLDER, LF_ID, LF_SINCE };

enum counter_file { CF_BY_DAY, CF_BY_WEEK, CF_INC, CF_LIST, CF_QUERY, CF_TOTAL, CF_VALUE };

enum rev_file { RF_ARCHIVE, RF_METADATA, RF_CONFIG, RF_INFO, RF_SHA256, RF_DIGEST, RF_SIZE };

struct node {
	enum node_kind kind;
	struct url url;       /* user, series, name as far as the path goes */
	int revision;         /* N_CH_REV and below */
	enum rev_file file;   /* N_CH_FILE */
	struct store_rev rev; /* N_CH_REV and below */
	struct lock_info lock; /* N_LK_NAME, N_LK_FILE */
	enum lock_file lfile;  /* N_LK_FILE */
	enum counter_file cfile; /* N_CNT_FILE, N_CNT_INC, N_CNT_QUERY */
	size_t n_tokens;         /* N_CNT_*: the key */
	char tokens[COUNTER_MAX_DEPTH][COUNTER_MAX_TOKEN + 1];
	bool incoming;        /* N_PUB_DIR / N_PUB_FILE under publish/incoming */
	char sub[PATH_MAX];   /* N_CH_TREE: path inside files/ ("" for files/ itself);
				 N_PUB_DIR / N_PUB_FILE: the scratch-relative path */
	struct store_file fent; /* N_CH_TREE when rev.in_db: the entry, from the database */
	const char *leaf;     /* last path component (points into the resolved path) */
};

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
};

/* Resolves path ("" is the root). -ENOENT when it names nothing. */
int node_resolve(const struct node_ctx *c, const char *path, struct node *ret);

/* The state trees (nodestate.c): counters/ and locks/, below the root. */
int node_resolve_locks(const struct node_ctx *c, const char *const *v, size_t n,
		       struct node *ret);
int node_stat_locks(const struct node_ctx *c, const struct node *n, struct stat *st);
int node_content_locks(const struct node *n, struct buf *out);

/* backup/ (nodebackup.c). */
int node_resolve_backup(const struct node_ctx *c, const char *const *v, size_t n,
			struct node *ret);
int node_stat_backup(const struct node_ctx *c, const struct node *n, struct stat *st);

/* How long the kernel may cache the entry and attributes of n (seconds). */
double node_entry_timeout(const struct node *n);

/*
 * Ownership (SPEC §2, Access). Everything belongs to the daemon's user
 * (root on a shared host) except scratch files under publish/, which
 * belong to their creator. What the -o group may write (publish/, locks/,
 * counters/ and their control files) has that group and the given mode;
 * without -o group it has the daemon's group and loses the group write
 * bit, so that only the owner writes. node_group_mode() sets st_mode
 * (type | mode) and st_gid accordingly.
 */
void node_group_mode(const struct node_ctx *c, struct stat *st, mode_t type_mode);

/* Attributes of a resolved node (st_ino is left 0 for the caller). */
int node_stat(const struct node_ctx *c, const struct node *n, struct stat *ret);

/* Whether n's content comes from the database (else from a file: node_real_path()). */
bool node_in_db(const struct node *n);
/* Makes sure the tree behind a file node_in_db() says is not in the database exists. */
int node_tree_ready(const struct node_ctx *c, const struct node *n);
/* Content of an N_CH_FILE that node_in_db() says is in the database, into out. */
int node_content(const struct node_ctx *c, const struct node *n, struct buf *out);

/*
 * Where the file behind archive.charm, metadata.yaml, config.yaml and
 * files/... is, for the *at() calls: *ret_dirfd and rel relative to it
 * (store_tree_at()). 0 or -ENAMETOOLONG.
 */
int node_real_at(const struct node_ctx *c, const struct node *n, int *ret_dirfd, char *rel,
		 size_t len) WUR;

/* True for kinds whose attributes change without the kernel seeing it. */
bool node_volatile(const struct node *n);
/*
 * True for directories whose listing changes only by publish and rmdir,
 * which invalidate it (fs.c, invalidate_listings()): the kernel may cache it.
 */
bool node_listing_notified(const struct node *n);

typedef int (*node_list_cb)(void *ud, const char *name, mode_t type);
/* Lists a real directory (sorted, without . and ..) through cb. */
int node_list_real(int dirfd, const char *real, node_list_cb cb, void *ud);
/* Calls cb for each child of a directory node in a stable order. */
int node_list(const struct node_ctx *c, const struct node *n, node_list_cb cb, void *ud);
int node_list_locks(const struct node_ctx *c, const struct node *n, node_list_cb cb, void *ud);
int node_list_backup(const struct node_ctx *c, const struct node *n, node_list_cb cb, void *ud);
int node_resolve_counters(const struct node_ctx *c, const char *const *v, size_t n,
			  struct node *ret);
int node_stat_counters(const struct node_ctx *c, const struct node *n, struct stat *st);
int node_list_counters(const struct node_ctx *c, const struct node *n, node_list_cb cb,
		       void *ud);
/* The generated content of a N_CNT_FILE. */
int node_content_counters(const struct node_ctx *c, const struct node *n, struct buf *out);
/* Fills v with pointers to n's key tokens; returns how many. */
size_t node_tokens(const struct node *n, const char *v[COUNTER_MAX_DEPTH]);

/* For N_PUB_FILE: is the leaf a "*.charm" name in a series directory? */
bool node_publishes(const struct node *n);

#endif
