/*
 * Fuzz target for req_parse_publish() (backend/request.c), which parses
 * the lines written to publish/ctl. The input is handed over as is, as
 * the write() bytes would be. Checked: a refusal is -EINVAL with a
 * message; an accepted request holds 1 to REQ_MAX_URLS cs: URLs with a
 * series and no revision, a file name without '/', and bounded fields; and
 * the request written back as a line from the struct parses to the same
 * struct.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_request: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                            \
			abort();                                                             \
		}                                                                            \
	} while (0)

static bool same_request(const struct req_publish *a, const struct req_publish *b)
{
	if (strcmp(a->digest, b->digest) != 0 || a->n_urls != b->n_urls ||
	    strcmp(a->file, b->file) != 0 || strcmp(a->lock, b->lock) != 0)
		return false;
	for (size_t i = 0; i < a->n_urls; i++) {
		const struct url *x = &a->urls[i], *y = &b->urls[i];
		if (strcmp(x->schema, y->schema) != 0 || strcmp(x->user, y->user) != 0 ||
		    strcmp(x->series, y->series) != 0 || strcmp(x->name, y->name) != 0 ||
		    x->revision != y->revision)
			return false;
	}
	return true;
}

/* Writes req back as a request line and checks that it parses to the same struct. */
static void check_round_trip(const struct req_publish *req)
{
	struct req_publish *again = malloc(sizeof(*again));
	struct buf line;
	char err[512];

	CHECK(again != NULL);
	buf_init(&line, REQ_LINE_MAX * 2);
	CHECK(buf_addf(&line, "publish %s", req->digest) == 0);
	for (size_t i = 0; i < req->n_urls; i++) {
		char u[URL_STR_MAX];
		url_format(&req->urls[i], u, sizeof(u));
		CHECK(buf_addf(&line, " %s", u) == 0);
	}
	CHECK(buf_addf(&line, " < incoming/%s", req->file) == 0);
	if (req->lock[0])
		CHECK(buf_addf(&line, " lock=%s", req->lock) == 0);
	CHECK(buf_add(&line, "\n", 1) == 0);
	if (line.len - 1 <= REQ_LINE_MAX) {
		CHECK(req_parse_publish(line.data, line.len, again, err, sizeof(err)) == 0);
		CHECK(same_request(req, again));
	}
	buf_free(&line);
	free(again);
}

static void check_request(const struct req_publish *req)
{
	CHECK(req->n_urls >= 1 && req->n_urls <= REQ_MAX_URLS);
	CHECK(req->digest[0] && strlen(req->digest) <= REQ_DIGEST_MAX);
	CHECK(!strpbrk(req->digest, " \t\n"));
	for (size_t i = 0; i < req->n_urls; i++) {
		const struct url *u = &req->urls[i];
		CHECK(strcmp(u->schema, "cs") == 0 && u->series[0] && u->revision == -1);
		CHECK(url_valid_name(u->name) && url_valid_series(u->series));
		CHECK(!u->user[0] || url_valid_user(u->user));
	}
	CHECK(req->file[0] && !strchr(req->file, '/') && strlen(req->file) <= REQ_FILE_MAX);
	CHECK(strcmp(req->file, ".") != 0 && strcmp(req->file, "..") != 0);
	CHECK(!strpbrk(req->file, " \t\n") && !strpbrk(req->lock, " \t\n"));
	CHECK(strlen(req->lock) <= REQ_LOCK_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct req_publish *req = malloc(sizeof(*req));
	char err[512];
	int r;

	if (!req)
		return 0;
	err[0] = '\0';
	r = req_parse_publish((const char *)data, size, req, err, sizeof(err));
	if (r == 0) {
		check_request(req);
		check_round_trip(req);
	} else {
		CHECK(r == -EINVAL);
		CHECK(err[0] != '\0');
	}
	free(req);
	return 0;
}
