/*
 * upgrade/ (SPEC §4.9): the release publisher as the daemon last saw it,
 * from the upgrade agent (upgrade/upgrader.h) and the store's upgrade
 * state (upgstate.h). Every file is read afresh at each request and never
 * cached: a check changes them behind the kernel's back.
 *
 *   upgrade/            0755 root
 *   current latest versions status history   0444
 *   ctl                 0600 root's alone (it makes the daemon fetch and
 *                       apply): "check", "apply", "apply VERSION"
 *   releases/           the releases this charmfs serves (tree_releases.c):
 *                       its nodes are UG_RELEASES, handed to releases_ops
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "fsfile.h"
#include "tree_releases.h"
#include "upgrader.h"
#include "upgstate.h"
#include "banned.h"

enum upgrade_kind { UG_TOP, UG_FILE, UG_CTL, UG_RELEASES };
enum upgrade_file { UF_CURRENT, UF_HISTORY, UF_LATEST, UF_STATUS, UF_VERSIONS };

static const char *const files[] = {
	[UF_CURRENT] = "current", [UF_HISTORY] = "history", [UF_LATEST] = "latest",
	[UF_STATUS] = "status",	  [UF_VERSIONS] = "versions",
};

struct upgrade_state {
	int file;
};
TREE_STATE_FITS(struct upgrade_state);

static int upgrade_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	ret->kind = UG_TOP;
	if (cp->n == 1)
		return 0;
	if (strcmp(cp->v[1], RELEASES_NAME) == 0) {
		ret->kind = UG_RELEASES;
		return releases_ops.resolve(fs, cp, ret);
	}
	if (cp->n != 2)
		return -ENOENT;
	if (strcmp(cp->v[1], "ctl") == 0) {
		ret->kind = UG_CTL;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		if (strcmp(cp->v[1], files[i]) == 0) {
			ret->kind = UG_FILE;
			TREE_STATE(ret, struct upgrade_state)->file = (int)i;
			return 0;
		}
	return -ENOENT;
}

/* A file's content into out; its time (ns) into *ret_ns. */
static int content(struct fs *fs, const struct node *n, struct buf *out, int64_t *ret_ns)
{
	struct upg_state st;
	char *status;
	int r;

	if (TREE_CSTATE(n, struct upgrade_state)->file == UF_STATUS) {
		r = upgrader_status(fs->ctx.upgrader, &status);
		if (r == 0)
			r = buf_addf(out, "%s\n", status);
		free(status);
		return r;
	}
	r = upg_state_get(fs->ctx.store, &st);
	if (r < 0)
		return r;
	*ret_ns = st.checked_ns;
	switch ((enum upgrade_file)TREE_CSTATE(n, struct upgrade_state)->file) {
	case UF_CURRENT:
		r = buf_addf(out, "%s\n", st.current);
		break;
	case UF_LATEST:
		r = st.latest[0] ? buf_addf(out, "%s\n", st.latest) : 0;
		break;
	case UF_VERSIONS:
		r = buf_addf(out, "%s", st.versions);
		break;
	case UF_HISTORY:
		r = buf_addf(out, "%s", st.history);
		break;
	case UF_STATUS:
		break;
	}
	upg_state_free(&st);
	return r;
}

static int upgrade_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	struct buf b;
	int64_t ns = 0;
	int r;

	switch ((enum upgrade_kind)n->kind) {
	case UG_TOP:
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 3;
		return 0;
	case UG_RELEASES:
		return releases_ops.stat(fs, n, st);
	case UG_CTL:
		st->st_mode = S_IFREG | 0600;
		return 0;
	case UG_FILE:
		st->st_mode = S_IFREG | 0444;
		buf_init(&b, SIZE_MAX);
		r = content(fs, n, &b, &ns);
		st->st_size = (off_t)b.len;
		buf_free(&b);
		if (r == 0 && ns)
			tree_set_time(st, ns);
		return r;
	}
	return -ENOENT;
}

