/*
 * Fuzz target for config_parse() (backend/yamlcfg.c over yamltree.c),
 * which reads the config.yaml of every published charm. The input is
 * handed over as is, without a terminating NUL. Checked: a refusal is
 * -EINVAL or -EFBIG with at least one message, each prefixed
 * "config.yaml: "; an accepted document has its options sorted by name
 * without duplicates, each with a known type, a description and a default
 * of that type; nothing leaks either way.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamlcfg.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz_config: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                           \
			abort();                                                            \
		}                                                                           \
	} while (0)

static void check_config(const struct charm_config *c)
{
	CHECK(c);
	CHECK(c->n_options == 0 || c->options);
	for (size_t i = 0; i < c->n_options; i++) {
		const struct charm_option *o = &c->options[i];
		CHECK(o->name && o->name[0] && o->description);
		CHECK(i == 0 || strcmp(c->options[i - 1].name, o->name) < 0);
		CHECK(o->type == OPT_STRING || o->type == OPT_INT || o->type == OPT_FLOAT ||
		      o->type == OPT_BOOLEAN);
		CHECK(opt_type_name(o->type) != NULL);
		if (o->has_default && o->type == OPT_STRING)
			CHECK(o->s != NULL);
		if (o->has_default && o->type == OPT_FLOAT)
			(void)isfinite(o->f);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct charm_config *c = NULL;
	struct strv errors = { 0 };
	int r = config_parse((const char *)data, size, &c, &errors);

	if (r == 0) {
		check_config(c);
		config_free(c);
	} else {
		CHECK(r == -EINVAL || r == -EFBIG);
		CHECK(c == NULL);
		CHECK(errors.n > 0);
	}
	for (size_t i = 0; i < errors.n; i++)
		CHECK(strncmp(errors.v[i], "config.yaml: ", 13) == 0);
	strv_clear(&errors);
	return 0;
}
