/*
 * The hook tools themselves, as Juju's jujuc server runs them: argument
 * parsing (gnuflag rules: -x and --name[=value] flags anywhere among the
 * arguments, "--" ends them, -h/--help prints the usage), the call to one
 * ops function (toolsrv.h), and the output in Juju's formats (--format
 * smart, json or yaml). The socket server (toolsrv.c) calls this; so does
 * the fuzz target, without a socket.
 *
 * Exit codes and error texts follow Juju's cmd package: a usage error
 * (unknown flag, bad argument) prints "ERROR <message>" and exits 2, a
 * failure of the call prints "ERROR <message>" and exits 1, help exits 0.
 */
#ifndef CHARMFS_HOOKS_TOOLCMD_H
#define CHARMFS_HOOKS_TOOLCMD_H

#include <stddef.h>

#include "toolsrv.h"
#include "util.h"

/* Most bytes of a tool's stdout, and of its stderr. */
#define HOOK_TOOL_OUT_MAX (256 * 1024)

/* What a tool printed and its exit code. */
struct hook_tool_reply {
	int code;
	struct buf out;
	struct buf err;
};

/* Empty reply with code 0 and bounded buffers. */
void hook_tool_reply_init(struct hook_tool_reply *r);
void hook_tool_reply_free(struct hook_tool_reply *r);

/* Whether name is one of the tools this module runs. */
bool hook_tool_known(const char *name);

/*
 * Runs tool command (hook_tool_known()) with its argc arguments for unit,
 * into reply (hook_tool_reply_init()): every failure of the tool is an exit
 * code and a message in reply->err. Returns 0, or -ENOMEM, or -EFBIG when
 * the output exceeded HOOK_TOOL_OUT_MAX (reply is then incomplete), or
 * -ENOENT for an unknown command. Thread-safe when the ops are.
 */
int hook_tool_dispatch(const struct hook_tool_ops *ops, void *ud, const char *unit,
		       const char *command, size_t argc, char *const *argv,
		       struct hook_tool_reply *reply) WUR;

#endif
