/*
 * /charm/PATH: archive downloads. PATH is a charm URL without schema, its
 * series resolved as the original did when absent; bad or unknown URLs are
 * 404 as in the original, other store failures 500.
 *
 * Beyond the original (SPEC §4.11): a strong ETag (the archive's quoted
 * SHA-256), If-None-Match (304) and If-Match (412), a single byte Range
 * (206, 416 with "bytes * /SIZE"; several ranges are answered with the
 * whole archive, which RFC 9110 allows), If-Range, and HEAD. Connections
 * stay open (the original closed each one).
 *
 * The body is the blob file itself, handed to MHD as a descriptor at an
 * offset, so MHD streams it with sendfile and memory does not grow with
 * the archive. A download is counted by the completion callback in
 * http.c, only for a full 200 body that was sent completely.
 *
 * http_send_file() is that machinery for any open file: /releases/
 * (releases.c) sends its archives through it too.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "query.h"
#include "banned.h"

struct range {
	uint64_t first, last; /* inclusive */
};

enum range_kind { RANGE_NONE, RANGE_ONE, RANGE_UNSATISFIABLE };

static enum MHD_Result status_only(struct MHD_Connection *c, unsigned status)
{
	return http_reply_text(c, status, NULL, "");
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Whether the entity-tag list in value (If-None-Match or If-Match) names
 * etag: "*" matches anything; weak comparison ignores a W/ prefix.
 */
static bool etag_listed(const char *value, const char *etag, bool weak)
{
	size_t elen = strlen(etag);
	const char *p = skip_ows(value);

	if (strcmp(p, "*") == 0)
		return true;
	while (*p) {
		bool is_weak = strncmp(p, "W/", 2) == 0;
		const char *q = is_weak ? p + 2 : p, *end;

		if (*q != '"')
			return false;
		end = strchr(q + 1, '"');
		if (!end)
			return false;
		if ((weak || !is_weak) && (size_t)(end + 1 - q) == elen &&
		    memcmp(q, etag, elen) == 0)
			return true;
		p = skip_ows(end + 1);
		if (*p == ',')
			p = skip_ows(p + 1);
		else if (*p)
			return false;
	}
	return false;
}

static int parse_num(const char *p, const char **end, uint64_t *ret)
{
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*end = p;
	*ret = v;
	return 0;
}

/*
 * Parses a Range header for a body of size bytes (RFC 9110 §14.1.2). Any
 * syntax error, another unit, or more than one range is RANGE_NONE (the
 * header is ignored and the whole body served).
 */
static enum range_kind parse_range(const char *h, uint64_t size, struct range *ret)
{
	const char *p = skip_ows(h);
	uint64_t a = 0, b = UINT64_MAX;
	bool suffix = false;
	int r;

	if (strncmp(p, "bytes=", 6) != 0)
		return RANGE_NONE;
	p = skip_ows(p + 6);
	if (*p == '-') {
		suffix = true;
		r = parse_num(p + 1, &p, &b);
	} else {
		r = parse_num(p, &p, &a);
		if (r == 0 && *p++ != '-')
			return RANGE_NONE;
		if (r == 0 && *p >= '0' && *p <= '9')
			r = parse_num(p, &p, &b);
	}
	if (r == -ERANGE && !suffix && *p == '\0')
		return RANGE_UNSATISFIABLE;
	if (r < 0 || *skip_ows(p) != '\0')
		return RANGE_NONE;
	if (suffix) {
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		ret->first = b >= size ? 0 : size - b;
		ret->last = size - 1;
		return RANGE_ONE;
	}
	if (b < a)
		return RANGE_NONE;
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	ret->first = a;
	ret->last = b >= size ? size - 1 : b;
	return RANGE_ONE;
}

static int add_headers(struct MHD_Response *resp, const char *etag)
{
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag) != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes") != MHD_YES)
		return -ENOMEM;
	return 0;
}

