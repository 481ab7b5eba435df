/*
 * charmfs-hook-tool: the hook tools' one binary, like Juju's jujuc. It is
 * installed once and reached through symlinks named config-get,
 * status-set, status-get, juju-log, open-port, close-port, opened-ports,
 * unit-get and is-leader; it dispatches on the name it was called by
 * (`charmfs-hook-tool NAME ARGS...` works too).
 *
 * It knows nothing of the tools: it sends {context: $JUJU_CONTEXT_ID,
 * command, args, cwd} to the daemon's socket $JUJU_AGENT_SOCKET_ADDRESS
 * (a leading '@': the abstract namespace), prints the reply's stdout and
 * stderr, and exits with its code. The wire format is toolsrv.h's: a
 * 4-byte big-endian length, then one JSON object, each way. Errors of its
 * own (no environment, no daemon, a broken reply) are "error: ..." on
 * stderr and exit 1, as jujuc's.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "toolsrv.h"
#include "util.h"
#include "banned.h"

#define SELF "charmfs-hook-tool"

static int die(const char *fmt, ...) PRINTF(1, 2);
static int die(const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int connect_to(const char *address)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(address);
	socklen_t len;
	int fd;

	if (address[0] == '@') {
		if (n > sizeof(sa.sun_path) || n < 2) {
			errno = EINVAL;
			return -1;
		}
		memcpy(sa.sun_path + 1, address + 1, n - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		if (n >= sizeof(sa.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(sa.sun_path, address, n);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int read_full(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t k = read(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -ECONNRESET;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The request's JSON: args are passed as text, bytes that are not UTF-8 as U+FFFD. */
static char *make_request(const char *context, const char *command, int argc, char **argv,
			  const char *cwd)
{
	json_t *o = json_object(), *args = json_array();
	char *text = NULL;

	if (!o || !args)
		goto out;
	for (int i = 0; i < argc; i++)
		if (json_array_append_new(args, json_text(argv[i], strlen(argv[i]))) < 0)
			goto out;
	if (json_object_set_new(o, "context", json_text(context, strlen(context))) < 0 ||
	    json_object_set_new(o, "command", json_text(command, strlen(command))) < 0 ||
	    json_object_set_new(o, "cwd", json_text(cwd, strlen(cwd))) < 0 ||
	    json_object_set(o, "args", args) < 0)
		goto out;
	text = json_dumps(o, JSON_COMPACT);
out:
	json_decref(args);
	json_decref(o);
	return text;
}

int main(int argc, char **argv)
{
	const char *name = argc > 0 ? strrchr(argv[0], '/') : NULL;
	const char *context, *address;
	char cwd[PATH_MAX], *req, *body;
	unsigned char hdr[4];
	json_error_t jerr;
	json_t *reply;
	json_t *code;
	uint32_t len;
	size_t n;
	int fd, r, rc;

	name = name ? name + 1 : (argc > 0 ? argv[0] : SELF);
	argc = argc > 0 ? argc - 1 : 0;
	argv++;
	if (strcmp(name, SELF) == 0 || strncmp(name, "lt-", 3) == 0) {
		if (argc < 1) {
			fprintf(stderr, "usage: %s COMMAND [ARGS...], or through a symlink named "
					"after the hook tool\n", SELF);
			return 2;
		}
		name = argv[0];
		argc--;
		argv++;
	}
	context = getenv("JUJU_CONTEXT_ID");
	if (!context || !*context)
		return die("JUJU_CONTEXT_ID not set");
	address = getenv("JUJU_AGENT_SOCKET_ADDRESS");
	if (!address || !*address)
		return die("JUJU_AGENT_SOCKET_ADDRESS not set");
	if (!getcwd(cwd, sizeof(cwd)))
		return die("cannot get the working directory: %s", strerror(errno));

	req = make_request(context, name, argc, argv, cwd);
	if (!req)
		return die("out of memory");
	n = strlen(req);
	if (n > HOOK_TOOL_MSG_MAX) {
		free(req);
		return die("arguments too long (at most %d bytes)", HOOK_TOOL_MSG_MAX);
	}
	fd = connect_to(address);
	if (fd < 0) {
		free(req);
		return die("cannot reach the charmfs daemon at %s: %s", address, strerror(errno));
	}
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	r = write_all(fd, hdr, sizeof(hdr));
	if (r == 0)
		r = write_all(fd, req, n);
	free(req);
	if (r == 0)
		(void)shutdown(fd, SHUT_WR);
	if (r == 0)
		r = read_full(fd, hdr, sizeof(hdr));
	if (r < 0) {
		close(fd);
		return die("talking to the charmfs daemon: %s", strerror(-r));
	}
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len > HOOK_TOOL_MSG_MAX) {
		close(fd);
		return die("reply too large (%u bytes)", len);
	}
	body = malloc(len ? len : 1);
	if (!body) {
		close(fd);
		return die("out of memory");
	}
	r = read_full(fd, body, len);
	close(fd);
	if (r < 0) {
		free(body);
		return die("talking to the charmfs daemon: %s", strerror(-r));
	}
	reply = json_loadb(body, len, 0, &jerr);
	free(body);
	code = json_object_get(reply, "code");
	if (!json_is_integer(code) || !json_is_string(json_object_get(reply, "stdout")) ||
	    !json_is_string(json_object_get(reply, "stderr"))) {
		json_decref(reply);
		return die("malformed reply from the charmfs daemon");
	}
	fwrite(json_string_value(json_object_get(reply, "stdout")), 1,
	       json_string_length(json_object_get(reply, "stdout")), stdout);
	fwrite(json_string_value(json_object_get(reply, "stderr")), 1,
	       json_string_length(json_object_get(reply, "stderr")), stderr);
	rc = json_integer_value(code) >= 0 && json_integer_value(code) <= 255
		     ? (int)json_integer_value(code)
		     : 1;
	json_decref(reply);
	if (fflush(stdout) != 0)
		return 1;
	return rc;
}
