/*
 * Unit tests for the release publisher client (upgrade/client.c) against
 * real servers on 127.0.0.1, started and stopped by each test
 * (tests/unit/relserver.py): a static publisher (python's http.server) for
 * the documents, resolving and downloading (size and SHA-256 against
 * sha256sum); 404; documents and archives over their limits, announced
 * and chunked; a stalling server (timeouts) and a slow one (stop_fd);
 * redirect loops and a redirect to file://; a refused connection; TLS with
 * a CA made here by the openssl command, refused without it and trusted
 * with upgrade_ca; the progress callback.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "util.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif
#define RELSERVER SRCDIR "/tests/unit/relserver.py"

/* Over 2 MiB: the download writes the file in 1 MiB pieces (client.c) and a part piece. */
#define ARCHIVE_SIZE (2 * 1024 * 1024 + 300 * 1024 + 17)
#define BIGDOC_SIZE (100 * 1024)

static char dir[64];	  /* the publisher's files: dir/pub/... */
static char archive[128]; /* dir/pub/releases/0.1.0.tar */

struct server {
	pid_t pid;
	int in; /* its stdin: closing it stops the server */
	int port;
};

/* Starts relserver.py MODE [ARGS...] and waits for its port line. */
static void server_start(struct server *s, const char *mode, const char *a1, const char *a2,
			 const char *a3)
{
	int in[2], out[2];
	char line[32];
	FILE *f;

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execlp("python3", "python3", RELSERVER, mode, a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->in = in[1];
	f = fdopen(out[0], "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	assert_int_equal(parse_nonneg_int(line, &s->port), 0);
}

static void server_stop(struct server *s)
{
	int st = 0;

	close(s->in);
	assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void base_of(const struct server *s, const char *scheme, char *out, size_t n)
{
	snprintf(out, n, "%s://127.0.0.1:%d/pub", scheme, s->port);
}

static struct release_client *client(const char *base, struct release_client_opts *o)
{
	struct release_client_opts d = {.stop_fd = -1};
	struct release_client *c = NULL;
	char err[256];

	if (!o)
		o = &d;
	o->base = base;
	assert_int_equal(release_client_new(o, &c, err, sizeof(err)), 0);
	return c;
}

static void write_text(const char *path, const char *text, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, text, n), 0);
	assert_int_equal(close(fd), 0);
}

static int tmpfile_fd(void)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/dl-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The file's SHA-256 as sha256sum prints it. */
static void sha256sum(const char *path, char hex[65])
{
	char cmd[256], line[160];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	memcpy(hex, line, 64);
	hex[64] = '\0';
}

static int setup_group(void **state)
{
	char path[160];
	char *data;

	(void)state;
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(release_client_global_init(), 0);
	assert_int_equal(release_client_global_init(), 0);
	snprintf(dir, sizeof(dir), "/tmp/charmfs-relclient-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pub/releases", dir);
	assert_int_equal(mkdir_p(path), 0);
	snprintf(path, sizeof(path), "%s/pub/versions", dir);
	write_text(path, "[\"0.1.0\"]\n", 10);
	snprintf(path, sizeof(path), "%s/pub/latest", dir);
	write_text(path, "\"0.1.0\"\n", 8);
	snprintf(path, sizeof(path), "%s/pub/0.1.0", dir);
	write_text(path, "{\"flist\": \"releases/0.1.0.tar\", \"signature\": \"\"}\n", 48);
	data = malloc(BIGDOC_SIZE > ARCHIVE_SIZE ? BIGDOC_SIZE : ARCHIVE_SIZE);
	assert_non_null(data);
	for (size_t i = 0; i < ARCHIVE_SIZE; i++)
		data[i] = (char)((i * 7919u) >> 3);
	snprintf(archive, sizeof(archive), "%s/pub/releases/0.1.0.tar", dir);
	write_text(archive, data, ARCHIVE_SIZE);
	memset(data, ' ', BIGDOC_SIZE);
	snprintf(path, sizeof(path), "%s/pub/big", dir);
	write_text(path, data, BIGDOC_SIZE);
	free(data);
	return 0;
}

static int teardown_group(void **state)
{
	(void)state;
	return rm_rf(dir);
}

/* ---- the static publisher ---------------------------------------------------- */

static void expect_doc(struct release_client *c, const char *name, const char *want, size_t n)
{
	struct buf out;
	char err[256];

	assert_int_equal(release_client_get(c, name, &out, err, sizeof(err)), 0);
	assert_int_equal(out.len, n);
	assert_memory_equal(out.data, want, n);
	assert_int_equal(out.data[n], '\0');
	buf_free(&out);
}

static void test_documents(void **state)
{
	struct server s;
	char base[64];
	struct release_client *c;

	(void)state;
	server_start(&s, "static", dir, NULL, NULL);
	base_of(&s, "http", base, sizeof(base));
	c = client(base, NULL);
	expect_doc(c, "versions", "[\"0.1.0\"]\n", 10);
	expect_doc(c, "latest", "\"0.1.0\"\n", 8);
	expect_doc(c, "0.1.0", "{\"flist\": \"releases/0.1.0.tar\", \"signature\": \"\"}\n", 48);
	release_client_free(c);
	/* A base with its slash already gives the same URLs. */
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/pub/", s.port);
	c = client(base, NULL);
	expect_doc(c, "latest", "\"0.1.0\"\n", 8);
	release_client_free(c);
	server_stop(&s);
}

static void test_resolve(void **state)
{
	static const struct {
		const char *ref, *want; /* want: NULL for -EINVAL */
	} cases[] = {
	    {"releases/0.1.0.tar", "http://127.0.0.1:4711/pub/releases/0.1.0.tar"},
	    {"./releases/0.1.0.tar", "http://127.0.0.1:4711/pub/releases/0.1.0.tar"},
	    {"../x", "http://127.0.0.1:4711/x"},
	    {"../../../x", "http://127.0.0.1:4711/x"},
	    {"/abs/y.tar", "http://127.0.0.1:4711/abs/y.tar"},
	    {"https://example.com/r/1.tar", "https://example.com/r/1.tar"},
	    {"HTTP://Example.com/a", "http://Example.com/a"},
	    {"file:///etc/passwd", NULL},
	    {"ftp://example.com/x", NULL},
	};
	struct release_client *c;
	char err[256];

	(void)state;
	c = client("http://127.0.0.1:4711/pub", NULL);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *url = NULL;
		int r = release_client_resolve(c, cases[i].ref, &url, err, sizeof(err));

		if (!cases[i].want) {
			assert_int_equal(r, -EINVAL);
			assert_non_null(strstr(err, cases[i].ref));
			continue;
		}
		assert_int_equal(r, 0);
		assert_string_equal(url, cases[i].want);
		free(url);
	}
	release_client_free(c);
}

