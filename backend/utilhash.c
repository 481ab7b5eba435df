/*
 * util.h's hashing helper, apart from the rest of util.c so that what
 * links util.c alone (the hook tool, whose start-up time is every tool
 * call's) does not load libcrypto.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util.h"
#include "banned.h"

int sha256_fd(int fd, char hex[65], uint64_t *ret_size)
{
	unsigned char md[EVP_MAX_MD_SIZE], tmp[65536];
	unsigned int mdlen = 0;
	uint64_t total = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = 0;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -EIO;
	}
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (EVP_DigestUpdate(ctx, tmp, (size_t)n) != 1) {
			r = -EIO;
			break;
		}
	}
	if (r == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		r = -EIO;
	EVP_MD_CTX_free(ctx);
	if (r < 0)
		return r;
	hex_encode(md, mdlen, hex);
	if (ret_size)
		*ret_size = total;
	return 0;
}

int sha256_mem(const void *p, size_t n, char hex[65])
{
	unsigned char md[32];

	if (EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL) != 1)
		return -EIO;
	hex_encode(md, sizeof(md), hex);
	return 0;
}

int sha256_file(const char *path, char hex[65], uint64_t *ret_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = sha256_fd(fd, hex, ret_size);
	close(fd);
	return r;
}
