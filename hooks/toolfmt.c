/*
 * The output formats of Juju's hook tools (juju/cmd's formatters), over a
 * jansson value: "smart" prints nothing for null, a string bare, a boolean
 * as True/False, a number as Go's %v, a list of strings one a line and
 * anything else as YAML; "json" is Go's encoding/json (compact, sorted keys,
 * shortest floats, <, > and & escaped); "yaml" is Go's yaml.v2 (libyaml's
 * emitter, of which yaml.v2 is a port: block style, sorted keys, strings
 * that YAML 1.1 would read as another type double-quoted, multi-line
 * strings literal). Every byte goes to the caller's bounded buffer.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "toolfmt.h"
#include "banned.h"

enum float_style { FLOAT_V, FLOAT_G, FLOAT_JSON };

/*
 * Go's shortest float formatting: %v (FLOAT_V) and strconv 'g' -1 (FLOAT_G,
 * yaml.v2) switch to an exponent below 1e-4 and from 1e6 on, encoding/json
 * (FLOAT_JSON) below 1e-6 and from 1e21 on, with a one-digit exponent.
 */
static int add_float(struct buf *b, double x, enum float_style style)
{
	char e[48];
	int p, exp10;
	bool use_e;
	double ax = fabs(x);

	if (isnan(x))
		return buf_addf(b, style == FLOAT_G ? ".nan" : "NaN");
	if (isinf(x))
		return buf_addf(b, "%s%s", x < 0 ? "-" : (style == FLOAT_G ? "" : "+"),
				style == FLOAT_G ? ".inf" : "Inf");
	for (p = 1; p < 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, x);
		if (strtod(e, NULL) == x)
			break;
	}
	snprintf(e, sizeof(e), "%.*e", p - 1, x);
	exp10 = (int)strtol(strchr(e, 'e') + 1, NULL, 10);
	if (style == FLOAT_JSON)
		use_e = ax != 0 && (ax < 1e-6 || ax >= 1e21);
	else
		use_e = x != 0 && (exp10 < -4 || exp10 >= 6);
	if (!use_e)
		return buf_addf(b, "%.*f", p - 1 - exp10 > 0 ? p - 1 - exp10 : 0, x);
	if (style == FLOAT_JSON) {
		char *ep = strchr(e, 'e');
		if (ep[2] == '0' && ep[3])
			memmove(ep + 2, ep + 3, strlen(ep + 3) + 1);
	}
	return buf_addf(b, "%s", e);
}

static int json_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of o, sorted (Go marshals maps that way); caller frees the array. */
static const char **sorted_keys(const json_t *o, size_t *ret_n)
{
	size_t n = json_object_size(o), i = 0;
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	const char *k;
	json_t *v;

	if (!keys)
		return NULL;
	json_object_foreach((json_t *)o, k, v)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), json_key_cmp);
	*ret_n = n;
	return keys;
}

