/*
 * A bounded YAML reader: parses the first document of a YAML stream with
 * libyaml into a read-only tree of scalars, sequences and mappings, typing
 * plain scalars the YAML 1.1 way (Go yaml.v1): null, bool, int, float or
 * string. Used by yamlcfg for metadata.yaml and config.yaml.
 *
 * Limits (yamlcfg.h): YAML_MAX_BYTES of input (-EFBIG), YAML_MAX_DEPTH of
 * nesting, YAML_MAX_ALIASES aliases and YTREE_MAX_NODES nodes (-EINVAL).
 * An alias shares the anchored node (never copied), so the tree may be a
 * DAG: walk only what you need, never the whole thing recursively.
 * Duplicate keys in a mapping (same scalar text) are an error.
 *
 * Thread-safety: no global state; a tree is immutable once parsed.
 */
#ifndef CHARMFS_YAMLTREE_H
#define CHARMFS_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "yamlcfg.h"

#define YTREE_MAX_NODES 100000

enum ynode_kind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };
enum yscalar_type { YSCALAR_NULL, YSCALAR_BOOL, YSCALAR_INT, YSCALAR_FLOAT, YSCALAR_STR };

struct ynode {
	enum ynode_kind kind;
	int line; /* 1-based line where the node starts */
	/* Scalars: */
	enum yscalar_type type;
	const char *text; /* as written (after YAML unescaping), NUL-terminated */
	size_t len;	  /* bytes of text; an escaped \0 makes len > strlen(text) */
	bool b;		  /* YSCALAR_BOOL */
	int64_t i;	  /* YSCALAR_INT */
	double f;	  /* YSCALAR_FLOAT */
	/* Sequences: items[0..n). Mappings: n pairs, key items[2k], value items[2k+1]. */
	const struct ynode *const *items;
	size_t n;
};

struct ytree;

/*
 * Parses data (len bytes). On success returns 0 and *ret (free with
 * ytree_free). On failure returns -EFBIG (too large), -EINVAL (syntax or a
 * limit) or -ENOMEM, with a message prefixed "what: " appended to errors.
 */
int ytree_parse(const char *data, size_t len, const char *what, struct ytree **ret,
		struct strv *errors) WUR;
void ytree_free(struct ytree *t);

/* The document's root; NULL when the document is empty or a bare null. */
const struct ynode *ytree_root(const struct ytree *t);

/* Value of the scalar key equal to key in map, or NULL (absent or not a map). */
const struct ynode *ynode_get(const struct ynode *map, const char *key);

/* True for an absent node (NULL) or a null scalar. */
bool ynode_is_null(const struct ynode *n);

/* A string scalar without NUL bytes inside? */
bool ynode_is_cstring(const struct ynode *n);

/* "nothing", "bool", "int", "float", "string", "list" or "map". */
const char *ynode_type_name(const struct ynode *n);

/*
 * Quotes s (len bytes, NUL bytes allowed) Go-%q style (go_quote() of
 * util.h) into out[YTREE_QUOTE_MAX] for messages: double quotes, backslash
 * escapes for quotes, control bytes and invalid UTF-8; past its first
 * YTREE_QUOTE_CUT bytes s is cut and "..." ends the quoted text. Returns
 * out. Never fails.
 */
#define YTREE_QUOTE_CUT 99
#define YTREE_QUOTE_MAX (4 * YTREE_QUOTE_CUT + 8)
const char *ytree_quote(const char *s, size_t len, char out[YTREE_QUOTE_MAX]);

#endif
