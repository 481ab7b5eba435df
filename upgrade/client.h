/*
 * The release publisher client (SPEC §4.9): the HTTP(S) transport that
 * fetches a publisher's documents (`BASE/versions`, `BASE/latest`,
 * `BASE/VERSION`) and release archives, over libcurl. It knows nothing of
 * what the documents mean (upgrade/release.c decodes them) and nothing of
 * the store.
 *
 * Policy, the same for every transfer: only http and https, on the first
 * request and on every redirect; TLS peer and host verification always on,
 * against ca_file when given (instead of the system's bundle); redirects
 * followed up to max_redirects; every body bounded while it is received
 * (a Content-Length over the limit is refused before the body); a transfer
 * slower than 1 KiB/s for low_speed_secs is aborted; a document must also
 * finish within timeout_ms (an archive has no overall limit, only the
 * speed one); stop_fd becoming readable aborts at once. Proxies follow
 * libcurl's environment variables (http_proxy, https_proxy, no_proxy).
 *
 * Errors (0 or -errno; err always holds a message naming the URL, with
 * libcurl's own text when it has one):
 *   -EINVAL        a bad URL, name or option (release_client_new(), _get(),
 *                  _resolve(): not http or https, unparsable)
 *   -EPROTONOSUPPORT  a transfer or a redirect to a scheme other than http(s)
 *   -ECONNREFUSED  connection refused (or failed for another reason)
 *   -EHOSTUNREACH  host or network unreachable, name not resolved
 *   -ETIMEDOUT     connect timeout, timeout_ms, or the low-speed limit
 *   -EKEYREJECTED  the TLS peer failed verification (certificate, host name)
 *   -EPROTO        another TLS failure (handshake), or a malformed response
 *   -EFBIG         the body exceeds max_document / max_archive
 *   -ENOENT        HTTP 404 (and 410)
 *   -EIO           any other HTTP status outside 2xx ("HTTP 500 from URL"),
 *                  a broken or short transfer, another libcurl failure
 *   -ELOOP         more than max_redirects redirects
 *   -ECANCELED     stop_fd became readable, or the progress callback said stop
 *   -ENOMEM        out of memory
 *   or the -errno of writing to the download's fd (-ENOSPC, ...).
 *
 * Calling sequence:
 *   release_client_global_init()       once per process, before any thread
 *                                      uses a client (the daemon's main(),
 *                                      each test's setup); idempotent.
 *   release_client_new(&opts, &c)      per user (a watcher, a change's task)
 *   release_client_get(c, "latest", &doc) ... release_client_resolve(c, flist, &url)
 *   release_client_download(c, url, fd, sha, &size)
 *   release_client_free(c)
 *
 * Thread-safety: a client is used by one thread at a time (it keeps its
 * libcurl handles and their connection cache); different clients may be
 * used by different threads at once. The callbacks run in the calling
 * thread, during the call.
 */
#ifndef CHARMFS_RELEASE_CLIENT_H
#define CHARMFS_RELEASE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define RELEASE_CLIENT_CONNECT_TIMEOUT_MS 10000L
#define RELEASE_CLIENT_TIMEOUT_MS 30000L
#define RELEASE_CLIENT_LOW_SPEED_SECS 30L
#define RELEASE_CLIENT_LOW_SPEED_BYTES 1024L
#define RELEASE_CLIENT_MAX_DOCUMENT (64u * 1024)
#define RELEASE_CLIENT_MAX_ARCHIVE (1024ull * 1024 * 1024)
#define RELEASE_CLIENT_MAX_REDIRECTS 5L

/* 0 in a number field means its default (and so does a negative one, but for max_redirects). */
struct release_client_opts {
	/* The publisher's base URL (upgrade_url), http or https. Both strings are copied. */
	const char *base;
	/* upgrade_ca=PEMFILE: the CA bundle trusted instead of the system's; NULL: system. */
	const char *ca_file;
	long connect_timeout_ms; /* default 10 s */
	long timeout_ms;	 /* whole transfer of a document (default 30 s) */
	long low_speed_secs;   /* abort a transfer slower than 1 KiB/s for this long (default 30) */
	uint64_t max_document; /* bytes of a JSON document (default 64 KiB) */
	uint64_t max_archive;  /* bytes of a release archive (default 1 GiB, the charm limit) */
	long max_redirects;    /* default 5; -1: none (a redirect is then -ELOOP) */
	/*
	 * Progress of a download (release_client_download() only): bytes done
	 * and total (0 when unknown), called when either changes, done never
	 * decreasing. Return nonzero to abort (-ECANCELED). NULL: none.
	 */
	int (*progress)(void *ud, uint64_t done, uint64_t total);
	void *ud;
	/*
	 * A descriptor that becomes readable when the transfer must stop
	 * (engine_run_stop_fd()); only polled, never read or closed. -1: none.
	 * Note that 0 is a valid descriptor: set -1 explicitly.
	 */
	int stop_fd;
};

struct release_client;

/*
 * Initialises libcurl for the process (curl_global_init, once, however
 * often it is called). 0 or -EIO. The daemon's main() and the tests call
 * it before any client is made; there is no cleanup (the process exit is).
 */
int release_client_global_init(void) WUR;

/*
 * A client for o->base (checked: an http or https URL) with o's options;
 * o->ca_file, when given, must be readable (else its -errno). The caller
 * frees it with release_client_free(). 0, -EINVAL, -ENOMEM or -errno.
 */
int release_client_new(const struct release_client_opts *o, struct release_client **ret, char *err,
		       size_t errlen) WUR;
/* Frees a client and closes its connections; NULL is fine. */
void release_client_free(struct release_client *c);

/*
 * GET BASE/name, name one path segment ("versions", "latest", a version;
 * percent-encoded as needed; not empty, "." or ".."), into out, which the
 * call initialises (it must not hold data): on success out holds the body
 * (NUL-terminated, at most max_document bytes; the caller buf_free()s
 * it), on error out is empty. Bounded by timeout_ms.
 */
int release_client_get(struct release_client *c, const char *name, struct buf *out, char *err,
		       size_t errlen) WUR;

/*
 * Resolves ref (a document's flist) against BASE with a trailing '/' added,
 * per RFC 3986 (libcurl's URL API): "releases/0.1.0.tar", "../x", "/x" and
 * absolute URLs. The result must be http or https (else -EINVAL). A new
 * string in *ret (caller frees). 0, -EINVAL or -ENOMEM.
 */
int release_client_resolve(struct release_client *c, const char *ref, char **ret, char *err,
			   size_t errlen) WUR;

/*
 * Downloads url (absolute, http or https) into the open, writable regular
 * file fd: truncated and rewound first, then written from offset 0,
 * bounded by max_archive; progress is reported through o->progress. On
 * success ret_sha256 holds the body's SHA-256 (32 raw bytes, computed while
 * receiving) and *ret_size its length; on error fd holds part of the body
 * (the caller discards it).
 */
int release_client_download(struct release_client *c, const char *url, int fd,
			    unsigned char ret_sha256[32], uint64_t *ret_size, char *err,
			    size_t errlen) WUR;

#endif
