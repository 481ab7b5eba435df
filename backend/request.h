/*
 * Request lines written to transaction files (SPEC §4): bounded,
 * tokenised on blanks, checked strictly. A line that cannot be parsed is
 * EINVAL with a message; nothing here touches the store.
 */
#ifndef CHARMFS_REQUEST_H
#define CHARMFS_REQUEST_H

#include <stddef.h>

#include "url.h"
#include "util.h"

#define REQ_LINE_MAX 8192
#define REQ_MAX_URLS 32
#define REQ_DIGEST_MAX 128
#define REQ_LOCK_MAX 64
#define REQ_FILE_MAX 255

/* publish DIGEST URL [URL...] < incoming/FILE [lock=LOCKID] */
struct req_publish {
	char digest[REQ_DIGEST_MAX + 1];
	struct url urls[REQ_MAX_URLS];
	size_t n_urls;
	char file[REQ_FILE_MAX + 1]; /* the name under incoming/ */
	char lock[REQ_LOCK_MAX + 1]; /* "" when none */
};

/*
 * Parses one publish/ctl request (len bytes, one trailing newline allowed).
 * URLs must be cs: URLs with a series and without a revision, none given
 * twice; the digest valid UTF-8; lock= a well-formed LOCKID
 * (lock_id_valid()). Returns 0, or -EINVAL with a message in err.
 */
int req_parse_publish(const char *line, size_t len, struct req_publish *ret, char *err,
		      size_t errlen) WUR;

#endif
