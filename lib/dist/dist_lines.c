/* Output of a sharded command (tk_dist.h): each rank keeps its lines in
 * memory; rank 0 writes them all, in rank order, which is input order
 * when the ranks hold contiguous blocks of the input (tk_dist_share). */
#include "tk_dist.h"

#include "tk_error.h"

#include <stdlib.h>
#include <string.h>

int tk_dist_lines_add(tk_dist_lines *l, const void *p, size_t n)
{
	if (l->n + n > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		while (cap < l->n + n)
			cap *= 2;
		char *buf = tk_realloc(l->buf, cap);
		if (!buf)
			return TK_EOSERR;
		l->buf = buf;
		l->cap = cap;
	}
	memcpy(l->buf + l->n, p, n);
	l->n += n;
	return TK_OK;
}

int tk_dist_lines_flush(tk_dist_lines *l, tk_dist_write_fn write, void *ctx)
{
	char *all;
	size_t total;
	int rc = tk_dist_gather(l->buf, l->n, &all, &total);
	if (!rc && tk_dist_is_root() && total)
		rc = write(ctx, all, total);
	free(all);
	tk_dist_lines_free(l);
	return rc;
}

void tk_dist_lines_free(tk_dist_lines *l)
{
	free(l->buf);
	*l = (tk_dist_lines){0};
}
