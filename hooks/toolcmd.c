/*
 * The hook tools, run the way Juju's jujuc server runs them (its
 * worker/uniter/runner/jujuc commands over the juju/cmd package): one table
 * row per tool with its flags, usage and run function. The tool binary is
 * dumb; everything a user sees is decided here, so a charm written for Juju
 * reads the same bytes: "ERROR msg" and exit 2 for usage errors, exit 1 for
 * failed calls, help on -h, and the values in Juju's --format (toolfmt.c).
 *
 * Invariants: every byte written goes into the reply's bounded buffers;
 * user-supplied text in messages is Go-%q quoted and cut (go_quote), so a
 * message never exceeds a few KiB whatever the arguments.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolcmd.h"
#include "toolfmt.h"
#include "banned.h"

#define FLAGS_MAX 8
#define QUOTE_MAX 200

enum flag_kind { FLAG_BOOL, FLAG_STRING, FLAG_FORMAT };

struct flag_def {
	char shortname; /* 0: none */
	const char *longname;
	enum flag_kind kind;
	const char *def;
	const char *help;
};

struct call;

struct tool_def {
	const char *name;
	const char *args;
	const char *purpose;
	const char *doc;
	struct flag_def flags[FLAGS_MAX];
	int (*run)(struct call *c);
};

struct call {
	const struct hook_tool_ops *ops;
	void *ud;
	const char *unit;
	const struct tool_def *tool;
	const char *val[FLAGS_MAX]; /* string flags: the value; bool flags: non-NULL when true */
	enum hook_tool_format fmt;
	size_t npos;
	char **pos;
	struct hook_tool_reply *r;
	char err[1024];
};

void hook_tool_reply_init(struct hook_tool_reply *r)
{
	r->code = 0;
	buf_init(&r->out, HOOK_TOOL_OUT_MAX);
	buf_init(&r->err, HOOK_TOOL_OUT_MAX);
}

void hook_tool_reply_free(struct hook_tool_reply *r)
{
	if (!r)
		return;
	buf_free(&r->out);
	buf_free(&r->err);
}

static const char *q(char *out, size_t size, const char *s)
{
	return go_quote_fixed(out, size, s, strlen(s), QUOTE_MAX);
}

/* "ERROR message" on stderr and the exit code: Juju's cmd.WriteError. */
static int fail(struct call *c, int code, const char *fmt, ...) PRINTF(3, 4);
static int fail(struct call *c, int code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->r->code = code;
	return buf_addf(&c->r->err, "ERROR %s\n", msg);
}

/* cmd.CheckEmpty: `unrecognized args: ["a" "b"]`, exit 2. */
static int check_empty(struct call *c, size_t from, bool *ret_ok)
{
	struct buf b;
	int r = 0;

	*ret_ok = from >= c->npos;
	if (*ret_ok)
		return 0;
	buf_init(&b, 4096);
	for (size_t i = from; i < c->npos && r == 0; i++) {
		r = buf_add(&b, i > from ? " " : "", i > from ? 1 : 0);
		if (r == 0)
			r = go_quote(&b, c->pos[i], strlen(c->pos[i]), QUOTE_MAX);
	}
	if (r == -EFBIG)
		r = buf_add(&b, "...", 3);
	if (r == 0 || r == -EFBIG)
		r = fail(c, 2, "unrecognized args: [%s]", b.data ? b.data : "");
	buf_free(&b);
	return r;
}

/* cmd.Output.Write in the chosen --format. */
static int write_value(struct call *c, const json_t *v)
{
	return hook_tool_format(&c->r->out, c->fmt, v);
}

/* ---- flags and help ----------------------------------------------------- */

static int add_help(struct call *c)
{
	const struct tool_def *t = c->tool;
	struct buf *b = &c->r->out;
	int r = buf_addf(b, "Usage: %s%s%s%s\n\nSummary:\n%s\n", t->name,
			 t->flags[0].kind || t->flags[0].longname ? " [options]" : "",
			 t->args[0] ? " " : "", t->args, t->purpose);

	if (r == 0 && t->flags[0].longname)
		r = buf_addf(b, "\nOptions:\n");
	for (size_t i = 0; r == 0 && i < FLAGS_MAX && t->flags[i].longname; i++) {
		const struct flag_def *f = &t->flags[i];
		char sh[8] = "";
		if (f->shortname)
			snprintf(sh, sizeof(sh), "-%c, ", f->shortname);
		r = buf_addf(b, "%s--%s  (= %s)\n    %s\n", sh, f->longname, f->def, f->help);
	}
	if (r == 0 && t->doc[0])
		r = buf_addf(b, "\nDetails:\n%s", t->doc);
	return r;
}

