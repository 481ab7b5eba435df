/*
 * Releases, part two: Ed25519 release signatures (SPEC §4.9), with
 * OpenSSL's EVP interface only. The signed message binds the version to
 * the archive, VERSION "\n" SHA256(archive) (32 raw bytes), so that a
 * correctly signed old release cannot be served as a newer version. The
 * same message is what `openssl pkeyutl -sign -rawin` signs, so a
 * publisher needs no charmfs to sign.
 *
 * Key files are read whole into a bounded buffer before OpenSSL parses
 * them. OpenSSL's error queue is per thread and is cleared after each
 * call, its first error becoming part of the message.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "release.h"
#include "banned.h"

#define KEYFILE_MAX (64 * 1024)
#define SIG_BYTES 64
#define MSG_MAX (RELEASE_VERSION_MAX + 1 + 32)

struct release_key {
	EVP_PKEY *pkey;
};

/* The first OpenSSL error of this thread's queue as text, clearing the queue. */
static const char *ssl_message(char *out, size_t n)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, out, n);
	else
		snprintf(out, n, "unknown OpenSSL error");
	ERR_clear_error();
	return out;
}

static int make_message(const char *version, const unsigned char sha256[32],
			unsigned char msg[MSG_MAX], size_t *ret_len, char *err, size_t errlen)
{
	struct release_version v;
	size_t n;

	if (!version || release_version_parse(version, &v) < 0)
		return errf(err, errlen, -EINVAL, "not a semantic version: %.*s",
			    RELEASE_VERSION_MAX, version ? version : "(null)");
	n = strlen(version);
	memcpy(msg, version, n);
	msg[n] = '\n';
	memcpy(msg + n + 1, sha256, 32);
	*ret_len = n + 33;
	return 0;
}

/* Reads a PEM file (bounded) into a memory BIO. */
static int pem_bio(const char *path, BIO **ret, char *err, size_t errlen)
{
	char *data;
	size_t len;
	BIO *b;
	int r = read_file(path, KEYFILE_MAX, &data, &len);

	if (r < 0)
		return errf(err, errlen, r, "%s: %s", path, strerror(-r));
	b = BIO_new(BIO_s_mem());
	if (!b || BIO_write(b, data, (int)len) != (int)len) {
		BIO_free(b);
		free(data);
		return -ENOMEM;
	}
	free(data);
	*ret = b;
	return 0;
}

static int load_private(const char *keyfile, EVP_PKEY **ret, char *err, size_t errlen)
{
	char m[256];
	EVP_PKEY *k;
	BIO *b;
	int r = pem_bio(keyfile, &b, err, errlen);

	if (r < 0)
		return r;
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!k)
		return errf(err, errlen, -EINVAL, "%s: not a private key: %s", keyfile,
			    ssl_message(m, sizeof(m)));
	if (EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		return errf(err, errlen, -EINVAL, "%s: not an Ed25519 private key", keyfile);
	}
	*ret = k;
	return 0;
}

/* Writes one PEM file, created exclusively with mode. */
static int write_pem(const char *path, mode_t mode, EVP_PKEY *k, bool private, char *err,
		     size_t errlen)
{
	char m[256];
	FILE *f;
	int ok, fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		return errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (fchmod(fd, mode) < 0 || !(f = fdopen(fd, "w"))) {
		int e = -errno;
		close(fd);
		unlink(path);
		return errf(err, errlen, e, "%s: %s", path, strerror(-e));
	}
	ok = private ? PEM_write_PKCS8PrivateKey(f, k, NULL, NULL, 0, NULL, NULL)
		     : PEM_write_PUBKEY(f, k);
	ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		return errf(err, errlen, -EIO, "%s: cannot write the key: %s", path,
			    ssl_message(m, sizeof(m)));
	}
	return 0;
}

int release_keygen(const char *base, char *err, size_t errlen)
{
	char m[256];
	struct buf priv, pub;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *k = NULL;
	struct stat st;
	int r;

	buf_init(&priv, 4096);
	buf_init(&pub, 4096);
	if (buf_addf(&priv, "%s.pem", base) < 0 || buf_addf(&pub, "%s.pub.pem", base) < 0) {
		r = errf(err, errlen, -ENAMETOOLONG, "key file name too long");
		goto out;
	}
	if (lstat(priv.data, &st) == 0 || lstat(pub.data, &st) == 0) {
		r = errf(err, errlen, -EEXIST, "%s or %s exists already", priv.data, pub.data);
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &k) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		r = errf(err, errlen, -ENOMEM, "cannot make a key: %s", ssl_message(m, sizeof(m)));
		goto out;
	}
	EVP_PKEY_CTX_free(ctx);
	r = write_pem(priv.data, 0600, k, true, err, errlen);
	if (r == 0) {
		r = write_pem(pub.data, 0644, k, false, err, errlen);
		if (r < 0)
			unlink(priv.data);
	}
