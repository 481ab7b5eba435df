/*
 * Releases (SPEC §4.9): the pure pieces that the upgrade engine is built
 * on — semantic versions and the choice of what to apply (agents.md Z4,
 * Z5, Z13), the release publisher protocol's three documents (decoders of
 * untrusted bytes and their encoders), Ed25519 release signatures, and the
 * reader of release archives. No network, no SQLite, no FUSE.
 *
 * Conventions: int returns are 0 or -errno; outputs come last, named ret_*,
 * written only on success; messages go to err[errlen] (errf()) or to a
 * struct strv; destructors accept NULL. Everything here is thread-safe
 * (no global state; OpenSSL's error queue is per thread).
 *
 * Calling sequence of one check and apply (the engine's, not this module's):
 *   GET BASE/versions -> release_parse_versions(); GET BASE/latest ->
 *   release_parse_latest(); release_versions_to_apply(current, latest, ...);
 *   for each version V: GET BASE/V -> release_parse_upgrade(); download the
 *   flist; with a key: release_verify(key, V, sha256-of-archive, signature);
 *   release_archive_read(archive, limits, staging, ...); apply; rm_rf(staging).
 */
#ifndef CHARMFS_RELEASE_H
#define CHARMFS_RELEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "charm.h"

/* ---- versions ---------------------------------------------------------- */

/* Longest version text accepted, in bytes. */
#define RELEASE_VERSION_MAX 128

/*
 * A semantic version (semver.org 2.0.0): MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD].
 * pre and build hold the text after '-' and '+' ("" when absent).
 */
struct release_version {
	uint64_t major, minor, patch;
	char pre[RELEASE_VERSION_MAX + 1];
	char build[RELEASE_VERSION_MAX + 1];
};

/*
 * Parses s strictly by semver 2.0.0: numbers without leading zeros (and
 * fitting 64 bits), non-empty dot-separated identifiers of [0-9A-Za-z-],
 * numeric prerelease identifiers without leading zeros. A leading "v" is
 * refused (the text is also a URL segment and a file name: "v1.0.0" and
 * "1.0.0" must not be two names of one version). At most
 * RELEASE_VERSION_MAX bytes. 0 or -EINVAL.
 */
int release_version_parse(const char *s, struct release_version *ret) WUR;
/* Precedence: <0, 0 or >0. Build metadata is ignored ("1.0.0+a" == "1.0.0+b"). */
int release_version_cmp(const struct release_version *a, const struct release_version *b);
/* Room for any version's text, release_version_format()'s output. */
#define RELEASE_VERSION_FMT_MAX (3 * 20 + 4 + 2 * RELEASE_VERSION_MAX + 1)
/* The canonical text (what was parsed) into out[outlen], cut to fit. */
void release_version_format(const struct release_version *v, char *out, size_t outlen);

/*
 * Which versions to apply, agents.md Z5: versions sorted by precedence,
 * each one greater than current up to latest inclusive, copied (as
 * given) into *ret in ascending order. current >= latest gives an empty
 * list whatever versions holds (nothing to do). -ENOENT with "latest
 * version VERSION has not been found in available versions of the
 * publisher" when latest is not listed. The list is refused whole with
 * -EBADMSG when an entry does not parse or two entries have the same
 * precedence ("1.0.0" and "1.0.0+b" included): a publisher that says that
 * is broken, and guessing which one is meant is unsafe. -ENOMEM.
 */
int release_versions_to_apply(const struct release_version *current,
			      const struct release_version *latest, const char *const *versions,
			      size_t n, struct strv *ret, char *err, size_t errlen) WUR;

/* ---- the publisher's documents (SPEC §4.9) ----------------------------- */

#define RELEASE_DOC_MAX (64 * 1024)	     /* latest, VERSION, packages.json's settings */
#define RELEASE_VERSIONS_DOC_MAX (1024 * 1024) /* the versions document */
#define RELEASE_VERSIONS_MAX 10000
#define RELEASE_URL_MAX 4096
#define RELEASE_SIGNATURE_MAX 1024 /* text bytes; a valid one is 128 hex digits */
#define RELEASE_TXID_MAX 256
#define RELEASE_PACKAGES_DOC_MAX (4 * 1024 * 1024) /* packages.json */
#define RELEASE_PACKAGES_MAX 10000

/*
 * The decoders take untrusted bytes (not NUL-terminated; NUL bytes are
 * garbage) and refuse with -EBADMSG and a message in err for anything that
 * is not exactly the document: bad JSON, wrong types, a bad version, too
 * long (-EBADMSG too: the bytes are garbage for us). -ENOMEM.
 */

/* `["0.0.1","0.1.0"]`: at most RELEASE_VERSIONS_MAX valid, distinct versions. */
int release_parse_versions(const char *buf, size_t len, struct strv *ret, char *err,
			   size_t errlen) WUR;
/* `"0.1.0"`: a valid version; *ret is a new string (caller frees). */
int release_parse_latest(const char *buf, size_t len, char **ret, char *err, size_t errlen) WUR;

/* GET BASE/VERSION. Strings are owned; signature and transaction_id may be NULL. */
struct release_upgrade {
	char *flist;	      /* URL of the archive, possibly relative; never NULL */
	char *signature;      /* hex text as sent (checked by release_verify()), or NULL */
	char *transaction_id; /* opaque (agents.md Z2a), or NULL */
};

/*
 * `{"flist": URL, "signature": HEX, "transaction_id": ID}`: flist is a
 * non-empty string of at most RELEASE_URL_MAX bytes without control
 * characters or spaces; signature and transaction_id are strings (or null,
 * or absent) of at most RELEASE_SIGNATURE_MAX / RELEASE_TXID_MAX bytes;
 * other members (Z1's "storage") are ignored. Free *ret with
 * release_upgrade_free().
 */
