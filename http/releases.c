/*
 * /releases/: this charmfs as a release publisher (SPEC §4.9, §4.11), the
 * protocol upgrade/client.h speaks, over what root wrote into
 * upgrade/releases/ (upgrade/serve.h decides what is served and writes
 * the documents):
 *
 *   GET /releases/versions          ["0.1.0","1.0.0"]        application/json
 *   GET /releases/latest            "1.0.0"                  application/json (404: none)
 *   GET /releases/VERSION           {"flist":"VERSION/release","signature":"HEX"}
 *   GET /releases/VERSION/release   the archive, as charm downloads are sent
 *                                   (ETag, Range, If-Range, If-(None-)Match, HEAD)
 *
 * An archive may be replaced in place, so its entity tag is made of what
 * changes with it: its inode, size and modification time in nanoseconds.
 * Release downloads are not counted (SPEC counts charm downloads only).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "release.h"
#include "serve.h"
#include "banned.h"

#define JSON_TYPE "application/json"

static enum MHD_Result reply_error(struct MHD_Connection *c, int r, const char *msg)
{
	char body[600];

	if (r == -ENOENT)
		return http_reply_not_found(c);
	snprintf(body, sizeof(body), "%s\n", msg && msg[0] ? msg : strerror(-r));
	return http_reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, HTTP_TEXT_TYPE, body);
}

static enum MHD_Result reply_doc(struct MHD_Connection *c, int r, char *doc, const char *err)
{
	if (r < 0)
		return reply_error(c, r, err);
	return http_reply_take(c, MHD_HTTP_OK, JSON_TYPE, doc, strlen(doc));
}

static enum MHD_Result send_release(struct http_server *hs, struct http_req *rq,
				    struct MHD_Connection *c, const char *version)
{
	char etag[80];
	struct http_file f = { .etag = etag };
	struct stat st;
	bool full;
	int r = serve_open_release(store_dir(hs->store), version, &f.fd, &st);

	if (r < 0)
		return reply_error(c, r, NULL);
	snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st.st_ino,
		 (uint64_t)st.st_size,
		 (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec);
	f.size = (uint64_t)st.st_size;
	return http_send_file(c, rq->head, &f, &full);
}

enum MHD_Result http_serve_releases(struct http_server *hs, struct http_req *rq,
				    struct MHD_Connection *c, const char *path)
{
	const char *dir = store_dir(hs->store), *slash = strchr(path, '/');
	char version[RELEASE_VERSION_MAX + 1], err[600] = "", *doc = NULL;
	size_t len = slash ? (size_t)(slash - path) : strlen(path);
	int r;

	if (strcmp(path, "versions") == 0) {
		r = serve_versions(dir, &doc);
		return reply_doc(c, r, doc, NULL);
	}
	if (strcmp(path, "latest") == 0) {
		r = serve_latest(dir, &doc);
		return reply_doc(c, r, doc, NULL);
	}
	if (len == 0 || len > RELEASE_VERSION_MAX ||
	    (slash && strcmp(slash + 1, SERVE_RELEASE) != 0))
		return http_reply_not_found(c);
	memcpy(version, path, len);
	version[len] = '\0';
	if (slash)
		return send_release(hs, rq, c, version);
	r = serve_upgrade(dir, version, &doc, err, sizeof(err));
	return reply_doc(c, r, doc, err);
}