static enum MHD_Result reply_unsatisfiable(struct MHD_Connection *c, const char *etag,
					   uint64_t size)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	char cr[64];
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
	if (add_headers(resp, etag) < 0 ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_not_modified(struct MHD_Connection *c, const char *etag)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, MHD_HTTP_NOT_MODIFIED, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Queues the body [first, last] of fd (which the response takes). */
static enum MHD_Result reply_file(struct MHD_Connection *c, int fd, const char *etag,
				  const char *disposition, uint64_t size,
				  const struct range *rg, bool partial)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char cr[96];

	resp = MHD_create_response_from_fd_at_offset64(rg->last - rg->first + 1, fd,
						       rg->first);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, rg->first,
		 rg->last, size);
	if (add_headers(resp, etag) < 0 ||
	    (disposition && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
						    disposition) != MHD_YES) ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "application/octet-stream") != MHD_YES ||
	    (partial &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, partial ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Whether the Range header applies: GET only, and If-Range (if any) names etag. */
static bool range_applies(struct MHD_Connection *c, bool head, const char *etag)
{
	const char *ir = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_IF_RANGE);

	if (head)
		return false;
	return !ir || strcmp(skip_ows(ir), etag) == 0;
}

enum MHD_Result http_send_file(struct MHD_Connection *c, bool head, const struct http_file *f,
			       bool *ret_full)
{
	const char *inm, *im, *rh;
	enum range_kind rk = RANGE_NONE;
	struct range rg;

	*ret_full = false;
	im = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
	inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (im && !etag_listed(im, f->etag, false)) {
		close(f->fd);
		return status_only(c, MHD_HTTP_PRECONDITION_FAILED);
	}
	if (inm && etag_listed(inm, f->etag, true)) {
		close(f->fd);
		return reply_not_modified(c, f->etag);
	}
	rg.first = 0;
	rg.last = f->size - 1;
	rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	if (rh && range_applies(c, head, f->etag))
		rk = parse_range(rh, f->size, &rg);
	if (rk == RANGE_UNSATISFIABLE) {
		close(f->fd);
		return reply_unsatisfiable(c, f->etag, f->size);
	}
	*ret_full = rk == RANGE_NONE;
	if (f->size == 0) {
		close(f->fd);
		return http_reply_text(c, MHD_HTTP_OK, "application/octet-stream", "");
	}
	return reply_file(c, f->fd, f->etag, f->disposition, f->size, &rg, rk == RANGE_ONE);
}

enum MHD_Result http_serve_charm(struct http_server *hs, struct http_req *rq,
				 struct MHD_Connection *c, const char *path)
{
	char s[URL_INPUT_MAX + 4], blob[4096], etag[68], disp[URL_NAME_MAX + 64];
	struct store_rev rev;
	struct http_file f = { .etag = etag, .disposition = disp };
	struct stat st;
	struct url u;
	enum MHD_Result ret;
	bool full;
	int fd, r;

	if (strlen(path) > URL_INPUT_MAX)
		return http_reply_not_found(c);
	snprintf(s, sizeof(s), "cs:%s", path);
	if (url_parse(s, &u, NULL, 0) < 0 || http_resolve(hs, &u) < 0)
		return http_reply_not_found(c);
	r = query_rev(hs->store, &u, &rev);
	if (r < 0)
		return r == -ENOENT ? http_reply_not_found(c)
				    : status_only(c, MHD_HTTP_INTERNAL_SERVER_ERROR);
	store_blob_path(hs->store, rev.sha256, blob, sizeof(blob));
	fd = open(blob, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = errno;
		if (fd >= 0)
			close(fd);
		/* Deleted between the lookup and the open. */
		return r == ENOENT ? http_reply_not_found(c)
				   : status_only(c, MHD_HTTP_INTERNAL_SERVER_ERROR);
	}
	snprintf(etag, sizeof(etag), "\"%s\"", rev.sha256);
	/* Names are [a-z0-9-] (url.h): nothing to quote. */
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s-%d.charm\"", u.name, rev.revision);
	f.fd = fd;
	f.size = (uint64_t)st.st_size;
	ret = http_send_file(c, rq->head, &f, &full);
	if (full && http_stats_enabled(hs, c)) {
		rq->count_bundle = true;
		rq->bundle_url = u;
	}
	return ret;
}
