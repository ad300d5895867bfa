#include "tk_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char error_message[1024];

int tk_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(error_message, sizeof error_message, fmt, ap);
	va_end(ap);
	return code;
}

int tk_fail_context(int code, const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof error_message];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, error_message, sizeof old);
	size_t n = strlen(prefix);
	if (n >= sizeof error_message)
		n = sizeof error_message - 1;
	memcpy(error_message, prefix, n);
	size_t room = sizeof error_message - 1 - n;
	size_t m = strlen(old);
	memcpy(error_message + n, old, m < room ? m : room);
	error_message[n + (m < room ? m : room)] = '\0';
	return code;
}

const char *tk_error_message(void) { return error_message; }

void tk_error_clear(void) { error_message[0] = '\0'; }

void *tk_malloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		tk_fail(TK_EOSERR, "out of memory allocating %zu bytes", size);
	return p;
}

void *tk_calloc(size_t count, size_t size)
{
	void *p = calloc(count ? count : 1, size ? size : 1);
	if (!p)
		tk_fail(TK_EOSERR, "out of memory allocating %zu x %zu bytes",
			count, size);
	return p;
}

void *tk_realloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);
	if (!p)
		tk_fail(TK_EOSERR, "out of memory allocating %zu bytes", size);
	return p;
}

char *tk_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = tk_malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

/* The kernels' way to leave a message (kernels/backend.c calls it when a
 * kernel fails; kernels.h declares it): kernels include nothing of lib, so
 * lib receives their status and text here and makes them the library's
 * error. */
void tk_backend_error_hook(int status, const char *message);
void tk_backend_error_hook(int status, const char *message)
{
	tk_fail(status, "%s", message);
}
