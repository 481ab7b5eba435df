#!/usr/bin/python3
"""One script of POSIX file operations in DIR, printing a transcript.

packages.sh runs it in a tmpfs directory and in a package's state/ and
compares the transcripts: state/ must behave as a local directory. Each
line is an operation and its result (a value or an errno name); nothing
in it depends on the filesystem type (no inode numbers, no directory
sizes, no times but those the script sets).
"""
import errno
import os
import stat
import sys

D = sys.argv[1]
os.chdir(D)


def out(op, value):
    print(f"{op}: {value}")


def do(op, fn, *args):
    try:
        r = fn(*args)
        out(op, "ok" if r is None else r)
    except OSError as e:
        out(op, errno.errorcode.get(e.errno, str(e.errno)))


def st(name, follow=False):
    s = os.stat(name) if follow else os.lstat(name)
    return f"{stat.filemode(s.st_mode)} size={s.st_size if not stat.S_ISDIR(s.st_mode) else '-'} nlink={s.st_nlink if not stat.S_ISDIR(s.st_mode) else '-'}"


def write(name, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode=0o644):
    fd = os.open(name, flags, mode)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def read(name):
    with open(name, "rb") as f:
        return f.read()


def listing():
    return " ".join(sorted(os.listdir(".")))


os.umask(0o022)
do("create f", write, "f", b"hello\n")
do("stat f", st, "f")
do("append f", write, "f", b"more\n", os.O_WRONLY | os.O_APPEND)
do("read f", read, "f")
do("O_TRUNC f", write, "f", b"", os.O_WRONLY | os.O_TRUNC)
do("stat f after O_TRUNC", st, "f")
do("write at offset", lambda: os.pwrite(os.open("f", os.O_WRONLY), b"xy", 4))
do("read sparse", read, "f")
do("truncate up", os.truncate, "f", 100)
do("stat f after truncate up", st, "f")
do("truncate down", os.truncate, "f", 3)
do("read f after truncate down", read, "f")
do("O_EXCL new", lambda: os.close(os.open("x", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)))
do("O_EXCL again", lambda: os.close(os.open("x", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)))
do("stat x", st, "x")
do("create g", write, "g", b"g\n")
do("create h", write, "h", b"h\n")
do("rename g over h", os.rename, "g", "h")
do("read h", read, "h")
do("g is gone", os.lstat, "g")
do("listing", listing)
do("hard link", os.link, "h", "hl")
do("nlink of h", st, "h")
do("h and hl are one file", lambda: os.stat("h").st_ino == os.stat("hl").st_ino)
do("write through hl", write, "hl", b"via link\n")
do("read h", read, "h")
do("link over existing", os.link, "h", "f")
do("symlink", os.symlink, "h", "sl")
do("readlink", os.readlink, "sl")
do("stat sl", st, "sl")
do("read through sl", read, "sl")
do("dangling symlink", os.symlink, "nowhere", "dl")
do("read dangling", read, "dl")
do("chmod 600", os.chmod, "h", 0o600)
do("stat h after chmod", st, "h")
do("chmod 4755", os.chmod, "h", 0o4755)
do("stat h after chmod 4755", st, "h")
do("utime", os.utime, "h", (1000000, 2000000))
do("mtime", lambda: int(os.stat("h").st_mtime))
do("mkdir d", os.mkdir, "d", 0o750)
do("stat d", st, "d")
do("mkdir d again", os.mkdir, "d")
do("mkdir nested", os.makedirs, "d/e/f")
do("rmdir not empty", os.rmdir, "d")
do("create in nested", write, "d/e/f/n", b"nested\n")
do("rename dir", os.rename, "d", "d2")
do("read moved file", read, "d2/e/f/n")
do("rename dir into itself", os.rename, "d2", "d2/e/x")
do("rmdir missing", os.rmdir, "nope")
do("unlink missing", os.unlink, "nope")
do("unlink dir", os.unlink, "d2")
do("rmdir file", os.rmdir, "h")
do("open dir for writing", os.open, "d2", os.O_WRONLY)
do("mkdir under a file", os.mkdir, "h/x")


def unlink_open():
    fd = os.open("u", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"before\n")
    os.unlink("u")
    os.write(fd, b"after\n")
    os.lseek(fd, 0, 0)
    data = os.read(fd, 100)
    n = os.fstat(fd).st_nlink
    os.ftruncate(fd, 3)
    size = os.fstat(fd).st_size
    os.close(fd)
    return f"{data!r} nlink={n} size={size} exists={os.path.lexists('u')}"


do("unlink an open file", unlink_open)


def rename_open():
    fd = os.open("r1", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"one\n")
    os.rename("r1", "r2")
    os.write(fd, b"two\n")
    os.close(fd)
    return read("r2")


do("rename an open file", rename_open)
do("rename noreplace", lambda: os.system("mv -n f h") >> 8)
do("read h after mv -n", read, "h")
do("listing at the end", listing)
do("tree", lambda: " ".join(sorted(os.path.join(r, n) for r, ds, fs in os.walk(".") for n in ds + fs)))
do("statvfs", lambda: os.statvfs(".").f_bsize > 0)
for name in ["d2/e/f/n"]:
    os.unlink(name)
do("removedirs", os.removedirs, "d2/e/f")
do("listing after cleanup", listing)
