/*
 * Fuzz target for meta_parse() (backend/yamlcfg.c over yamltree.c), which
 * reads the metadata.yaml of every published charm. The input is handed
 * over as is, without a terminating NUL, as charm_open() does with the
 * bytes it buffered. Checked: a refusal is -EINVAL or -EFBIG with at least
 * one message, each prefixed "metadata.yaml: "; an accepted document has a
 * name and complete relations, and nothing leaks either way.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamlcfg.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_meta: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                         \
			abort();                                                          \
		}                                                                         \
	} while (0)

static void check_meta(const struct charm_meta *m)
{
	CHECK(m && m->name);
	CHECK(m->n_relations == 0 || m->relations);
	for (size_t i = 0; i < m->n_relations; i++) {
		const struct charm_relation *rel = &m->relations[i];
		CHECK(rel->name && rel->name[0] && rel->interface && rel->interface[0]);
		CHECK(rel->role == REL_PROVIDES || rel->role == REL_REQUIRES ||
		      rel->role == REL_PEERS);
		CHECK(rel->scope == SCOPE_GLOBAL || rel->scope == SCOPE_CONTAINER);
		CHECK(rel->limit >= 0);
		(void)meta_is_known_hook(m, rel->name);
	}
	CHECK(meta_is_known_hook(m, "install"));
	(void)meta_is_known_hook(m, "");
	(void)meta_is_known_hook(m, "-relation-joined");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct charm_meta *m = NULL;
	struct strv errors = { 0 };
	int r = meta_parse((const char *)data, size, &m, &errors);

	if (r == 0) {
		check_meta(m);
		meta_free(m);
	} else {
		CHECK(r == -EINVAL || r == -EFBIG);
		CHECK(m == NULL);
		CHECK(errors.n > 0);
	}
	for (size_t i = 0; i < errors.n; i++)
		CHECK(strncmp(errors.v[i], "metadata.yaml: ", 15) == 0);
	strv_clear(&errors);
	return 0;
}