out:
	EVP_PKEY_free(k);
	buf_free(&priv);
	buf_free(&pub);
	return r;
}

int release_sign(const char *keyfile, const char *version, const unsigned char sha256[32],
		 char hex_out[RELEASE_SIG_HEX + 1], char *err, size_t errlen)
{
	unsigned char msg[MSG_MAX], sig[SIG_BYTES];
	size_t msg_len, sig_len = sizeof(sig);
	char m[256];
	EVP_MD_CTX *md;
	EVP_PKEY *k;
	int r = make_message(version, sha256, msg, &msg_len, err, errlen);

	if (r < 0)
		return r;
	r = load_private(keyfile, &k, err, errlen);
	if (r < 0)
		return r;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, k) <= 0 ||
	    EVP_DigestSign(md, sig, &sig_len, msg, msg_len) <= 0 || sig_len != SIG_BYTES)
		r = errf(err, errlen, -ENOMEM, "cannot sign: %s", ssl_message(m, sizeof(m)));
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	if (r == 0)
		hex_encode(sig, SIG_BYTES, hex_out);
	return r;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int release_sign_file(const char *keyfile, const char *archive_path, const char *version,
		      char hex_out[RELEASE_SIG_HEX + 1], char *err, size_t errlen)
{
	char hex[65];
	unsigned char sha[32];
	int r = sha256_file(archive_path, hex, NULL);

	if (r < 0)
		return errf(err, errlen, r, "%s: %s", archive_path, strerror(-r));
	for (int i = 0; i < 32; i++)
		sha[i] = (unsigned char)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
	return release_sign(keyfile, version, sha, hex_out, err, errlen);
}

int release_key_load(const char *pubfile, struct release_key **ret, char *err, size_t errlen)
{
	char m[256];
	struct release_key *k;
	EVP_PKEY *p;
	BIO *b;
	int r = pem_bio(pubfile, &b, err, errlen);

	if (r < 0)
		return r;
	p = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!p)
		return errf(err, errlen, -EINVAL, "%s: not a public key: %s", pubfile,
			    ssl_message(m, sizeof(m)));
	if (EVP_PKEY_id(p) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(p);
		return errf(err, errlen, -EINVAL, "%s: not an Ed25519 public key", pubfile);
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		EVP_PKEY_free(p);
		return -ENOMEM;
	}
	k->pkey = p;
	*ret = k;
	return 0;
}

void release_key_free(struct release_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

int release_verify(const struct release_key *k, const char *version,
		   const unsigned char sha256[32], const char *hex_sig, char *err, size_t errlen)
{
	unsigned char msg[MSG_MAX], sig[SIG_BYTES];
	size_t msg_len, n;
	EVP_MD_CTX *md;
	int r = make_message(version, sha256, msg, &msg_len, err, errlen);

	if (r < 0)
		return r;
	if (!hex_sig || !*hex_sig)
		return errf(err, errlen, -EBADMSG, "missing signature of %s", version);
	n = strnlen(hex_sig, RELEASE_SIGNATURE_MAX + 1);
	for (size_t i = 0; i < n; i++)
		if (hex_value(hex_sig[i]) < 0)
			return errf(err, errlen, -EBADMSG, "signature of %s is not hex", version);
	if (n != RELEASE_SIG_HEX)
		return errf(err, errlen, -EBADMSG, "signature of %s has %s%zu hex digits, not %d",
			    version, n > RELEASE_SIGNATURE_MAX ? "more than " : "",
			    n > RELEASE_SIGNATURE_MAX ? (size_t)RELEASE_SIGNATURE_MAX : n,
			    RELEASE_SIG_HEX);
	for (size_t i = 0; i < SIG_BYTES; i++)
		sig[i] = (unsigned char)(hex_value(hex_sig[2 * i]) << 4 | hex_value(hex_sig[2 * i + 1]));
	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, k->pkey) <= 0) {
		EVP_MD_CTX_free(md);
		ERR_clear_error();
		return -ENOMEM;
	}
	r = EVP_DigestVerify(md, sig, SIG_BYTES, msg, msg_len);
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (r != 1)
		return errf(err, errlen, -EBADMSG, "signature of %s does not verify", version);
	return 0;
}
