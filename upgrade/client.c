/*
 * The release publisher client: documents and release archives over
 * libcurl (SPEC §4.9, the contract in client.h).
 *
 * A client owns one easy handle and one multi handle. Every transfer runs
 * through the multi handle so that curl_multi_poll() can watch stop_fd
 * beside libcurl's own sockets: a stop request ends a transfer at once,
 * not at libcurl's next progress tick. The policy (schemes, TLS
 * verification, redirects, timeouts, the low-speed limit) is set once on
 * the easy handle in release_client_new(); what differs per transfer (the
 * URL, its sink, its size bound and its overall timeout) is set before each.
 *
 * Sizes are enforced twice: CURLOPT_MAXFILESIZE_LARGE refuses a
 * Content-Length over the bound before any body, and the write callback
 * refuses the byte past the bound whatever the server announced (chunked
 * or lying). The body of a non-2xx response never reaches the sink: the
 * write callback ends an error response (>= 400) at its first body byte,
 * and skips a redirect's body (bounded like a real one). An archive's
 * SHA-256 is computed in the same callback, so the archive is read once.
 *
 * Speed (tests/bench/upgrade.sh): libcurl receives into a buffer of
 * RECV_BUFFER bytes (its default, 16 KiB, costs a recv() and a poll() per
 * 16 KiB), but hands the write callback at most 16 KiB at a time whatever
 * that buffer's size; an archive's bytes are hashed as they come and
 * gathered into WRITE_BUFFER bytes before each write() to the file, since
 * page-cache writes of 16 KiB cost about twice as much per byte as writes
 * of a megabyte. An empty file is not truncated: on ext4, truncating a
 * file to 0, even an empty one, makes its close() start the writeback of
 * everything written since (auto_da_alloc), 5-30 ms per 100 MiB.
 *
 * Every libcurl failure becomes an errno in transfer_errno(), the one
 * mapping of this module; the message (libcurl's error buffer, or its
 * generic text) is kept with the URL in err.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "util.h"
#include "banned.h"

#define RECV_BUFFER (512L * 1024) /* CURL_MAX_READ_SIZE before libcurl 7.88 */
#define WRITE_BUFFER (1024u * 1024)

struct release_client {
	char *base; /* normalised, its path ending in '/' */
	char *ca_file;
	long connect_timeout_ms, timeout_ms, low_speed_secs, max_redirects;
	uint64_t max_document, max_archive;
	int (*progress)(void *ud, uint64_t done, uint64_t total);
	void *ud;
	int stop_fd;
	CURL *easy;
	CURLM *multi;
	char errbuf[CURL_ERROR_SIZE];
};

