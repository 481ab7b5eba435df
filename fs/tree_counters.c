/*
 * counters/ (SPEC §4.4). Each directory is a counter key, the tree's root
 * the empty key; a key directory exists while the key exists in the store
 * (counted, made by mkdir, or an ancestor of one). Every key directory
 * holds the cgroup-style files counter.value, counter.total, counter.list,
 * counter.by-day, counter.by-week (generated at each open, never cached),
 * counter.inc (write-only) and counter.query (a transaction file).
 * Looking a key up never creates it. A node keeps its key as an offset and
 * length into its path ("a/b" of "/counters/a/b/counter.inc"), split into
 * tokens when the store is asked.
 *
 * Keys are counted and removed by other front ends too: nothing is kept
 * with an inode (TREE_CACHE_NONE), lookups are never cached negatively.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "fsfile.h"
#include "banned.h"

enum counters_kind {
	CN_DIR,   /* /counters[/token...]: a counter key */
	CN_FILE,  /* .../counter.{value,total,list,by-day,by-week} */
	CN_INC,   /* .../counter.inc */
	CN_QUERY, /* .../counter.query */
};

enum counter_file { CF_BY_DAY, CF_BY_WEEK, CF_INC, CF_LIST, CF_QUERY, CF_TOTAL, CF_VALUE };

struct counters_state {
	uint32_t key;     /* offset of the key's first token in the path */
	uint32_t key_len; /* bytes of the key ("a/b"); 0 for the empty key */
	uint32_t n_tokens;
	enum counter_file file; /* CN_FILE, CN_INC, CN_QUERY */
};
TREE_STATE_FITS(struct counters_state);

#define ST(n) TREE_STATE(n, struct counters_state)
#define CST(n) TREE_CSTATE(n, struct counters_state)

/* A key split into NUL-terminated tokens. */
struct key {
	char buf[COUNTER_MAX_DEPTH * (COUNTER_MAX_TOKEN + 1)];
	const char *tok[COUNTER_MAX_DEPTH];
	size_t n;
};

static const char *const counter_files[] = {
	[CF_BY_DAY] = "counter.by-day", [CF_BY_WEEK] = "counter.by-week",
	[CF_INC] = "counter.inc",       [CF_LIST] = "counter.list",
	[CF_QUERY] = "counter.query",   [CF_TOTAL] = "counter.total",
	[CF_VALUE] = "counter.value",
};

/* Splits n's key into k (resolve checked every token's length). */
static void key_of(const struct node *n, struct key *k)
{
	const struct counters_state *s = CST(n);
	char *p = k->buf;

	memcpy(k->buf, n->path + s->key, s->key_len);
	k->buf[s->key_len] = '\0';
	k->n = 0;
	while (k->n < s->n_tokens) {
		k->tok[k->n++] = p;
		p = strchr(p, '/');
		if (!p)
			break;
		*p++ = '\0';
	}
}

static int resolve_file(const char *name, struct node *ret)
{
	for (size_t f = 0; f < ARRAY_SIZE(counter_files); f++) {
		if (strcmp(name, counter_files[f]) != 0)
			continue;
		ST(ret)->file = (enum counter_file)f;
		ret->kind = f == CF_INC ? CN_INC : f == CF_QUERY ? CN_QUERY : CN_FILE;
		return 0;
	}
	return -ENOENT;
}

static int counters_resolve(struct fs *fs, const struct comps *cp, struct node *ret)
{
	struct counters_state *s = ST(ret);
	struct key k;
	size_t i;

	ret->kind = CN_DIR;
	for (i = 1; i < cp->n; i++) {
		if (strncmp(cp->v[i], "counter.", 8) == 0)
			break;
		if (s->n_tokens == COUNTER_MAX_DEPTH || counter_token_valid(cp->v[i]) < 0 ||
		    strlen(cp->v[i]) > COUNTER_MAX_TOKEN)
			return -ENOENT;
		if (s->n_tokens++ == 0)
			s->key = comps_off(cp, i);
		s->key_len = comps_off(cp, i) + (uint32_t)strlen(cp->v[i]) - s->key;
	}
	key_of(ret, &k);
	/* Every increment that returned is visible to what follows. */
	if (store_counter_exists(fs->ctx.store, k.tok, k.n) < 0)
		return -ENOENT;
	if (i == cp->n)
		return 0;
	if (i + 1 != cp->n)
		return -ENOENT;
	return resolve_file(cp->v[i], ret);
}

