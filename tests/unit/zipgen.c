/*
 * Test zip builder (see zipgen.h). libarchive's zip writer produces the
 * archives; it refuses fifos, sockets and devices, so those are written as
 * regular files and their Unix mode is patched afterwards in the central
 * directory (the part charm_open() reads as authoritative). Generated data
 * is produced in 64 KiB chunks so bomb archives cost no memory.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zipgen.h"
#include "../../backend/banned.h"

#define ZG_DEFAULT_MTIME 1400000000

static unsigned zg_type_bits(enum zg_kind k)
{
	switch (k) {
	case ZG_DIR:
		return AE_IFDIR;
	case ZG_SYMLINK:
		return AE_IFLNK;
	case ZG_FIFO:
		return AE_IFIFO;
	case ZG_SOCKET:
		return AE_IFSOCK;
	case ZG_CHARDEV:
		return AE_IFCHR;
	case ZG_FILE:
	default:
		return AE_IFREG;
	}
}

static size_t zg_len(const struct zg_entry *e)
{
	if (e->len || !e->data)
		return e->len;
	return strlen(e->data);
}

static void zg_fill_chunk(char *p, size_t n, enum zg_fill fill, uint32_t *seed)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	if (fill == ZG_ZEROS) {
		memset(p, 0, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		*seed = *seed * 1103515245u + 12345u;
		p[i] = (i % 64 == 63) ? '\n' : alphabet[(*seed >> 16) % 62];
		if (i % 64 == 0)
			p[i] = '#';
	}
}

static int zg_write_data(struct archive *w, const struct zg_entry *e)
{
	char chunk[65536];
	size_t left = zg_len(e);
	uint32_t seed = 42;

	if (e->data)
		return archive_write_data(w, e->data, left) == (la_ssize_t)left ? 0 : -EIO;
	while (left > 0) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
		zg_fill_chunk(chunk, n, e->fill, &seed);
		if (archive_write_data(w, chunk, n) != (la_ssize_t)n)
			return -EIO;
		left -= n;
	}
	return 0;
}

static int zg_add(struct archive *w, const struct zg_entry *e)
{
	struct archive_entry *ae = archive_entry_new();
	unsigned perm = e->mode ? e->mode : (e->kind == ZG_DIR ? 0755 : 0644);
	bool special = e->kind == ZG_FIFO || e->kind == ZG_SOCKET || e->kind == ZG_CHARDEV;
	int r = 0;

	if (!ae)
		return -ENOMEM;
	archive_entry_copy_pathname(ae, e->name);
	archive_entry_set_filetype(ae, special ? AE_IFREG : zg_type_bits(e->kind));
	archive_entry_set_perm(ae, perm);
	archive_entry_set_mtime(ae, e->mtime ? e->mtime : ZG_DEFAULT_MTIME, 0);
	if (e->kind == ZG_SYMLINK)
		archive_entry_copy_symlink(ae, e->data);
	else if (e->kind == ZG_FILE)
		archive_entry_set_size(ae, (la_int64_t)zg_len(e));
	else
		archive_entry_set_size(ae, 0);
	if (archive_write_header(w, ae) < ARCHIVE_WARN)
		r = -EIO;
	else if (e->kind == ZG_FILE)
		r = zg_write_data(w, e);
	archive_entry_free(ae);
	return r;
}

static uint32_t rd16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
	return rd16(p) | rd16(p + 2) << 16;
}

static void wr32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

/* Sets the Unix mode in the central directory record named name. */
static int zg_patch_mode(unsigned char *z, size_t len, const char *name, uint32_t mode)
{
	size_t eocd = len >= 22 ? len - 22 : 0, off, nlen = strlen(name);

	while (eocd > 0 && rd32(z + eocd) != 0x06054b50)
		eocd--;
	if (rd32(z + eocd) != 0x06054b50)
		return -EINVAL;
	off = rd32(z + eocd + 16);
	for (unsigned i = 0; i < rd16(z + eocd + 10) && off + 46 <= len; i++) {
		unsigned char *h = z + off;
		size_t n = rd16(h + 28);
		if (n == nlen && off + 46 + n <= len && !memcmp(h + 46, name, n)) {
			wr32(h + 38, (rd32(h + 38) & 0xffff) | mode << 16);
			return 0;
		}
		off += 46 + n + rd16(h + 30) + rd16(h + 32);
	}
	return -ENOENT;
}

static int zg_read_all(const char *path, unsigned char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	long n;
	unsigned char *z;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return -EIO;
	}
	z = malloc((size_t)n + 1);
	if (!z || fread(z, 1, (size_t)n, f) != (size_t)n) {
		free(z);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*ret = z;
	*ret_len = (size_t)n;
	return 0;
}

static int zg_patch_specials(const char *path, const struct zg_entry *e, size_t n)
{
	unsigned char *z;
	size_t len;
	bool any = false;
	int r;

	for (size_t i = 0; i < n; i++)
		any |= e[i].kind == ZG_FIFO || e[i].kind == ZG_SOCKET || e[i].kind == ZG_CHARDEV;
	if (!any)
		return 0;
	r = zg_read_all(path, &z, &len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (e[i].kind == ZG_FIFO || e[i].kind == ZG_SOCKET || e[i].kind == ZG_CHARDEV)
			r = zg_patch_mode(z, len, e[i].name, zg_type_bits(e[i].kind) | 0644);
	}
	if (r == 0)
		r = zipgen_write_raw(path, z, len);
	free(z);
	return r;
}

int zipgen_write(const char *path, const struct zg_entry *e, size_t n)
{
	struct archive *w = archive_write_new();
	int r = 0;

	if (!w)
		return -ENOMEM;
	if (archive_write_set_format_zip(w) != ARCHIVE_OK ||
	    archive_write_zip_set_compression_deflate(w) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w, 1) != ARCHIVE_OK ||
	    archive_write_open_filename(w, path) != ARCHIVE_OK)
		r = -EIO;
	for (size_t i = 0; i < n && r == 0; i++)
		r = zg_add(w, &e[i]);
	if (archive_write_close(w) != ARCHIVE_OK && r == 0)
		r = -EIO;
	archive_write_free(w);
	if (r == 0)
		r = zg_patch_specials(path, e, n);
	return r;
}

int zipgen_write_raw(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	int r = 0;

	if (!f)
		return -errno;
	if (n && fwrite(data, 1, n, f) != n)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	return r;
}

int zipgen_truncate(const char *path, size_t len)
{
	return truncate(path, (off_t)len) < 0 ? -errno : 0;
}

long long zipgen_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long long)st.st_size;
}

int zipgen_poke(const char *path, size_t off, size_t n)
{
	unsigned char junk[256];
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	memset(junk, 0x55, sizeof(junk));
	if (n > sizeof(junk) || pwrite(fd, junk, n, (off_t)off) != (ssize_t)n)
		r = -EIO;
	close(fd);
	return r;
}