/* One transfer: where its body goes and how it ended. */
struct xfer {
	struct release_client *c;
	const char *url;
	uint64_t max;	  /* body bound */
	uint64_t got;	  /* body bytes sunk */
	uint64_t skipped; /* bytes of redirect bodies, skipped */
	struct buf *doc;  /* a document's sink, or */
	int fd;		  /* an archive's, with its digest */
	EVP_MD_CTX *md;
	char *wbuf;	 /* the archive's bytes not yet written to fd, */
	size_t wlen;	 /* wlen of them */
	bool report;	 /* call c->progress */
	int r;		 /* the sink's own failure (-EFBIG, a write's -errno) */
	bool http_error; /* ended at an error response's body */
	bool cancelled;	 /* the progress callback said stop */
	bool stopped;	 /* stop_fd became readable */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init_once(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int release_client_global_init(void)
{
	if (pthread_once(&global_once, global_init_once) != 0)
		return -EIO;
	return global_rc == CURLE_OK ? 0 : -EIO;
}

/*
 * The errno of a failed transfer (client.h's table). os_errno is libcurl's
 * CURLINFO_OS_ERRNO, which tells a refused connection from an unreachable
 * host.
 */
static int transfer_errno(CURLcode rc, long os_errno)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
		return -EINVAL;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTONOSUPPORT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		if (os_errno == EHOSTUNREACH || os_errno == ENETUNREACH)
			return -EHOSTUNREACH;
		if (os_errno == ETIMEDOUT)
			return -ETIMEDOUT;
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return -EKEYREJECTED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
		return -EPROTO;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_TOO_MANY_REDIRECTS:
		return -ELOOP;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

/* The message for a failed URL API call (only memory or a bad URL). */
static int url_fail(CURLUcode uc, const char *what, const char *url, char *err, size_t errlen)
{
	if (uc == CURLUE_OUT_OF_MEMORY)
		return errf(err, errlen, -ENOMEM, "%s %s: out of memory", what, url);
	return errf(err, errlen, -EINVAL, "%s %s: %s", what, url, curl_url_strerror(uc));
}

/*
 * Parses url (relative to base when base is not NULL) into a new CURLU
 * whose scheme is http or https.
 */
static int parse_http_url(const char *base, const char *url, const char *what, CURLU **ret,
			  char *err, size_t errlen)
{
	CURLU *u = curl_url();
	CURLUcode uc;
	char *scheme = NULL;
	int r;

	if (!u)
		return errf(err, errlen, -ENOMEM, "%s %s: out of memory", what, url);
	if (base && (uc = curl_url_set(u, CURLUPART_URL, base, 0)) != CURLUE_OK) {
		r = url_fail(uc, what, base, err, errlen);
		goto out;
	}
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (uc != CURLUE_OK) {
		r = url_fail(uc, what, url, err, errlen);
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		r = errf(err, errlen, -EINVAL, "%s %s: not an http or https URL", what, url);
		goto out;
	}
	*ret = TAKE_PTR(u);
	r = 0;
out:
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

/* base as a CURLU's URL with its path ending in '/', into a new string. */
static int normalise_base(const char *base, char **ret, char *err, size_t errlen)
{
	CURLU *u = NULL;
	char *path = NULL, *s = NULL;
	struct buf p;
	CURLUcode uc;
	int r;

	buf_init(&p, SIZE_MAX);
	r = parse_http_url(NULL, base, "upgrade_url", &u, err, errlen);
	if (r < 0)
		return r;
	uc = curl_url_get(u, CURLUPART_PATH, &path, 0);
	if (uc == CURLUE_OK && (!*path || path[strlen(path) - 1] != '/')) {
		if (buf_addf(&p, "%s/", path) < 0) {
			r = errf(err, errlen, -ENOMEM, "upgrade_url %s: out of memory", base);
			goto out;
		}
		uc = curl_url_set(u, CURLUPART_PATH, p.data, 0);
	}
	if (uc == CURLUE_OK)
		uc = curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_URL, &s, 0);
	if (uc != CURLUE_OK) {
		r = url_fail(uc, "upgrade_url", base, err, errlen);
		goto out;
	}
	*ret = strdup(s);
	r = *ret ? 0 : errf(err, errlen, -ENOMEM, "upgrade_url %s: out of memory", base);
out:
	curl_free(s);
	curl_free(path);
	buf_free(&p);
	curl_url_cleanup(u);
	return r;
}

/* Writes the archive's gathered bytes to its file. 0 or -errno. */
static int flush_archive(struct xfer *x)
{
	int r = write_all(x->fd, x->wbuf, x->wlen);

	x->wlen = 0;
	return r;
}

/* Hashes an archive's bytes and adds them to the file's write buffer. 0 or -errno. */
static int sink_archive(struct xfer *x, const char *p, size_t len)
{
	int r = 0;

	if (EVP_DigestUpdate(x->md, p, len) != 1)
		return -ENOMEM;
	while (len > 0 && r == 0) {
		size_t n = len < WRITE_BUFFER - x->wlen ? len : WRITE_BUFFER - x->wlen;

		memcpy(x->wbuf + x->wlen, p, n);
		x->wlen += n;
		p += n;
		len -= n;
		if (x->wlen == WRITE_BUFFER)
			r = flush_archive(x);
	}
	return r;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	long code = 0;
	int r;

	curl_easy_getinfo(x->c->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 400) {
		x->http_error = true;
		return len ? 0 : 1;
	}
	if (code < 200 || code >= 300) {
		if (len > x->max - x->skipped) {
			x->r = -EFBIG;
			return len ? 0 : 1;
		}
		x->skipped += len;
		return len;
	}
	if (len > x->max - x->got) {
		x->r = -EFBIG;
		return len ? 0 : 1;
	}
	if (x->doc)
		r = buf_add(x->doc, p, len);
	else
		r = sink_archive(x, p, len);
	if (r < 0) {
		x->r = r;
		return len ? 0 : 1;
	}
	x->got += len;
	if (x->report) {
		curl_off_t total = -1;

		curl_easy_getinfo(x->c->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total);
		if (x->c->progress(x->c->ud, x->got, total > 0 ? (uint64_t)total : 0) != 0) {
			x->cancelled = true;
			return len ? 0 : 1;
		}
	}
	return len;
}

/* Runs the easy handle through the multi one, watching stop_fd. */
static CURLcode run(struct release_client *c, struct xfer *x, CURLMcode *ret_mc)
{
	CURLcode rc = CURLE_FAILED_INIT;
	CURLMcode mc;
	CURLMsg *msg;
	int running = 1, left;

	mc = curl_multi_add_handle(c->multi, c->easy);
	if (mc != CURLM_OK) {
		*ret_mc = mc;
		return rc;
	}
	while (running) {
		struct curl_waitfd w = {.fd = c->stop_fd, .events = CURL_WAIT_POLLIN};

		mc = curl_multi_perform(c->multi, &running);
		if (mc != CURLM_OK || !running)
			break;
		mc = curl_multi_poll(c->multi, &w, c->stop_fd >= 0 ? 1 : 0, 1000, NULL);
		if (mc != CURLM_OK)
			break;
		if (c->stop_fd >= 0 && w.revents) {
			x->stopped = true;
			break;
		}
	}
	while ((msg = curl_multi_info_read(c->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy)
			rc = msg->data.result;
	curl_multi_remove_handle(c->multi, c->easy);
	*ret_mc = mc;
	return rc;
}

/* One GET of x->url into x's sink: 0 for a 2xx response, else -errno. */
static int transfer(struct release_client *c, struct xfer *x, long timeout_ms, char *err,
		    size_t errlen)
{
	CURLMcode mc = CURLM_OK;
	CURLcode rc;
	long code = 0, os_errno = 0;
	const char *msg;
	int r;

	c->errbuf[0] = '\0';
	rc = curl_easy_setopt(c->easy, CURLOPT_URL, x->url);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, x);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->easy, CURLOPT_MAXFILESIZE_LARGE,
				      (curl_off_t)(x->max > INT64_MAX ? INT64_MAX : x->max));
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	if (rc == CURLE_OK)
		rc = run(c, x, &mc);
	if (mc != CURLM_OK)
		return errf(err, errlen, mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO, "GET %s: %s",
			    x->url, curl_multi_strerror(mc));
	if (x->stopped)
		return errf(err, errlen, -ECANCELED, "GET %s: stopped", x->url);
	if (x->cancelled)
		return errf(err, errlen, -ECANCELED, "GET %s: cancelled by the caller", x->url);
	if (x->r == -EFBIG)
		return errf(err, errlen, -EFBIG, "GET %s: more than %llu bytes", x->url,
			    (unsigned long long)x->max);
	if (x->r < 0)
		return errf(err, errlen, x->r, "GET %s: %s", x->url, strerror(-x->r));
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK || x->http_error) {
		if (code >= 200 && code < 300)
			return 0;
		r = code == 404 || code == 410 ? -ENOENT : -EIO;
		return errf(err, errlen, r, "HTTP %ld from %s", code, x->url);
	}
	curl_easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &os_errno);
	r = transfer_errno(rc, os_errno);
	msg = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
	if (rc == CURLE_FILESIZE_EXCEEDED)
		return errf(err, errlen, r, "GET %s: more than %llu bytes (%s)", x->url,
			    (unsigned long long)x->max, msg);
	return errf(err, errlen, r, "GET %s: %s", x->url, msg);
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (rc == CURLE_OK)                                                                \
			rc = curl_easy_setopt(c->easy, (opt), (val));                              \
	} while (0)

