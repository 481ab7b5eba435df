/*
 * metadata.yaml and config.yaml: reads the bounded YAML tree (yamltree.h)
 * into owned structs and checks them by SPEC §4.2, after the original
 * juju/charm meta.go and config.go. Checking never stops at the first
 * problem: every message goes to the caller's list (prefixed with the file
 * name), and the result is -EINVAL when there was any. Messages quote user
 * strings Go-%q style and keep the original's wording where it had one
 * (`invalid config default: option "t" expected float, got 123`).
 *
 * metadata.yaml is checked strictly, like the original's schema package:
 * name, summary and description must be strings, unknown keys are ignored.
 * config.yaml follows yaml.v1 struct decoding: type and description may be
 * any scalar (taken as text), while defaults must have exactly the YAML type
 * of the option (an int is not a float). No global state: thread-safe.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamlcfg.h"
#include "yamltree.h"
#include "banned.h"

/* Where messages go while reading one file. */
struct check {
	const char *file;
	struct strv *errors;
	int r; /* 0, -EINVAL once a problem was reported, or -ENOMEM */
};

static const char *const role_keys[] = {
    [REL_PROVIDES] = "provides", [REL_REQUIRES] = "requires", [REL_PEERS] = "peers"};

static const char *const type_names[] = {
    [OPT_STRING] = "string", [OPT_INT] = "int", [OPT_FLOAT] = "float", [OPT_BOOLEAN] = "boolean"};

/* Records a problem "file: ..." and makes c->r -EINVAL (or -ENOMEM). */
static void problem(struct check *c, const char *fmt, ...) PRINTF(2, 3);
static void problem(struct check *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = strv_verrf(c->errors, -EINVAL, c->file, fmt, ap);
	va_end(ap);
	if (r == -ENOMEM || c->r == 0)
		c->r = r;
}

static char *dup_or_fail(struct check *c, const char *s)
{
	char *d = strdup(s);

	if (!d)
		c->r = -ENOMEM;
	return d;
}

static const char *quote(const char *s, char out[YTREE_QUOTE_MAX])
{
	return ytree_quote(s ? s : "", s ? strlen(s) : 0, out);
}

static const char *quote_node(const struct ynode *n, char out[YTREE_QUOTE_MAX])
{
	return ytree_quote(n->text, n->len, out);
}

const char *opt_type_name(enum opt_type t)
{
	return (unsigned)t < ARRAY_SIZE(type_names) ? type_names[t] : "unknown";
}

/* ---- typed fields (metadata, strict) ------------------------------------ */

static void get_string(struct check *c, const char *where, const struct ynode *map, const char *key,
		       bool required, char **ret)
{
	const struct ynode *n = ynode_get(map, key);

	if (ynode_is_null(n)) {
		if (required)
			problem(c, "%s%s: expected string, got nothing", where, key);
	} else if (n->kind == YNODE_SCALAR && n->type == YSCALAR_STR && !ynode_is_cstring(n)) {
		problem(c, "%s%s: string contains a NUL byte", where, key);
	} else if (!ynode_is_cstring(n)) {
		problem(c, "%s%s: expected string, got %s", where, key, ynode_type_name(n));
	} else {
		*ret = dup_or_fail(c, n->text);
	}
}

static void get_bool(struct check *c, const char *where, const struct ynode *map, const char *key,
		     bool *ret)
{
	const struct ynode *n = ynode_get(map, key);

	if (ynode_is_null(n))
		return;
	if (n->kind == YNODE_SCALAR && n->type == YSCALAR_BOOL)
		*ret = n->b;
	else
		problem(c, "%s%s: expected bool, got %s", where, key, ynode_type_name(n));
}

