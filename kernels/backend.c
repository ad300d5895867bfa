/* The backend object every backend shares (backend_ops.h): opening one by
 * its kind, its settings, and its error messages, passed on to lib. */
#include "backend_ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_WORKSPACE ((size_t)16 << 20)

/* The built-in backends, the first the default of lib's commands. */
static const struct tk_backend_ops *const tables[] = {&tk_cpu_ops, &tk_ref_ops};
#define N_TABLES (sizeof tables / sizeof *tables)

/* ---- Errors ------------------------------------------------------------ */

/* Where a failure's message goes besides the backend: lib's error
 * recorder, which lib/ reads after a kernel returns non-zero.  lib defines
 * tk_backend_error_hook (kernels.h; lib/base/error.c); it is named weakly
 * here so that a program without lib links too, the message then staying
 * in the backend (tk_backend_error). */
void tk_backend_error_hook(int status, const char *message) __attribute__((weak));

static void pass_on(int status, const char *message)
{
	if (tk_backend_error_hook)
		tk_backend_error_hook(status, message);
}

int tk_backend_fail(tk_backend *be, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(be->error, sizeof be->error, fmt, ap);
	va_end(ap);
	return status;
}

int tk_backend_report(tk_backend *be, int status)
{
	if (status != TK_KERNEL_OK)
		pass_on(status, be->error);
	return status;
}

const char *tk_backend_error(const tk_backend *be) { return be->error; }

/* ---- Opening and closing ------------------------------------------------ */

static const struct tk_backend_ops *table_of(const char *kind)
{
	for (size_t i = 0; i < N_TABLES; i++)
		if (strcmp(tables[i]->kind, kind) == 0)
			return tables[i];
	return NULL;
}

/* "cpu, ref": for the message naming what a build has. */
static void list_kinds(char *out, size_t cap)
{
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < N_TABLES && at < cap; i++)
		at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? ", " : "", tables[i]->kind);
}

static int open_failed(int status, const char *message)
{
	pass_on(status, message);
	return status;
}

int tk_backend_open(tk_backend **out, const char *kind, int threads)
{
	char message[256];
	*out = NULL;
	const struct tk_backend_ops *ops = table_of(kind);
	if (!ops) {
		char kinds[128];
		list_kinds(kinds, sizeof kinds);
		snprintf(message, sizeof message, "backend \"%.64s\" is not built in (this build has: %s)",
			 kind, kinds);
		return open_failed(TK_KERNEL_ECONFIG, message);
	}
	if (threads < 0) {
		snprintf(message, sizeof message, "thread count %d is negative", threads);
		return open_failed(TK_KERNEL_EUSAGE, message);
	}
	tk_backend *be = calloc(1, sizeof *be);
	if (!be) {
		snprintf(message, sizeof message, "out of memory for a %s backend", kind);
		return open_failed(TK_KERNEL_ENOMEM, message);
	}
	be->ops = ops;
	be->batch_invariant = 1;
	be->workspace = DEFAULT_WORKSPACE;
	int rc = ops->open(be, threads);
	if (rc) {
		tk_backend_report(be, rc);
		free(be);
		return rc;
	}
	*out = be;
	return TK_KERNEL_OK;
}

void tk_backend_close(tk_backend *be)
{
	if (!be)
		return;
	be->ops->close(be);
	tk_workspace_free(be);
	free(be);
}

/* ---- Settings ------------------------------------------------------------ */

const char *tk_backend_name(const tk_backend *be) { return be->name; }

int tk_backend_threads(const tk_backend *be) { return be->threads; }

void tk_backend_set_batch_invariant(tk_backend *be, int on)
{
	be->batch_invariant = on != 0 || be->ops->always_batch_invariant;
}

int tk_backend_batch_invariant(const tk_backend *be) { return be->batch_invariant; }

void tk_backend_set_workspace(tk_backend *be, size_t bytes) { be->workspace = bytes; }
