/*
 * Unit tests for yamlcfg (metadata.yaml, config.yaml) and the bounded YAML
 * tree under it: table-driven cases, each rule with a passing and a failing
 * input, checking the return code and that a message names the problem;
 * then the limits (size, depth, aliases, nodes) and alias bombs.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"
#include "yamlcfg.h"
#include "yamltree.h"
#include "banned.h"

#define HEAD "name: foo\nsummary: s\ndescription: d\n"

struct text_case {
	const char *what;
	const char *yaml;
	int want;	 /* 0 or -errno */
	const char *msg; /* expected substring of the joined messages, or NULL */
};

/* ---- helpers ------------------------------------------------------------ */

typedef int (*parse_fn)(const char *data, size_t len, void **ret, struct strv *errors);

static int parse_meta(const char *data, size_t len, void **ret, struct strv *errors)
{
	struct charm_meta *m = NULL;
	int r = meta_parse(data, len, &m, errors);

	*ret = m;
	return r;
}

static int parse_config(const char *data, size_t len, void **ret, struct strv *errors)
{
	struct charm_config *c = NULL;
	int r = config_parse(data, len, &c, errors);

	*ret = c;
	return r;
}

static void free_result(parse_fn fn, void *p)
{
	if (fn == parse_meta)
		meta_free(p);
	else
		config_free(p);
}

/* Parses and checks the code and message; returns the result when r == 0. */
static void *expect(parse_fn fn, const char *what, const char *data, size_t len, int want,
		    const char *msg)
{
	struct strv errs = {0};
	void *res = NULL;
	int r = fn(data, len, &res, &errs);
	char *all = strv_join(&errs, "\n");
	bool ok = r == want && (!msg || strstr(all, msg)) && (want != 0 || errs.n == 0) &&
		  (want == 0) == (res != NULL) && (want == 0 || errs.n > 0);

	if (!ok)
		print_message("case %s: r=%d want=%d\n  messages: %s\n  expected: %s\n", what, r,
			      want, all, msg ? msg : "(none)");
	free(all);
	strv_clear(&errs);
	assert_true(ok);
	if (want != 0)
		return NULL;
	return res;
}

static void run_table(parse_fn fn, const struct text_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free_result(fn, expect(fn, cases[i].what, cases[i].yaml, strlen(cases[i].yaml),
				       cases[i].want, cases[i].msg));
}

/* A growable string for generated documents. */
static char *gen(size_t *len, const char *fmt, ...) PRINTF(2, 3);
static char *gen(size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	if (len)
		*len = (size_t)n;
	return s;
}

static void append(struct buf *b, const char *s)
{
	assert_int_equal(buf_add(b, s, strlen(s)), 0);
}

/* ---- metadata.yaml ------------------------------------------------------ */

