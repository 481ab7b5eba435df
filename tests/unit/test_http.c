/*
 * Unit tests for http/: a real store in a temporary directory, filled by
 * store_publish() with zips of tests/data/charms (made with the zip tool),
 * served by http_start() on 127.0.0.1 with a port the kernel picks, and
 * driven with libcurl. JSON answers are compared parsed (jansson), so the
 * tests state the original shapes exactly; counters are read back through
 * the counter module.
 *
 * The fixture is built once for the whole group: wordpress on precise and
 * oneiric (revisions 0 and 1, digests wp-0 and wp-1), mysql on precise,
 * logrotate on five series (for series resolution), haproxy only as
 * cs:~joe/precise/haproxy, and a failed publish of cs:precise/broken.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "counter.h"
#include "counterlog.h"
#include "db.h"
#include "http.h"
#include "query.h"
#include "store.h"
#include "store_int.h"
#include "banned.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

struct fx {
	char dir[64];
	struct store *s;
	struct http_server *hs;
	int port;
	char wp_sha[2][65]; /* cs:precise/wordpress revisions 0 and 1 */
	char wp_blob[4096]; /* the stored archive of revision 1 */
};

static struct fx *F;
/* When set, a transport error is allowed and leaves status 0. */
static bool transport_may_fail;

/* ---- HTTP client --------------------------------------------------------- */

struct resp {
	long status;
	struct buf body;
	struct buf headers;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	return buf_add(ud, p, size * n) == 0 ? size * n : 0;
}

/* Requests path (already escaped) with extra headers (NULL-terminated). */
static void request(const char *method, const char *path, const char *const *hdrs,
		    const char *post, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *sl = NULL;
	char *url = NULL;

	assert_non_null(c);
	buf_init(&r->body, 256u << 20);
	buf_init(&r->headers, 1u << 20);
	assert_true(asprintf(&url, "http://127.0.0.1:%d%s", F->port, path) > 0);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L); /* a stalled server fails, not hangs */
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (post) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
	}
	for (; hdrs && *hdrs; hdrs++)
		sl = curl_slist_append(sl, *hdrs);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
	r->status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	else
		assert_true(transport_may_fail);
	curl_slist_free_all(sl);
	curl_easy_cleanup(c);
	free(url);
}

static void get(const char *path, struct resp *r)
{
	request("GET", path, NULL, NULL, r);
}

static void resp_free(struct resp *r)
{
	buf_free(&r->body);
	buf_free(&r->headers);
}

/* The value of header name in r (case-insensitive), or NULL. Caller frees. */
static char *header(const struct resp *r, const char *name)
{
	size_t n = strlen(name);
	const char *p = r->headers.data;

	for (; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *e;
			while (*v == ' ')
				v++;
			e = strpbrk(v, "\r\n");
			return strndup(v, e ? (size_t)(e - v) : strlen(v));
		}
	}
	return NULL;
}

static void assert_header(const struct resp *r, const char *name, const char *want)
{
	char *v = header(r, name);

	if (!want) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

/* Builds "/path?charms=ESC(u1)&charms=ESC(u2)...&extra". */
static void charms_path(char *out, size_t len, const char *path, const char *extra,
			const char *const *urls)
{
	CURL *c = curl_easy_init();
	size_t o = (size_t)snprintf(out, len, "%s?", path);

	for (; *urls; urls++) {
		char *e = curl_easy_escape(c, *urls, 0);
		o += (size_t)snprintf(out + o, len - o, "charms=%s&", e);
		curl_free(e);
	}
	snprintf(out + o, len - o, "%s", extra ? extra : "");
	curl_easy_cleanup(c);
}

static void assert_json(const struct resp *r, const char *want)
{
	json_error_t e;
	json_t *got = json_loads(r->body.data ? r->body.data : "", 0, &e);
	json_t *exp = json_loads(want, 0, &e);

	assert_non_null(exp);
	if (!got || !json_equal(got, exp)) {
		fprintf(stderr, "got:  %s\nwant: %s\n", r->body.data ? r->body.data : "", want);
		fail();
	}
	json_decref(got);
	json_decref(exp);
}

/* ---- counters -------------------------------------------------------------- */

static uint64_t count_of(const char *key)
{
	char *k = strdup(key);
	const char *tokens[8];
	size_t n = 0;
	bool prefix = false;
	struct counter_res_hold {
		struct counter_result res;
	} h = { { 0 } };
	uint64_t v;

	assert_int_equal(counter_split_key(k, tokens, 8, &n, &prefix), 0);
	struct counter_req req = { .tokens = tokens, .n = n, .prefix = prefix };
	/* Counts travel through the counter log: apply it before reading the tables. */
	assert_int_equal(counter_log_flush(store_counters(F->s)), 0);
	assert_int_equal(counter_query(store_db(F->s), &req, &h.res), 0);
	v = h.res.n ? h.res.rows[0].count : 0;
	counter_result_free(&h.res);
	free(k);
	return v;
}

/* Completion callbacks run just after the client has the last byte: poll. */
static void wait_count(const char *key, uint64_t want)
{
	for (int i = 0; i < 200 && count_of(key) != want; i++)
		usleep(10000);
	assert_int_equal(count_of(key), want);
}

static void inc(const char *key, uint64_t n)
{
	char *k = strdup(key);
	const char *tokens[8];
	size_t nt = 0;
	bool prefix;

	assert_int_equal(counter_split_key(k, tokens, 8, &nt, &prefix), 0);
	assert_int_equal(counter_inc(store_db(F->s), tokens, nt, n, (int64_t)time(NULL)), 0);
	free(k);
}

/* ---- fixture ----------------------------------------------------------------- */

static void zip_dir(const char *src, const char *out)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "cd '%s' && rm -f '%s' && zip -qry '%s' .", src, out, out);
	assert_int_equal(system(cmd), 0);
}

