#include "tk_error.h"
#include "tk_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tk_read_text(const char *path, size_t max_bytes, char **out, size_t *len)
{
	FILE *f;
	int rc = tk_open_input(&f, path);
	if (rc)
		return rc;
	size_t n = 0, cap = 4096;
	char *text = tk_malloc(cap);
	while (text && rc == TK_OK) {
		size_t got = fread(text + n, 1, cap - 1 - n, f);
		n += got;
		if (got == 0)
			break;
		if (n + 1 < cap)
			continue;
		if (cap - 1 > max_bytes) {
			rc = tk_fail(TK_EDATA, "%s: larger than %zu bytes, too large for this file", path, max_bytes);
			break;
		}
		char *bigger = tk_realloc(text, cap * 2);
		if (!bigger)
			rc = TK_EOSERR;
		else
			text = bigger, cap *= 2;
	}
	if (!rc && text && ferror(f))
		rc = tk_fail(TK_EIO, "%s: read failed: %s", path, strerror(errno));
	if (!rc && n > max_bytes)
		rc = tk_fail(TK_EDATA, "%s: larger than %zu bytes, too large for this file", path, max_bytes);
	tk_close_input(f);
	if (!text)
		return TK_EOSERR;
	if (rc) {
		free(text);
		return rc;
	}
	text[n] = '\0';
	*out = text;
	if (len)
		*len = n;
	return TK_OK;
}

int tk_write_text(const char *path, const char *text, size_t len)
{
	tk_outfile *f;
	int rc = tk_outfile_open(&f, path, 0);
	if (rc)
		return rc;
	rc = tk_outfile_write(f, text, len);
	if (rc) {
		tk_outfile_abort(f);
		return rc;
	}
	return tk_outfile_commit(f);
}