static const struct text_case meta_cases[] = {
    {"minimal", HEAD, 0, NULL},
    {"unknown keys ignored", HEAD "format: 2\nrevision: 3\nfoo: [1, {a: b}]\n", 0, NULL},
    {"quoted and tagged strings", "name: 'foo'\nsummary: !!str 123\ndescription: \"d\"\n", 0, NULL},
    {"block description", "name: foo\nsummary: s\ndescription: |\n  line 1\n  line 2\n", 0, NULL},
    {"anchor and alias", "name: foo\nsummary: &s text\ndescription: *s\n", 0, NULL},
    {"only the first document", HEAD "---\n[: bad\n", 0, NULL},
    /* required strings */
    {"missing name", "summary: s\ndescription: d\n", -EINVAL,
     "metadata.yaml: name: expected string, got nothing"},
    {"null name", "name: ~\nsummary: s\ndescription: d\n", -EINVAL,
     "metadata.yaml: name: expected string, got nothing"},
    {"missing summary", "name: foo\ndescription: d\n", -EINVAL,
     "metadata.yaml: summary: expected string, got nothing"},
    {"missing description", "name: foo\nsummary: s\n", -EINVAL,
     "metadata.yaml: description: expected string, got nothing"},
    {"int name", "name: 12\nsummary: s\ndescription: d\n", -EINVAL,
     "metadata.yaml: name: expected string, got int"},
    {"float summary", "name: foo\nsummary: 1.5\ndescription: d\n", -EINVAL,
     "metadata.yaml: summary: expected string, got float"},
    {"bool description", "name: foo\nsummary: s\ndescription: yes\n", -EINVAL,
     "metadata.yaml: description: expected string, got bool"},
    {"list summary", "name: foo\nsummary: [a]\ndescription: d\n", -EINVAL,
     "metadata.yaml: summary: expected string, got list"},
    {"map description", "name: foo\nsummary: s\ndescription: {a: b}\n", -EINVAL,
     "metadata.yaml: description: expected string, got map"},
    {"NUL in name", "name: \"fo\\0o\"\nsummary: s\ndescription: d\n", -EINVAL,
     "name: string contains a NUL byte"},
    /* charm name */
    {"name with dashes and digits", "name: a1-b2-3c\nsummary: s\ndescription: d\n", 0, NULL},
    {"upper-case name", "name: Foo\nsummary: s\ndescription: d\n", -EINVAL,
     "metadata.yaml: invalid charm name: \"Foo\""},
    {"name ending in dash", "name: foo-\nsummary: s\ndescription: d\n", -EINVAL,
     "invalid charm name: \"foo-\""},
    {"name with digit segment", "name: foo-1\nsummary: s\ndescription: d\n", -EINVAL,
     "invalid charm name: \"foo-1\""},
    {"name starting with digit", "name: '1foo'\nsummary: s\ndescription: d\n", -EINVAL,
     "invalid charm name: \"1foo\""},
    {"name with double dash", "name: a--b\nsummary: s\ndescription: d\n", -EINVAL,
     "invalid charm name: \"a--b\""},
    /* subordinate */
    {"subordinate bool", HEAD "subordinate: false\n", 0, NULL},
    {"subordinate not bool", HEAD "subordinate: maybe\n", -EINVAL,
     "metadata.yaml: subordinate: expected bool, got string"},
    {"subordinate with container require",
     HEAD "subordinate: true\nrequires:\n  host: {interface: x, scope: container}\n", 0, NULL},
    {"subordinate without container require", HEAD "subordinate: true\nrequires:\n  host: x\n",
     -EINVAL, "subordinate charm \"foo\" lacks \"requires\" relation with container scope"},
    {"container require on a principal",
     HEAD "requires:\n  host: {interface: x, scope: container}\n", 0, NULL},
    /* relation shapes */
    {"relations shorthand",
     HEAD "provides:\n  url: http\nrequires:\n  db: mysql\npeers:\n  ring: r\n", 0, NULL},
    {"relation map",
     HEAD "requires:\n  db: {interface: mysql, limit: 3, optional: true, scope: global}\n", 0,
     NULL},
    {"relations null", HEAD "provides:\nrequires: ~\n", 0, NULL},
    {"relations not a map", HEAD "provides: [a, b]\n", -EINVAL,
     "metadata.yaml: provides: expected map, got list"},
    {"relation value int", HEAD "requires:\n  db: 5\n", -EINVAL,
     "requires: relation \"db\": expected interface string or map, got int"},
    {"relation value null", HEAD "peers:\n  ring:\n", -EINVAL,
     "peers: relation \"ring\": expected interface string or map, got nothing"},
    {"relation without interface", HEAD "provides:\n  url: {limit: 1}\n", -EINVAL,
     "provides: relation \"url\": interface: expected string, got nothing"},
    {"relation interface int", HEAD "provides:\n  url: {interface: 5}\n", -EINVAL,
     "provides: relation \"url\": interface: expected string, got int"},
    {"relation empty interface", HEAD "provides:\n  url: ''\n", -EINVAL,
     "provides: relation \"url\": interface: empty string"},
    {"limit zero", HEAD "requires:\n  db: {interface: m, limit: 0}\n", 0, NULL},
    {"limit string", HEAD "requires:\n  db: {interface: m, limit: many}\n", -EINVAL,
     "requires: relation \"db\": limit: expected int, got string"},
    {"limit negative", HEAD "requires:\n  db: {interface: m, limit: -1}\n", -EINVAL,
     "requires: relation \"db\": limit: must be between 0 and"},
    {"optional not bool", HEAD "requires:\n  db: {interface: m, optional: 1}\n", -EINVAL,
     "requires: relation \"db\": optional: expected bool, got int"},
    {"scope container", HEAD "provides:\n  db: {interface: m, scope: container}\n", 0, NULL},
    {"scope unknown", HEAD "provides:\n  db: {interface: m, scope: world}\n", -EINVAL,
     "provides: relation \"db\": scope: expected \"global\" or \"container\", got \"world\""},
    {"scope not string", HEAD "provides:\n  db: {interface: m, scope: [a]}\n", -EINVAL,
     "provides: relation \"db\": scope: expected string, got list"},
    /* relation names */
    {"relation name with space", HEAD "provides:\n  'a b': x\n", -EINVAL,
     "provides: invalid relation name \"a b\""},
    {"relation name with slash", HEAD "requires:\n  a/b: x\n", -EINVAL,
     "requires: invalid relation name \"a/b\""},
    {"empty relation name", HEAD "peers:\n  '': x\n", -EINVAL, "peers: invalid relation name \"\""},
    {"relation name is a map", HEAD "peers:\n  ? {a: b}\n  : x\n", -EINVAL,
     "peers: relation name: expected string, got map"},
    {"reserved relation name juju", HEAD "provides:\n  juju: x\n", -EINVAL,
     "metadata.yaml: charm \"foo\" using a reserved relation name: \"juju\""},
    {"reserved relation name juju-*", HEAD "requires:\n  juju-foo: x\n", -EINVAL,
     "charm \"foo\" using a reserved relation name: \"juju-foo\""},
    {"juju-ish but not reserved", HEAD "provides:\n  jujux: x\n", 0, NULL},
    {"reserved name on subordinate container require",
     HEAD "subordinate: true\nrequires:\n  juju-info: {interface: juju-info, scope: container}\n",
     0, NULL},
    {"reserved name on subordinate global require",
     HEAD "subordinate: true\nrequires:\n  host: {interface: x, scope: container}\n"
	  "  juju-info: juju-info\n",
     -EINVAL, "using a reserved relation name: \"juju-info\""},
    {"reserved interface on requires", HEAD "requires:\n  info: juju-info\n", 0, NULL},
    {"reserved interface on provides", HEAD "provides:\n  info: juju-info\n", -EINVAL,
     "charm \"foo\" relation \"info\" using a reserved interface: \"juju-info\""},
    {"reserved interface on peers", HEAD "peers:\n  ring: {interface: juju}\n", -EINVAL,
     "relation \"ring\" using a reserved interface: \"juju\""},
    {"duplicate relation across maps", HEAD "provides:\n  db: a\nrequires:\n  db: b\n", -EINVAL,
     "charm \"foo\" using a duplicated relation name: \"db\""},
    {"same interface, different names", HEAD "provides:\n  a: i\nrequires:\n  b: i\n", 0, NULL},
    /* document shape */
    {"empty input", "", -EINVAL, "metadata.yaml: empty document"},
    {"only a comment", "# nothing\n", -EINVAL, "metadata.yaml: empty document"},
    {"null document", "---\n~\n", -EINVAL, "metadata.yaml: empty document"},
    {"top-level list", "- a\n- b\n", -EINVAL, "metadata.yaml: expected map at top level, got list"},
    {"top-level string", "hello\n", -EINVAL,
     "metadata.yaml: expected map at top level, got string"},
    /* YAML level */
    {"syntax error", "name: [foo\n", -EINVAL, "metadata.yaml: YAML error at line"},
    {"tab indentation", "name: foo\n\tsummary: s\n", -EINVAL, "YAML error at line 2"},
    {"invalid UTF-8", "name: foo\nsummary: a\xc3\x28\ndescription: d\n", -EINVAL, "UTF-8"},
    {"invalid UTF-8 lead byte", "name: foo\nsummary: \xff\ndescription: d\n", -EINVAL, "UTF-8"},
    {"valid UTF-8", "name: foo\nsummary: caf\xc3\xa9\ndescription: d\n", 0, NULL},
    {"duplicate key", HEAD "name: bar\n", -EINVAL,
     "metadata.yaml: line 4: duplicate key \"name\" (first at line 1)"},
    {"duplicate nested key", HEAD "extra: {a: 1, b: 2, a: 3}\n", -EINVAL, "duplicate key \"a\""},
    {"duplicate key, quoted and plain", HEAD "x: {1: a, '1': b}\n", -EINVAL, "duplicate key \"1\""},
    {"duplicate key in ignored subtree", HEAD "x:\n  - {k: 1, k: 2}\n", -EINVAL,
     "duplicate key \"k\""},
    {"bad !!int", HEAD "x: !!int abc\n", -EINVAL, "line 4: cannot decode !!int \"abc\""},
    {"bad !!bool", HEAD "x: !!bool 2\n", -EINVAL, "cannot decode !!bool \"2\""},
    {"alias to unknown anchor", HEAD "x: *nope\n", -EINVAL,
     "alias to unknown or unfinished anchor \"nope\""},
    {"alias to enclosing collection", HEAD "x: &a [1, *a]\n", -EINVAL,
     "alias to unknown or unfinished anchor \"a\""},
    {"redefined anchor", HEAD "x: &a 1\ny: &a 2\nz: *a\n", 0, NULL},
};