/* A JSON string as encoding/json writes it: <, >, &, U+2028 and U+2029 escaped too. */
static int add_json_string(struct buf *b, const char *s, size_t n)
{
	json_t *j = json_text(s, n);
	char *out = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	int r = out ? 0 : -ENOMEM;

	for (const char *p = out; r == 0 && *p; p++) {
		if (*p == '<' || *p == '>' || *p == '&')
			r = buf_addf(b, "\\u%04x", (unsigned)*p);
		else if ((unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80 &&
			 ((unsigned char)p[2] == 0xa8 || (unsigned char)p[2] == 0xa9)) {
			r = buf_addf(b, "\\u%04x", 0x2000u + (unsigned char)p[2] - 0x80u);
			p += 2;
		} else {
			r = buf_add(b, p, 1);
		}
	}
	free(out);
	json_decref(j);
	return r;
}

/* encoding/json's compact form: sorted keys, shortest floats. */
static int add_json(struct buf *b, const json_t *v)
{
	size_t n = 0;
	const char **keys;
	int r = 0;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		keys = sorted_keys(v, &n);
		if (!keys)
			return -ENOMEM;
		r = buf_add(b, "{", 1);
		for (size_t i = 0; i < n && r == 0; i++) {
			r = i ? buf_add(b, ",", 1) : 0;
			if (r == 0)
				r = add_json_string(b, keys[i], strlen(keys[i]));
			if (r == 0)
				r = buf_add(b, ":", 1);
			if (r == 0)
				r = add_json(b, json_object_get(v, keys[i]));
		}
		free(keys);
		return r ? r : buf_add(b, "}", 1);
	case JSON_ARRAY:
		r = buf_add(b, "[", 1);
		for (size_t i = 0; i < json_array_size(v) && r == 0; i++) {
			r = i ? buf_add(b, ",", 1) : 0;
			if (r == 0)
				r = add_json(b, json_array_get(v, i));
		}
		return r ? r : buf_add(b, "]", 1);
	case JSON_STRING:
		return add_json_string(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return add_float(b, json_real_value(v), FLOAT_JSON);
	case JSON_TRUE:
		return buf_add(b, "true", 4);
	case JSON_FALSE:
		return buf_add(b, "false", 5);
	default:
		return buf_add(b, "null", 4);
	}
}

/* Whether YAML 1.1 (yaml.v2's resolver) reads the plain scalar s as something other than a string. */
static bool yaml_plain_is_other(const char *s)
{
	static const char *const words[] = {
		"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
		"false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null",
		"NULL", "~", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
		"-.INF", ".nan", ".NaN", ".NAN", "<<"
	};
	char plain[128], *end;
	size_t n = 0;
	bool colon = false, numeric = true;

	if (!*s)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (strcmp(s, words[i]) == 0)
			return true;
	for (const char *p = s; *p; p++) {
		if (*p == ':')
			colon = true;
		else if (!strchr("0123456789_.+-", *p))
			numeric = false;
		if (*p != '_') {
			if (n + 1 >= sizeof(plain))
				return false;
			plain[n++] = *p;
		}
	}
	plain[n] = '\0';
	if (colon && numeric && s[0] != ':')
		return true; /* base 60 */
	if (!n || colon)
		return false;
	{
		const char *d = plain + (plain[0] == '-' || plain[0] == '+');
		if (d[0] == '0' && (d[1] == 'o' || d[1] == 'b') && d[2] &&
		    strspn(d + 2, d[1] == 'o' ? "01234567" : "01") == strlen(d + 2))
			return true; /* Go's 0o17 and 0b101 */
	}
	(void)strtoll(plain, &end, 0);
	if (*end == '\0')
		return true;
	(void)strtod(plain, &end);
	return *end == '\0';
}

static int yaml_write_handler(void *data, unsigned char *buffer, size_t size)
{
	return buf_add(data, buffer, size) == 0;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev, int init_ok)
{
	if (!init_ok)
		return -ENOMEM;
	return yaml_emitter_emit(e, ev) ? 0 : -EFBIG;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t n, yaml_scalar_style_t style)
{
	yaml_event_t ev;

	return emit(e, &ev,
		    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, 1, 1,
						 style));
}

static int emit_string(yaml_emitter_t *e, const char *s, size_t n)
{
	yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;

	if (memchr(s, '\n', n))
		style = YAML_LITERAL_SCALAR_STYLE;
	else if (yaml_plain_is_other(s))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	return emit_scalar(e, s, n, style);
}

