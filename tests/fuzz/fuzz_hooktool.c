/*
 * Fuzz target for the hook tool server's request decoder,
 * hook_tool_request_parse() (hooks/toolsrv.c), and, for every request it
 * accepts whose command is a tool, the tool's argument parsing and output
 * formatting (hook_tool_dispatch(), hooks/toolcmd.c) over fixed in-memory
 * ops. Checked: a refusal is -EBADMSG with a message (or -ENOMEM); an
 * accepted request has a context, a command and an absolute cwd; a tool
 * exits 0, 1 or 2, a non-zero exit always says "ERROR ..." on stderr (or is
 * help), and the ops only ever see valid ports.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolcmd.h"
#include "toolsrv.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "fuzz_hooktool: %s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                              \
			abort();                                                               \
		}                                                                              \
	} while (0)

static int f_config_get(void *ud, const char *unit, char **ret, char *err, size_t errlen)
{
	(void)ud;
	(void)unit;
	(void)err;
	(void)errlen;
	*ret = strdup("{\"s\":\"text\",\"i\":-3,\"r\":1e-7,\"b\":true,\"n\":null,\"e\":\"\","
		      "\"yes\":\"on\",\"ml\":\"a\\nb\",\"big\":1e300,\"u\":\"caf\\u00e9\"}");
	return *ret ? 0 : -ENOMEM;
}

static int f_status_set(void *ud, const char *unit, bool app, const char *state,
			const char *message, char *err, size_t errlen)
{
	(void)ud;
	(void)unit;
	(void)app;
	(void)state;
	CHECK(message != NULL);
	return strcmp(message, "x") == 0 ? errf(err, errlen, -EIO, "refused") : 0;
}

static int f_status_get(void *ud, const char *unit, char **ret_state, char **ret_message,
			char *err, size_t errlen)
{
	(void)ud;
	(void)unit;
	(void)err;
	(void)errlen;
	*ret_state = strdup("active");
	*ret_message = strdup("ready: \"quoted\"");
	return 0;
}

static int f_log(void *ud, const char *unit, const char *level, const char *message, char *err,
		 size_t errlen)
{
	(void)ud;
	(void)unit;
	(void)message;
	(void)err;
	(void)errlen;
	CHECK(strcmp(level, "TRACE") == 0 || strcmp(level, "DEBUG") == 0 ||
	      strcmp(level, "INFO") == 0 || strcmp(level, "WARNING") == 0 ||
	      strcmp(level, "ERROR") == 0 || strcmp(level, "CRITICAL") == 0);
	return 0;
}

static int f_port(void *ud, const char *unit, bool open, int from, int to, const char *proto,
		  char *err, size_t errlen)
{
	(void)ud;
	(void)unit;
	(void)open;
	(void)err;
	(void)errlen;
	if (strcmp(proto, "icmp") == 0)
		CHECK(from == -1 && to == -1);
	else
		CHECK((strcmp(proto, "tcp") == 0 || strcmp(proto, "udp") == 0) && from >= 1 &&
		      from <= to && to <= 65535);
	return 0;
}

static int f_ports(void *ud, const char *unit, struct strv *ret, char *err, size_t errlen)
{
	(void)ud;
	(void)unit;
	(void)err;
	(void)errlen;
	if (strv_push(ret, "icmp") < 0 || strv_push(ret, "80/tcp") < 0) {
		strv_clear(ret);
		return -ENOMEM;
	}
	return 0;
}

static int f_address(void *ud, const char *unit, bool pub, char **ret, char *err, size_t errlen)
{
	(void)ud;
	(void)unit;
	(void)err;
	(void)errlen;
	*ret = strdup(pub ? "192.0.2.1" : "10.0.0.1");
	return *ret ? 0 : -ENOMEM;
}

static const struct hook_tool_ops ops = {
	.config_get = f_config_get,
	.status_set = f_status_set,
	.status_get = f_status_get,
	.log = f_log,
	.port = f_port,
	.ports = f_ports,
	.address = f_address,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hook_tool_request *req = NULL;
	struct hook_tool_reply reply;
	char err[512] = "";
	int r;

	r = hook_tool_request_parse((const char *)data, size, &req, err, sizeof(err));
	if (r < 0) {
		CHECK((r == -EBADMSG && err[0]) || r == -ENOMEM);
		CHECK(req == NULL);
		return 0;
	}
	CHECK(req->context[0] && req->command[0] && req->cwd[0] == '/');
	CHECK(strlen(req->context) <= HOOK_TOOL_NAME_MAX && req->args.n <= HOOK_TOOL_ARGS_MAX);
	hook_tool_reply_init(&reply);
	r = hook_tool_dispatch(&ops, NULL, "fuzz", req->command, req->args.n, req->args.v, &reply);
	CHECK(r == 0 || r == -EFBIG || r == -ENOMEM || (r == -ENOENT && !hook_tool_known(req->command)));
	if (r == 0) {
		CHECK(reply.code >= 0 && reply.code <= 2);
		if (reply.code != 0)
			CHECK(reply.err.len > 6 && memcmp(reply.err.data, "ERROR ", 6) == 0);
		CHECK(reply.out.len <= HOOK_TOOL_OUT_MAX && reply.err.len <= HOOK_TOOL_OUT_MAX);
	}
	hook_tool_reply_free(&reply);
	hook_tool_request_free(req);
	return 0;
}