static void test_meta_table(void **state)
{
	run_table(parse_meta, meta_cases, ARRAY_SIZE(meta_cases));
}

static void test_meta_collects_all(void **state)
{
	static const char yaml[] = "name: Bad\nsummary: 1\nprovides:\n  juju: x\n";
	struct strv errs = {0};
	struct charm_meta *m = NULL;
	char *all;

	assert_int_equal(meta_parse(yaml, strlen(yaml), &m, &errs), -EINVAL);
	assert_null(m);
	all = strv_join(&errs, "\n");
	assert_non_null(strstr(all, "summary: expected string, got int"));
	assert_non_null(strstr(all, "description: expected string, got nothing"));
	assert_non_null(strstr(all, "invalid charm name: \"Bad\""));
	assert_non_null(strstr(all, "reserved relation name: \"juju\""));
	assert_int_equal(errs.n, 4);
	for (size_t i = 0; i < errs.n; i++)
		assert_true(strncmp(errs.v[i], "metadata.yaml: ", 15) == 0);
	free(all);
	strv_clear(&errs);
}

static const struct charm_relation *find_rel(const struct charm_meta *m, const char *name)
{
	for (size_t i = 0; i < m->n_relations; i++)
		if (strcmp(m->relations[i].name, name) == 0)
			return &m->relations[i];
	return NULL;
}

