/*
 * Fuzz target for lock_parse_request() (backend/lock.c), which parses the
 * lines written to locks/ctl. Checked: a refusal is -EINVAL with a
 * message; an accepted request is a lock of 1..LOCK_REQ_URLS_MAX cs: URLs
 * with a series and no revision, or an unlock of a well-formed LOCKID.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_lockreq: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                            \
			abort();                                                             \
		}                                                                            \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lock_req *req = malloc(sizeof(*req));
	char err[256] = "";
	int r;

	if (!req)
		return 0;
	r = lock_parse_request((const char *)data, size, req, err, sizeof(err));
	if (r < 0) {
		CHECK(r == -EINVAL && err[0]);
	} else if (req->kind == LOCK_REQ_LOCK) {
		CHECK(req->n_urls >= 1 && req->n_urls <= LOCK_REQ_URLS_MAX);
		for (size_t i = 0; i < req->n_urls; i++)
			CHECK(req->urls[i].series[0] && req->urls[i].revision < 0 &&
			      strcmp(req->urls[i].schema, "cs") == 0);
	} else {
		CHECK(req->kind == LOCK_REQ_UNLOCK && lock_id_valid(req->id));
	}
	free(req);
	return 0;
}
