/*
 * Transaction files (SPEC §4): publish/ctl, locks/ctl and counter.query
 * requests, and counter.inc writes. Each request function gets the bytes
 * of one write(), appends its reply ("ok ...", "error ...", or the answer)
 * to reply, and returns 0, the request's error, or -EINVAL with *malformed
 * set when the line cannot be parsed (the write itself then fails).
 */
#ifndef CHARMFS_FSCTL_H
#define CHARMFS_FSCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "fs.h"

int fsctl_publish_line(fuse_req_t req, struct fs *fs, const char *data, size_t size, struct buf *reply,
		       bool *malformed);
int fsctl_locks_line(fuse_req_t req, struct fs *fs, const char *data, size_t size,
		     struct buf *reply, bool *malformed);
int fsctl_counter_line(struct fs *fs, const struct node *n, const char *data, size_t size,
		       struct buf *reply, bool *malformed);
/* counter.inc: a write adds 1 (empty or blank data) or the positive integer written. */
int fsctl_counter_inc(struct fs *fs, const struct node *n, const char *data, size_t size);

#endif