static void test_meta_values(void **state)
{
	static const char yaml[] =
	    "name: wordpress\nsummary: \"Blog\"\ndescription: |\n  A blog.\n  Really.\n"
	    "subordinate: yes\n"
	    "provides:\n  url: http\n  admin: {interface: http, limit: 2}\n"
	    "requires:\n  db: mysql\n  host: {interface: juju-info, scope: container, optional: "
	    "on}\n"
	    "peers:\n  ring: {interface: wp-ring}\n";
	struct charm_meta *m = expect(parse_meta, "values", yaml, strlen(yaml), 0, NULL);
	const struct charm_relation *r;

	assert_string_equal(m->name, "wordpress");
	assert_string_equal(m->summary, "Blog");
	assert_string_equal(m->description, "A blog.\nReally.\n");
	assert_true(m->subordinate);
	assert_int_equal(m->n_relations, 5);

	r = find_rel(m, "url");
	assert_non_null(r);
	assert_int_equal(r->role, REL_PROVIDES);
	assert_string_equal(r->interface, "http");
	assert_int_equal(r->limit, 0);
	assert_int_equal(r->scope, SCOPE_GLOBAL);
	assert_false(r->optional);

	r = find_rel(m, "admin");
	assert_int_equal(r->limit, 2);

	r = find_rel(m, "db");
	assert_int_equal(r->role, REL_REQUIRES);
	assert_int_equal(r->limit, 1);
	assert_false(r->optional);

	r = find_rel(m, "host");
	assert_int_equal(r->scope, SCOPE_CONTAINER);
	assert_true(r->optional);
	assert_string_equal(r->interface, "juju-info");

	r = find_rel(m, "ring");
	assert_int_equal(r->role, REL_PEERS);
	assert_int_equal(r->limit, 1);
	assert_string_equal(r->interface, "wp-ring");
	meta_free(m);
}

static void test_meta_hooks(void **state)
{
	static const char yaml[] = HEAD "provides:\n  website: http\nrequires:\n  db: mysql\n"
					"peers:\n  db-ring: r\n";
	static const struct {
		const char *hook;
		bool known;
	} cases[] = {
	    {"install", true},
	    {"start", true},
	    {"config-changed", true},
	    {"upgrade-charm", true},
	    {"stop", true},
	    {"remove", true},
	    {"website-relation-joined", true},
	    {"website-relation-changed", true},
	    {"db-relation-departed", true},
	    {"db-relation-broken", true},
	    {"db-ring-relation-joined", true},
	    {"db-relation-", false},
	    {"db-relation-foo", false},
	    {"dbx-relation-joined", false},
	    {"other-relation-joined", false},
	    {"install2", false},
	    {"", false},
	    {"relation-joined", false},
	};
	struct charm_meta *m = expect(parse_meta, "hooks", yaml, strlen(yaml), 0, NULL);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (meta_is_known_hook(m, cases[i].hook) != cases[i].known)
			print_message("hook %s\n", cases[i].hook);
		assert_int_equal(meta_is_known_hook(m, cases[i].hook), cases[i].known);
	}
	assert_true(meta_is_known_hook(NULL, "install"));
	assert_false(meta_is_known_hook(NULL, "db-relation-joined"));
	meta_free(m);
}

/* ---- config.yaml -------------------------------------------------------- */

#define OPT(t, d) "options:\n  t:\n    type: " t "\n    default: " d "\n"