/* The policy of every transfer (the module's opening comment). */
static CURLcode set_policy(struct release_client *c)
{
	CURLcode rc = CURLE_OK;

	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, c->max_redirects);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file) {
		SET(CURLOPT_CAINFO, c->ca_file);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, RELEASE_CLIENT_LOW_SPEED_BYTES);
	SET(CURLOPT_LOW_SPEED_TIME, c->low_speed_secs);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_BUFFERSIZE, RECV_BUFFER);
	SET(CURLOPT_USERAGENT, "charmfs/" CHARMFS_VERSION);
	SET(CURLOPT_HTTPGET, 1L);
	return rc;
}

#undef SET

int release_client_new(const struct release_client_opts *o, struct release_client **ret, char *err,
		       size_t errlen)
{
	struct release_client *c;
	CURLcode rc;
	int r;

	if (!o->base || !*o->base)
		return errf(err, errlen, -EINVAL, "upgrade_url: missing");
	c = calloc(1, sizeof(*c));
	if (!c)
		return errf(err, errlen, -ENOMEM, "out of memory");
	c->connect_timeout_ms =
	    o->connect_timeout_ms > 0 ? o->connect_timeout_ms : RELEASE_CLIENT_CONNECT_TIMEOUT_MS;
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : RELEASE_CLIENT_TIMEOUT_MS;
	c->low_speed_secs =
	    o->low_speed_secs > 0 ? o->low_speed_secs : RELEASE_CLIENT_LOW_SPEED_SECS;
	c->max_document = o->max_document ? o->max_document : RELEASE_CLIENT_MAX_DOCUMENT;
	if (c->max_document > SIZE_MAX - 1)
		c->max_document = SIZE_MAX - 1;
	c->max_archive = o->max_archive ? o->max_archive : RELEASE_CLIENT_MAX_ARCHIVE;
	c->max_redirects = o->max_redirects > 0	  ? o->max_redirects
			   : o->max_redirects < 0 ? 0
						  : RELEASE_CLIENT_MAX_REDIRECTS;
	c->progress = o->progress;
	c->ud = o->ud;
	c->stop_fd = o->stop_fd;
	r = normalise_base(o->base, &c->base, err, errlen);
	if (r < 0)
		goto fail;
	if (o->ca_file) {
		if (access(o->ca_file, R_OK) != 0) {
			r = errf(err, errlen, -errno, "upgrade_ca %s: %s", o->ca_file,
				 strerror(errno));
			goto fail;
		}
		c->ca_file = strdup(o->ca_file);
		if (!c->ca_file) {
			r = errf(err, errlen, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	c->easy = curl_easy_init();
	c->multi = curl_multi_init();
	if (!c->easy || !c->multi) {
		r = errf(err, errlen, -ENOMEM, "libcurl: cannot make a handle");
		goto fail;
	}
	rc = set_policy(c);
	if (rc != CURLE_OK) {
		r = errf(err, errlen, transfer_errno(rc, 0) == -ENOMEM ? -ENOMEM : -EINVAL,
			 "libcurl: %s", curl_easy_strerror(rc));
		goto fail;
	}
	*ret = c;
	return 0;
fail:
	release_client_free(c);
	return r;
}

void release_client_free(struct release_client *c)
{
	if (!c)
		return;
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->easy)
		curl_easy_cleanup(c->easy);
	free(c->ca_file);
	free(c->base);
	free(c);
}

/* BASE/name, name percent-encoded as one path segment, into a new string. */
static int document_url(struct release_client *c, const char *name, char **ret, char *err,
			size_t errlen)
{
	char *esc = NULL;
	struct buf rel;
	int r;

	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return errf(err, errlen, -EINVAL, "bad document name \"%s\" for %s", name, c->base);
	buf_init(&rel, SIZE_MAX);
	esc = curl_easy_escape(c->easy, name, 0);
	if (!esc || buf_addf(&rel, "./%s", esc) < 0) {
		r = errf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	r = release_client_resolve(c, rel.data, ret, err, errlen);
out:
	curl_free(esc);
	buf_free(&rel);
	return r;
}

int release_client_get(struct release_client *c, const char *name, struct buf *out, char *err,
		       size_t errlen)
{
	struct xfer x = {.c = c, .max = c->max_document, .doc = out, .fd = -1};
	_cleanup_free_ char *url = NULL;
	int r;

	buf_init(out, (size_t)c->max_document);
	r = document_url(c, name, &url, err, errlen);
	if (r < 0)
		return r;
	x.url = url;
	r = transfer(c, &x, c->timeout_ms, err, errlen);
	if (r < 0) {
		buf_free(out);
		return r;
	}
	if (!out->data && buf_add(out, "", 0) < 0)
		return errf(err, errlen, -ENOMEM, "GET %s: out of memory", url);
	return 0;
}

int release_client_resolve(struct release_client *c, const char *ref, char **ret, char *err,
			   size_t errlen)
{
	CURLU *u = NULL;
	char *s = NULL;
	CURLUcode uc;
	int r;

	r = parse_http_url(c->base, ref, "flist", &u, err, errlen);
	if (r < 0)
		return r;
	uc = curl_url_get(u, CURLUPART_URL, &s, 0);
	if (uc != CURLUE_OK) {
		r = url_fail(uc, "flist", ref, err, errlen);
		goto out;
	}
	*ret = strdup(s);
	r = *ret ? 0 : errf(err, errlen, -ENOMEM, "out of memory");
out:
	curl_free(s);
	curl_url_cleanup(u);
	return r;
}

int release_client_download(struct release_client *c, const char *url, int fd,
			    unsigned char ret_sha256[32], uint64_t *ret_size, char *err,
			    size_t errlen)
{
	struct xfer x = {
	    .c = c, .url = url, .max = c->max_archive, .fd = fd, .report = c->progress != NULL};
	unsigned int mdlen = 0;
	struct stat st;
	int r;

	if (fstat(fd, &st) != 0 || (st.st_size != 0 && ftruncate(fd, 0) != 0) ||
	    lseek(fd, 0, SEEK_SET) != 0)
		return errf(err, errlen, -errno, "download %s: %s", url, strerror(errno));
	x.md = EVP_MD_CTX_new();
	if (!x.md || EVP_DigestInit_ex(x.md, EVP_sha256(), NULL) != 1) {
		r = errf(err, errlen, -ENOMEM, "download %s: cannot start SHA-256", url);
		goto out;
	}
	x.wbuf = malloc(WRITE_BUFFER);
	if (!x.wbuf) {
		r = errf(err, errlen, -ENOMEM, "download %s: out of memory", url);
		goto out;
	}
	r = transfer(c, &x, 0, err, errlen);
	if (r == 0 && (r = flush_archive(&x)) < 0)
		r = errf(err, errlen, r, "GET %s: %s", url, strerror(-r));
	if (r < 0)
		goto out;
	if (EVP_DigestFinal_ex(x.md, ret_sha256, &mdlen) != 1 || mdlen != 32) {
		r = errf(err, errlen, -EIO, "download %s: SHA-256 failed", url);
		goto out;
	}
	*ret_size = x.got;
out:
	free(x.wbuf);
	EVP_MD_CTX_free(x.md);
	return r;
}