struct progress {
	int calls;
	uint64_t done, total;
	bool monotonic;
	int stop_after; /* 0: never */
};

static int on_progress(void *ud, uint64_t done, uint64_t total)
{
	struct progress *p = ud;

	if (done <= p->done)
		p->monotonic = false;
	p->done = done;
	p->total = total;
	p->calls++;
	return p->stop_after && p->calls >= p->stop_after;
}

static void test_download(void **state)
{
	struct progress p = {.monotonic = true};
	struct release_client_opts o = {.progress = on_progress, .ud = &p, .stop_fd = -1};
	struct server s;
	char base[64], err[256], hex[65], want[65];
	unsigned char sha[32];
	uint64_t size = 0;
	struct release_client *c;
	struct buf doc;
	char *url = NULL;
	int fd = tmpfile_fd();

	(void)state;
	/* Old bytes in the file are truncated away. */
	assert_int_equal(write_all(fd, "stale stale stale", 17), 0);
	server_start(&s, "static", dir, NULL, NULL);
	base_of(&s, "http", base, sizeof(base));
	c = client(base, &o);
	assert_int_equal(release_client_get(c, "0.1.0", &doc, err, sizeof(err)), 0);
	assert_int_equal(p.calls, 0);
	buf_free(&doc);
	assert_int_equal(release_client_resolve(c, "releases/0.1.0.tar", &url, err, sizeof(err)),
			 0);
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)), 0);
	assert_int_equal(size, ARCHIVE_SIZE);
	hex_encode(sha, 32, hex);
	sha256sum(archive, want);
	assert_string_equal(hex, want);
	assert_int_equal(lseek(fd, 0, SEEK_END), ARCHIVE_SIZE);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(sha256_fd(fd, hex, &size), 0);
	assert_string_equal(hex, want);
	assert_true(p.calls > 1);
	assert_true(p.monotonic);
	assert_int_equal(p.done, ARCHIVE_SIZE);
	assert_int_equal(p.total, ARCHIVE_SIZE);

	/* The progress callback stops it. */
	p = (struct progress){.monotonic = true, .stop_after = 2};
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)),
			 -ECANCELED);
	assert_non_null(strstr(err, url));
	assert_int_equal(p.calls, 2);
	free(url);
	release_client_free(c);
	server_stop(&s);
	close(fd);
}