static const struct text_case config_cases[] = {
    {"no options key", "title: x\n", 0, NULL},
    {"null options", "options:\n", 0, NULL},
    {"empty options", "options: {}\n", 0, NULL},
    {"missing type is string", "options:\n  t: {default: hi}\n", 0, NULL},
    {"null option", "options:\n  t:\n", 0, NULL},
    {"description any scalar", "options:\n  t: {description: 5}\n", 0, NULL},
    {"empty", "", -EINVAL, "config.yaml: invalid config: empty configuration"},
    {"empty document", "---\n", -EINVAL, "config.yaml: invalid config: empty configuration"},
    {"top-level list", "- a\n", -EINVAL, "config.yaml: invalid config: expected map, got list"},
    {"options list", "options: [a]\n", -EINVAL,
     "config.yaml: invalid config: options: expected map, got list"},
    {"option is a string", "options:\n  t: string\n", -EINVAL,
     "config.yaml: invalid config: option \"t\": expected map, got string"},
    {"empty option name", "options:\n  '': {type: string}\n", -EINVAL,
     "config.yaml: invalid config: option name must be a non-empty string"},
    {"known types",
     "options:\n  a: {type: string}\n  b: {type: int}\n  c: {type: float}\n"
     "  d: {type: boolean}\n",
     0, NULL},
    {"unknown type", OPT("foo", "1"), -EINVAL,
     "config.yaml: invalid config: option \"t\" has unknown type \"foo\""},
    {"type bool is not boolean", "options:\n  t: {type: bool}\n", -EINVAL,
     "option \"t\" has unknown type \"bool\""},
    {"type is a list", "options:\n  t: {type: [int]}\n", -EINVAL,
     "invalid config: option \"t\": type: expected string, got list"},
    {"description is a map", "options:\n  t: {description: {a: b}}\n", -EINVAL,
     "invalid config: option \"t\": description: expected string, got map"},
    {"float rejects int", OPT("float", "123"), -EINVAL,
     "config.yaml: invalid config default: option \"t\" expected float, got 123"},
    {"string rejects float", OPT("string", "2.5"), -EINVAL,
     "config.yaml: invalid config default: option \"t\" expected string, got 2.5"},
    {"boolean rejects henry", OPT("boolean", "henry"), -EINVAL,
     "config.yaml: invalid config default: option \"t\" expected boolean, got \"henry\""},
    {"int rejects float", OPT("int", "1.5"), -EINVAL,
     "invalid config default: option \"t\" expected int, got 1.5"},
    {"int rejects quoted", OPT("int", "'5'"), -EINVAL,
     "invalid config default: option \"t\" expected int, got \"5\""},
    {"int rejects list", OPT("int", "[1]"), -EINVAL,
     "invalid config default: option \"t\" expected int, got list"},
    {"string rejects bool", OPT("string", "true"), -EINVAL,
     "invalid config default: option \"t\" expected string, got true"},
    {"string accepts empty", OPT("string", "''"), 0, NULL},
    {"int rejects empty string", OPT("int", "''"), -EINVAL, "option \"t\" expected int, got \"\""},
    {"null default", OPT("int", "~"), 0, NULL},
    {"several problems", "options:\n  a: {type: foo}\n  b: {type: int, default: x}\n", -EINVAL,
     "option \"a\" has unknown type \"foo\"\nconfig.yaml: invalid config default: option \"b\" "
     "expected int, got \"x\""},
    {"duplicate option", "options:\n  t: {}\n  t: {}\n", -EINVAL,
     "config.yaml: line 3: duplicate key \"t\""},
    {"invalid UTF-8", "options:\n  t: {default: \"\xe2\x82\"}\n", -EINVAL, "UTF-8"},
};

static void test_config_table(void **state)
{
	run_table(parse_config, config_cases, ARRAY_SIZE(config_cases));
}