static const struct flag_def *find_flag(const struct tool_def *t, const char *name, size_t len,
					size_t *ret_i)
{
	for (size_t i = 0; i < FLAGS_MAX && t->flags[i].longname; i++) {
		const struct flag_def *f = &t->flags[i];
		if ((len == 1 && f->shortname == name[0]) ||
		    (len > 1 && strlen(f->longname) == len && memcmp(f->longname, name, len) == 0)) {
			*ret_i = i;
			return f;
		}
	}
	return NULL;
}

static int set_flag(struct call *c, const struct flag_def *f, size_t i, const char *dash,
		    const char *value, bool *ret_ok)
{
	char qv[1024];

	*ret_ok = false;
	if (f->kind == FLAG_BOOL) {
		if (!value || strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
			c->val[i] = "true";
		else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
			c->val[i] = NULL;
		else
			return fail(c, 2, "invalid value %s for flag %s%s: parse error",
				    q(qv, sizeof(qv), value), dash, f->longname);
		*ret_ok = true;
		return 0;
	}
	if (f->kind == FLAG_FORMAT) {
		if (hook_tool_format_parse(value, &c->fmt) < 0)
			return fail(c, 2, "invalid value %s for flag --%s: unknown format %s",
				    q(qv, sizeof(qv), value), f->longname, qv);
	}
	c->val[i] = value;
	*ret_ok = true;
	return 0;
}

/*
 * gnuflag with interspersed flags: "--name", "--name=value", "--name value",
 * "-x", "-xyz" (bools), "-lVALUE", "-l VALUE"; "--" ends the flags. Writes
 * the positional arguments to c->pos. *ret_state: 0 run, 1 help, 2 failed.
 */
static int parse_flags(struct call *c, size_t argc, char *const *argv, int *ret_state)
{
	bool done = false, ok;
	int r;

	*ret_state = 2;
	for (size_t i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct flag_def *f;
		size_t fi;

		if (done || a[0] != '-' || a[1] == '\0') {
			c->pos[c->npos++] = (char *)a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			done = true;
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const char *value = eq ? eq + 1 : NULL;
			if (len == 4 && memcmp(name, "help", 4) == 0 && !eq) {
				*ret_state = 1;
				return 0;
			}
			f = len > 1 ? find_flag(c->tool, name, len, &fi) : NULL;
			if (!f)
				return fail(c, 2, "flag provided but not defined: --%.*s",
					    (int)(len < QUOTE_MAX ? len : QUOTE_MAX), name);
			if (f->kind != FLAG_BOOL && !value) {
				if (i + 1 >= argc)
					return fail(c, 2, "flag needs an argument: --%s", f->longname);
				value = argv[++i];
			}
			r = set_flag(c, f, fi, "--", value, &ok);
			if (r < 0 || !ok)
				return r;
			continue;
		}
		for (const char *p = a + 1; *p; p++) {
			f = find_flag(c->tool, p, 1, &fi);
			if (!f && *p == 'h') {
				*ret_state = 1;
				return 0;
			}
			if (!f)
				return fail(c, 2, "flag provided but not defined: -%c", *p);
			if (f->kind == FLAG_BOOL) {
				r = set_flag(c, f, fi, "-", NULL, &ok);
				if (r < 0 || !ok)
					return r;
				continue;
			}
			const char *value = p[1] ? p + 1 + (p[1] == '=') : NULL;
			if (!value) {
				if (i + 1 >= argc)
					return fail(c, 2, "flag needs an argument: -%c", *p);
				value = argv[++i];
			}
			r = set_flag(c, f, fi, "-", value, &ok);
			if (r < 0 || !ok)
				return r;
			break;
		}
	}
	*ret_state = 0;
	return 0;
}

static const char *flag(const struct call *c, const char *longname)
{
	for (size_t i = 0; i < FLAGS_MAX && c->tool->flags[i].longname; i++)
		if (strcmp(c->tool->flags[i].longname, longname) == 0)
			return c->val[i];
	return NULL;
}

/* The deprecated --format of open-port, close-port and juju-log: a warning, no newline (as Juju). */
static int warn_format(struct call *c)
{
	const char *v = flag(c, "format");

	if (!v || !*v)
		return 0;
	return buf_addf(&c->r->err, "--format flag deprecated for command \"%s\"", c->tool->name);
}

/* ---- the tools ---------------------------------------------------------- */

static int run_config_get(struct call *c)
{
	const char *key = c->npos ? c->pos[0] : "";
	bool all = flag(c, "all") != NULL, ok;
	char *text = NULL, qk[1024];
	json_t *settings, *value;
	json_error_t jerr;
	int r;

	if (*key && all)
		return fail(c, 2, "cannot use argument --all together with key %s",
			    q(qk, sizeof(qk), key));
	r = check_empty(c, 1, &ok);
	if (r < 0 || !ok)
		return r;
	r = c->ops->config_get(c->ud, c->unit, &text, c->err, sizeof(c->err));
	if (r < 0)
		return fail(c, 1, "%s", c->err[0] ? c->err : strerror(-r));
	settings = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!json_is_object(settings)) {
		json_decref(settings);
		return fail(c, 1, "cannot read the settings: not a JSON object");
	}
	if (*key) {
		value = json_object_get(settings, key);
	} else {
		if (!all) {
			const char *k;
			json_t *v;
			void *tmp;
			json_object_foreach_safe(settings, tmp, k, v)
				if (json_is_null(v))
					json_object_del(settings, k);
		}
		value = settings;
	}
	r = write_value(c, value);
	json_decref(settings);
	return r;
}