static void test_not_found(void **state)
{
	struct server s;
	char base[64], err[256], url[128];
	unsigned char sha[32];
	uint64_t size;
	struct release_client *c;
	struct buf out;
	int fd = tmpfile_fd();

	(void)state;
	server_start(&s, "static", dir, NULL, NULL);
	base_of(&s, "http", base, sizeof(base));
	c = client(base, NULL);
	assert_int_equal(release_client_get(c, "9.9.9", &out, err, sizeof(err)), -ENOENT);
	assert_null(out.data);
	assert_int_equal(out.len, 0);
	snprintf(url, sizeof(url), "%s/9.9.9", base);
	assert_non_null(strstr(err, "HTTP 404"));
	assert_non_null(strstr(err, url));
	snprintf(url, sizeof(url), "%s/releases/9.9.9.tar", base);
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, url));
	/* The error page went nowhere. */
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	/* A name is one segment, encoded: not "latest" with a fragment. */
	assert_int_equal(release_client_get(c, "latest#x", &out, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/pub/latest%23x"));
	assert_int_equal(release_client_get(c, "..", &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(release_client_get(c, "", &out, err, sizeof(err)), -EINVAL);
	release_client_free(c);
	server_stop(&s);
	close(fd);
}

static void test_too_big(void **state)
{
	struct release_client_opts o = {.stop_fd = -1};
	struct server s, ch;
	char base[64], err[256], url[128], hex[65];
	unsigned char sha[32];
	uint64_t size = 0;
	struct release_client *c;
	struct buf out;
	int fd = tmpfile_fd();

	(void)state;
	/* Announced by Content-Length. */
	server_start(&s, "static", dir, NULL, NULL);
	base_of(&s, "http", base, sizeof(base));
	c = client(base, NULL);
	assert_int_equal(release_client_get(c, "big", &out, err, sizeof(err)), -EFBIG);
	assert_null(out.data);
	assert_non_null(strstr(err, "/pub/big"));
	release_client_free(c);
	o.max_document = BIGDOC_SIZE;
	o.max_archive = ARCHIVE_SIZE - 1;
	c = client(base, &o);
	assert_int_equal(release_client_get(c, "big", &out, err, sizeof(err)), 0);
	assert_int_equal(out.len, BIGDOC_SIZE);
	buf_free(&out);
	snprintf(url, sizeof(url), "%s/releases/0.1.0.tar", base);
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, url));
	release_client_free(c);
	server_stop(&s);

	/* Chunked, no Content-Length: refused while receiving. */
	server_start(&ch, "chunked", "200000", NULL, NULL);
	base_of(&ch, "http", base, sizeof(base));
	o = (struct release_client_opts){.stop_fd = -1, .max_archive = 150000};
	c = client(base, &o);
	assert_int_equal(release_client_get(c, "latest", &out, err, sizeof(err)), -EFBIG);
	snprintf(url, sizeof(url), "%s/a.tar", base);
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)), -EFBIG);
	assert_true(lseek(fd, 0, SEEK_END) <= 150000);
	release_client_free(c);
	o.max_archive = 200000;
	c = client(base, &o);
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)), 0);
	assert_int_equal(size, 200000);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(sha256_fd(fd, hex, &size), 0);
	assert_int_equal(size, 200000);
	{
		char want[65];

		hex_encode(sha, 32, want);
		assert_string_equal(hex, want);
	}
	release_client_free(c);
	server_stop(&ch);
	close(fd);
}