/* YAML 1.1 scalar typing, seen through typed defaults. */
static void test_config_typing(void **state)
{
	static const struct {
		const char *type, *lit;
		bool ok;
		int64_t i;
		double f;
		bool b;
		const char *s;
	} cases[] = {
	    {"int", "42", true, .i = 42},
	    {"int", "-42", true, .i = -42},
	    {"int", "+7", true, .i = 7},
	    {"int", "0", true, .i = 0},
	    {"int", "0x1F", true, .i = 31},
	    {"int", "0o17", true, .i = 15},
	    {"int", "017", true, .i = 15},
	    {"int", "0b101", true, .i = 5},
	    {"int", "1_000", true, .i = 1000},
	    {"int", "9223372036854775807", true, .i = INT64_MAX},
	    {"int", "-9223372036854775808", true, .i = INT64_MIN},
	    {"int", "9223372036854775808", .ok = false},
	    {"int", "!!int \"12\"", true, .i = 12},
	    {"int", "'12'", .ok = false},
	    {"int", "0x", .ok = false},
	    {"int", "12abc", .ok = false},
	    {"float", "1.5", true, .f = 1.5},
	    {"float", "-1.5e3", true, .f = -1500},
	    {"float", "1e3", true, .f = 1000},
	    {"float", ".5", true, .f = 0.5},
	    {"float", "1.", true, .f = 1},
	    {"float", "1_000.5", true, .f = 1000.5},
	    {"float", "09", true, .f = 9},
	    {"float", ".inf", true, .f = INFINITY},
	    {"float", "-.Inf", true, .f = -INFINITY},
	    {"float", "!!float 3", true, .f = 3},
	    {"float", "3", .ok = false},
	    {"float", "inf", .ok = false},
	    {"float", "1e400", .ok = false},
	    {"float", "1e-400", true, .f = 0},
	    {"float", "1e", .ok = false},
	    {"float", ".", .ok = false},
	    {"float", "1.5.5", .ok = false},
	    {"boolean", "true", true, .b = true},
	    {"boolean", "True", true, .b = true},
	    {"boolean", "YES", true, .b = true},
	    {"boolean", "on", true, .b = true},
	    {"boolean", "y", true, .b = true},
	    {"boolean", "false", true, .b = false},
	    {"boolean", "No", true, .b = false},
	    {"boolean", "OFF", true, .b = false},
	    {"boolean", "n", true, .b = false},
	    {"boolean", "!!bool yes", true, .b = true},
	    {"boolean", "tRUE", .ok = false},
	    {"boolean", "'true'", .ok = false},
	    {"boolean", "1", .ok = false},
	    {"string", "hello world", true, .s = "hello world"},
	    {"string", "'123'", true, .s = "123"},
	    {"string", "!!str 123", true, .s = "123"},
	    {"string", "! 123", true, .s = "123"},
	    {"string", "\"yes\"", true, .s = "yes"},
	    {"string", "_1", true, .s = "_1"},
	    {"string", "1.2.3", true, .s = "1.2.3"},
	    {"string", "+", true, .s = "+"},
	    {"string", "123", .ok = false},
	    {"string", "yes", .ok = false},
	};

	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		char *yaml = gen(NULL, "options:\n  t:\n    type: %s\n    default: %s\n",
				 cases[k].type, cases[k].lit);
		struct charm_config *c =
		    expect(parse_config, yaml, yaml, strlen(yaml), cases[k].ok ? 0 : -EINVAL,
			   cases[k].ok ? NULL : "invalid config default");

		if (c) {
			const struct charm_option *o = &c->options[0];

			assert_true(o->has_default);
			assert_string_equal(opt_type_name(o->type), cases[k].type);
			if (o->type == OPT_INT)
				assert_true(o->i == cases[k].i);
			if (o->type == OPT_FLOAT)
				assert_true(o->f == cases[k].f);
			if (o->type == OPT_BOOLEAN)
				assert_int_equal(o->b, cases[k].b);
			if (o->type == OPT_STRING)
				assert_string_equal(o->s, cases[k].s);
		}
		config_free(c);
		free(yaml);
	}
}

static void test_config_nan(void **state)
{
	static const char yaml[] = OPT("float", ".NaN");
	struct charm_config *c = expect(parse_config, "nan", yaml, strlen(yaml), 0, NULL);

	assert_true(isnan(c->options[0].f));
	config_free(c);
}

/* The original's testing/repo/quantal/dummy/config.yaml. */
static void test_config_dummy(void **state)
{
	static const char yaml[] =
	    "options:\n"
	    "  title:\n"
	    "    default: My Title\n"
	    "    description: A descriptive title used for the service.\n"
	    "    type: string\n"
	    "  outlook:\n"
	    "    description: No default outlook.\n"
	    "    type: string\n"
	    "  username:\n"
	    "    default: admin001\n"
	    "    description: The name of the initial account (given admin permissions).\n"
	    "    type: string\n"
	    "  skill-level:\n"
	    "    description: A number indicating skill.\n"
	    "    type: int\n";
	struct charm_config *c = expect(parse_config, "dummy", yaml, strlen(yaml), 0, NULL);
	const struct charm_option *o;

	assert_int_equal(c->n_options, 4);
	/* sorted by name */
	assert_string_equal(c->options[0].name, "outlook");
	assert_string_equal(c->options[1].name, "skill-level");
	assert_string_equal(c->options[2].name, "title");
	assert_string_equal(c->options[3].name, "username");

	o = &c->options[0];
	assert_int_equal(o->type, OPT_STRING);
	assert_false(o->has_default);
	assert_string_equal(o->description, "No default outlook.");
	o = &c->options[1];
	assert_int_equal(o->type, OPT_INT);
	assert_false(o->has_default);
	o = &c->options[2];
	assert_int_equal(o->type, OPT_STRING);
	assert_true(o->has_default);
	assert_string_equal(o->s, "My Title");
	assert_string_equal(o->description, "A descriptive title used for the service.");
	o = &c->options[3];
	assert_true(o->has_default);
	assert_string_equal(o->s, "admin001");
	config_free(c);
}

