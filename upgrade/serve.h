/*
 * Releases to serve (SPEC §4.9, last bullets; §4.11 /releases/): one
 * charmfs is another's release publisher. Root writes the releases into
 * STOREDIR/releases (through upgrade/releases/ of the mount), and the HTTP
 * API serves them with the publisher protocol that upgrade/client.h speaks:
 *
 *   STOREDIR/releases/VERSION/release     the release archive, as written
 *   STOREDIR/releases/VERSION/signature   its signature, hex text (optional)
 *
 * A version is served when its directory's name is a valid version
 * (release_version_parse(): strict semver, so one version has one name),
 * the directory is a real directory and `release` in it a regular file
 * (no symbolic links, either of them). Of several directories whose
 * versions have the same precedence ("1.0.0+a", "1.0.0+b": a client refuses
 * such a list whole), only the first by name (strcmp) is served; and at
 * most RELEASE_VERSIONS_MAX, the highest. serve_version_check() keeps
 * writers through the mount from making either case.
 *
 * The documents (release.h's encoders, so a client decodes them back):
 *   versions   the served versions, ascending by precedence: `["0.1.0","1.0.0"]`
 *   latest     the highest of them: `"1.0.0"`
 *   VERSION    `{"flist":"VERSION/release","signature":"HEX"}`, the
 *              signature member absent when there is no signature file or it is
 *              empty. flist is relative: a client resolves it against BASE
 *              with a trailing '/', so BASE=http://h:p/releases gives
 *              http://h:p/releases/VERSION/release.
 *
 * A signature file is served only when it is what a signature is: at most
 * RELEASE_SIGNATURE_MAX bytes (-EFBIG otherwise) of hex digits, surrounding
 * white space (the newline `charmfs --sign-release` prints) ignored
 * (-EBADMSG otherwise), and a regular file (-EBADMSG). Such a file makes the
 * VERSION document an error rather than a document without the signature:
 * what root wrote is never silently left out.
 *
 * Every function reads the directory afresh (root may change it at any
 * time, through the mount or not) and keeps no state: thread-safe, any
 * thread. Memory is proportional to the number of entries in
 * STOREDIR/releases. Errors are -errno; ret_* are written only on
 * success; returned strings belong to the caller.
 */
#ifndef CHARMFS_SERVE_H
#define CHARMFS_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "util.h"

/* The directory below STOREDIR, and the two files of a version. */
#define SERVE_DIR "releases"
#define SERVE_RELEASE "release"
#define SERVE_SIGNATURE "signature"

/*
 * A new O_PATH descriptor of STOREDIR/releases into *ret_dirfd (caller
 * closes), the directory made first (0755) when it is missing. For the
 * mount's upgrade/releases/. 0 or -errno.
 */
int serve_dir_at(const char *storedir, int *ret_dirfd) WUR;

/* Whether name may be a version's directory: a valid version (release.h). */
bool serve_version_name(const char *name);
/*
 * Whether name may be created inside a version's directory: `release`,
 * `signature`, or a dot-name (the temporary files of cp, rsync and editors,
 * which they rename into place). "." and ".." are not names.
 */
bool serve_file_name(const char *name);

/*
 * Whether a new version directory name may be made (mkdir, or a rename
 * onto it) in STOREDIR/releases: -EINVAL when it is not a version, -EEXIST
 * when another version directory (not named except, which may be NULL: the
 * one being renamed) has a version of the same precedence, -EMLINK when
 * RELEASE_VERSIONS_MAX version directories exist already. 0, or -errno of
 * reading the directory.
 */
int serve_version_check(const char *storedir, const char *name, const char *except) WUR;

/* The versions document into *ret (JSON text and a newline); "[]\n" when none. -ENOMEM, -errno. */
int serve_versions(const char *storedir, char **ret) WUR;
/* The latest document into *ret. -ENOENT when no version is served, -ENOMEM, -errno. */
int serve_latest(const char *storedir, char **ret) WUR;
/*
 * The VERSION document of version into *ret. -ENOENT when version is not
 * served; -EFBIG or -EBADMSG for a signature file that is not one (see
 * above), with a message naming the version in err; -ENOMEM, -errno.
 */
int serve_upgrade(const char *storedir, const char *version, char **ret, char *err,
		  size_t errlen) WUR;
/*
 * Opens version's archive for a download: a read-only descriptor into
 * *ret_fd (caller closes) and its fstat() into *ret_st (size, mtime and
 * inode, for an ETag). -ENOENT when version is not served, -errno.
 */
int serve_open_release(const char *storedir, const char *version, int *ret_fd,
		       struct stat *ret_st) WUR;

#endif
