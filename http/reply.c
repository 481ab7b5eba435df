/*
 * What every HTTP handler shares: queueing a reply, whether a request
 * counts, counting, and resolving a URL without series. A leaf of the
 * HTTP front end: it calls only libmicrohttpd and the core API.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "query.h"
#include "banned.h"

/* ---- replies ------------------------------------------------------------- */

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, const char *ctype,
			     struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (ctype && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result http_reply_take(struct MHD_Connection *c, unsigned status, const char *ctype,
				char *body, size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	return queue(c, status, ctype, resp);
}

enum MHD_Result http_reply_text(struct MHD_Connection *c, unsigned status, const char *ctype,
				const char *text)
{
	return queue(c, status, ctype,
		     MHD_create_response_from_buffer(strlen(text), (void *)text,
						     MHD_RESPMEM_MUST_COPY));
}

enum MHD_Result http_reply_not_found(struct MHD_Connection *c)
{
	return http_reply_text(c, MHD_HTTP_NOT_FOUND, HTTP_TEXT_TYPE, "404 page not found\n");
}

enum MHD_Result http_reply_redirect(struct MHD_Connection *c, const char *location)
{
	static const char body[] = "<a href=\"https://juju.ubuntu.com\">See Other</a>.\n\n";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);

	if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location) != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return queue(c, MHD_HTTP_SEE_OTHER, "text/html; charset=utf-8", resp);
}

enum MHD_Result http_reply_blitz(struct MHD_Connection *c)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(2, (void *)"42",
								    MHD_RESPMEM_PERSISTENT);

	if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	return queue(c, MHD_HTTP_OK, "text/plain", resp);
}

/* ---- counting and resolution ------------------------------------------- */

bool http_stats_enabled(const struct http_server *hs, struct MHD_Connection *c)
{
	const char *v;

	if (!hs->opts.stats)
		return false;
	v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "stats");
	return !v || strcmp(v, "0") != 0;
}

void http_count(struct http_server *hs, enum store_count_kind kind, const struct url *u)
{
	int r = store_count(hs->store, kind, u);

	(void)r; /* dropped, as the original dropped it: counting never fails a request */
}

int http_resolve(struct http_server *hs, struct url *u)
{
	if (u->series[0])
		return 0;
	return query_resolve_series(hs->store, u, u->series, sizeof(u->series));
}