static void test_config_empty_description(void **state)
{
	static const char yaml[] = "options:\n  t: {type: int, default: 3}\n";
	struct charm_config *c =
	    expect(parse_config, "no description", yaml, strlen(yaml), 0, NULL);

	assert_string_equal(c->options[0].description, "");
	assert_int_equal(c->options[0].i, 3);
	config_free(c);
}

static void test_opt_type_name(void **state)
{
	assert_string_equal(opt_type_name(OPT_STRING), "string");
	assert_string_equal(opt_type_name(OPT_INT), "int");
	assert_string_equal(opt_type_name(OPT_FLOAT), "float");
	assert_string_equal(opt_type_name(OPT_BOOLEAN), "boolean");
}

static void test_free_null(void **state)
{
	meta_free(NULL);
	config_free(NULL);
	ytree_free(NULL);
}

/* ---- limits ------------------------------------------------------------- */

/* levels lists of width aliases each, every one referring to the level below. */
static char *alias_bomb(int levels, int width, size_t *len)
{
	struct buf b;
	char line[64];

	buf_init(&b, SIZE_MAX);
	append(&b, HEAD "l0: &l0 [lol");
	for (int i = 1; i < width; i++)
		append(&b, ", lol");
	append(&b, "]\n");
	for (int lv = 1; lv <= levels; lv++) {
		snprintf(line, sizeof(line), "l%d: &l%d [", lv, lv);
		append(&b, line);
		for (int i = 0; i < width; i++) {
			snprintf(line, sizeof(line), "%s*l%d", i ? ", " : "", lv - 1);
			append(&b, line);
		}
		append(&b, "]\n");
	}
	return buf_steal(&b, len);
}

static void test_alias_bomb(void **state)
{
	size_t len;
	char *yaml = alias_bomb(9, 9, &len); /* 9^10 "lol"s when expanded */

	free_result(parse_meta, expect(parse_meta, "billion laughs", yaml, len, 0, NULL));
	free(yaml);

	yaml = alias_bomb(10, 10, &len); /* exactly the limit: 100 aliases */
	free_result(parse_config, expect(parse_config, "100 aliases", yaml, len, 0, NULL));
	free(yaml);

	yaml = alias_bomb(12, 9, &len);
	expect(parse_meta, "108 aliases", yaml, len, -EINVAL,
	       "metadata.yaml: line 16: document has more than 100 aliases");
	free(yaml);
}

static void test_alias_in_ignored_key_counts(void **state)
{
	struct buf b;
	size_t len;
	char *yaml;

	buf_init(&b, SIZE_MAX);
	append(&b, HEAD "ignored:\n  a: &x 1\n  list:\n");
	for (int i = 0; i < 101; i++)
		append(&b, "    - *x\n");
	yaml = buf_steal(&b, &len);
	expect(parse_config, "101 aliases", yaml, len, -EINVAL,
	       "config.yaml: line 107: document has more than 100 aliases");
	free(yaml);
}

static char *nested(int depth, size_t *len)
{
	struct buf b;

	buf_init(&b, SIZE_MAX);
	append(&b, HEAD "deep: ");
	for (int i = 0; i < depth; i++)
		append(&b, "[");
	for (int i = 0; i < depth; i++)
		append(&b, "]");
	append(&b, "\n");
	return buf_steal(&b, len);
}

static void test_nesting(void **state)
{
	size_t len;
	char *yaml = nested(YAML_MAX_DEPTH - 1, &len); /* plus the top-level map */

	free_result(parse_meta, expect(parse_meta, "depth 64", yaml, len, 0, NULL));
	free(yaml);
	yaml = nested(YAML_MAX_DEPTH, &len);
	expect(parse_meta, "depth 65", yaml, len, -EINVAL,
	       "metadata.yaml: line 4: nesting depth exceeds 64");
	free(yaml);
	yaml = nested(1000, &len);
	expect(parse_meta, "depth 1000", yaml, len, -EINVAL, "nesting depth exceeds 64");
	free(yaml);
}

static void test_block_nesting(void **state)
{
	struct buf b;
	size_t len;
	char *yaml;

	buf_init(&b, SIZE_MAX);
	for (int i = 0; i < 1000; i++) {
		for (int k = 0; k < i; k++)
			append(&b, " ");
		append(&b, "k:\n");
	}
	yaml = buf_steal(&b, &len);
	expect(parse_config, "block depth 1000", yaml, len, -EINVAL,
	       "config.yaml: line 65: nesting depth exceeds 64");
	free(yaml);
}