static int publish(const char *zip, const char *digest, const char *const *urls)
{
	struct url u[8];
	struct strv errors = { 0 };
	size_t n = 0;
	int rev = -1, r;

	for (; *urls; urls++)
		assert_int_equal(url_parse(*urls, &u[n++], NULL, 0), 0);
	struct store_publish_req req = { .path = zip, .urls = u, .n_urls = n, .digest = digest };
	r = store_publish(F->s, &req, &rev, &errors);
	strv_clear(&errors);
	return r < 0 ? r : rev;
}

static void sha_of(const char *url, int rev, char out[65])
{
	struct url u;
	struct store_rev sr;

	assert_int_equal(url_parse(url, &u, NULL, 0), 0);
	assert_int_equal(store_get_rev(F->s, &u, rev, &sr), 0);
	memcpy(out, sr.sha256, 65);
}

static int setup(void **state)
{
	struct store_opts so;
	struct http_opts ho;
	char err[256], zip[256], wp2[256], cmd[1024];

	F = calloc(1, sizeof(*F));
	snprintf(F->dir, sizeof(F->dir), "/tmp/charmfs-http-XXXXXX");
	assert_non_null(mkdtemp(F->dir));
	store_opts_default(&so);
	assert_int_equal(store_open(F->dir, &so, &F->s, err, sizeof(err)), 0);
	/* The counter tables, in case the store does not bring them yet. */
	for (size_t i = 0; counter_schema[i]; i++)
		assert_int_equal(db_exec(store_db(F->s), counter_schema[i]), 0);

	snprintf(zip, sizeof(zip), "%s/wp.zip", F->dir);
	zip_dir(SRCDIR "/tests/data/charms/wordpress", zip);
	assert_int_equal(publish(zip, "wp-0",
				 (const char *const[]){ "cs:precise/wordpress",
							"cs:oneiric/wordpress", NULL }),
			 0);
	snprintf(wp2, sizeof(wp2), "%s/wp2", F->dir);
	snprintf(cmd, sizeof(cmd), "cp -a %s/tests/data/charms/wordpress %s && echo more >> %s/README.md",
		 SRCDIR, wp2, wp2);
	assert_int_equal(system(cmd), 0);
	snprintf(zip, sizeof(zip), "%s/wp2.zip", F->dir);
	zip_dir(wp2, zip);
	assert_int_equal(publish(zip, "wp-1",
				 (const char *const[]){ "cs:precise/wordpress",
							"cs:oneiric/wordpress", NULL }),
			 1);
	sha_of("cs:precise/wordpress", 0, F->wp_sha[0]);
	sha_of("cs:precise/wordpress", 1, F->wp_sha[1]);
	store_blob_path(F->s, F->wp_sha[1], F->wp_blob, sizeof(F->wp_blob));

	snprintf(zip, sizeof(zip), "%s/mysql.zip", F->dir);
	zip_dir(SRCDIR "/tests/data/charms/mysql", zip);
	assert_int_equal(publish(zip, "my-0", (const char *const[]){ "cs:precise/mysql", NULL }), 0);
	snprintf(zip, sizeof(zip), "%s/lr.zip", F->dir);
	zip_dir(SRCDIR "/tests/data/charms/logrotate", zip);
	assert_int_equal(publish(zip, "lr-0",
				 (const char *const[]){ "cs:oneiric/logrotate", "cs:precise/logrotate",
							"cs:quantal/logrotate", "cs:trusty/logrotate",
							"cs:volumetric/logrotate", NULL }),
			 0);
	snprintf(zip, sizeof(zip), "%s/ha.zip", F->dir);
	zip_dir(SRCDIR "/tests/data/charms/haproxy", zip);
	assert_int_equal(publish(zip, "ha-0", (const char *const[]){ "cs:~joe/precise/haproxy", NULL }), 0);
	snprintf(zip, sizeof(zip), "%s/broken.zip", F->dir);
	snprintf(cmd, sizeof(cmd), "echo 'not a zip' > %s", zip);
	assert_int_equal(system(cmd), 0);
	assert_true(publish(zip, "br-0", (const char *const[]){ "cs:precise/broken", NULL }) < 0);

	http_opts_default(&ho);
	ho.threads = 4;
	assert_int_equal(http_start(F->s, "127.0.0.1:0", &ho, &F->hs, err, sizeof(err)), 0);
	F->port = http_port(F->hs);
	assert_true(F->port > 0);
	*state = F;
	return 0;
}