static void get_limit(struct check *c, const char *where, const struct ynode *map, int *ret)
{
	const struct ynode *n = ynode_get(map, "limit");

	if (ynode_is_null(n))
		return;
	if (n->kind != YNODE_SCALAR || n->type != YSCALAR_INT)
		problem(c, "%slimit: expected int, got %s", where, ynode_type_name(n));
	else if (n->i < 0 || n->i > INT_MAX)
		problem(c, "%slimit: must be between 0 and %d, got %" PRId64, where, INT_MAX, n->i);
	else
		*ret = (int)n->i;
}

static void get_scope(struct check *c, const char *where, const struct ynode *map,
		      enum rel_scope *ret)
{
	const struct ynode *n = ynode_get(map, "scope");
	char q[YTREE_QUOTE_MAX];

	if (ynode_is_null(n))
		return;
	if (!ynode_is_cstring(n))
		problem(c, "%sscope: expected string, got %s", where, ynode_type_name(n));
	else if (strcmp(n->text, "global") == 0)
		*ret = SCOPE_GLOBAL;
	else if (strcmp(n->text, "container") == 0)
		*ret = SCOPE_CONTAINER;
	else
		problem(c, "%sscope: expected \"global\" or \"container\", got %s", where,
			quote_node(n, q));
}

/* ---- metadata.yaml ------------------------------------------------------ */

/* ^[a-z][a-z0-9]*(-[a-z0-9]*[a-z][a-z0-9]*)*$ */
static bool valid_charm_name(const char *s)
{
	bool letter = false;

	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (; *s; s++) {
		if (*s == '-') {
			if (!letter)
				return false;
			letter = false;
		} else if (*s >= 'a' && *s <= 'z') {
			letter = true;
		} else if (!(*s >= '0' && *s <= '9')) {
			return false;
		}
	}
	return letter;
}

static bool valid_relation_name(const struct ynode *key)
{
	if (key->kind != YNODE_SCALAR || key->len == 0 || strlen(key->text) != key->len)
		return false;
	return strpbrk(key->text, "/ \t\r\n\v\f") == NULL;
}

static bool reserved_name(const char *s)
{
	return s && (strcmp(s, "juju") == 0 || strncmp(s, "juju-", 5) == 0);
}

static void read_relation_fields(struct check *c, const char *where, const struct ynode *val,
				 struct charm_relation *rel)
{
	if (ynode_is_cstring(val)) {
		rel->interface = dup_or_fail(c, val->text);
	} else if (val && val->kind == YNODE_MAP) {
		get_string(c, where, val, "interface", true, &rel->interface);
		get_limit(c, where, val, &rel->limit);
		get_bool(c, where, val, "optional", &rel->optional);
		get_scope(c, where, val, &rel->scope);
	} else {
		problem(c, "%sexpected interface string or map, got %s", where,
			ynode_type_name(val));
	}
	if (rel->interface && !*rel->interface)
		problem(c, "%sinterface: empty string", where);
}

static void read_relation(struct check *c, enum rel_role role, const struct ynode *key,
			  const struct ynode *val, struct charm_relation *rel)
{
	char q[YTREE_QUOTE_MAX], where[YTREE_QUOTE_MAX + 32];

	rel->role = role;
	rel->scope = SCOPE_GLOBAL;
	rel->limit = role == REL_PROVIDES ? 0 : 1;
	if (key->kind != YNODE_SCALAR) {
		problem(c, "%s: relation name: expected string, got %s", role_keys[role],
			ynode_type_name(key));
		return;
	}
	quote_node(key, q);
	if (!valid_relation_name(key))
		problem(c, "%s: invalid relation name %s", role_keys[role], q);
	rel->name = dup_or_fail(c, key->text);
	snprintf(where, sizeof(where), "%s: relation %s: ", role_keys[role], q);
	read_relation_fields(c, where, val, rel);
}

static size_t count_relations(const struct ynode *root)
{
	size_t n = 0;

	for (size_t r = 0; r < ARRAY_SIZE(role_keys); r++) {
		const struct ynode *map = ynode_get(root, role_keys[r]);

		if (map && map->kind == YNODE_MAP)
			n += map->n;
	}
	return n;
}

