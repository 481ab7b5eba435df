/*
 * Charm archives: reading, validating, fingerprinting and storing the zip
 * files that publish/ receives (SPEC §4.2).
 *
 * Calling sequence:
 *   charm_open(path, &limits, &c, &errors, &warnings)   validate; -EINVAL/-EFBIG with messages
 *   charm_name(c), charm_digest(c), charm_meta(c), charm_config(c)
 *   charm_store(c, revision, zip_fd, tree_dir)          write the stored archive and/or its tree
 *   charm_free(c)
 *
 * A struct charm keeps the validated metadata and entry list in memory, and
 * the entry data of a small archive (charm_holds()); charm_store() writes
 * that, or reads a bigger source archive again. Nothing here
 * is shared between threads; separate charms may be used concurrently.
 */
#ifndef CHARMFS_CHARM_H
#define CHARMFS_CHARM_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"
#include "yamlcfg.h"

struct charm_limits {
	uint64_t max_archive;  /* bytes of the zip itself (1 GiB) */
	uint64_t max_expanded; /* sum of entry sizes (1 GiB) */
	uint64_t max_ratio;    /* expanded / archive size, applied above 1 MiB expanded (100) */
	uint64_t max_entries;  /* number of entries (10,000) */
};

/* The defaults of SPEC §2. */
void charm_limits_default(struct charm_limits *l);

struct charm;

/*
 * Reads and validates the zip at path against every rule of SPEC §4.2
 * except the URL-name match (the caller knows the URLs). On success returns
 * 0 and *ret; warnings (hooks made executable) are appended to warnings. On a
 * rule failure returns -EINVAL, or -EFBIG for a size limit, with one message
 * per problem appended to errors. -EIO/-ENOMEM for system failures.
 */
int charm_open(const char *path, const struct charm_limits *lim, struct charm **ret,
	       struct strv *errors, struct strv *warnings) WUR;
void charm_free(struct charm *c);

/* metadata.yaml's name. */
const char *charm_name(const struct charm *c);
/* "sha256:" + hex of the content digest (SPEC §4.2; doc/internals.md). */
const char *charm_digest(const struct charm *c);
const struct charm_meta *charm_meta(const struct charm *c);
/*
 * Archives of at most this many bytes, whose files hold at most this much
 * data, keep it from charm_open() to charm_free().
 */
#define CHARM_HOLD_MAX (1024 * 1024)
/* Whether c keeps its files' data: charm_store() then never reads the source again. */
bool charm_holds(const struct charm *c);
/* Bytes of disk the extracted tree will take, roughly (entries in 4 KiB blocks). */
uint64_t charm_disk_estimate(const struct charm *c);
/* NULL when the archive has no config.yaml. */
const struct charm_config *charm_config(const struct charm *c);
/* The text of metadata.yaml (config false) or config.yaml (NULL when absent). */
const struct buf *charm_yaml(const struct charm *c, bool config);

/*
 * Writes the stored archive to zip_fd (a fresh, empty file) unless it is -1:
 * a `revision` entry holding the decimal revision first (no newline), then
 * every other entry in archive order with normalised modes (0755/0644,
 * symlinks 0777, known hooks executable). When tree_dir is not NULL, also
 * extracts the same tree (including `revision`) under tree_dir, which must
 * exist and be empty. At least one of the two is asked for.
 * Returns 0 or -errno: -ESTALE when the source is no longer what
 * charm_open() validated (it changed or became unreadable; never when
 * charm_holds(c)), -EIO, -ENOSPC.
 */
int charm_store(const struct charm *c, int revision, int zip_fd, const char *tree_dir) WUR;

/* Files up to this size are handed whole to charm_store_cb()'s callback. */
#define CHARM_INLINE_MAX 32768
struct charm_entry;
typedef int (*charm_data_cb)(void *ud, const struct charm_entry *e, const void *data, size_t len);
/*
 * charm_store(), also calling cb with the data of every file entry of at
 * most CHARM_INLINE_MAX bytes once it is verified (e points into
 * charm_entries()). A callback error ends the store with that error.
 */
int charm_store_cb(const struct charm *c, int revision, int zip_fd, const char *tree_dir,
		   charm_data_cb cb, void *ud) WUR;
/*
 * charm_store_cb() writing the stored archive into zip (appended; its max
 * bounds it: -EFBIG past it) instead of a file, and no tree.
 */
int charm_store_buf(const struct charm *c, int revision, struct buf *zip, charm_data_cb cb,
		    void *ud) WUR;
/* The entries charm_open() kept, in archive order (the root directory left out). */
const struct charm_entry *charm_entries(const struct charm *c, size_t *ret_n);

#endif
