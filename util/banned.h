/*
 * Functions arca does not use (after git's banned.h): unbounded copies and
 * formats, and the ones with hidden static state. The build includes this
 * header before anything else in every file of the library and the CLI;
 * it first includes the system headers that declare them, so that their
 * declarations are seen before the macros exist. A call fails to compile
 * naming the function.
 */
#ifndef ARCA_UTIL_BANNED_H
#define ARCA_UTIL_BANNED_H

#include <stdio.h>
#include <string.h>
#include <time.h>

#define ARCA_BANNED(f) sorry_##f##_is_banned_in_arca

#undef strcpy
#define strcpy(x, y) ARCA_BANNED(strcpy)
#undef strcat
#define strcat(x, y) ARCA_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) ARCA_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) ARCA_BANNED(strncat)
#undef sprintf
#define sprintf(...) ARCA_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) ARCA_BANNED(vsprintf)
#undef gets
#define gets(s) ARCA_BANNED(gets)
#undef strtok
#define strtok(x, y) ARCA_BANNED(strtok)
#undef strtok_r
#define strtok_r(x, y, z) ARCA_BANNED(strtok_r)
#undef gmtime
#define gmtime(t) ARCA_BANNED(gmtime)
#undef localtime
#define localtime(t) ARCA_BANNED(localtime)
#undef ctime
#define ctime(t) ARCA_BANNED(ctime)
#undef asctime
#define asctime(t) ARCA_BANNED(asctime)

#endif