static int upgrade_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
			void *ud)
{
	bool releases = false;
	int r = 0;

	if (n->kind == UG_RELEASES)
		return releases_ops.list(fs, n, dirstate, cb, ud);
	if (n->kind != UG_TOP)
		return -ENOTDIR;
	r = cb(ud, "ctl", S_IFREG);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(files); i++) {
		if (!releases && strcmp(files[i], RELEASES_NAME) > 0) {
			releases = true;
			r = cb(ud, RELEASES_NAME, S_IFDIR);
		}
		if (r == 0)
			r = cb(ud, files[i], S_IFREG);
	}
	return r;
}

static int upgrade_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
			struct fh **ret)
{
	int acc = fi->flags & O_ACCMODE;
	struct fh *h;

	if (n->kind == UG_RELEASES)
		return releases_ops.open(fs, n, fi, ret);
	if (n->kind == UG_TOP)
		return -EISDIR;
	if (n->kind == UG_FILE && acc != O_RDONLY)
		return -EACCES;
	h = fh_new(fs, n, n->kind == UG_CTL ? FH_CTL : FH_STREAM, acc);
	if (!h)
		return -ENOMEM;
	fi->direct_io = 1;
	*ret = h;
	return 0;
}

static int upgrade_read(struct fs *fs, struct fh *h, uint64_t off, size_t size, struct buf *out)
{
	struct buf b;
	int64_t ns;
	int r;

	buf_init(&b, SIZE_MAX);
	r = content(fs, &h->node, &b, &ns);
	if (r == 0 && off < b.len)
		r = buf_add(out, b.data + off, b.len - off < size ? b.len - off : size);
	buf_free(&b);
	return r;
}

/*
 * upgrade/ctl (SPEC §4.9): "check" replies "ok LATEST" when the check is
 * done; "apply" and "apply VERSION" reply "ok CHANGE-ID" at once (just
 * "ok" when there is nothing to apply) and the change runs.
 */
static int upgrade_request(fuse_req_t req, struct fs *fs, const struct node *n, const char *data,
			   size_t size, struct buf *reply, bool *malformed)
{
	static const char usage[] = "the request is: check | apply [VERSION]";
	const struct split_rules rules = { .max_len = 255, .max_words = 3, .blanks = " \t" };
	char buf[256], *words[3], err[700] = "", *latest = NULL;
	int64_t id = 0;
	size_t nw;
	int r = split_words(data, size, &rules, buf, words, &nw);

	if (r == 0 && nw == 1 && strcmp(words[0], "check") == 0) {
		r = upgrader_check(fs->ctx.upgrader, &latest, err, sizeof(err));
		if (r == 0)
			r = buf_addf(reply, "ok %s\n", latest);
		free(latest);
	} else if (r == 0 && (nw == 1 || nw == 2) && strcmp(words[0], "apply") == 0) {
		r = upgrader_apply(fs->ctx.upgrader, nw == 2 ? words[1] : NULL, &id, err, sizeof(err));
		if (r == 0 && id)
			r = buf_addf(reply, "ok %lld\n", (long long)id);
		else if (r == 0)
			r = buf_addf(reply, "ok\n");
	} else {
		*malformed = true;
		(void)buf_addf(reply, "error %s\n", usage);
		fs_fail("write", n->path, EINVAL, usage);
		return -EINVAL;
	}
	if (r < 0) {
		(void)buf_addf(reply, "error %s\n", err[0] ? err : strerror(-r));
		fs_fail("write", n->path, -r, err[0] ? err : strerror(-r));
	}
	return r;
}

static int upgrade_setattr(fuse_req_t req, struct fs *fs, struct node *n, const struct stat *attr,
			   int to_set, struct fuse_file_info *fi, double *ret_timeout)
{
	if (n->kind == UG_RELEASES)
		return releases_ops.setattr(req, fs, n, attr, to_set, fi, ret_timeout);
	return n->kind == UG_CTL ? fsfile_ctl_setattr(to_set) : -EACCES;
}

static bool upgrade_volatile(const struct node *n)
{
	return n->kind == UG_FILE || n->kind == UG_RELEASES;
}

