/* Text made valid UTF-8: model output cut by a token limit may end inside
 * a character, and JSON readers (reward programs, jq, Python) refuse what
 * is not UTF-8. */
#ifndef TK_UTF8_H
#define TK_UTF8_H

#include <stddef.h>

/* text (n bytes) with each byte that is not part of valid UTF-8 (overlong
 * forms, surrogates and code points past U+10FFFF included), and each NUL,
 * shown as U+FFFD; malloc'd, NULL (with a tk_fail message) when out of
 * memory. */
char *tk_utf8_valid_copy(const char *text, size_t n);

/* 1 when text (n bytes) is valid UTF-8 without a NUL, as a JSON string
 * tk writes must be. */
int tk_utf8_valid(const char *text, size_t n);

#endif
