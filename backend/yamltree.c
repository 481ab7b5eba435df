/*
 * The YAML tree behind yamlcfg: libyaml's event API drives a small builder
 * that keeps a stack of open collections (at most YAML_MAX_DEPTH) and one
 * shared vector of pending children; when a collection ends, its children
 * are copied out of the vector into the node. Every node, string and item
 * array lives in an arena owned by the tree, so freeing is one walk over the
 * arena's chunks and aliases can simply point at their anchored node.
 *
 * Anchors are registered when their node is complete, so an alias cannot
 * refer to an enclosing collection and the tree has no cycles. Only the
 * first document is read; parsing stops at its end. Plain scalars are typed
 * by the YAML 1.1 rules of Go yaml.v1; quoted and block scalars, and the
 * non-specific "!" tag, are strings; !!str/!!int/!!float/!!bool/!!null tags
 * force a type (a value that does not fit is an error); other tags are
 * ignored. Merge keys ("<<") have no special meaning.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "yamltree.h"
#include "banned.h"

#define ARENA_CHUNK (32 * 1024)
#define ARENA_ALIGN alignof(max_align_t)
#define TAG_PREFIX "tag:yaml.org,2002:"

struct chunk {
	struct chunk *next;
	size_t used;
	size_t cap;
	alignas(max_align_t) unsigned char data[];
};

struct ytree {
	struct chunk *chunks;
	const struct ynode *root;
};

struct frame {
	struct ynode *node;
	size_t start;	    /* first pending child */
	const char *anchor; /* NULL when none */
};

struct anchor {
	const char *name;
	const struct ynode *node;
};

struct builder {
	struct ytree *t;
	const char *what;
	struct strv *errors;
	struct frame stack[YAML_MAX_DEPTH];
	size_t depth;
	const struct ynode **pending;
	size_t n_pending, cap_pending;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t n_nodes, n_aliases;
	bool done;
};

static void *arena_alloc(struct ytree *t, size_t size)
{
	struct chunk *c = t->chunks;
	void *p;

	size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (!c || c->cap - c->used < size) {
		size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = t->chunks;
		t->chunks = c;
	}
	p = c->data + c->used;
	c->used += size;
	return p;
}

