/*
 * metadata.yaml and config.yaml: parsing with libyaml into bounded trees
 * and checking them by the rules of SPEC §4.2 (the original juju/charm
 * meta.go and config.go semantics, stricter where SPEC says so).
 *
 * Limits for every YAML document: at most YAML_MAX_BYTES bytes (-EFBIG),
 * nesting depth YAML_MAX_DEPTH, at most YAML_MAX_ALIASES aliases (-EINVAL).
 * Aliases are never expanded by copying, so alias bombs cost nothing.
 */
#ifndef CHARMFS_YAMLCFG_H
#define CHARMFS_YAMLCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define YAML_MAX_BYTES (1024 * 1024)
#define YAML_MAX_DEPTH 64
#define YAML_MAX_ALIASES 100

enum rel_role { REL_PROVIDES, REL_REQUIRES, REL_PEERS };
enum rel_scope { SCOPE_GLOBAL, SCOPE_CONTAINER };

struct charm_relation {
	char *name;
	char *interface;
	enum rel_role role;
	enum rel_scope scope;
	bool optional;
	int limit; /* 0 = unlimited */
};

struct charm_meta {
	char *name;
	char *summary;
	char *description;
	bool subordinate;
	struct charm_relation *relations;
	size_t n_relations;
};

enum opt_type { OPT_STRING, OPT_INT, OPT_FLOAT, OPT_BOOLEAN };

struct charm_option {
	char *name;
	enum opt_type type;
	char *description;  /* "" when absent */
	bool has_default;
	/* The default, typed; valid when has_default. */
	char *s;   /* OPT_STRING */
	int64_t i; /* OPT_INT */
	double f;  /* OPT_FLOAT */
	bool b;    /* OPT_BOOLEAN */
};

struct charm_config {
	struct charm_option *options; /* sorted by name */
	size_t n_options;
};

/*
 * Parses and checks metadata.yaml. Returns 0 and *ret, or -EINVAL / -EFBIG
 * with messages (prefixed "metadata.yaml: ") appended to errors.
 */
int meta_parse(const char *data, size_t len, struct charm_meta **ret, struct strv *errors) WUR;
void meta_free(struct charm_meta *m);

/*
 * Parses and checks config.yaml. Returns 0 and *ret, or -EINVAL / -EFBIG
 * with messages (prefixed "config.yaml: ") appended to errors.
 */
int config_parse(const char *data, size_t len, struct charm_config **ret, struct strv *errors) WUR;
void config_free(struct charm_config *c);

const char *opt_type_name(enum opt_type t);

/* Is name a hook the charm's relations or the unit lifecycle know? */
bool meta_is_known_hook(const struct charm_meta *m, const char *hook_name);

#endif
