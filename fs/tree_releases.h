/*
 * upgrade/releases/ (SPEC §4.9, releases to serve): a part of the upgrade/
 * tree, kept in its own file. tree_upgrade.c resolves upgrade/releases and
 * everything below it by calling releases_ops.resolve() (cp->v[1] is
 * RELEASES_NAME), marks such nodes with its own kind, and hands every
 * request on them to the matching releases_ops operation: each is the
 * struct tree_ops contract of tree.h for those nodes only. releases_ops
 * never sets a node's kind (it keeps its own level in the node's state).
 *
 * A node that one operation gets with another (rename's dst_dir, link's
 * src) is one of these too: tree_upgrade.c checks that first (-EACCES).
 */
#ifndef CHARMFS_TREE_RELEASES_H
#define CHARMFS_TREE_RELEASES_H

#include "tree.h"

#define RELEASES_NAME "releases"

extern const struct tree_ops releases_ops;

#endif
