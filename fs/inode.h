/*
 * The inode table of the FUSE adapter: every node the kernel knows is a
 * path string below the mount ("" is the root, "/charms/trusty" a series
 * directory) with an inode number and a lookup count. Lookups create or
 * find entries; FORGET drops them when the kernel lets go. The table is the
 * only state fs/ keeps about nodes; what a path means is resolved by the
 * trees (tree.h), which may keep a resolved node with its inode
 * (inode_keep()) for later requests on it.
 *
 * Thread-safe (one mutex). Paths returned are copies the caller frees.
 * An entry costs one small allocation (its last path component and a
 * pointer to its parent's entry); see inode.c.
 */
#ifndef CHARMFS_INODE_H
#define CHARMFS_INODE_H

#include <stdbool.h>
#include <stdint.h>

#define INODE_ROOT 1

/* Per-inode flags kept for the adapter: bits of one byte (0x1 to 0x80). */
#define INODE_DIRTY 0x1  /* publish/ file written since its last publish */
#define INODE_STORED 0x2 /* its content was put into the kernel's page cache (fsfile.c) */

struct inode_table;

struct inode_table *inode_table_new(void);
void inode_table_free(struct inode_table *t);

/* Finds or creates the inode of path and adds one lookup. Returns its number, 0 on ENOMEM. */
uint64_t inode_ref(struct inode_table *t, const char *path);
/* The inode number of path if the kernel holds one, else 0. No lookup is added. */
uint64_t inode_find(struct inode_table *t, const char *path);
/* The inode number of path if known, else a stable non-zero one for readdir's d_ino. */
uint64_t inode_number_hint(struct inode_table *t, const char *path);
/* A copy of the path of ino (caller frees), or NULL if unknown. */
char *inode_path(struct inode_table *t, uint64_t ino);
/* Drops n lookups; the entry goes away at zero. */
void inode_forget(struct inode_table *t, uint64_t ino, uint64_t n);
/* Moves the node at from to path to (a node at to is detached first). */
void inode_rename(struct inode_table *t, const char *from, const char *to);
/* Detaches path from its inode (after unlink): the inode lives on until forgotten. */
void inode_detach(struct inode_table *t, const char *path);
/* Flags of ino: test-and-set / clear. */
bool inode_flag_set(struct inode_table *t, uint64_t ino, unsigned flag, bool on);
bool inode_flag_get(struct inode_table *t, uint64_t ino, unsigned flag);

/*
 * Keeps a copy of data[len] with ino, tagged gen (the caller's validity
 * stamp: tree.h uses store_changed_ns()), replacing what was kept. What is
 * kept goes when ino's path is detached or renamed away, and when ino is
 * forgotten; nothing is kept for the root, an unknown or a detached inode,
 * or on ENOMEM (keeping is only an optimisation). Any thread.
 */
void inode_keep(struct inode_table *t, uint64_t ino, const void *data, size_t len, int64_t gen);
/*
 * Copies what is kept with ino into ret[len] when it was kept with this
 * gen and fits; returns its length, or 0 (nothing kept, another gen).
 */
size_t inode_kept(struct inode_table *t, uint64_t ino, void *ret, size_t len, int64_t gen);

#endif
