/*
 * The hook tool server (SPEC §4.6): while a charm hook runs, the Juju hook
 * tools it calls (config-get, status-set, status-get, juju-log, open-port,
 * close-port, opened-ports, unit-get, is-leader) are one small binary,
 * charmfs-hook-tool (hooks/tool.c), that forwards each call over a Unix
 * socket to this server, like Juju's jujuc. The server authenticates the
 * caller (SO_PEERCRED: the daemon's own uid or root; then a context id that
 * is valid only while one hook runs), parses the tool's arguments and
 * formats its output exactly as Juju's tool does (toolcmd.h), and asks the
 * daemon's core for the facts through a table of ops.
 *
 * Wire format, both ways: a 4-byte big-endian length, then that many bytes
 * of one JSON object (at most HOOK_TOOL_MSG_MAX bytes). Request:
 * {"context": ID, "command": NAME, "args": [ARG...], "cwd": ABSDIR}; reply:
 * {"code": EXIT, "stdout": TEXT, "stderr": TEXT}. One request and one reply
 * per connection.
 *
 * Calling sequence: hook_toolsrv_open(); for each hook run:
 * hook_toolsrv_context_add(), run the hook with JUJU_CONTEXT_ID = the id and
 * JUJU_AGENT_SOCKET_ADDRESS = hook_toolsrv_address(), then
 * hook_toolsrv_context_remove(); at shutdown hook_toolsrv_close().
 *
 * Thread-safety: the server answers on its own HOOK_TOOLSRV_WORKERS
 * long-lived threads (one connection each at a time; more wait in the
 * listen backlog), so the ops functions are called concurrently, from those
 * threads, and must be thread-safe. The
 * context functions may be called from any thread.
 */
#ifndef CHARMFS_HOOKS_TOOLSRV_H
#define CHARMFS_HOOKS_TOOLSRV_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* Bytes of a context id with its NUL: 32 lower-case hex characters (128 random bits). */
#define HOOK_CONTEXT_ID_SIZE 33
/* Longest message (request or reply JSON) on the wire. */
#define HOOK_TOOL_MSG_MAX (1024 * 1024)
/* Most arguments of one tool call. */
#define HOOK_TOOL_ARGS_MAX 1024
/* Longest context id, command name and cwd accepted in a request. */
#define HOOK_TOOL_NAME_MAX 64
#define HOOK_TOOL_CWD_MAX 4096
/* Server threads: connections served at once; more wait in the listen backlog. */
#define HOOK_TOOLSRV_WORKERS 16
/* How long a connection may take to send its request, in seconds. */
#define HOOK_TOOLSRV_TIMEOUT 10

/*
 * What the tools do, answered by the daemon's core; unit is the package
 * name (the unit "NAME/0"). Each returns 0 or -errno with a message in err;
 * outputs are written only on success and owned by the caller (free(),
 * strv_clear()). Called from the server's threads, concurrently.
 */
struct hook_tool_ops {
	/* The settings JSON object, defaults filled (keys without a value or default: null). */
	int (*config_get)(void *ud, const char *unit, char **ret_json, char *err, size_t errlen);
	int (*status_set)(void *ud, const char *unit, bool application, const char *state,
			  const char *message, char *err, size_t errlen);
	int (*status_get)(void *ud, const char *unit, char **ret_state, char **ret_message,
			  char *err, size_t errlen);
	/* level is one of TRACE DEBUG INFO WARNING ERROR CRITICAL. */
	int (*log)(void *ud, const char *unit, const char *level, const char *message, char *err,
		   size_t errlen);
	/* proto "tcp", "udp" (1 <= from <= to <= 65535) or "icmp" (from = to = -1). */
	int (*port)(void *ud, const char *unit, bool open, int from, int to, const char *proto,
		    char *err, size_t errlen);
	/* "80/tcp", "1000-2000/udp", "icmp", sorted. */
	int (*ports)(void *ud, const char *unit, struct strv *ret, char *err, size_t errlen);
	int (*address)(void *ud, const char *unit, bool public_address, char **ret, char *err,
		       size_t errlen);
};

struct hook_toolsrv;

/*
 * Listens on address (a path, or "@name" in the abstract namespace; a stale
 * socket at the path is replaced) and starts the accept thread. ops and ud
 * must outlive the server. 0, -ENAMETOOLONG (address too long for
 * sockaddr_un), -EINVAL (empty address), -EADDRINUSE (a non-socket file at
 * the path, or the abstract name taken) or -errno.
 */
int hook_toolsrv_open(const char *address, const struct hook_tool_ops *ops, void *ud,
		      struct hook_toolsrv **ret) WUR;
/*
 * A context valid while one hook runs: a fresh random id (128 bits from
 * getrandom, hex) into ret_id, bound to unit and hook. 0, -ENOMEM, -EINVAL
 * (empty unit) or -errno from getrandom.
 */
int hook_toolsrv_context_add(struct hook_toolsrv *srv, const char *unit, const char *hook,
			     char ret_id[HOOK_CONTEXT_ID_SIZE]) WUR;
/* After the hook ended: later calls with that id fail ("invalid context id"). Unknown ids are fine. */
void hook_toolsrv_context_remove(struct hook_toolsrv *srv, const char *id);
/* The address as given to hook_toolsrv_open(), for JUJU_AGENT_SOCKET_ADDRESS. */
const char *hook_toolsrv_address(const struct hook_toolsrv *srv);
/*
 * Stops accepting, waits for the calls being answered (each bounded by
 * HOOK_TOOLSRV_TIMEOUT for its request, and by the ops), closes the socket
 * and unlinks a path socket. NULL is fine. Not from an ops function.
 */
void hook_toolsrv_close(struct hook_toolsrv *srv);

/* One decoded request. */
struct hook_tool_request {
	char *context;
	char *command;
	char *cwd;
	struct strv args;
};

/*
 * Decodes the JSON of one request (the len bytes at buf, without the length
 * prefix; untrusted). The context id and command are at most
 * HOOK_TOOL_NAME_MAX bytes, the cwd absolute and at most HOOK_TOOL_CWD_MAX,
 * at most HOOK_TOOL_ARGS_MAX args, every string without NUL bytes. 0 with a
 * new request in *ret (hook_tool_request_free()), or -EBADMSG / -ENOMEM
 * with a message. Thread-safe.
 */
int hook_tool_request_parse(const char *buf, size_t len, struct hook_tool_request **ret,
			    char *err, size_t errlen) WUR;
void hook_tool_request_free(struct hook_tool_request *req);

/*
 * An address of this host for unit-get: the first non-loopback IPv4 address
 * of an interface that is up (getifaddrs), else "127.0.0.1", into
 * out[outlen] (16 bytes suffice). 0, or -ENOSPC when outlen is too small.
 */
int hook_tool_host_address(char *out, size_t outlen) WUR;

#endif