/* ---- stalls, stops, redirects, refusals -------------------------------------- */

static void test_stall(void **state)
{
	struct release_client_opts o = {.stop_fd = -1, .timeout_ms = 1000, .low_speed_secs = 1};
	struct server s;
	char base[64], err[256], url[128];
	unsigned char sha[32];
	uint64_t size;
	struct release_client *c;
	struct buf out;
	double t;
	int fd = tmpfile_fd();

	(void)state;
	server_start(&s, "stall", NULL, NULL, NULL);
	base_of(&s, "http", base, sizeof(base));
	c = client(base, &o);
	t = now();
	assert_int_equal(release_client_get(c, "latest", &out, err, sizeof(err)), -ETIMEDOUT);
	assert_true(now() - t < 5);
	assert_non_null(strstr(err, "/pub/latest"));
	/* An archive has no overall limit, only the low-speed one. */
	snprintf(url, sizeof(url), "%s/a.tar", base);
	t = now();
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)),
			 -ETIMEDOUT);
	assert_true(now() - t >= 0.9 && now() - t < 5);
	assert_non_null(strstr(err, url));
	release_client_free(c);
	server_stop(&s);
	close(fd);
}

static void *stop_later(void *arg)
{
	int fd = *(int *)arg;
	struct timespec ts = {0, 300 * 1000 * 1000};

	nanosleep(&ts, NULL);
	if (write(fd, "x", 1) != 1)
		abort();
	return NULL;
}

static void test_stop(void **state)
{
	struct progress p = {.monotonic = true};
	int stop[2];
	struct release_client_opts o = {.progress = on_progress, .ud = &p};
	struct server s;
	char base[64], err[256], url[128];
	unsigned char sha[32];
	uint64_t size;
	struct release_client *c;
	pthread_t th;
	double t;
	int fd = tmpfile_fd();

	(void)state;
	assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
	o.stop_fd = stop[0];
	server_start(&s, "slow", NULL, NULL, NULL);
	base_of(&s, "http", base, sizeof(base));
	c = client(base, &o);
	snprintf(url, sizeof(url), "%s/a.tar", base);
	assert_int_equal(pthread_create(&th, NULL, stop_later, &stop[1]), 0);
	t = now();
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)),
			 -ECANCELED);
	assert_true(now() - t < 3);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_non_null(strstr(err, url));
	assert_non_null(strstr(err, "stopped"));
	assert_true(p.monotonic);
	assert_int_equal(p.total, p.calls ? 1000000 : 0);
	/* Still readable: the next transfer stops at once. */
	t = now();
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)),
			 -ECANCELED);
	assert_true(now() - t < 1);
	release_client_free(c);
	server_stop(&s);
	close(stop[0]);
	close(stop[1]);
	close(fd);
}

static void test_redirects(void **state)
{
	struct server s, f;
	char base[64], err[256], url[128];
	unsigned char sha[32];
	uint64_t size;
	struct release_client_opts o = {.stop_fd = -1, .max_redirects = -1};
	struct release_client *c;
	struct buf out;
	int fd = tmpfile_fd();

	(void)state;
	server_start(&s, "redirect-loop", NULL, NULL, NULL);
	base_of(&s, "http", base, sizeof(base));
	c = client(base, NULL);
	assert_int_equal(release_client_get(c, "latest", &out, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "/pub/latest"));
	snprintf(url, sizeof(url), "%s/a.tar", base);
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)), -ELOOP);
	release_client_free(c);
	c = client(base, &o);
	assert_int_equal(release_client_get(c, "latest", &out, err, sizeof(err)), -ELOOP);
	release_client_free(c);
	server_stop(&s);

	server_start(&f, "redirect", "file:///etc/passwd", NULL, NULL);
	base_of(&f, "http", base, sizeof(base));
	c = client(base, NULL);
	assert_int_equal(release_client_get(c, "latest", &out, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_null(out.data);
	snprintf(url, sizeof(url), "%s/a.tar", base);
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)),
			 -EPROTONOSUPPORT);
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	release_client_free(c);
	server_stop(&f);
	close(fd);
}

