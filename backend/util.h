/*
 * Small helpers shared by every charmfs module: a growable list of
 * messages (errors and warnings that travel back to events and replies),
 * a bounded byte buffer, checked number parsing, and the text toolkit:
 * error messages (errf), UTF-8, Go-%q quoting and request-line words.
 *
 * Conventions: functions returning int give 0 or -errno; output
 * parameters come last and are named ret_*; destructors accept NULL.
 */
#ifndef CHARMFS_UTIL_H
#define CHARMFS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define WUR __attribute__((warn_unused_result))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A list of owned, NUL-terminated strings. Zero-initialise before use. */
struct strv {
	char **v;
	size_t n;
};

/* Appends a formatted message. Returns 0 or -ENOMEM. */
int strv_pushf(struct strv *sv, const char *fmt, ...) PRINTF(2, 3);
/* Appends a copy of s. Returns 0 or -ENOMEM. */
int strv_push(struct strv *sv, const char *s);
/* Frees every string and resets the list to empty. */
void strv_clear(struct strv *sv);
/* Joins the messages with sep into a new string (caller frees); NULL on ENOMEM. */
char *strv_join(const struct strv *sv, const char *sep);

/*
 * Error reporting, the one way a module hands a message back with its
 * result: `return errf(err, errlen, -EINVAL, "bad %s", what);`.
 *
 * errf() formats into the caller's err[errlen], cut to fit and always
 * NUL-terminated (nothing is written when err is NULL or errlen is 0), and
 * returns r.
 */
int errf(char *err, size_t errlen, int r, const char *fmt, ...) PRINTF(4, 5);
/*
 * Appends one formatted message to sv, preceded by "prefix: " when prefix
 * is not NULL (a file name, say). Returns r (0 for a warning), or -ENOMEM
 * when the message could not be stored. strv_verrf() is the va_list form,
 * for a module's own adapter that adds context.
 */
int strv_errf(struct strv *sv, int r, const char *prefix, const char *fmt, ...) PRINTF(4, 5);
int strv_verrf(struct strv *sv, int r, const char *prefix, const char *fmt, va_list ap)
	PRINTF(4, 0);

/*
 * A byte buffer that refuses to grow past max (curl's dynbuf). The data is
 * always NUL-terminated for convenience; len excludes the terminator.
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
/* Appends n bytes. Returns 0, -EFBIG past max, or -ENOMEM. */
int buf_add(struct buf *b, const void *p, size_t n);
/* Appends formatted text. Returns 0, -EFBIG or -ENOMEM. */
int buf_addf(struct buf *b, const char *fmt, ...) PRINTF(2, 3);
/* Takes ownership of the data (caller frees) and resets the buffer. */
char *buf_steal(struct buf *b, size_t *ret_len);
void buf_free(struct buf *b);

/*
 * Parses a whole decimal number without sign, leading '+', spaces or
 * trailing garbage. Returns 0, or -EINVAL (malformed) / -ERANGE (overflow).
 */
int parse_u64(const char *s, uint64_t *ret) WUR;
/* Same, into an int between 0 and INT_MAX. */
int parse_nonneg_int(const char *s, int *ret) WUR;

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* Formats t (seconds since the epoch, UTC) as RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" into out[32]. */
void format_rfc3339(int64_t t, char out[32]);

/* Writes all of n bytes to fd, retrying short writes and EINTR. 0 or -errno. */
int write_all(int fd, const void *p, size_t n) WUR;
/* Reads a whole file of at most max bytes. 0, -EFBIG or -errno. Caller frees *ret. */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len) WUR;
/* mkdir -p with mode 0755. 0 or -errno. */
int mkdir_p(const char *path) WUR;
/* rm -rf of a path (directory trees and files); a missing path is fine. 0 or -errno. */
int rm_rf(const char *path);
/*
 * A new O_PATH|O_DIRECTORY descriptor of path into *ret_fd; when path is
 * missing, make(ud) makes it first (make NULL: mkdir_p(path)). For
 * directories that nearly always exist: then it costs one open. 0 or -errno.
 */
int dir_open_or_make(const char *path, int (*make)(void *ud), void *ud, int *ret_fd) WUR;
/*
 * Copies the directory src into dst, which must not exist: regular files,
 * directories (depth at most 64) and symbolic links, with their modes (not
 * owners); what vanishes meanwhile is skipped, sockets, FIFOs and devices
 * are not copied. 0 or -errno (dst may then hold part of the copy).
 */
int copy_tree(const char *src, const char *dst) WUR;

/*
 * SHA-256 of everything readable from fd (from its current offset) as lower-case
 * hex into hex[65], and the byte count into *ret_size (may be NULL). 0 or -errno.
 */