int release_parse_upgrade(const char *buf, size_t len, struct release_upgrade *ret, char *err,
			  size_t errlen) WUR;
void release_upgrade_free(struct release_upgrade *u);

/*
 * The encoders, for charmfs's own /releases/: JSON text ending in a
 * newline, in a new string (caller frees). -EINVAL when an input would not
 * decode back (a bad version, a missing flist), -ENOMEM.
 */
int release_format_versions(const char *const *versions, size_t n, char **ret) WUR;
int release_format_latest(const char *version, char **ret) WUR;
int release_format_upgrade(const struct release_upgrade *u, char **ret) WUR;

/* ---- packages.json ----------------------------------------------------- */

struct release_package {
	char *name;	/* charm-name grammar (SPEC §3) */
	char *version;	/* cs: URL with series and revision, as written */
	char *settings; /* JSON object text (compact, sorted keys), or NULL when absent */
	int enabled;	/* -1 absent, 0 or 1 */
};

struct release_packages {
	struct release_package *v; /* sorted by name */
	size_t n;
};

/*
 * Decodes packages.json: `{"NAME": {"version": URL, "settings": {...},
 * "enabled": bool}}` (settings and enabled optional, nothing else allowed,
 * settings at most RELEASE_DOC_MAX bytes as text). -EBADMSG with a message
 * naming the package, -ENOMEM. Free with release_packages_free().
 */
int release_parse_packages(const char *buf, size_t len, struct release_packages *ret, char *err,
			   size_t errlen) WUR;
void release_packages_free(struct release_packages *p);

/* ---- signatures (Ed25519, SPEC §4.9) ------------------------------------ */

/*
 * The signed message is VERSION "\n" followed by the 32 raw bytes of the
 * release archive's SHA-256 digest; the signature is its 64 bytes in hex
 * (128 digits; release_verify() takes either case).
 */
#define RELEASE_SIG_HEX 128

/*
 * Writes a new key pair: BASE.pem (the private key, PKCS#8 PEM, mode 0600)
 * and BASE.pub.pem (SubjectPublicKeyInfo PEM, 0644). Never overwrites:
 * -EEXIST when either exists (nothing is then written). -errno, -EIO.
 */
int release_keygen(const char *base, char *err, size_t errlen) WUR;

/*
 * Signs version's message with the Ed25519 private key in keyfile (PEM).
 * hex_out gets 128 lower-case hex digits and a NUL. -EINVAL (a bad
 * version, not an Ed25519 private key), -errno reading the file.
 */
int release_sign(const char *keyfile, const char *version, const unsigned char sha256[32],
		 char hex_out[RELEASE_SIG_HEX + 1], char *err, size_t errlen) WUR;
/* Same, hashing the file at archive_path. */
int release_sign_file(const char *keyfile, const char *archive_path, const char *version,
		      char hex_out[RELEASE_SIG_HEX + 1], char *err, size_t errlen) WUR;

struct release_key;

/* Loads an Ed25519 public key (PEM). -EINVAL (not one), -errno. */
int release_key_load(const char *pubfile, struct release_key **ret, char *err,
		     size_t errlen) WUR;
void release_key_free(struct release_key *k);

/*
 * Checks hex_sig against version's message. 0, or -EBADMSG with a message
 * naming the version: "missing signature of V" (NULL or ""), "signature
 * of V is not hex", "signature of V has N hex digits, not 128",
 * "signature of V does not verify". -EINVAL when version itself is not a
 * valid version (the caller's mistake, not the publisher's). -ENOMEM.
 */
int release_verify(const struct release_key *k, const char *version,
		   const unsigned char sha256[32], const char *hex_sig, char *err,
		   size_t errlen) WUR;

/* ---- release archives --------------------------------------------------- */

struct release_charm {
	char *url;  /* "cs:[~user/]series/name" (url_parse-valid, no revision) */
	char *path; /* the extracted .charm under staging_dir */
};

struct release_contents {
	struct release_charm *charms; /* in archive order */
	size_t n_charms;
	struct release_packages packages; /* empty without packages.json */
	bool has_packages;
	char *migrate_pre;  /* extracted path (mode 0755), or NULL */
	char *migrate_post; /* likewise */
};

/*
 * Reads the release archive at path (tar, possibly gzip-compressed, or
 * zip; libarchive) and extracts what a release may hold into staging_dir,
 * which must not exist (its parent must): it is created (0700) and, on
 * failure, removed again. Allowed entries: regular files
 * charms/[~user/]series/name.charm (a valid URL), packages.json (decoded
 * by release_parse_packages(), at most RELEASE_PACKAGES_DOC_MAX bytes),
 * migrate/pre and migrate/post (made executable), and the directories
 * leading to them; a leading "./" is ignored. Anything else — another
 * name, an absolute path, "..", an empty component, a link of any kind, a
 * device, a FIFO or a socket, a sparse file, a name seen twice — is -EINVAL with one
 * message naming the entry appended to errors; the archive's limits (lim:
 * its size, entry count, bytes expanded, expansion ratio above 1 MiB) are
 * -EFBIG. Reading stops at the first problem. Data is streamed in chunks
 * and counted as it comes: declared sizes are not trusted.
 * -ENOMEM, -EIO or -errno for system failures (also with a message).
 * Free *ret with release_contents_free().
 */
int release_archive_read(const char *path, const struct charm_limits *lim,
			 const char *staging_dir, struct release_contents *ret,
			 struct strv *errors) WUR;
void release_contents_free(struct release_contents *c);

#endif