static void read_relations(struct check *c, const struct ynode *root, enum rel_role role,
			   struct charm_meta *m)
{
	const struct ynode *map = ynode_get(root, role_keys[role]);

	if (ynode_is_null(map))
		return;
	if (map->kind != YNODE_MAP) {
		problem(c, "%s: expected map, got %s", role_keys[role], ynode_type_name(map));
		return;
	}
	for (size_t i = 0; i < map->n && c->r != -ENOMEM; i++)
		read_relation(c, role, map->items[2 * i], map->items[2 * i + 1],
			      &m->relations[m->n_relations++]);
}

static bool is_container_require(const struct charm_meta *m, const struct charm_relation *rel)
{
	return m->subordinate && rel->role == REL_REQUIRES && rel->scope == SCOPE_CONTAINER;
}

static int cmp_relation_names(const void *a, const void *b)
{
	const struct charm_relation *x = *(const struct charm_relation *const *)a;
	const struct charm_relation *y = *(const struct charm_relation *const *)b;

	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void check_duplicate_relations(struct check *c, const struct charm_meta *m)
{
	const struct charm_relation **v = malloc((m->n_relations + 1) * sizeof(*v));
	char q1[YTREE_QUOTE_MAX], q2[YTREE_QUOTE_MAX];

	if (!v) {
		c->r = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < m->n_relations; i++)
		v[i] = &m->relations[i];
	qsort(v, m->n_relations, sizeof(*v), cmp_relation_names);
	for (size_t i = 1; i < m->n_relations; i++)
		if (v[i]->name && cmp_relation_names(&v[i - 1], &v[i]) == 0 &&
		    (i < 2 || cmp_relation_names(&v[i - 2], &v[i]) != 0))
			problem(c, "charm %s using a duplicated relation name: %s",
				quote(m->name, q1), quote(v[i]->name, q2));
	free(v);
}

/* Meta.Check(): reserved names and interfaces, duplicates, subordinates. */
static void check_meta(struct check *c, const struct charm_meta *m)
{
	char q1[YTREE_QUOTE_MAX], q2[YTREE_QUOTE_MAX], q3[YTREE_QUOTE_MAX];
	bool container = false;

	for (size_t i = 0; i < m->n_relations; i++) {
		const struct charm_relation *rel = &m->relations[i];

		if (reserved_name(rel->name) && !is_container_require(m, rel))
			problem(c, "charm %s using a reserved relation name: %s",
				quote(m->name, q1), quote(rel->name, q2));
		if (rel->role != REL_REQUIRES && reserved_name(rel->interface))
			problem(c, "charm %s relation %s using a reserved interface: %s",
				quote(m->name, q1), quote(rel->name, q2),
				quote(rel->interface, q3));
		container = container || is_container_require(m, rel);
	}
	if (m->subordinate && !container)
		problem(c, "subordinate charm %s lacks \"requires\" relation with container scope",
			quote(m->name, q1));
	check_duplicate_relations(c, m);
}

static void read_meta(struct check *c, const struct ynode *root, struct charm_meta *m)
{
	char q[YTREE_QUOTE_MAX];
	size_t n = count_relations(root);

	get_string(c, "", root, "name", true, &m->name);
	get_string(c, "", root, "summary", true, &m->summary);
	get_string(c, "", root, "description", true, &m->description);
	if (m->name && !valid_charm_name(m->name))
		problem(c, "invalid charm name: %s", quote(m->name, q));
	get_bool(c, "", root, "subordinate", &m->subordinate);
	m->relations = calloc(n ? n : 1, sizeof(*m->relations));
	if (!m->relations) {
		c->r = -ENOMEM;
		return;
	}
	read_relations(c, root, REL_PROVIDES, m);
	read_relations(c, root, REL_REQUIRES, m);
	read_relations(c, root, REL_PEERS, m);
	if (c->r != -ENOMEM)
		check_meta(c, m);
}

int meta_parse(const char *data, size_t len, struct charm_meta **ret, struct strv *errors)
{
	struct check c = {.file = "metadata.yaml", .errors = errors};
	const struct ynode *root;
	struct charm_meta *m;
	struct ytree *t;
	int r;

	r = ytree_parse(data, len, c.file, &t, errors);
	if (r < 0)
		return r;
	m = calloc(1, sizeof(*m));
	root = ytree_root(t);
	if (!m)
		c.r = -ENOMEM;
	else if (!root)
		problem(&c, "empty document");
	else if (root->kind != YNODE_MAP)
		problem(&c, "expected map at top level, got %s", ynode_type_name(root));
	else
		read_meta(&c, root, m);
	ytree_free(t);
	if (c.r < 0) {
		meta_free(m);
		return c.r;
	}
	*ret = m;
	return 0;
}

void meta_free(struct charm_meta *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_relations; i++) {
		free(m->relations[i].name);
		free(m->relations[i].interface);
	}
	free(m->relations);
	free(m->name);
	free(m->summary);
	free(m->description);
	free(m);
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

bool meta_is_known_hook(const struct charm_meta *m, const char *hook_name)
{
	static const char *const unit[] = {
	    "install", "start", "config-changed", "upgrade-charm", "stop", "remove", NULL};
	static const char *const rel[] = {"joined", "changed", "departed", "broken", NULL};
	static const char infix[] = "-relation-";

	if (in_list(hook_name, unit))
		return true;
	for (size_t i = 0; m && i < m->n_relations; i++) {
		size_t n = strlen(m->relations[i].name);

		if (strncmp(hook_name, m->relations[i].name, n) == 0 &&
		    strncmp(hook_name + n, infix, strlen(infix)) == 0 &&
		    in_list(hook_name + n + strlen(infix), rel))
			return true;
	}
	return false;
}

/* ---- config.yaml -------------------------------------------------------- */

/* The default as the original printed it with %#v. */
static const char *value_repr(const struct ynode *n, char out[YTREE_QUOTE_MAX])
{
	if (n->kind != YNODE_SCALAR)
		return ynode_type_name(n);
	switch (n->type) {
	case YSCALAR_STR:
		return quote_node(n, out);
	case YSCALAR_INT:
		snprintf(out, YTREE_QUOTE_MAX, "%" PRId64, n->i);
		return out;
	case YSCALAR_BOOL:
		return n->b ? "true" : "false";
	default:
		snprintf(out, YTREE_QUOTE_MAX, "%.100s", n->text);
		return out;
	}
}

static bool take_default(struct check *c, struct charm_option *o, const struct ynode *d)
{
	if (d->kind != YNODE_SCALAR)
		return false;
	switch (o->type) {
	case OPT_STRING:
		if (!ynode_is_cstring(d))
			return false;
		o->s = dup_or_fail(c, d->text);
		return true;
	case OPT_INT:
		o->i = d->i;
		return d->type == YSCALAR_INT;
	case OPT_FLOAT:
		o->f = d->f;
		return d->type == YSCALAR_FLOAT;
	case OPT_BOOLEAN:
		o->b = d->b;
		return d->type == YSCALAR_BOOL;
	}
	return false;
}

static void read_default(struct check *c, struct charm_option *o, const struct ynode *d,
			 const char *qname)
{
	char q[YTREE_QUOTE_MAX];

	if (ynode_is_null(d))
		return;
	if (take_default(c, o, d))
		o->has_default = true;
	else
		problem(c, "invalid config default: option %s expected %s, got %s", qname,
			opt_type_name(o->type), value_repr(d, q));
}

/* Returns false (after a message) when the option's type is unusable. */
static bool read_type(struct check *c, struct charm_option *o, const struct ynode *n,
		      const char *qname)
{
	char q[YTREE_QUOTE_MAX];

	o->type = OPT_STRING;
	if (ynode_is_null(n))
		return true;
	if (n->kind != YNODE_SCALAR) {
		problem(c, "invalid config: option %s: type: expected string, got %s", qname,
			ynode_type_name(n));
		return false;
	}
	for (size_t t = 0; t < ARRAY_SIZE(type_names); t++) {
		if (n->len == strlen(type_names[t]) && strcmp(n->text, type_names[t]) == 0) {
			o->type = (enum opt_type)t;
			return true;
		}
	}
	problem(c, "invalid config: option %s has unknown type %s", qname, quote_node(n, q));
	return false;
}

static void read_description(struct check *c, struct charm_option *o, const struct ynode *n,
			     const char *qname)
{
	if (ynode_is_null(n)) {
		o->description = dup_or_fail(c, "");
	} else if (n->kind != YNODE_SCALAR) {
		problem(c, "invalid config: option %s: description: expected string, got %s", qname,
			ynode_type_name(n));
	} else if (strlen(n->text) != n->len) {
		problem(c, "invalid config: option %s: description: string contains a NUL byte",
			qname);
	} else {
		o->description = dup_or_fail(c, n->text);
	}
}

static void read_option(struct check *c, const struct ynode *key, const struct ynode *val,
			struct charm_option *o)
{
	char qname[YTREE_QUOTE_MAX];

	if (key->kind != YNODE_SCALAR || key->len == 0 || strlen(key->text) != key->len) {
		problem(c, "invalid config: option name must be a non-empty string");
		return;
	}
	o->name = dup_or_fail(c, key->text);
	quote_node(key, qname);
	if (!ynode_is_null(val) && val->kind != YNODE_MAP) {
		problem(c, "invalid config: option %s: expected map, got %s", qname,
			ynode_type_name(val));
		return;
	}
	read_description(c, o, ynode_get(val, "description"), qname);
	if (read_type(c, o, ynode_get(val, "type"), qname))
		read_default(c, o, ynode_get(val, "default"), qname);
}

static int cmp_options(const void *a, const void *b)
{
	const struct charm_option *x = a, *y = b;

	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void read_config(struct check *c, const struct ynode *root, struct charm_config *cfg)
{
	const struct ynode *opts = ynode_get(root, "options");

	if (ynode_is_null(opts))
		return;
	if (opts->kind != YNODE_MAP) {
		problem(c, "invalid config: options: expected map, got %s", ynode_type_name(opts));
		return;
	}
	cfg->options = calloc(opts->n ? opts->n : 1, sizeof(*cfg->options));
	if (!cfg->options) {
		c->r = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < opts->n && c->r != -ENOMEM; i++)
		read_option(c, opts->items[2 * i], opts->items[2 * i + 1],
			    &cfg->options[cfg->n_options++]);
	qsort(cfg->options, cfg->n_options, sizeof(*cfg->options), cmp_options);
}

int config_parse(const char *data, size_t len, struct charm_config **ret, struct strv *errors)
{
	struct check c = {.file = "config.yaml", .errors = errors};
	const struct ynode *root;
	struct charm_config *cfg;
	struct ytree *t;
	int r;

	r = ytree_parse(data, len, c.file, &t, errors);
	if (r < 0)
		return r;
	cfg = calloc(1, sizeof(*cfg));
	root = ytree_root(t);
	if (!cfg)
		c.r = -ENOMEM;
	else if (!root)
		problem(&c, "invalid config: empty configuration");
	else if (root->kind != YNODE_MAP)
		problem(&c, "invalid config: expected map, got %s", ynode_type_name(root));
	else
		read_config(&c, root, cfg);
	ytree_free(t);
	if (c.r < 0) {
		config_free(cfg);
		return c.r;
	}
	*ret = cfg;
	return 0;
}

void config_free(struct charm_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_options; i++) {
		free(c->options[i].name);
		free(c->options[i].description);
		free(c->options[i].s);
	}
	free(c->options);
	free(c);
}
