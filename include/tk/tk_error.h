/* Errors: the library returns a status code and leaves a message; only
 * commands print and exit.  Codes follow sysexits(3) so that a shell script
 * can tell bad usage from bad data from a failed disk. */
#ifndef TK_ERROR_H
#define TK_ERROR_H

#include <stddef.h>

enum tk_status {
	TK_OK = 0,
	TK_END = 1,        /* end of a stream: not an error */
	TK_EUSAGE = 64,    /* command used wrongly */
	TK_EDATA = 65,     /* input data malformed */
	TK_ENOINPUT = 66,  /* input file missing or unreadable */
	TK_ESOFTWARE = 70, /* internal error: a bug */
	TK_EOSERR = 71,    /* out of memory, fork failed, ... */
	TK_ECANTCREAT = 73,/* output cannot be created */
	TK_EIO = 74,       /* read or write failed */
	TK_ETEMPFAIL = 75, /* interrupted: try again (resume) */
	TK_ECONFIG = 78    /* configuration error */
};

/* Records a message for the current thread and returns code, so that a
 * failing function can write `return tk_fail(TK_EDATA, "...", ...);`. */
int tk_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefixes the current message with more context ("file.tks: " + message)
 * and returns code unchanged. */
int tk_fail_context(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread ("" when none). */
const char *tk_error_message(void);
void tk_error_clear(void);

/* Allocation that records TK_EOSERR with the size on failure. */
void *tk_malloc(size_t size);
void *tk_calloc(size_t count, size_t size);
void *tk_realloc(void *ptr, size_t size);
char *tk_strdup(const char *s);

#endif