int sha256_fd(int fd, char hex[65], uint64_t *ret_size) WUR;
/* The SHA-256 of n bytes at p, as lower-case hex. 0 or -EIO. */
int sha256_mem(const void *p, size_t n, char hex[65]) WUR;
/* sha256_fd() of the file at path (opened and closed here). 0 or -errno. */
int sha256_file(const char *path, char hex[65], uint64_t *ret_size) WUR;
/* fsync of a directory by path. 0 or -errno. */
int fsync_dir(const char *path) WUR;

/* Free-on-scope-exit helpers (systemd style). */
static inline void freep(void *p)
{
	extern void free(void *);
	free(*(void **)p);
}
#define _cleanup_free_ __attribute__((cleanup(freep)))
#define TAKE_PTR(p)                      \
	({                               \
		__typeof__(p) _p_ = (p); \
		(p) = NULL;              \
		_p_;                     \
	})

/*
 * Decodes one UTF-8 sequence at s (n >= 1 bytes available): returns its
 * length (1 for ASCII) and writes the code point to *ret, or returns 0 when
 * the bytes are not valid UTF-8 (overlong, surrogate, beyond U+10FFFF or
 * truncated). Thread-safe.
 */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret);
/* Whether the n bytes at s are valid UTF-8 throughout. */
bool utf8_valid(const char *s, size_t n);
/*
 * Appends the n bytes at s to out with every byte that is not part of a
 * valid UTF-8 sequence replaced by U+FFFD (so that JSON can carry any
 * text). 0, or -EFBIG/-ENOMEM from the buffer.
 */
int utf8_repair(const char *s, size_t n, struct buf *out) WUR;

/*
 * The one way text becomes a JSON string (jansson's json_t): s's n bytes,
 * with every byte that is not valid UTF-8 replaced by U+FFFD, since
 * jansson refuses invalid UTF-8. A new reference, or NULL on ENOMEM.
 */
struct json_t;
struct json_t *json_text(const char *s, size_t n);

/*
 * Quoting for messages, the way Go's %q (strconv.Quote) does it, so that
 * messages read like the original store's. The n bytes at s (NUL bytes
 * allowed) go between double quotes with \" and \\ escaped, \a \b \f \n
 * \r \t \v named, every other control byte (C0, DEL) and every byte that
 * is not part of valid UTF-8 (utf8_decode()) as \xNN, a code point Go does
 * not print (C1 controls, format characters, separators other than the
 * space, private use, non-characters) as \uNNNN or \UNNNNNNNN, and the
 * rest as is.
 *
 * With max not 0, s longer than max bytes is cut to its longest prefix of
 * at most max bytes that does not split a UTF-8 sequence, and "..." ends
 * the quoted text just before the closing quote: at most 4 * max + 5 bytes
 * come out. Thread-safe.
 *
 * go_quote() appends to out: 0, or -EFBIG/-ENOMEM from the buffer (out
 * then holds part of the quoted text).
 */
int go_quote(struct buf *out, const char *s, size_t n, size_t max) WUR;
/*
 * go_quote() into out[size] instead: cut at size - 1 bytes like snprintf
 * (possibly inside an escape), NUL-terminated when size > 0. Returns out,
 * for use as a printf argument. Never fails and never allocates.
 */
const char *go_quote_fixed(char *out, size_t size, const char *s, size_t n, size_t max);

/*
 * Splitting a request line (transaction files, SPEC §4) into words. The
 * rules say how long a line may be, how many words the caller keeps, what
 * separates words and how the line may end.
 */
struct split_rules {
	size_t max_len;	    /* longest line, in bytes, without its line end (see flags) */
	size_t max_words;   /* words stored in ret_v; more are only counted */
	const char *blanks; /* the bytes that separate words, e.g. " \t" */
	unsigned flags;	    /* SPLIT_* */
};
/* max_len counts the line end too. */
#define SPLIT_LEN_WITH_EOL 1u
/* The line may end in "\r\n" or "\r" as well as "\n"; an inner '\r' is a line break. */
#define SPLIT_CRLF 2u

/*
 * Splits the len bytes at line (NULL only with len 0) into words separated
 * by runs of rules->blanks, after one final line end is cut. The words are
 * copied NUL-terminated into buf (rules->max_len + 1 bytes) and the first
 * rules->max_words of them pointed to from ret_v; *ret_n is the number of
 * words in the line, which may be more than were stored (the caller
 * decides what too many means) or 0 for a blank line.
 * Returns 0, -EMSGSIZE (longer than rules->max_len), -EILSEQ (a NUL byte)
 * or -EBADMSG (a line break before the line end), in that order of checks;
 * buf, ret_v and *ret_n are written only on success. Thread-safe.
 */
int split_words(const char *line, size_t len, const struct split_rules *rules, char *buf,
		char **ret_v, size_t *ret_n) WUR;

#endif