static void test_size_limit(void **state)
{
	size_t len = YAML_MAX_BYTES;
	char *yaml = malloc(len + 1);

	assert_non_null(yaml);
	memset(yaml, '#', len + 1);
	memcpy(yaml, HEAD "#", strlen(HEAD) + 1);
	yaml[len - 1] = '\n';
	free_result(parse_meta, expect(parse_meta, "exactly 1 MiB", yaml, len, 0, NULL));
	yaml[len] = '\n';
	expect(parse_meta, "1 MiB + 1", yaml, len + 1, -EFBIG,
	       "metadata.yaml: file is larger than 1048576 bytes");
	expect(parse_config, "1 MiB + 1", yaml, len + 1, -EFBIG,
	       "config.yaml: file is larger than 1048576 bytes");
	free(yaml);
}

static void test_node_limit(void **state)
{
	struct buf b;
	size_t len;
	char *yaml;

	buf_init(&b, SIZE_MAX);
	append(&b, HEAD "many: [0");
	for (int i = 1; i < YTREE_MAX_NODES; i++)
		append(&b, ",0");
	append(&b, "]\n");
	yaml = buf_steal(&b, &len);
	expect(parse_meta, "too many nodes", yaml, len, -EINVAL,
	       "metadata.yaml: document has more than 100000 nodes");
	free(yaml);
}

static void test_many_keys(void **state)
{
	struct charm_config *c;
	struct buf b;
	char line[64];
	size_t len;
	char *yaml;

	buf_init(&b, SIZE_MAX);
	append(&b, "options:\n");
	for (int i = 0; i < 10000; i++) {
		snprintf(line, sizeof(line), "  o%05d: {type: int, default: %d}\n", 9999 - i, i);
		append(&b, line);
	}
	yaml = buf_steal(&b, &len);
	c = expect(parse_config, "10000 options", yaml, len, 0, NULL);
	assert_int_equal(c->n_options, 10000);
	assert_string_equal(c->options[0].name, "o00000");
	assert_int_equal(c->options[0].i, 9999);
	assert_string_equal(c->options[9999].name, "o09999");
	config_free(c);
	free(yaml);
}

static void test_embedded_nul_input(void **state)
{
	static const char yaml[] = "name: foo\0\nsummary: s\ndescription: d\n";

	expect(parse_meta, "NUL byte", yaml, sizeof(yaml) - 1, -EINVAL, "YAML error");
}

static void test_tree_sharing(void **state)
{
	static const char yaml[] = "a: &x {k: v}\nb: *x\nc: [*x, *x]\n";
	struct strv errs = {0};
	struct ytree *t = NULL;
	const struct ynode *root, *a, *b, *c;

	assert_int_equal(ytree_parse(yaml, strlen(yaml), "t", &t, &errs), 0);
	root = ytree_root(t);
	a = ynode_get(root, "a");
	b = ynode_get(root, "b");
	c = ynode_get(root, "c");
	assert_ptr_equal(a, b);
	assert_int_equal(c->n, 2);
	assert_ptr_equal(c->items[0], a);
	assert_string_equal(ynode_get(b, "k")->text, "v");
	assert_string_equal(ynode_type_name(c), "list");
	assert_string_equal(ynode_type_name(a), "map");
	assert_null(ynode_get(root, "missing"));
	assert_null(ynode_get(c, "k"));
	assert_int_equal(errs.n, 0);
	ytree_free(t);
}

static void test_quote(void **state)
{
	char out[YTREE_QUOTE_MAX], big[400];

	assert_string_equal(ytree_quote("a\"b\\c\n\x01", 7, out), "\"a\\\"b\\\\c\\n\\x01\"");
	memset(big, 'x', sizeof(big));
	ytree_quote(big, sizeof(big), out);
	assert_true(strlen(out) < 120);
	assert_non_null(strstr(out, "...\""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_meta_table),
	    cmocka_unit_test(test_meta_collects_all),
	    cmocka_unit_test(test_meta_values),
	    cmocka_unit_test(test_meta_hooks),
	    cmocka_unit_test(test_config_table),
	    cmocka_unit_test(test_config_typing),
	    cmocka_unit_test(test_config_nan),
	    cmocka_unit_test(test_config_dummy),
	    cmocka_unit_test(test_config_empty_description),
	    cmocka_unit_test(test_opt_type_name),
	    cmocka_unit_test(test_free_null),
	    cmocka_unit_test(test_alias_bomb),
	    cmocka_unit_test(test_alias_in_ignored_key_counts),
	    cmocka_unit_test(test_nesting),
	    cmocka_unit_test(test_block_nesting),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_node_limit),
	    cmocka_unit_test(test_many_keys),
	    cmocka_unit_test(test_embedded_nul_input),
	    cmocka_unit_test(test_tree_sharing),
	    cmocka_unit_test(test_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