/* The generated content of a CN_FILE. */
static int content(struct fs *fs, const struct node *n, struct buf *out)
{
	struct key k;
	struct counter_req req = { .tokens = k.tok };
	enum counter_fmt fmt = COUNTER_FMT_TEXT;

	key_of(n, &k);
	req.n = k.n;
	switch (CST(n)->file) {
	case CF_VALUE:
		fmt = COUNTER_FMT_NUMBER_NL;
		break;
	case CF_TOTAL:
		req.prefix = true;
		fmt = COUNTER_FMT_NUMBER_NL;
		break;
	case CF_LIST:
		req.prefix = true;
		req.list = true;
		break;
	case CF_BY_DAY:
	case CF_BY_WEEK:
		req.prefix = true;
		req.self = true;
		req.by = CST(n)->file == CF_BY_DAY ? COUNTER_BY_DAY : COUNTER_BY_WEEK;
		break;
	default:
		return 0;
	}
	return store_counter_report(fs->ctx.store, &req, fmt, out);
}

static int counters_stat(struct fs *fs, const struct node *n, struct stat *st)
{
	struct buf b;
	int r;

	switch ((enum counters_kind)n->kind) {
	case CN_DIR:
		tree_group_mode(fs, st, S_IFDIR | 0775);
		return 0;
	case CN_INC:
		tree_group_mode(fs, st, S_IFREG | 0220);
		return 0;
	case CN_QUERY:
		/* Anyone may ask (SPEC §2). */
		st->st_mode = S_IFREG | 0666;
		return 0;
	case CN_FILE:
		tree_group_mode(fs, st, S_IFREG | 0444);
		buf_init(&b, 64 << 20);
		r = content(fs, n, &b);
		st->st_size = (off_t)b.len;
		buf_free(&b);
		return r;
	}
	return -ENOENT;
}

static int counters_list(struct fs *fs, const struct node *n, void *dirstate, tree_list_cb cb,
			 void *ud)
{
	struct tree_dirs a = { .cb = cb, .ud = ud };
	struct key k;
	int r;

	if (n->kind != CN_DIR)
		return -ENOTDIR;
	for (size_t f = 0; f < ARRAY_SIZE(counter_files); f++) {
		r = cb(ud, counter_files[f], S_IFREG);
		if (r < 0)
			return r;
	}
	key_of(n, &k);
	return store_counter_children(fs->ctx.store, k.tok, k.n, tree_list_dirs, &a);
}

/* ---- files ------------------------------------------------------------------------ */

static int counters_open(struct fs *fs, const struct node *n, struct fuse_file_info *fi,
			 struct fh **ret)
{
	int acc = fi->flags & O_ACCMODE, r = 0;
	struct fh *h;

