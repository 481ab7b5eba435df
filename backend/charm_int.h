/*
 * What charm.c (reading and validating) and charmstore.c (writing the
 * stored zip and the tree) share and nobody else sees.
 */
#ifndef CHARMFS_CHARM_INT_H
#define CHARMFS_CHARM_INT_H

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <stdbool.h>
#include <stdint.h>

#include "charm.h"
#include "charmcheck.h"

#define CHUNK (64 * 1024) /* libarchive read size and data buffer */

/* A validated charm (charm_open()). */
struct charm {
	char *path;
	struct charm_entry *entries; /* archive order, root "./" left out */
	size_t n_entries;
	struct charm_meta *meta;
	struct charm_config *config;
	struct buf meta_yaml, config_yaml; /* the two files' text, as in the archive */
	bool has_config;
	char digest[CHARM_DIGEST_LEN];
	/*
	 * An archive of at most CHARM_HOLD_MAX bytes whose files' data add up to
	 * at most that much keeps the data it was validated with (holds): the
	 * files one after another, each at its entry's held_at, so that
	 * charm_store() writes what was checked without reading the source again.
	 */
	struct buf held;
	bool holds;
};

typedef int (*data_sink)(void *ctx, const void *p, size_t n);

/*
 * The one mapping from a libarchive failure to -errno. Reading: the data is
 * at fault (-EINVAL) unless the system failed (-ENOMEM, -EIO). Writing: the
 * system errno when libarchive kept one, else -EIO.
 */
int charm_archive_errno(struct archive *a, bool writing);
/*
 * Streams the current entry's data through sink in CHUNK-sized pieces of
 * chunk, hashing it. Returns 0 with the hash and byte count, a sink error,
 * or a libarchive failure mapped by charm_archive_errno() (-EINVAL).
 */
int charm_stream_data(struct archive *a, unsigned char *chunk, data_sink sink, void *ctx,
		      unsigned char ret_sha[32], uint64_t *ret_size);
/* Opens the archive file at path read-only. 0, -EINVAL (not a regular file) or -errno. */
int charm_source_open(const char *path, int *ret_fd, uint64_t *ret_size);
/*
 * Starts a seekable zip reader on fd; *ret_a is set even on failure so the
 * caller can read libarchive's message. 0, -ENOMEM or the mapped failure.
 */
int charm_zip_reader(int fd, struct archive **ret_a);
/*
 * Switches the calling thread to the C.UTF-8 character type while a zip is
 * read or written: libarchive converts names flagged UTF-8 (general purpose
 * bit 11, as Python, Go and Java write them) to the thread's locale, and
 * the daemon's C locale cannot hold a non-ASCII name. Unflagged names pass
 * as raw bytes either way. end() restores the thread's locale.
 */
struct charm_locale {
	locale_t utf8, old;
};
void charm_locale_begin(struct charm_locale *l);
void charm_locale_end(struct charm_locale *l);
/* An entry's name as the archive holds it (raw bytes), or NULL. */
const char *charm_raw_name(struct archive_entry *ae);

#endif