static int teardown(void **state)
{
	http_stop(F->hs);
	store_close(F->s);
	assert_int_equal(rm_rf(F->dir), 0);
	free(F);
	return 0;
}

/* ---- /charm-info ------------------------------------------------------------ */

static void test_info_shapes(void **state)
{
	char path[4096], want[2048];
	struct resp r;
	uint64_t info0 = count_of("charm-info:precise:wordpress");
	uint64_t miss0 = count_of("charm-missing:oneiric:non-existent");

	charms_path(path, sizeof(path), "/charm-info", NULL,
		    (const char *const[]){ "cs:precise/wordpress", "cs:oneiric/non-existent",
					   "cs:wordpress", "cs:/bad", "gopher:archie-server",
					   NULL });
	get(path, &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "application/json");
	snprintf(want, sizeof(want),
		 "{\"cs:precise/wordpress\":{\"canonical-url\":\"cs:precise/wordpress\","
		 "\"revision\":1,\"sha256\":\"%s\",\"digest\":\"wp-1\"},"
		 "\"cs:oneiric/non-existent\":{\"revision\":0,\"errors\":[\"entry not found\"]},"
		 "\"cs:wordpress\":{\"canonical-url\":\"cs:precise/wordpress\",\"revision\":1,"
		 "\"sha256\":\"%s\",\"digest\":\"wp-1\"},"
		 "\"cs:/bad\":{\"revision\":0,\"errors\":"
		 "[\"charm URL has invalid series: \\\"cs:/bad\\\"\"]},"
		 "\"gopher:archie-server\":{\"revision\":0,\"errors\":"
		 "[\"charm URL has invalid schema: \\\"gopher:archie-server\\\"\"]}}",
		 F->wp_sha[1], F->wp_sha[1]);
	assert_json(&r, want);
	/* Keys in Go's sorted order, fields in struct order. */
	assert_true(strncmp(r.body.data, "{\"cs:/bad\":{\"revision\":0,\"errors\"", 33) == 0);
	resp_free(&r);
	assert_int_equal(count_of("charm-info:precise:wordpress"), info0 + 2);
	assert_int_equal(count_of("charm-missing:oneiric:non-existent"), miss0 + 1);

	/* stats=0 leaves counters alone. */
	strncat(path, "stats=0", sizeof(path) - strlen(path) - 1);
	get(path, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(count_of("charm-info:precise:wordpress"), info0 + 2);
	assert_int_equal(count_of("charm-missing:oneiric:non-existent"), miss0 + 1);
}

static void test_info_revisions(void **state)
{
	char path[4096], want[1024];
	struct resp r;
	uint64_t miss0 = count_of("charm-missing:precise:wordpress");

	charms_path(path, sizeof(path), "/charm-info", NULL,
		    (const char *const[]){ "cs:precise/wordpress-0", "cs:precise/wordpress-7",
					   "precise/wordpress-0", NULL });
	get(path, &r);
	snprintf(want, sizeof(want),
		 "{\"cs:precise/wordpress-0\":{\"canonical-url\":\"cs:precise/wordpress-0\","
		 "\"revision\":0,\"sha256\":\"%s\",\"digest\":\"wp-0\"},"
		 "\"precise/wordpress-0\":{\"canonical-url\":\"cs:precise/wordpress-0\","
		 "\"revision\":0,\"sha256\":\"%s\",\"digest\":\"wp-0\"},"
		 "\"cs:precise/wordpress-7\":{\"revision\":0,\"errors\":[\"entry not found\"]}}",
		 F->wp_sha[0], F->wp_sha[0]);
	assert_json(&r, want);
	resp_free(&r);
	assert_int_equal(count_of("charm-missing:precise:wordpress"), miss0 + 1);

	/* An empty query is an empty object; invalid UTF-8 still gives JSON. */
	get("/charm-info", &r);
	assert_int_equal(r.status, 200);
	assert_json(&r, "{}");
	resp_free(&r);
	get("/charm-info?charms=cs:%FF", &r);
	assert_int_equal(r.status, 200);
	assert_true(strstr(r.body.data, "cs:\xef\xbf\xbd") != NULL);
	resp_free(&r);
}

static void test_resolution(void **state)
{
	static const char *const order[] = { "trusty", "precise", "volumetric", "quantal", "oneiric" };
	char want[256], url[64];
	struct url u;
	struct resp r;

	/* Through the API first, then deleting the winner each time. */
	get("/charm-info?charms=logrotate&stats=0", &r);
	assert_true(strstr(r.body.data, "\"canonical-url\":\"cs:trusty/logrotate\"") != NULL);
	resp_free(&r);
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		char series[URL_SERIES_MAX + 1];
		assert_int_equal(url_parse("cs:logrotate", &u, NULL, 0), 0);
		assert_int_equal(query_resolve_series(F->s, &u, series, sizeof(series)), 0);
		assert_string_equal(series, order[i]);
		snprintf(want, sizeof(want), "/charm/logrotate?stats=0");
		get(want, &r);
		assert_int_equal(r.status, 200);
		resp_free(&r);
		snprintf(url, sizeof(url), "cs:%s/logrotate", order[i]);
		assert_int_equal(url_parse(url, &u, NULL, 0), 0);
		assert_int_equal(store_delete(F->s, &u, -1, 0), 0);
	}
	assert_int_equal(url_parse("cs:logrotate", &u, NULL, 0), 0);
	assert_int_equal(query_resolve_series(F->s, &u, want, sizeof(want)), -ENOENT);
	get("/charm/logrotate", &r);
	assert_int_equal(r.status, 404);
	resp_free(&r);

	/* ~user URLs match only their own user. */
	get("/charm-info?charms=cs:haproxy&charms=cs:~joe/haproxy&charms=cs:~ann/haproxy", &r);
	{
		json_t *j = json_loads(r.body.data, 0, NULL), *o;
		o = json_object_get(j, "cs:~joe/haproxy");
		assert_string_equal(json_string_value(json_object_get(o, "canonical-url")),
				    "cs:~joe/precise/haproxy");
		assert_string_equal(json_string_value(json_object_get(o, "digest")), "ha-0");
		o = json_object_get(j, "cs:haproxy");
		assert_string_equal(json_string_value(json_array_get(json_object_get(o, "errors"), 0)),
				    "entry not found");
		o = json_object_get(j, "cs:~ann/haproxy");
		assert_string_equal(json_string_value(json_array_get(json_object_get(o, "errors"), 0)),
				    "entry not found");
		json_decref(j);
	}
	resp_free(&r);
}