static int run_status_set(struct call *c)
{
	static const char *const valid[] = { "maintenance", "blocked", "waiting", "active" };
	char qs[1024];
	bool ok = false;
	int r;

	if (c->npos < 1)
		return fail(c, 2, "invalid args, require <status> [message] [data]");
	for (size_t i = 0; i < ARRAY_SIZE(valid); i++)
		ok = ok || strcmp(c->pos[0], valid[i]) == 0;
	if (!ok)
		return fail(c, 2,
			    "invalid status %s, expected one of [maintenance blocked waiting active]",
			    q(qs, sizeof(qs), c->pos[0]));
	r = check_empty(c, 2, &ok);
	if (r < 0 || !ok)
		return r;
	r = c->ops->status_set(c->ud, c->unit, flag(c, "application") != NULL, c->pos[0],
			       c->npos > 1 ? c->pos[1] : "", c->err, sizeof(c->err));
	if (r < 0)
		return fail(c, 1, "%s", c->err[0] ? c->err : strerror(-r));
	return 0;
}

/* status-get's details map: {"status": S} or, with data, {"message","status","status-data"}. */
static json_t *status_details(const char *state, const char *message, bool data)
{
	json_t *d = json_object();

	if (!d || json_object_set_new(d, "status", json_text(state, strlen(state))) < 0)
		goto fail;
	if (data && (json_object_set_new(d, "message", json_text(message, strlen(message))) < 0 ||
		     json_object_set_new(d, "status-data", json_object()) < 0))
		goto fail;
	return d;
fail:
	json_decref(d);
	return NULL;
}

