/*
 * Scratch files behind publish/. They are ordinary files in a private
 * directory so that large archives never sit in memory, and so that every
 * tool's write pattern (cp, zip's temporary file and rename, rsync's
 * dot-file, curl -o) works unchanged. Nothing here knows about charms: the
 * fs adapter decides when a scratch file is published.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scratch.h"
#include "banned.h"

struct scratch {
	char *dir;
	int dfd;
};

int scratch_open(const char *dir, struct scratch **ret)
{
	struct scratch *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return -ENOMEM;
	sc->dir = strdup(dir);
	sc->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!sc->dir || sc->dfd < 0) {
		int r = sc->dir ? -errno : -ENOMEM;
		scratch_close(sc);
		return r;
	}
	*ret = sc;
	return 0;
}

void scratch_close(struct scratch *sc)
{
	if (!sc)
		return;
	if (sc->dfd >= 0)
		close(sc->dfd);
	free(sc->dir);
	free(sc);
}

void scratch_path(const struct scratch *sc, const char *rel, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", sc->dir, rel);
}

/* Makes the directories leading to rel. */
static int make_parents(struct scratch *sc, const char *rel)
{
	char tmp[PATH_MAX];
	size_t len = strlen(rel);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, rel, len + 1);
	for (char *p = tmp; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdirat(sc->dfd, tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

int scratch_stat(struct scratch *sc, const char *rel, struct stat *ret)
{
	return fstatat(sc->dfd, rel, ret, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* Creates rel with exactly mode (the daemon's umask does not apply), owned by uid:gid. */
static int create_file(struct scratch *sc, const char *rel, int flags, mode_t mode, uid_t uid,
		       gid_t gid, int *ret_fd)
{
	int fd = openat(sc->dfd, rel, flags | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (geteuid() == 0 && fchown(fd, uid, gid) < 0)
		r = -errno;
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		(void)unlinkat(sc->dfd, rel, 0);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int scratch_openat(struct scratch *sc, const char *rel, int flags, mode_t mode, uid_t uid,
		   gid_t gid, int *ret_fd)
{
	bool raced = false;
	struct stat st;
	int fd, r;

	if (flags & O_CREAT) {
		/* The parents exist but for a file's first create in its directory. */
		r = create_file(sc, rel, flags & ~(O_CREAT | O_EXCL), mode & 0777, uid, gid, ret_fd);
		if (r == -ENOENT) {
			r = make_parents(sc, rel);
			if (r < 0)
				return r;
			r = create_file(sc, rel, flags & ~(O_CREAT | O_EXCL), mode & 0777, uid, gid,
					ret_fd);
		}
		if (r != -EEXIST || (flags & O_EXCL))
			return r;
		flags &= ~O_CREAT;
		raced = true;
	}
	fd = openat(sc->dfd, rel, flags | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	/* A create that found another's file does not get to write it. */
	if (raced && (flags & O_ACCMODE) != O_RDONLY && uid != 0 &&
	    (fstat(fd, &st) < 0 || st.st_uid != uid)) {
		close(fd);
		return -EACCES;
	}
	*ret_fd = fd;
	return 0;
}

int scratch_unlink(struct scratch *sc, const char *rel)
{
	return unlinkat(sc->dfd, rel, 0) < 0 ? -errno : 0;
}

int scratch_rename(struct scratch *sc, const char *from, const char *to, unsigned flags)
{
	int r;

	if (renameat2(sc->dfd, from, sc->dfd, to, flags) == 0)
		return 0;
	if (errno != ENOENT)
		return -errno;
	r = make_parents(sc, to);
	if (r < 0)
		return r;
	return renameat2(sc->dfd, from, sc->dfd, to, flags) < 0 ? -errno : 0;
}

int scratch_chmod(struct scratch *sc, const char *rel, mode_t mode)
{
	return fchmodat(sc->dfd, rel, mode & 07777, 0) < 0 ? -errno : 0;
}

int scratch_chown(struct scratch *sc, const char *rel, uid_t uid, gid_t gid)
{
	return fchownat(sc->dfd, rel, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int scratch_truncate(struct scratch *sc, const char *rel, off_t size)
{
	int fd = openat(sc->dfd, rel, O_WRONLY | O_CLOEXEC | O_NOFOLLOW), r = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) < 0)
		r = -errno;
	close(fd);
	return r;
}

int scratch_utimens(struct scratch *sc, const char *rel, const struct timespec times[2])
{
	return utimensat(sc->dfd, rel, times, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

struct entry {
	char *name;
	struct stat st;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void free_entries(struct entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

int scratch_list(struct scratch *sc, const char *reldir, scratch_cb cb, void *ud)
{
	struct entry *v = NULL;
	struct dirent *de;
	size_t n = 0;
	int dfd, r = 0;
	DIR *d;

	dfd = openat(sc->dfd, reldir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		struct entry *nv;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[n].name = strdup(de->d_name);
		v[n].st = st;
		if (!v[n].name) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (r == 0 && n > 1)
		qsort(v, n, sizeof(*v), cmp_entry);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = cb(ud, v[i].name, &v[i].st);
	free_entries(v, n);
	return r;
}

bool scratch_readable_by(const struct stat *st, const struct scratch_caller *who)
{
	bool in_group = who->gid == st->st_gid;

	if (who->uid == 0)
		return true;
	if (who->uid == st->st_uid)
		return st->st_mode & S_IRUSR;
	for (size_t i = 0; !in_group && i < who->n_groups; i++)
		in_group = who->groups[i] == st->st_gid;
	return st->st_mode & (in_group ? S_IRGRP : S_IROTH);
}