/* ---- /charm-event -------------------------------------------------------------- */

static void test_event(void **state)
{
	char path[4096];
	struct resp r;
	json_t *j, *o;
	uint64_t ev0 = count_of("charm-event:precise:wordpress");

	get("/charm-event?charms=cs:precise/wordpress", &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "Content-Type", "application/json");
	j = json_loads(r.body.data, 0, NULL);
	o = json_object_get(j, "cs:precise/wordpress");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "published");
	assert_int_equal(json_integer_value(json_object_get(o, "revision")), 1);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), "wp-1");
	assert_int_equal(json_object_size(o), 4);
	{
		const char *t = json_string_value(json_object_get(o, "time"));
		assert_non_null(t);
		assert_int_equal(strlen(t), 20);
		assert_true(t[10] == 'T' && t[19] == 'Z');
	}
	json_decref(j);
	resp_free(&r);
	assert_int_equal(count_of("charm-event:precise:wordpress"), ev0 + 1);

	/* @digest picks that event; without long_keys two queries collapse (last wins). */
	charms_path(path, sizeof(path), "/charm-event", NULL,
		    (const char *const[]){ "cs:precise/wordpress@wp-1", "cs:precise/wordpress@wp-0",
					   NULL });
	get(path, &r);
	j = json_loads(r.body.data, 0, NULL);
	assert_int_equal(json_object_size(j), 1);
	o = json_object_get(j, "cs:precise/wordpress");
	assert_int_equal(json_integer_value(json_object_get(o, "revision")), 0);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), "wp-0");
	json_decref(j);
	resp_free(&r);

	charms_path(path, sizeof(path), "/charm-event", "long_keys=1",
		    (const char *const[]){ "cs:precise/wordpress@wp-1", "cs:precise/wordpress@wp-0",
					   "cs:precise/wordpress@nope", "cs:wordpress", NULL });
	get(path, &r);
	j = json_loads(r.body.data, 0, NULL);
	assert_int_equal(json_object_size(j), 4);
	o = json_object_get(j, "cs:precise/wordpress@wp-1");
	assert_int_equal(json_integer_value(json_object_get(o, "revision")), 1);
	o = json_object_get(j, "cs:precise/wordpress@wp-0");
	assert_int_equal(json_integer_value(json_object_get(o, "revision")), 0);
	o = json_object_get(j, "cs:wordpress");
	assert_int_equal(json_integer_value(json_object_get(o, "revision")), 1);
	json_decref(j);
	resp_free(&r);

	charms_path(path, sizeof(path), "/charm-event", NULL,
		    (const char *const[]){ "cs:precise/wordpress@nope", "cs:/bad",
					   "cs:precise/wordpress-1", "cs:precise/nothing", NULL });
	get(path, &r);
	assert_json(&r, "{\"cs:precise/wordpress\":{\"kind\":\"\",\"revision\":0,"
			"\"errors\":[\"entry not found\"]},"
			"\"cs:/bad\":{\"kind\":\"\",\"revision\":0,"
			"\"errors\":[\"charm URL has invalid series: \\\"cs:/bad\\\"\"]},"
			"\"cs:precise/wordpress-1\":{\"kind\":\"\",\"revision\":0,\"errors\":"
			"[\"CharmEvent: got charm URL with revision: cs:precise/wordpress-1\"]},"
			"\"cs:precise/nothing\":{\"kind\":\"\",\"revision\":0,"
			"\"errors\":[\"entry not found\"]}}");
	resp_free(&r);

	/* A failed publish has its event, errors included. */
	get("/charm-event?charms=cs:precise/broken", &r);
	j = json_loads(r.body.data, 0, NULL);
	o = json_object_get(j, "cs:precise/broken");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "publish-error");
	assert_int_equal(json_integer_value(json_object_get(o, "revision")), 0);
	assert_string_equal(json_string_value(json_object_get(o, "digest")), "br-0");
	assert_true(json_array_size(json_object_get(o, "errors")) >= 1);
	json_decref(j);
	resp_free(&r);
}