static int emit_node(yaml_emitter_t *e, const json_t *v)
{
	yaml_event_t ev;
	struct buf num;
	const char **keys;
	size_t n = 0;
	int r;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		keys = sorted_keys(v, &n);
		if (!keys)
			return -ENOMEM;
		r = emit(e, &ev,
			 yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
							     YAML_BLOCK_MAPPING_STYLE));
		for (size_t i = 0; i < n && r == 0; i++) {
			r = emit_string(e, keys[i], strlen(keys[i]));
			if (r == 0)
				r = emit_node(e, json_object_get(v, keys[i]));
		}
		free(keys);
		return r ? r : emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
	case JSON_ARRAY:
		r = emit(e, &ev,
			 yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
							      YAML_BLOCK_SEQUENCE_STYLE));
		for (size_t i = 0; i < json_array_size(v) && r == 0; i++)
			r = emit_node(e, json_array_get(v, i));
		return r ? r : emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
	case JSON_STRING:
		return emit_string(e, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
	case JSON_REAL:
		buf_init(&num, 64);
		r = json_is_integer(v) ? buf_addf(&num, "%" JSON_INTEGER_FORMAT, json_integer_value(v))
				       : add_float(&num, json_real_value(v), FLOAT_G);
		if (r == 0)
			r = emit_scalar(e, num.data, num.len, YAML_PLAIN_SCALAR_STYLE);
		buf_free(&num);
		return r;
	case JSON_TRUE:
		return emit_scalar(e, "true", 4, YAML_PLAIN_SCALAR_STYLE);
	case JSON_FALSE:
		return emit_scalar(e, "false", 5, YAML_PLAIN_SCALAR_STYLE);
	default:
		return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE);
	}
}

/* yaml.v2's Marshal: one document, block style, no "---". */
static int add_yaml(struct buf *b, const json_t *v)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	size_t start = b->len;
	int r;

	if (!v)
		v = json_null();
	if (!yaml_emitter_initialize(&e))
		return -ENOMEM;
	yaml_emitter_set_output(&e, yaml_write_handler, b);
	yaml_emitter_set_unicode(&e, 1);
	r = emit(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	if (r == 0)
		r = emit(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	if (r == 0)
		r = emit_node(&e, v);
	if (r == 0)
		r = emit(&e, &ev, yaml_document_end_event_initialize(&ev, 1));
	if (r == 0)
		r = emit(&e, &ev, yaml_stream_end_event_initialize(&ev));
	if (r == 0 && !yaml_emitter_flush(&e))
		r = -EFBIG;
	yaml_emitter_delete(&e);
	if (r == 0 && b->len - start >= 4 && memcmp(b->data + b->len - 4, "...\n", 4) == 0) {
		b->len -= 4;
		b->data[b->len] = '\0';
	}
	return r;
}

/* cmd.FormatSmart: nothing for null, strings bare, True/False, string lists by line, else YAML. */
static int add_smart(struct buf *b, const json_t *v)
{
	bool strings = json_is_array(v);

	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return buf_add(b, json_string_value(v), json_string_length(v));
	if (json_is_boolean(v))
		return buf_addf(b, "%s", json_is_true(v) ? "True" : "False");
	if (json_is_integer(v))
		return buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_is_real(v))
		return add_float(b, json_real_value(v), FLOAT_V);
	for (size_t i = 0; strings && i < json_array_size(v); i++)
		strings = json_is_string(json_array_get(v, i));
	if (strings) {
		int r = 0;
		for (size_t i = 0; i < json_array_size(v) && r == 0; i++) {
			const json_t *s = json_array_get(v, i);
			r = i ? buf_add(b, "\n", 1) : 0;
			if (r == 0)
				r = buf_add(b, json_string_value(s), json_string_length(s));
		}
		return r;
	}
	return add_yaml(b, v);
}

int hook_tool_format(struct buf *b, enum hook_tool_format fmt, const json_t *v)
{
	size_t start = b->len;
	int r;

	if (fmt == HOOK_TOOL_FMT_JSON)
		r = v ? add_json(b, v) : buf_add(b, "null", 4);
	else if (fmt == HOOK_TOOL_FMT_YAML)
		r = add_yaml(b, v);
	else
		r = add_smart(b, v);
	if (r == 0 && b->len > start && b->data[b->len - 1] != '\n')
		r = buf_add(b, "\n", 1);
	return r;
}

int hook_tool_format_parse(const char *s, enum hook_tool_format *ret)
{
	static const char *const names[] = { "smart", "json", "yaml" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum hook_tool_format)i;
			return 0;
		}
	}
	return -EINVAL;
}