/* {"application-status": details + {"units": {"UNIT/0": details}}}: charmfs runs one unit. */
static json_t *application_status(const char *unit, const char *state, const char *message,
				  bool data)
{
	json_t *v = json_object(), *app = status_details(state, message, data);
	json_t *units = json_object(), *one = status_details(state, message, data);
	char name[HOOK_TOOL_NAME_MAX + 256];
	bool ok;

	snprintf(name, sizeof(name), "%s/0", unit);
	ok = v && app && units && one && json_object_set(units, name, one) == 0 &&
	     json_object_set(app, "units", units) == 0 &&
	     json_object_set(v, "application-status", app) == 0;
	json_decref(one);
	json_decref(units);
	json_decref(app);
	if (!ok) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static int run_status_get(struct call *c)
{
	bool data = flag(c, "include-data") != NULL, ok;
	char *state = NULL, *message = NULL;
	json_t *v = NULL;
	int r;

	r = check_empty(c, 0, &ok);
	if (r < 0 || !ok)
		return r;
	r = c->ops->status_get(c->ud, c->unit, &state, &message, c->err, sizeof(c->err));
	if (r < 0)
		return fail(c, 1, "finding %s status: %s",
			    flag(c, "application") ? "application" : "workload",
			    c->err[0] ? c->err : strerror(-r));
	if (!data && c->fmt == HOOK_TOOL_FMT_SMART) {
		v = json_text(state, strlen(state));
	} else if (flag(c, "application")) {
		v = application_status(c->unit, state, message, data);
	} else {
		v = status_details(state, message, data);
	}
	free(state);
	free(message);
	r = v ? write_value(c, v) : -ENOMEM;
	json_decref(v);
	return r;
}

/* loggo.ParseLevel, case-insensitive. */
static const char *log_level(const char *s)
{
	static const char *const levels[] = { "TRACE", "DEBUG", "INFO", "WARNING", "ERROR",
					      "CRITICAL" };

	if (strcasecmp(s, "WARN") == 0)
		return "WARNING";
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
		if (strcasecmp(s, levels[i]) == 0)
			return levels[i];
	return NULL;
}

static int run_juju_log(struct call *c)
{
	struct strv words = { .v = c->pos, .n = c->npos };
	const char *given = flag(c, "log-level"), *level = "INFO";
	char *message;
	char qv[1024], warn[1400];
	int r;

	if (!c->npos)
		return fail(c, 2, "no message specified");
	r = warn_format(c);
	if (r < 0)
		return r;
	if (flag(c, "debug")) {
		level = "DEBUG";
	} else if (given && *given) {
		level = log_level(given);
		if (!level) {
			snprintf(warn, sizeof(warn), "Specified log level of %s is not valid",
				 q(qv, sizeof(qv), given));
			r = c->ops->log(c->ud, c->unit, "WARNING", warn, c->err, sizeof(c->err));
			if (r < 0)
				return fail(c, 1, "%s", c->err[0] ? c->err : strerror(-r));
			level = "INFO";
		}
	}
	message = strv_join(&words, " ");
	if (!message)
		return -ENOMEM;
	r = c->ops->log(c->ud, c->unit, level, message, c->err, sizeof(c->err));
	free(message);
	if (r < 0)
		return fail(c, 1, "%s", c->err[0] ? c->err : strerror(-r));
	return 0;
}

/* One port number of an argument: digits only (the pattern checked that), any size. */
static long long port_number(const char *s, size_t n)
{
	long long v = 0;

	for (size_t i = 0; i < n; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > 1000000000LL)
			return 1000000000LL;
	}
	return v;
}

/*
 * Juju's port argument: icmp, or PORT[-PORT][/PROTO] (case-insensitive),
 * then its validate(). Returns false with the message in msg.
 */
static bool parse_port_arg(const char *arg, int *ret_from, int *ret_to, char proto[16],
			   char *msg, size_t msglen)
{
	char lower[64], qa[1024], qp[1024];
	size_t n = strlen(arg), d1 = 0, d2 = 0, dash, slash;
	long long from, to;

	if (n < sizeof(lower)) {
		for (size_t i = 0; i <= n; i++)
			lower[i] = (char)(arg[i] >= 'A' && arg[i] <= 'Z' ? arg[i] + 32 : arg[i]);
		if (strcmp(lower, "icmp") == 0) {
			*ret_from = *ret_to = -1;
			snprintf(proto, 16, "icmp");
			return true;
		}
		while (d1 < n && lower[d1] >= '0' && lower[d1] <= '9')
			d1++;
		dash = d1;
		if (d1 && dash < n && lower[dash] == '-')
			while (dash + 1 + d2 < n && lower[dash + 1 + d2] >= '0' &&
			       lower[dash + 1 + d2] <= '9')
				d2++;
		slash = d2 ? dash + 1 + d2 : d1;
		if (d1 && (slash == n || (lower[slash] == '/' && slash + 1 < n &&
					  strspn(lower + slash + 1, "abcdefghijklmnopqrstuvwxyz0123456789") ==
						  n - slash - 1 && n - slash - 1 < 16)) &&
		    (d2 || lower[d1] != '-')) {
			from = port_number(lower, d1);
			to = d2 ? port_number(lower + dash + 1, d2) : from;
			snprintf(proto, 16, "%s", slash < n ? lower + slash + 1 : "tcp");
			if (from > to) {
				snprintf(msg, msglen,
					 "invalid port range %lld-%lld/%s; expected fromPort <= toPort",
					 from, to, proto);
				return false;
			}
			if (strcmp(proto, "icmp") == 0) {
				snprintf(msg, msglen,
					 "protocol \"icmp\" doesn't support any ports; got \"%lld\"", from);
				return false;
			}
			if (from < 1 || from > 65535 || to > 65535) {
				bool range = from != to;
				snprintf(msg, msglen, "%s must be in the range [1, 65535]; got \"%lld\"",
					 !range ? "port" : (from < 1 || from > 65535) ? "fromPort" : "toPort",
					 range && !(from < 1 || from > 65535) ? to : from);
				return false;
			}
			if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) {
				snprintf(msg, msglen,
					 "protocol must be \"tcp\", \"udp\", or \"icmp\"; got %s",
					 go_quote_fixed(qp, sizeof(qp), proto, strlen(proto), 0));
				return false;
			}
			*ret_from = (int)from;
			*ret_to = (int)to;
			return true;
		}
	}
	snprintf(msg, msglen,
		 "expected <port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp; got %s",
		 q(qa, sizeof(qa), arg));
	return false;
}