/* ---- /charm/ ------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
	char *data;

	assert_int_equal(read_file(path, 256u << 20, &data, len), 0);
	return data;
}

static void test_download(void **state)
{
	size_t len;
	char *blob = slurp(F->wp_blob, &len), etag[80], cl[32];
	struct resp r;
	uint64_t n0 = count_of("charm-bundle:precise:wordpress");

	snprintf(etag, sizeof(etag), "\"%s\"", F->wp_sha[1]);
	snprintf(cl, sizeof(cl), "%zu", len);
	get("/charm/precise/wordpress", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, len);
	assert_memory_equal(r.body.data, blob, len);
	assert_header(&r, "ETag", etag);
	assert_header(&r, "Content-Type", "application/octet-stream");
	assert_header(&r, "Content-Length", cl);
	assert_header(&r, "Accept-Ranges", "bytes");
	assert_header(&r, "Content-Disposition", "attachment; filename=\"wordpress-1.charm\"");
	resp_free(&r);
	wait_count("charm-bundle:precise:wordpress", n0 + 1);

	/* Series resolved; user URLs; revisions. */
	get("/charm/wordpress", &r);
	assert_int_equal(r.status, 200);
	assert_memory_equal(r.body.data, blob, len);
	resp_free(&r);
	wait_count("charm-bundle:precise:wordpress", n0 + 2);
	get("/charm/precise/wordpress-0?stats=0", &r);
	assert_int_equal(r.status, 200);
	assert_header(&r, "ETag", (snprintf(etag, sizeof(etag), "\"%s\"", F->wp_sha[0]), etag));
	assert_header(&r, "Content-Disposition", "attachment; filename=\"wordpress-0.charm\"");
	resp_free(&r);
	get("/charm/~joe/precise/haproxy", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	wait_count("charm-bundle:precise:haproxy:joe", 1);
	usleep(50000);
	assert_int_equal(count_of("charm-bundle:precise:wordpress"), n0 + 2);

	/* HEAD: headers of the whole body, no body, not counted. */
	request("HEAD", "/charm/precise/wordpress", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	assert_header(&r, "Content-Length", cl);
	resp_free(&r);
	usleep(50000);
	assert_int_equal(count_of("charm-bundle:precise:wordpress"), n0 + 2);
	free(blob);
}

static void test_range_etag(void **state)
{
	size_t len;
	char *blob = slurp(F->wp_blob, &len), etag[80], hdr[160], want[96];
	struct resp r;
	uint64_t n0 = count_of("charm-bundle:precise:wordpress");

	snprintf(etag, sizeof(etag), "\"%s\"", F->wp_sha[1]);
	request("GET", "/charm/precise/wordpress", (const char *const[]){ "Range: bytes=10-99", NULL },
		NULL, &r);
	assert_int_equal(r.status, 206);
	assert_int_equal(r.body.len, 90);
	assert_memory_equal(r.body.data, blob + 10, 90);
	snprintf(want, sizeof(want), "bytes 10-99/%zu", len);
	assert_header(&r, "Content-Range", want);
	assert_header(&r, "Content-Length", "90");
	resp_free(&r);

	request("GET", "/charm/precise/wordpress", (const char *const[]){ "Range: bytes=-10", NULL },
		NULL, &r);
	assert_int_equal(r.status, 206);
	assert_memory_equal(r.body.data, blob + len - 10, 10);
	resp_free(&r);

	snprintf(hdr, sizeof(hdr), "Range: bytes=%zu-", len);
	request("GET", "/charm/precise/wordpress", (const char *const[]){ hdr, NULL }, NULL, &r);
	assert_int_equal(r.status, 416);
	snprintf(want, sizeof(want), "bytes */%zu", len);
	assert_header(&r, "Content-Range", want);
	resp_free(&r);

	/* Several ranges, a bad unit, a stale If-Range: the whole body. */
	static const char *const whole[] = { "Range: bytes=0-1,5-6", "Range: lines=1-2",
					     "Range: bytes=5-2" };
	for (size_t i = 0; i < ARRAY_SIZE(whole); i++) {
		request("GET", "/charm/precise/wordpress?stats=0",
			(const char *const[]){ whole[i], NULL }, NULL, &r);
		assert_int_equal(r.status, 200);
		assert_int_equal(r.body.len, len);
		resp_free(&r);
	}
	request("GET", "/charm/precise/wordpress?stats=0",
		(const char *const[]){ "Range: bytes=0-9", "If-Range: \"old\"", NULL }, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	snprintf(hdr, sizeof(hdr), "If-Range: %s", etag);
	request("GET", "/charm/precise/wordpress",
		(const char *const[]){ "Range: bytes=0-9", hdr, NULL }, NULL, &r);
	assert_int_equal(r.status, 206);
	resp_free(&r);

	/* Conditional requests. */
	static const char *const match[][2] = { { "", "" }, { "W/", "" }, { "\"x\", ", "" },
						{ "*", NULL } };
	for (size_t i = 0; i < ARRAY_SIZE(match); i++) {
		snprintf(hdr, sizeof(hdr), "If-None-Match: %s%s", match[i][0],
			 match[i][1] ? etag : "");
		request("GET", "/charm/precise/wordpress", (const char *const[]){ hdr, NULL }, NULL,
			&r);
		assert_int_equal(r.status, 304);
		assert_int_equal(r.body.len, 0);
		assert_header(&r, "ETag", etag);
		resp_free(&r);
	}
	request("GET", "/charm/precise/wordpress?stats=0",
		(const char *const[]){ "If-None-Match: \"other\"", NULL }, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	request("GET", "/charm/precise/wordpress",
		(const char *const[]){ "If-Match: \"other\"", NULL }, NULL, &r);
	assert_int_equal(r.status, 412);
	resp_free(&r);
	usleep(50000);
	assert_int_equal(count_of("charm-bundle:precise:wordpress"), n0);
	free(blob);
}

static void test_not_found(void **state)
{
	static const struct {
		const char *path;
		long status;
	} cases[] = {
		{ "/charm/precise/nothing", 404 },   { "/charm/", 404 },
		{ "/charm/cs:precise/wordpress", 404 }, { "/charm/precise/wordpress-9", 404 },
		{ "/charm/precise/Bad", 404 },       { "/charm/~joe/haproxy-1", 404 },
		{ "/charm-info/any", 404 },          { "/stats/", 404 },
		{ "/nowhere", 404 },                 { "/", 303 },
		{ "/mu-35700a31-6bf320ca-a800b670-05f845ee", 200 },
	};
	struct resp r;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		get(cases[i].path, &r);
		if (r.status != cases[i].status)
			fprintf(stderr, "%s: %ld\n", cases[i].path, r.status);
		assert_int_equal(r.status, cases[i].status);
		if (r.status == 404) {
			assert_string_equal(r.body.data ? r.body.data : "", "404 page not found\n");
			assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
		}
		resp_free(&r);
	}
	get("/", &r);
	assert_header(&r, "Location", "https://juju.ubuntu.com");
	resp_free(&r);
}

/* ---- /stats/counter ----------------------------------------------------------- */

static void expect_stats(const char *path, long status, const char *body)
{
	struct resp r;

	get(path, &r);
	if (r.status != status || strcmp(r.body.data ? r.body.data : "", body) != 0)
		fprintf(stderr, "%s: %ld [%s], want %ld [%s]\n", path, r.status,
			r.body.data ? r.body.data : "", status, body);
	assert_int_equal(r.status, status);
	assert_string_equal(r.body.data ? r.body.data : "", body);
	if (status == 200)
		assert_header(&r, "Content-Type", "text/plain");
	resp_free(&r);
}

static void test_stats(void **state)
{
	char want[256], day[16];
	time_t now = time(NULL);
	struct tm tm;

	inc("st:b", 1);
	inc("st:c", 3);
	inc("st:c:d", 5);
	inc("st:c:e", 7);
	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);

	expect_stats("/stats/counter/st:*", 200, "16");
	expect_stats("/stats/counter/st:c", 200, "3");
	expect_stats("/stats/counter/st:nothing", 200, "0");
	expect_stats("/stats/counter/st:*?list=1", 200, "st:c:*  12\nst:c    3\nst:b    1\n");
	expect_stats("/stats/counter/st:*?list=1&format=csv", 200, "st:c:*,12\nst:c,3\nst:b,1\n");
	expect_stats("/stats/counter/st:*?list=1&format=json", 200,
		     "[[\"st:c:*\",12],[\"st:c\",3],[\"st:b\",1]]");
	expect_stats("/stats/counter/st:c?format=text", 200, "3\n");
	snprintf(want, sizeof(want), "%s  16\n", day);
	expect_stats("/stats/counter/st:*?by=day", 200, want);
	expect_stats("/stats/counter/st:*?start=2000-01-01&stop=2000-01-02", 200, "0");
	expect_stats("/stats/counter/nothing:*?list=1&format=json", 200, "[]");
	expect_stats("/stats/counter/st:*?start=2020-01-02&stop=2020-01-01", 200, "0");
	expect_stats("/stats/counter/a:b:c:d:e:f:g:h:i:j:k:l:m:n:o:p:q:r:s", 200, "0");

	expect_stats("/stats/counter/", 403, "");
	expect_stats("/stats/counter/*", 403, "");
	expect_stats("/stats/counter/st/b", 404, "404 page not found\n");
	expect_stats("/stats/counter/st?by=month", 400, "Invalid 'by' value: \"month\"");
	expect_stats("/stats/counter/st?start=2013-1-1", 400, "Invalid 'start' value: \"2013-1-1\"");
	expect_stats("/stats/counter/st?stop=x", 400, "Invalid 'stop' value: \"x\"");
	expect_stats("/stats/counter/st?format=xml", 400, "Invalid 'format' value: \"xml\"");
	/* The original checked by/start/stop before the lone '*'. */
	expect_stats("/stats/counter/*?by=x", 400, "Invalid 'by' value: \"x\"");

	/* The counters the API made, as the original made them. */
	snprintf(want, sizeof(want), "%" PRIu64, count_of("charm-info:precise:wordpress"));
	expect_stats("/stats/counter/charm-info:precise:wordpress", 200, want);
}

/* ---- limits, addresses, concurrency ------------------------------------------- */

static void test_limits(void **state)
{
	size_t n = 100 * 1024;
	char *big = malloc(n + 1), *path = malloc(128 * 1024);
	struct resp r;

	memset(big, 'a', n);
	big[n] = '\0';
	/* 413 with a body, whether the client waits for 100 Continue (never sent) or not. */
	static const char *const expect[][2] = { { "Expect: 100-continue", NULL },
						 { "Expect:", NULL },
						 { "Transfer-Encoding: chunked", NULL } };
	for (size_t i = 0; i < ARRAY_SIZE(expect); i++) {
		request("POST", "/charm-info", expect[i], big, &r);
		assert_int_equal(r.status, 413);
		assert_string_equal(r.body.data, "request body too large\n");
		assert_null(strstr(r.headers.data, " 100 "));
		resp_free(&r);
	}
	/* ~1000 query parameters: an answer at once, not a stalled connection. */
	size_t o = (size_t)snprintf(path, 128 * 1024, "/charm-info?stats=0");
	for (int i = 0; i < 1000; i++)
		o += (size_t)snprintf(path + o, 128 * 1024 - o, "&a=%d", i);
	get(path, &r);
	assert_int_equal(r.status, 414);
	assert_true(r.body.len > 0);
	resp_free(&r);
	/* Fewer, that fit: all served. */
	o = (size_t)snprintf(path, 128 * 1024, "/charm-info?stats=0");
	for (int i = 0; i < 200; i++)
		o += (size_t)snprintf(path + o, 128 * 1024 - o, "&charms=cs:precise/mysql-%d", i);
	get(path, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.data, "\"cs:precise/mysql-199\""));
	resp_free(&r);
	/* %00 in the path or the query: 400, not a name cut short. */
	get("/charm/precise/mysql%00x", &r);
	assert_int_equal(r.status, 400);
	assert_true(r.body.len > 0);
	resp_free(&r);
	get("/charm-info?charms=cs:precise/mysql%00x", &r);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	request("POST", "/charm-info?charms=cs:precise/mysql&stats=0", NULL, "x=1", &r);
	assert_int_equal(r.status, 200);
	assert_true(strstr(r.body.data, "\"revision\":0") != NULL);
	resp_free(&r);
	/* A request line past the connection's memory: refused, the server lives on. */
	memcpy(path, "/charm-info?charms=", 19);
	memset(path + 19, 'a', 100 * 1024);
	path[19 + 100 * 1024] = '\0';
	transport_may_fail = true;
	get(path, &r);
	transport_may_fail = false;
	if (r.status != 414 && r.status != 431)
		fprintf(stderr, "long request line: %ld\n", r.status);
	assert_true(r.status == 414 || r.status == 431);
	resp_free(&r);
	get("/charm-info?charms=cs:precise/mysql&stats=0", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	free(big);
	free(path);
}

static void test_addresses(void **state)
{
	struct http_server *hs = NULL;
	struct http_opts o;
	char err[256], addr[64];

	http_opts_default(&o);
	static const char *const bad[] = { "", "x:y", "1.2.3.4:99999", "::1:80", "[::1]80",
					   "127.0.0.1:", "no.such.host.invalid:80" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		assert_int_equal(http_start(F->s, bad[i], &o, &hs, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
	snprintf(addr, sizeof(addr), "%d", F->port);
	assert_int_equal(http_start(F->s, addr, &o, &hs, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "in use"));
	static const char *const good[] = { "0", ":0", "localhost:0", "[::1]:0" };
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		hs = NULL;
		int r = http_start(F->s, good[i], &o, &hs, err, sizeof(err));
		if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT)
			continue; /* no IPv6 here */
		assert_int_equal(r, 0);
		assert_true(http_port(hs) > 0);
		http_stop(hs);
	}
	http_stop(NULL);
}

/* A TCP connection to 127.0.0.1:port, or -1. */
static int dial(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A client that stops halfway through its headers is closed after the timeout. */
static void test_header_timeout(void **state)
{
	struct http_server *hs = NULL;
	struct http_opts o;
	struct pollfd pfd;
	char err[256], b[64];
	int fd;

	http_opts_default(&o);
	o.threads = 2;
	o.timeout = 1;
	assert_int_equal(http_start(F->s, "127.0.0.1:0", &o, &hs, err, sizeof(err)), 0);
	fd = dial(http_port(hs));
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "GET / HTTP/1.1\r\nHost: x\r\n", 26), 26);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	/* Bounded: 20 s, against a 1 s deadline. */
	assert_int_equal(poll(&pfd, 1, 20000), 1);
	assert_true(read(fd, b, sizeof(b)) <= 0);
	close(fd);
	http_stop(hs);
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/*
 * With RLIMIT_NOFILE lowered to 256, a crowd of idle connections (held by
 * a child, whose descriptors do not count here) leaves the process free
 * descriptors, and the server answers again once the crowd leaves.
 */
static void test_fd_cap(void **state)
{
	struct rlimit old, low;
	struct http_server *hs = NULL;
	struct http_opts o;
	char err[256];
	int go[2], ready[2], status, fd, n = 0;
	pid_t pid;
	struct resp r;
	int saved = F->port;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 256;
	assert_true(old.rlim_max >= 600);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	http_opts_default(&o);
	o.threads = 2;
	assert_int_equal(http_start(F->s, "127.0.0.1:0", &o, &hs, err, sizeof(err)), 0);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		setrlimit(RLIMIT_NOFILE, &old);
		for (int i = 0; i < 400; i++)
			if (dial(http_port(hs)) < 0)
				_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0); /* every connection closes with the child */
	}
	close(go[0]);
	close(ready[1]);
	assert_int_equal(read(ready[0], err, 1), 1);
	/* Bounded poll: the server takes what it will (at most 64 here, 256 before). */
	for (int i = 0; i < 200 && (n = count_fds()) < 250; i++)
		usleep(10000);
	assert_true(n < 250);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(go[1]);
	close(ready[0]);
	F->port = http_port(hs);
	get("/charm-info?charms=cs:precise/mysql&stats=0", &r);
	F->port = saved;
	assert_int_equal(r.status, 200);
	resp_free(&r);
	http_stop(hs);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

static void *hammer(void *ud)
{
	struct resp r;

	(void)ud;
	for (int i = 0; i < 40; i++) {
		get(i % 2 ? "/charm/precise/mysql?stats=0"
			  : "/charm-info?charms=cs:precise/mysql&charms=cs:wordpress&stats=0",
		    &r);
		assert_int_equal(r.status, 200);
		resp_free(&r);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	pthread_t t[16];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		pthread_join(t[i], NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_shapes),  cmocka_unit_test(test_info_revisions),
		cmocka_unit_test(test_event),        cmocka_unit_test(test_download),
		cmocka_unit_test(test_range_etag),   cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_stats),        cmocka_unit_test(test_limits),
		cmocka_unit_test(test_addresses),    cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_resolution),   cmocka_unit_test(test_header_timeout),
		cmocka_unit_test(test_fd_cap),
	};
	int r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = cmocka_run_group_tests(tests, setup, teardown);
	curl_global_cleanup();
	return r;
}
