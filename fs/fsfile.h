/*
 * Open files: the file handle every tree's open() makes (fh_new()) and
 * the FUSE handlers that work on handles or on a file's path: open,
 * create, read, write, flush, release, fsync, setattr, unlink, rename.
 * The handlers dispatch to the node's tree (tree.h); what a handle
 * generically does — read a descriptor with readahead, serve a snapshot
 * buffer, run a transaction file's request and keep its reply cursor — is
 * here, what it means is in the tree. Files opened in a tree without a
 * flush() are opened with FOPEN_NOFLUSH: their close() sends no FLUSH
 * (it had nothing to do), only the asynchronous RELEASE. The content of
 * an immutable snapshot (FH_BUF opened with keep_cache, at most 64 KiB)
 * goes into the kernel's page cache at its inode's first open
 * (notify_store()), so that reading it sends no READ.
 */
#ifndef CHARMFS_FSFILE_H
#define CHARMFS_FSFILE_H

#include <pthread.h>
#include <stdatomic.h>
#include <fuse_lowlevel.h>

#include "fs.h"

enum fh_kind {
	FH_FD,     /* read-only descriptor on a stored file, sequential readahead */
	FH_RWFD,   /* a read-write descriptor (publish/ scratch): reads and fsync by fd */
	FH_BUF,    /* a snapshot of generated content in data */
	FH_CTL,    /* a transaction file: tree->request() per write, reply in data */
	FH_STREAM, /* reads go to tree->read() at each call */
	FH_WRITE,  /* write-only: tree->write(); reads are EBADF */
};

struct fh {
	struct fs_handle link; /* first: the registry hands it back */
	struct fs *fs;
	enum fh_kind kind;
	int fd;
	int accmode;
	struct buf data;      /* FH_BUF: content; FH_CTL: the last reply */
	size_t cursor;        /* FH_CTL: read position in the reply */
	pthread_mutex_t lock; /* FH_CTL */
	_Atomic int64_t next_off; /* FH_FD: where a sequential reader reads next */
	_Atomic int64_t ra_end;   /* FH_FD: how far readahead was asked for */
	/* Set by the tree when closing must undo something of its open. */
	void (*on_release)(struct fh *h);
	fuse_ino_t ino;   /* the inode opened (0 until the reply) */
	char *path;       /* the path opened */
	struct node node; /* as opened, pointing at path */
};

/*
 * A new handle of kind on n (copied, with its path), registered with
 * fs_handle_add(); data's limit is 1 MiB. NULL on ENOMEM. Any thread.
 */
struct fh *fh_new(struct fs *fs, const struct node *n, enum fh_kind kind, int accmode);
/* Closes and frees h (on_release first); NULL is fine. */
void fh_free(struct fh *h);

/*
 * setattr of a transaction or write-only file: what O_TRUNC and touch ask
 * (size, times) is accepted and changes nothing, anything else is -EACCES.
 */
int fsfile_ctl_setattr(int to_set);

/*
 * Attributes of inode ino through one of its open handles whose tree has
 * fstat() (a file of a real directory, unlinked or renamed while open):
 * the request layer's answer when ino's path names nothing any more.
 * -ENOENT when no such handle is open. Any thread.
 */
int fsfile_stat_open(fuse_ino_t ino, struct stat *st);

void fsfile_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fsfile_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		   struct fuse_file_info *fi);
void fsfile_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void fsfile_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		  struct fuse_file_info *fi);
void fsfile_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fsfile_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fsfile_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fsfile_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		    struct fuse_file_info *fi);
void fsfile_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fsfile_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		   const char *newname, unsigned int flags);

#endif