	switch ((enum counters_kind)n->kind) {
	case CN_FILE:
		if (acc != O_RDONLY)
			return -EACCES;
		h = fh_new(fs, n, FH_BUF, acc);
		if (!h)
			return -ENOMEM;
		h->data.max = 64 << 20;
		r = content(fs, n, &h->data);
		break;
	case CN_INC:
	case CN_QUERY:
		if (n->kind == CN_INC && acc == O_RDONLY)
			return -EACCES;
		h = fh_new(fs, n, n->kind == CN_INC ? FH_WRITE : FH_CTL, acc);
		if (!h)
			return -ENOMEM;
		h->data.max = 64 << 20;
		break;
	default:
		return -EISDIR;
	}
	fi->direct_io = 1;
	if (r < 0) {
		fh_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

/* counter.query: answers a query about the directory's key. */
static int counters_request(fuse_req_t req, struct fs *fs, const struct node *n,
			    const char *data, size_t size, struct buf *reply, bool *malformed)
{
	struct counter_req q;
	enum counter_fmt fmt;
	struct key k;
	char err[256];
	int r = counter_parse_query(data, size, &q, &fmt, err, sizeof(err));

	if (r < 0) {
		(void)buf_addf(reply, "error %s\n", err);
		fs_fail("write", "counter.query", EINVAL, err);
		*malformed = true;
		return r;
	}
	key_of(n, &k);
	q.tokens = k.tok;
	q.n = k.n;
	r = store_counter_report(fs->ctx.store, &q, fmt, reply);
	if (r < 0) {
		buf_free(reply);
		(void)buf_addf(reply, "error %s\n", strerror(-r));
	}
	return r;
}

/*
 * counter.inc: a write adds 1 (empty or blank data) or the positive integer
 * written, at most COUNTER_LOG_MAX_COUNT (EOVERFLOW beyond).
 */
static int inc(struct fs *fs, const struct node *n, const char *data, size_t size)
{
	struct key k;
	char num[32];
	uint64_t count = 1;
	size_t len = size;

	if (memchr(data, '\0', size))
		return -EINVAL;
	while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
		len--;
	for (size_t i = 0; i < len; i++)
		if (data[i] < '0' || data[i] > '9')
			return -EINVAL;
	while (len > 1 && data[0] == '0') {
		data++;
		len--;
	}
	if (len) {
		/* Any number of digits is a number: one too big is EOVERFLOW, not malformed. */
		if (len >= sizeof(num))
			return -EOVERFLOW;
		memcpy(num, data, len);
		num[len] = '\0';
		if (parse_u64(num, &count) < 0)
			return -EOVERFLOW;
		if (count == 0)
			return -EINVAL;
	}
	if (CST(n)->n_tokens == 0)
		return -EINVAL;
	key_of(n, &k);
	return store_counter_inc(fs->ctx.store, k.tok, k.n, count, true);
}

static void counters_write(fuse_req_t req, struct fs *fs, fuse_ino_t ino, struct fh *h,
			   const char *data, size_t size, off_t off)
{
	int r = inc(fs, &h->node, data, size);

	if (r < 0) {
		char *path = inode_path(fs->inodes, ino);
		fs_fail("write", path ? path : "counter.inc", -r, NULL);
		free(path);
		fuse_reply_err(req, -r);
	} else {
		fuse_reply_write(req, size);
	}
}

/* ---- changes --------------------------------------------------------------------- */

static int counters_mkdir(fuse_req_t req, struct fs *fs, const struct node *parent,
			  const char *name, mode_t mode)
{
	struct key k;

	if (parent->kind != CN_DIR)
		return -EACCES;
	key_of(parent, &k);
	if (k.n == COUNTER_MAX_DEPTH || counter_token_valid(name) < 0)
		return -EINVAL;
	k.tok[k.n++] = name;
	return store_counter_mkkey(fs->ctx.store, k.tok, k.n);
}

static int counters_rmdir(fuse_req_t req, struct fs *fs, const struct node *n, const char *ppath)
{
	struct key k;
	int r = -EACCES;

	/* A counter key: gone from the database, nothing else to tell. */
	if (n->kind == CN_DIR) {
		key_of(n, &k);
		r = store_counter_rmkey(fs->ctx.store, k.tok, k.n);
	}
	if (r == 0)
		inode_detach(fs->inodes, n->path);
	else
		fs_fail("rmdir", n->path, -r, NULL);
	return r;
}

static int counters_setattr(fuse_req_t req, struct fs *fs, struct node *n,
			    const struct stat *attr, int to_set, struct fuse_file_info *fi,
			    double *ret_timeout)
{
	return n->kind == CN_INC || n->kind == CN_QUERY ? fsfile_ctl_setattr(to_set) : -EACCES;
}

static bool counters_volatile(const struct node *n)
{
	return n->kind == CN_FILE;
}

const struct tree_ops tree_counters = {
	.name = "counters",
	.type = S_IFDIR,
	/* Keys are made by other front ends' counts: no negative caching. */
	.negative_timeout = 0.0,
	.resolve = counters_resolve,
	.stat = counters_stat,
	.list = counters_list,
	.open = counters_open,
	.mkdir = counters_mkdir,
	.rmdir = counters_rmdir,
	.setattr = counters_setattr,
	.request = counters_request,
	.write = counters_write,
	.attr_volatile = counters_volatile,
};
