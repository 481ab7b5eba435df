/*
 * File handlers: open/read/write/flush/release on every kind of file, the
 * publish/ scratch files (create, rename, unlink, setattr), the publish
 * triggers (first close after a write, rename onto *.charm) and the
 * publish/ctl transaction file.
 */
#ifndef CHARMFS_FSFILE_H
#define CHARMFS_FSFILE_H

#include <fuse_lowlevel.h>

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
