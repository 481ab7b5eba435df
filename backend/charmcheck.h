/*
 * Charm archive entries: the name and symlink rules of SPEC §4.2 and the
 * content digest. Split from charm.c, which reads the zip; everything here
 * works on the entry list alone and never touches entry data.
 *
 * Calling sequence (charm.c):
 *   charmcheck_name(raw)            per entry, normalises and checks the name
 *   charmcheck_symlink(name, target) per symlink
 *   charmcheck_tree(entries)        duplicates, entries below non-directories
 *   charmcheck_digest(entries)      "sha256:..." once the modes are final
 *
 * Pure functions, thread-safe.
 */
#ifndef CHARMFS_CHARMCHECK_H
#define CHARMFS_CHARMCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Longest raw entry name or symlink target read, in bytes. */
#define CHARM_NAME_MAX 4096
/*
 * Longest entry name accepted, in bytes: the daemon opens a published file
 * as trees/SHA/NAME relative to the store's trees/ directory, and that
 * relative path (65 bytes + NAME + NUL) must stay under PATH_MAX whatever
 * the store's own path (store_tree_at()).
 */
#define CHARM_ENTRY_MAX 4000
/* "sha256:" + 64 hex digits + NUL. */
#define CHARM_DIGEST_LEN (7 + 64 + 1)

enum charm_entry_type { CE_FILE, CE_DIR, CE_SYMLINK };

struct charm_entry {
	char *name;   /* normalised: no "./" prefix, no trailing "/" */
	char *target; /* symlink target; NULL for files and directories */
	enum charm_entry_type type;
	unsigned mode;          /* normalised: 0644/0755 files, 0755 dirs, 0777 symlinks */
	int64_t mtime;          /* seconds, as in the source archive */
	uint64_t size;          /* decompressed bytes actually read (files) */
	unsigned char sha256[32]; /* of the data, or of the symlink target */
	bool stored;            /* files: kept uncompressed in the stored zip (see charm.c) */
	uint64_t held_at;       /* files: where the data starts in the charm's held bytes (charm.c) */
};

/* Bytes of a name that messages quote; the rest is cut (go_quote() of util.h). */
#define CHARMCHECK_QUOTE_MAX (CHARM_NAME_MAX / 4)

/*
 * Go-%q quoting of s for messages (go_quote() of util.h): quotes around,
 * backslash escapes, invalid UTF-8 and control bytes as \xNN; past its
 * first CHARMCHECK_QUOTE_MAX bytes, s is cut and "..." ends the quoted
 * text. Returns a new string or NULL (no memory).
 */
char *charmcheck_quote(const char *s);

/*
 * Appends head, the quoted s and tail as one message to sv (strv_errf() of
 * util.h); complain2 quotes two strings: head "s" mid "t" tail. Returns r
 * (-EINVAL for a rule failure, 0 for a warning), or -ENOMEM.
 */
int charmcheck_complain(struct strv *sv, int r, const char *head, const char *s,
			const char *tail) WUR;
int charmcheck_complain2(struct strv *sv, int r, const char *head, const char *s, const char *mid,
			 const char *t, const char *tail) WUR;

/*
 * Normalises a raw entry name (strips one leading "./" and one trailing "/")
 * and checks it: not absolute, no "..", "." or empty components, valid UTF-8
 * without control characters, at most CHARM_ENTRY_MAX bytes. Returns 0 and
 * *ret (a new string; "" for the root entry "./"), -EINVAL with a message
 * appended to errors, or -ENOMEM.
 */
int charmcheck_name(const char *raw, struct strv *errors, char **ret) WUR;

/*
 * Checks a symlink named name (normalised) pointing at target: not empty,
 * not absolute, and not leaving the charm when resolved from the link's
 * directory. 0, -EINVAL with a message, or -ENOMEM.
 */
int charmcheck_symlink(const char *name, const char *target, struct strv *errors) WUR;

/*
 * Checks the whole list: no duplicate names, no entry below a file or a
 * symlink. 0, -EINVAL with one message per problem, or -ENOMEM.
 */
int charmcheck_tree(const struct charm_entry *e, size_t n, struct strv *errors) WUR;

/*
 * Raw names of the entries whose zip central directory record carries a
 * Unix fifo type, appended to ret. libarchive's zip reader turns fifos into
 * regular files (an Info-ZIP workaround), so this rule needs the raw
 * record. Reads at most max_entries + 1 records from fd (size bytes); a
 * directory it cannot parse yields no names, as the reader reports it.
 * Names holding a NUL byte (which libarchive would silently cut) are
 * appended to ret_nul, up to the NUL. 0 or -ENOMEM.
 */
int charmcheck_zip_fifos(int fd, uint64_t size, uint64_t max_entries, struct strv *ret,
			 struct strv *ret_nul) WUR;
/* charmcheck_zip_fifos() of a zip of size bytes at mem. */
int charmcheck_zip_fifos_mem(const void *mem, size_t size, uint64_t max_entries,
			     struct strv *ret, struct strv *ret_nul) WUR;

/* Is this the top-level `revision` entry, left out of digests and stores? */
bool charmcheck_is_revision(const struct charm_entry *e);

/*
 * The content digest of SPEC §4.2 (layout in charm.c's opening comment) into
 * out[CHARM_DIGEST_LEN]. 0 or -ENOMEM.
 */
int charmcheck_digest(const struct charm_entry *e, size_t n, char out[CHARM_DIGEST_LEN]) WUR;

#endif