static void test_refused(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	char base[64], err[256];
	struct release_client *c;
	struct buf out;
	int sk;

	(void)state;
	/* A port that was just free: nothing listens on it. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sk = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sk >= 0);
	assert_int_equal(bind(sk, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(sk, (struct sockaddr *)&a, &alen), 0);
	close(sk);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/pub", ntohs(a.sin_port));
	c = client(base, NULL);
	assert_int_equal(release_client_get(c, "versions", &out, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, base));
	release_client_free(c);
}

static void test_bad_options(void **state)
{
	static const char *const bad[] = {"", "ftp://example.com/pub", "file:///tmp/pub",
					  "no url at all", "http://"};
	struct release_client_opts o = {.stop_fd = -1};
	struct release_client *c = NULL;
	char err[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		o.base = bad[i];
		assert_int_equal(release_client_new(&o, &c, err, sizeof(err)), -EINVAL);
		assert_null(c);
	}
	o.base = NULL;
	assert_int_equal(release_client_new(&o, &c, err, sizeof(err)), -EINVAL);
	o.base = "https://127.0.0.1/pub";
	o.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(release_client_new(&o, &c, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	release_client_free(NULL);
}

/* ---- TLS ------------------------------------------------------------------- */

static void run_sh(const char *fmt, ...) PRINTF(1, 2);
static void run_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static void test_tls(void **state)
{
	struct release_client_opts o = {.stop_fd = -1};
	struct server s;
	char base[64], err[256], url[128], ca[128], cert[128], key[128], hex[65], want[65];
	unsigned char sha[32];
	uint64_t size = 0;
	struct release_client *c;
	struct buf out;
	int fd = tmpfile_fd();

	(void)state;
	run_sh("cd '%s' && "
	       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	       "-keyout ca.key -out ca.pem -days 2 -subj /CN=charmfs-test-ca 2>/dev/null && "
	       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	       "-keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null && "
	       "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n' "
	       "> srv.ext && "
	       "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	       "-out srv.pem -days 2 -extfile srv.ext 2>/dev/null",
	       dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
	snprintf(key, sizeof(key), "%s/srv.key", dir);
	server_start(&s, "tls", dir, cert, key);
	base_of(&s, "https", base, sizeof(base));
	snprintf(url, sizeof(url), "%s/releases/0.1.0.tar", base);

	c = client(base, NULL);
	assert_int_equal(release_client_get(c, "latest", &out, err, sizeof(err)), -EKEYREJECTED);
	assert_non_null(strstr(err, base));
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)),
			 -EKEYREJECTED);
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	release_client_free(c);

	o.ca_file = ca;
	c = client(base, &o);
	assert_int_equal(release_client_get(c, "latest", &out, err, sizeof(err)), 0);
	assert_string_equal(out.data, "\"0.1.0\"\n");
	buf_free(&out);
	assert_int_equal(release_client_download(c, url, fd, sha, &size, err, sizeof(err)), 0);
	assert_int_equal(size, ARCHIVE_SIZE);
	hex_encode(sha, 32, hex);
	sha256sum(archive, want);
	assert_string_equal(hex, want);
	release_client_free(c);

	/* Plain HTTP to a TLS server, TLS to a plain one: protocol errors. */
	base_of(&s, "http", base, sizeof(base));
	c = client(base, &o);
	assert_true(release_client_get(c, "latest", &out, err, sizeof(err)) < 0);
	release_client_free(c);
	server_stop(&s);
	server_start(&s, "static", dir, NULL, NULL);
	base_of(&s, "https", base, sizeof(base));
	c = client(base, &o);
	assert_int_equal(release_client_get(c, "latest", &out, err, sizeof(err)), -EPROTO);
	release_client_free(c);
	server_stop(&s);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_documents), cmocka_unit_test(test_resolve),
	    cmocka_unit_test(test_download),  cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_too_big),   cmocka_unit_test(test_stall),
	    cmocka_unit_test(test_stop),      cmocka_unit_test(test_redirects),
	    cmocka_unit_test(test_refused),   cmocka_unit_test(test_bad_options),
	    cmocka_unit_test(test_tls),
	};

	return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