/*
 * ---- releases/: the requests only its nodes take, handed to releases_ops
 * (tree_releases.h); for the other nodes of upgrade/, tree.h's answers.
 */

static int upgrade_readlink(struct fs *fs, const struct node *n, char *target, size_t len)
{
	return n->kind == UG_RELEASES ? releases_ops.readlink(fs, n, target, len) : -EINVAL;
}

static int upgrade_create(fuse_req_t req, struct fs *fs, const struct node *parent,
			  const char *name, mode_t mode, struct fuse_file_info *fi, struct fh **ret)
{
	if (parent->kind != UG_RELEASES)
		return -EACCES;
	return releases_ops.create(req, fs, parent, name, mode, fi, ret);
}

static int upgrade_mkdir(fuse_req_t req, struct fs *fs, const struct node *parent,
			 const char *name, mode_t mode)
{
	return parent->kind == UG_RELEASES ? releases_ops.mkdir(req, fs, parent, name, mode)
					   : -EACCES;
}

static int upgrade_rmdir(fuse_req_t req, struct fs *fs, const struct node *n, const char *ppath)
{
	if (n->kind == UG_RELEASES)
		return releases_ops.rmdir(req, fs, n, ppath);
	fs_fail("rmdir", n->path, EACCES, NULL);
	return -EACCES;
}

static int upgrade_unlink(struct fs *fs, const struct node *n)
{
	return n->kind == UG_RELEASES ? releases_ops.unlink(fs, n) : -EACCES;
}

static int upgrade_rename(struct fs *fs, uid_t uid, const struct node *src,
			  const struct node *dst_dir, const char *from, const char *to,
			  unsigned flags)
{
	if (src->kind != UG_RELEASES || dst_dir->kind != UG_RELEASES)
		return -EACCES;
	return releases_ops.rename(fs, uid, src, dst_dir, from, to, flags);
}

static int upgrade_symlink(fuse_req_t req, struct fs *fs, const struct node *parent,
			   const char *name, const char *target)
{
	return parent->kind == UG_RELEASES ? releases_ops.symlink(req, fs, parent, name, target)
					   : -EACCES;
}

static int upgrade_link(struct fs *fs, const struct node *src, const struct node *parent,
			const char *name)
{
	if (src->kind != UG_RELEASES || parent->kind != UG_RELEASES)
		return -EACCES;
	return releases_ops.link(fs, src, parent, name);
}

static void upgrade_write(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fh *h,
			  const char *data, size_t size, off_t off)
{
	if (h->node.kind == UG_RELEASES)
		releases_ops.write(req, fs, ino, h, data, size, off);
	else
		fuse_reply_err(req, EBADF);
}

static int upgrade_fstat(struct fs *fs, struct fh *h, struct stat *st)
{
	if (h->node.kind == UG_RELEASES)
		return releases_ops.fstat(fs, h, st);
	return tree_stat(fs, &h->node, st);
}

static double upgrade_entry_timeout(const struct node *n)
{
	return n->kind == UG_RELEASES ? releases_ops.entry_timeout(n) : NODE_TIMEOUT;
}

const struct tree_ops tree_upgrade = {
	.name = "upgrade",
	.type = S_IFDIR,
	.negative_timeout = 0.0, /* releases/ changes behind the kernel's back */
	.resolve = upgrade_resolve,
	.stat = upgrade_stat,
	.list = upgrade_list,
	.open = upgrade_open,
	.read = upgrade_read,
	.request = upgrade_request,
	.setattr = upgrade_setattr,
	.attr_volatile = upgrade_volatile,
	.readlink = upgrade_readlink,
	.create = upgrade_create,
	.mkdir = upgrade_mkdir,
	.rmdir = upgrade_rmdir,
	.unlink = upgrade_unlink,
	.rename = upgrade_rename,
	.symlink = upgrade_symlink,
	.link = upgrade_link,
	.write = upgrade_write,
	.fstat = upgrade_fstat,
	.entry_timeout = upgrade_entry_timeout,
};
