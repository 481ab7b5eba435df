/*
 * Functions charmfs code must not call: unbounded copies, non-reentrant
 * time conversion and number parsing without error reporting. Including this
 * header last in a .c file turns any use into a compile error.
 */
#ifndef CHARMFS_BANNED_H
#define CHARMFS_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_charmfs

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gmtime
#define gmtime(x) BANNED(gmtime)
#undef localtime
#define localtime(x) BANNED(localtime)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)

#endif
