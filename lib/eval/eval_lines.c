/* Reading the JSON Lines files of tk-eval (samples, answers, questions)
 * one line at a time, their errors named by file and line. */
#include "tk_eval.h"

#include "tk_error.h"
#include "tk_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tk_eval_input_name(const char *path)
{
	return strcmp(path, "-") ? path : "stdin";
}

int tk_eval_read_lines(const char *path, tk_eval_line_fn fn, void *ctx, tk_progress *progress)
{
	FILE *in;
	int rc = tk_open_input(&in, path);
	if (rc)
		return rc;
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	uint64_t number = 0;
	while (!rc && (got = getline(&line, &cap, in)) > 0) {
		size_t len = (size_t)got;
		number++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (tk_jsonl_blank(line, len))
			continue;
		rc = fn(ctx, line, len, number);
		if (rc)
			tk_fail_context(rc, "%s:%" PRIu64 ": ", tk_eval_input_name(path), number);
		else if (progress)
			tk_progress_update(progress, number);
	}
	if (!rc && ferror(in))
		rc = tk_fail(TK_EIO, "%s: read error", tk_eval_input_name(path));
	free(line);
	tk_close_input(in);
	return rc;
}