static char *arena_strndup(struct ytree *t, const char *s, size_t len)
{
	char *p = arena_alloc(t, len + 1);

	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void ytree_free(struct ytree *t)
{
	struct chunk *c, *next;

	if (!t)
		return;
	for (c = t->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	free(t);
}

const struct ynode *ytree_root(const struct ytree *t)
{
	return t && !ynode_is_null(t->root) ? t->root : NULL;
}

const char *ytree_quote(const char *s, size_t len, char out[YTREE_QUOTE_MAX])
{
	return go_quote_fixed(out, YTREE_QUOTE_MAX, s, len, YTREE_QUOTE_CUT);
}

/* A message "what: ..." for the file being parsed; returns r, or -ENOMEM. */
static int fail(struct builder *b, int r, const char *fmt, ...) PRINTF(3, 4);
static int fail(struct builder *b, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r = strv_verrf(b->errors, r, b->what, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- scalar typing ------------------------------------------------------ */

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static bool parse_null(const char *s)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};

	return in_list(s, nulls);
}

static bool parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"y",	  "Y",	  "yes", "Yes", "YES", "true",
					  "True", "TRUE", "on",	 "On",	"ON",  NULL};
	static const char *const no[] = {"n",	  "N",	   "no",  "No",	 "NO",	"false",
					 "False", "FALSE", "off", "Off", "OFF", NULL};

	if (in_list(s, yes))
		*ret = true;
	else if (in_list(s, no))
		*ret = false;
	else
		return false;
	return true;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* YAML 1.1 / Go ParseInt(base 0) after underscores are dropped. */
static bool parse_int(const char *s, int64_t *ret)
{
	bool neg = false, any = false;
	uint64_t v = 0, max;
	unsigned base = 10;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		base = 16, s += 2;
	else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
		base = 8, s += 2;
	else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
		base = 2, s += 2;
	else if (s[0] == '0' && s[1])
		base = 8, s++;
	max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++) {
		unsigned d;

		if (*s == '_')
			continue;
		d = (unsigned)digit_value(*s);
		if (d >= base || v > (max - d) / base)
			return false;
		v = v * base + d;
		any = true;
	}
	if (!any)
		return false;
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

static bool parse_special_float(const char *s, double *ret)
{
	static const char *const inf[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
	static const char *const ninf[] = {"-.inf", "-.Inf", "-.INF", NULL};
	static const char *const nan[] = {".nan", ".NaN", ".NAN", NULL};

	if (in_list(s, inf))
		*ret = INFINITY;
	else if (in_list(s, ninf))
		*ret = -INFINITY;
	else if (in_list(s, nan))
		*ret = NAN;
	else
		return false;
	return true;
}

/* Appends the digits at *s (underscores dropped) to out; returns how many. */
static size_t take_digits(const char **s, char *out, size_t *o)
{
	size_t n = 0;

	for (; (**s >= '0' && **s <= '9') || **s == '_'; (*s)++) {
		if (**s != '_') {
			out[(*o)++] = **s;
			n++;
		}
	}
	return n;
}

/* [+-] (digits [. digits] | . digits) [e [+-] digits], underscores allowed. */
static bool parse_float(const char *s, double *ret)
{
	char buf[128];
	size_t o = 0, n;

	if (parse_special_float(s, ret))
		return true;
	if (strlen(s) >= sizeof(buf))
		return false;
	if (*s == '+' || *s == '-')
		buf[o++] = *s++;
	n = take_digits(&s, buf, &o);
	if (*s == '.') {
		buf[o++] = *s++;
		n += take_digits(&s, buf, &o);
	}
	if (n == 0)
		return false;
	if (*s == 'e' || *s == 'E') {
		buf[o++] = *s++;
		if (*s == '+' || *s == '-')
			buf[o++] = *s++;
		if (take_digits(&s, buf, &o) == 0)
			return false;
	}
	if (*s)
		return false;
	buf[o] = '\0';
	*ret = strtod(buf, NULL);
	return !isinf(*ret); /* out of range: a string, as in Go */
}

static void type_plain(struct ynode *n)
{
	const char *s = n->text;

	if (parse_null(s))
		n->type = YSCALAR_NULL;
	else if (parse_bool(s, &n->b))
		n->type = YSCALAR_BOOL;
	else if (!strchr("+-.0123456789", s[0]))
		n->type = YSCALAR_STR;
	else if (parse_int(s, &n->i))
		n->type = YSCALAR_INT;
	else if (parse_float(s, &n->f))
		n->type = YSCALAR_FLOAT;
	else
		n->type = YSCALAR_STR;
}

static bool type_tagged(struct ynode *n, const char *t)
{
	if (strcmp(t, "int") == 0) {
		n->type = YSCALAR_INT;
		return parse_int(n->text, &n->i);
	}
	if (strcmp(t, "float") == 0) {
		n->type = YSCALAR_FLOAT;
		if (parse_int(n->text, &n->i)) {
			n->f = (double)n->i;
			return true;
		}
		return parse_float(n->text, &n->f);
	}
	if (strcmp(t, "bool") == 0) {
		n->type = YSCALAR_BOOL;
		return parse_bool(n->text, &n->b);
	}
	if (strcmp(t, "null") == 0) {
		n->type = YSCALAR_NULL;
		return parse_null(n->text);
	}
	n->type = YSCALAR_STR;
	return true;
}

static int type_scalar(struct builder *b, struct ynode *n, const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;
	char q[YTREE_QUOTE_MAX];

	if (!tag) {
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			type_plain(n);
		else
			n->type = YSCALAR_STR;
		return 0;
	}
	if (strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0 ||
	    strcmp(tag + strlen(TAG_PREFIX), "str") == 0) {
		n->type = YSCALAR_STR;
		return 0;
	}
	if (strlen(n->text) != n->len || !type_tagged(n, tag + strlen(TAG_PREFIX)))
		return fail(b, -EINVAL, "line %d: cannot decode !!%s %s", n->line,
			    tag + strlen(TAG_PREFIX), ytree_quote(n->text, n->len, q));
	return 0;
}

/* ---- building ----------------------------------------------------------- */

static struct ynode *new_node(struct builder *b, enum ynode_kind kind, const yaml_event_t *ev)
{
	struct ynode *n;

	if (++b->n_nodes > YTREE_MAX_NODES) {
		b->n_nodes--;
		return NULL;
	}
	n = arena_alloc(b->t, sizeof(*n));
	if (!n) {
		b->n_nodes--;
		return NULL;
	}
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->line = (int)ev->start_mark.line + 1;
	return n;
}

static int node_error(struct builder *b)
{
	if (b->n_nodes >= YTREE_MAX_NODES)
		return fail(b, -EINVAL, "document has more than %d nodes", YTREE_MAX_NODES);
	return -ENOMEM;
}

static int add_anchor(struct builder *b, const char *name, const struct ynode *n)
{
	if (!name)
		return 0;
	if (b->n_anchors == b->cap_anchors) {
		size_t cap = b->cap_anchors ? 2 * b->cap_anchors : 16;
		struct anchor *a = realloc(b->anchors, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		b->anchors = a;
		b->cap_anchors = cap;
	}
	b->anchors[b->n_anchors].name = name;
	b->anchors[b->n_anchors++].node = n;
	return 0;
}

static const struct ynode *find_anchor(const struct builder *b, const char *name)
{
	for (size_t i = b->n_anchors; i > 0; i--)
		if (strcmp(b->anchors[i - 1].name, name) == 0)
			return b->anchors[i - 1].node;
	return NULL;
}

static int add_child(struct builder *b, const struct ynode *n)
{
	if (b->depth == 0) {
		b->t->root = n;
		return 0;
	}
	if (b->n_pending == b->cap_pending) {
		size_t cap = b->cap_pending ? 2 * b->cap_pending : 64;
		const struct ynode **p = realloc(b->pending, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		b->pending = p;
		b->cap_pending = cap;
	}
	b->pending[b->n_pending++] = n;
	return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	struct ynode *n = new_node(b, YNODE_SCALAR, ev);
	const char *anchor = (const char *)ev->data.scalar.anchor;
	int r;

	if (!n)
		return node_error(b);
	n->len = ev->data.scalar.length;
	n->text = arena_strndup(b->t, (const char *)ev->data.scalar.value, n->len);
	if (!n->text)
		return -ENOMEM;
	r = type_scalar(b, n, ev);
	if (r < 0)
		return r;
	if (anchor) {
		anchor = arena_strndup(b->t, anchor, strlen(anchor));
		if (!anchor)
			return -ENOMEM;
	}
	r = add_anchor(b, anchor, n);
	return r < 0 ? r : add_child(b, n);
}

static int on_start(struct builder *b, const yaml_event_t *ev, enum ynode_kind kind)
{
	const char *anchor = (const char *)(kind == YNODE_MAP ? ev->data.mapping_start.anchor
							      : ev->data.sequence_start.anchor);
	struct frame *f;

	if (b->depth >= YAML_MAX_DEPTH)
		return fail(b, -EINVAL, "line %zu: nesting depth exceeds %d",
			    ev->start_mark.line + 1, YAML_MAX_DEPTH);
	f = &b->stack[b->depth];
	f->node = new_node(b, kind, ev);
	if (!f->node)
		return node_error(b);
	f->start = b->n_pending;
	f->anchor = anchor ? arena_strndup(b->t, anchor, strlen(anchor)) : NULL;
	if (anchor && !f->anchor)
		return -ENOMEM;
	b->depth++;
	return 0;
}

static int cmp_keys(const void *a, const void *b)
{
	const struct ynode *x = *(const struct ynode *const *)a;
	const struct ynode *y = *(const struct ynode *const *)b;
	int c = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);

	if (c)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Scalar keys with the same text are duplicates, whatever their type. */
static int check_duplicates(struct builder *b, const struct ynode *map)
{
	const struct ynode **keys = malloc((map->n + 1) * sizeof(*keys));
	char q[YTREE_QUOTE_MAX];
	size_t n = 0;
	int r = 0;

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < map->n; i++)
		if (map->items[2 * i]->kind == YNODE_SCALAR)
			keys[n++] = map->items[2 * i];
	qsort(keys, n, sizeof(*keys), cmp_keys);
	for (size_t i = 1; i < n && r == 0; i++)
		if (cmp_keys(&keys[i - 1], &keys[i]) == 0)
			r = fail(
			    b, -EINVAL, "line %d: duplicate key %s (first at line %d)",
			    keys[i]->line > keys[i - 1]->line ? keys[i]->line : keys[i - 1]->line,
			    ytree_quote(keys[i]->text, keys[i]->len, q),
			    keys[i]->line < keys[i - 1]->line ? keys[i]->line : keys[i - 1]->line);
	free(keys);
	return r;
}

static int on_end(struct builder *b)
{
	struct frame *f = &b->stack[--b->depth];
	size_t n = b->n_pending - f->start;
	const struct ynode **items = NULL;
	int r;

	if (n) {
		items = arena_alloc(b->t, n * sizeof(*items));
		if (!items)
			return -ENOMEM;
		memcpy(items, b->pending + f->start, n * sizeof(*items));
	}
	b->n_pending = f->start;
	f->node->items = items;
	f->node->n = f->node->kind == YNODE_MAP ? n / 2 : n;
	if (f->node->kind == YNODE_MAP && (r = check_duplicates(b, f->node)) < 0)
		return r;
	r = add_anchor(b, f->anchor, f->node);
	return r < 0 ? r : add_child(b, f->node);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	const struct ynode *n;
	char q[YTREE_QUOTE_MAX];

	if (++b->n_aliases > YAML_MAX_ALIASES)
		return fail(b, -EINVAL, "line %zu: document has more than %d aliases",
			    ev->start_mark.line + 1, YAML_MAX_ALIASES);
	n = find_anchor(b, name);
	if (!n)
		return fail(b, -EINVAL, "line %zu: alias to unknown or unfinished anchor %s",
			    ev->start_mark.line + 1, ytree_quote(name, strlen(name), q));
	return add_child(b, n);
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(b, ev, YNODE_SEQ);
	case YAML_MAPPING_START_EVENT:
		return on_start(b, ev, YNODE_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(b);
	case YAML_ALIAS_EVENT:
		return on_alias(b, ev);
	case YAML_DOCUMENT_END_EVENT:
	case YAML_STREAM_END_EVENT:
		b->done = true;
		return 0;
	default:
		return 0;
	}
}

static int parser_error(struct builder *b, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (p->error == YAML_READER_ERROR)
		return fail(b, -EINVAL, "YAML error at byte %zu: %s", p->problem_offset,
			    p->problem ? p->problem : "cannot read input");
	if (p->context)
		return fail(b, -EINVAL, "YAML error at line %zu, column %zu: %s (%s)",
			    p->problem_mark.line + 1, p->problem_mark.column + 1,
			    p->problem ? p->problem : "syntax error", p->context);
	return fail(b, -EINVAL, "YAML error at line %zu, column %zu: %s", p->problem_mark.line + 1,
		    p->problem_mark.column + 1, p->problem ? p->problem : "syntax error");
}

static int build(struct builder *b, const char *data, size_t len)
{
	yaml_parser_t p;
	int r = 0;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)(data ? data : ""), len);
	while (!b->done && r == 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&p, &ev)) {
			r = parser_error(b, &p);
			break;
		}
		r = on_event(b, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return r;
}

int ytree_parse(const char *data, size_t len, const char *what, struct ytree **ret,
		struct strv *errors)
{
	struct builder b = {.what = what, .errors = errors};
	int r;

	if (len > YAML_MAX_BYTES)
		return fail(&b, -EFBIG, "file is larger than %d bytes", YAML_MAX_BYTES);
	b.t = calloc(1, sizeof(*b.t));
	if (!b.t)
		return -ENOMEM;
	r = build(&b, data, len);
	free(b.pending);
	free(b.anchors);
	if (r < 0) {
		ytree_free(b.t);
		return r;
	}
	*ret = b.t;
	return 0;
}

/* ---- queries ------------------------------------------------------------ */

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	size_t len = strlen(key);

	if (!map || map->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++) {
		const struct ynode *k = map->items[2 * i];

		if (k->kind == YNODE_SCALAR && k->len == len && memcmp(k->text, key, len) == 0)
			return map->items[2 * i + 1];
	}
	return NULL;
}

bool ynode_is_null(const struct ynode *n)
{
	return !n || (n->kind == YNODE_SCALAR && n->type == YSCALAR_NULL);
}

bool ynode_is_cstring(const struct ynode *n)
{
	return n && n->kind == YNODE_SCALAR && n->type == YSCALAR_STR && strlen(n->text) == n->len;
}

const char *ynode_type_name(const struct ynode *n)
{
	static const char *const scalars[] = {
	    [YSCALAR_NULL] = "nothing", [YSCALAR_BOOL] = "bool",  [YSCALAR_INT] = "int",
	    [YSCALAR_FLOAT] = "float",	[YSCALAR_STR] = "string",
	};

	if (!n)
		return "nothing";
	if (n->kind == YNODE_SEQ)
		return "list";
	if (n->kind == YNODE_MAP)
		return "map";
	return scalars[n->type];
}