static int run_port(struct call *c)
{
	bool open = strcmp(c->tool->name, "open-port") == 0, ok;
	char proto[16], msg[2048];
	int from, to, r;

	if (!c->npos)
		return fail(c, 2, "no port or range specified");
	if (!parse_port_arg(c->pos[0], &from, &to, proto, msg, sizeof(msg)))
		return fail(c, 2, "%s", msg);
	r = check_empty(c, 1, &ok);
	if (r < 0 || !ok)
		return r;
	r = warn_format(c);
	if (r < 0)
		return r;
	r = c->ops->port(c->ud, c->unit, open, from, to, proto, c->err, sizeof(c->err));
	if (r < 0)
		return fail(c, 1, "%s", c->err[0] ? c->err : strerror(-r));
	return 0;
}

static int run_opened_ports(struct call *c)
{
	struct strv ports = { 0 };
	bool ok;
	json_t *list;
	int r;

	r = check_empty(c, 0, &ok);
	if (r < 0 || !ok)
		return r;
	r = c->ops->ports(c->ud, c->unit, &ports, c->err, sizeof(c->err));
	if (r < 0)
		return fail(c, 1, "%s", c->err[0] ? c->err : strerror(-r));
	list = json_array();
	for (size_t i = 0; list && i < ports.n; i++) {
		char entry[128];
		snprintf(entry, sizeof(entry), "%s%s", ports.v[i], flag(c, "endpoints") ? " (*)" : "");
		if (json_array_append_new(list, json_text(entry, strlen(entry))) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	strv_clear(&ports);
	r = list ? write_value(c, list) : -ENOMEM;
	json_decref(list);
	return r;
}

static int run_unit_get(struct call *c)
{
	char *addr = NULL, qs[1024];
	bool ok;
	json_t *v;
	int r;

	if (!c->npos)
		return fail(c, 2, "no setting specified");
	if (strcmp(c->pos[0], "private-address") != 0 && strcmp(c->pos[0], "public-address") != 0)
		return fail(c, 2, "unknown setting %s", q(qs, sizeof(qs), c->pos[0]));
	r = check_empty(c, 1, &ok);
	if (r < 0 || !ok)
		return r;
	r = c->ops->address(c->ud, c->unit, strcmp(c->pos[0], "public-address") == 0, &addr,
			    c->err, sizeof(c->err));
	if (r < 0)
		return fail(c, 1, "%s", c->err[0] ? c->err : strerror(-r));
	v = json_text(addr, strlen(addr));
	free(addr);
	r = v ? write_value(c, v) : -ENOMEM;
	json_decref(v);
	return r;
}

/* charmfs runs one unit of each application: it is always the leader. */
static int run_is_leader(struct call *c)
{
	bool ok;
	int r = check_empty(c, 0, &ok);

	if (r < 0 || !ok)
		return r;
	return write_value(c, json_true());
}

#define FORMAT_FLAG(def) { 0, "format", FLAG_FORMAT, def, "Specify output format (json|smart|yaml)" }
#define OLD_FORMAT_FLAG { 0, "format", FLAG_STRING, "\"\"", "deprecated format flag" }

static const struct tool_def tools[] = {
	{ "config-get", "[<key>]", "print application configuration",
	  "When no <key> is supplied, all keys with values or defaults are printed. If\n"
	  "--all is set, all known keys are printed; those without defaults or values are\n"
	  "reported as null. <key> and --all are mutually exclusive.\n",
	  { { 'a', "all", FLAG_BOOL, "false", "print all keys" }, FORMAT_FLAG("smart") },
	  run_config_get },
	{ "status-set", "<maintenance | blocked | waiting | active> [message]",
	  "set status information",
	  "Sets the workload status of the charm. Message is optional.\n"
	  "The \"last updated\" attribute of the status is set, even if the\n"
	  "status and message are the same as what's already set.\n",
	  { { 0, "application", FLAG_BOOL, "false",
	      "set this status for the application to which the unit belongs if the unit is the leader" } },
	  run_status_set },
	{ "status-get", "[--include-data] [--application]", "print status information",
	  "By default, only the status value is printed.\n"
	  "If the --include-data flag is passed, the associated data are printed also.\n",
	  { { 0, "application", FLAG_BOOL, "false",
	      "print status for all units of this application if this unit is the leader" },
	    FORMAT_FLAG("smart"),
	    { 0, "include-data", FLAG_BOOL, "false", "print all status data" } },
	  run_status_get },
	{ "juju-log", "<message>", "write a message to the juju log", "",
	  { { 0, "debug", FLAG_BOOL, "false", "log at debug level" },
	    OLD_FORMAT_FLAG,
	    { 'l', "log-level", FLAG_STRING, "INFO", "Send log message at the given level" } },
	  run_juju_log },
	{ "open-port", "<port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp",
	  "register a request to open a port or port range",
	  "open-port registers a request to open the specified port or port range.\n",
	  { OLD_FORMAT_FLAG }, run_port },
	{ "close-port", "<port>[/<protocol>] or <from>-<to>[/<protocol>] or icmp",
	  "register a request to close a port or port range",
	  "close-port registers a request to close the specified port or port range.\n",
	  { OLD_FORMAT_FLAG }, run_port },
	{ "opened-ports", "", "list all ports or port ranges opened by the unit",
	  "opened-ports lists all ports or port ranges opened by a unit.\n\n"
	  "Each list entry is formatted as <port>/<protocol> (e.g. \"80/tcp\") or\n"
	  "<from>-<to>/<protocol> (e.g. \"8080-8088/udp\"). With --endpoints, each entry\n"
	  "is followed by the endpoints it applies to; \"(*)\" means all of them.\n",
	  { { 0, "endpoints", FLAG_BOOL, "false",
	      "display the list of target application endpoints for each port range" },
	    FORMAT_FLAG("smart") },
	  run_opened_ports },
	{ "unit-get", "<setting>", "print public-address or private-address", "",
	  { FORMAT_FLAG("smart") }, run_unit_get },
	{ "is-leader", "", "print application leadership status",
	  "is-leader prints a boolean indicating whether the local unit is guaranteed to\n"
	  "be application leader for at least 30 seconds. If it fails, you should assume that\n"
	  "there is no such guarantee.\n",
	  { FORMAT_FLAG("smart") }, run_is_leader },
};

static const struct tool_def *find_tool(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(tools); i++)
		if (strcmp(tools[i].name, name) == 0)
			return &tools[i];
	return NULL;
}

bool hook_tool_known(const char *name)
{
	return find_tool(name) != NULL;
}

int hook_tool_dispatch(const struct hook_tool_ops *ops, void *ud, const char *unit,
		       const char *command, size_t argc, char *const *argv,
		       struct hook_tool_reply *reply)
{
	struct call *c;
	int state, r;

	if (!find_tool(command))
		return -ENOENT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pos = calloc(argc ? argc : 1, sizeof(*c->pos));
	if (!c->pos) {
		free(c);
		return -ENOMEM;
	}
	c->ops = ops;
	c->ud = ud;
	c->unit = unit;
	c->tool = find_tool(command);
	c->fmt = HOOK_TOOL_FMT_SMART;
	c->r = reply;
	r = parse_flags(c, argc, argv, &state);
	if (r == 0 && state == 1)
		r = add_help(c);
	else if (r == 0 && state == 0)
		r = c->tool->run(c);
	free(c->pos);
	free(c);
	return r;
}
