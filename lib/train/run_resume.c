/* The run folder's JSON files for --resume (tk_run.h): config.json written
 * and checked against the settings of the resumed run, the last record of
 * checkpoints.jsonl, and metrics.jsonl cut back to a checkpoint's step. */
#define _GNU_SOURCE /* memrchr */
#include "tk_run.h"

#include "tk_error.h"
#include "tk_io.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void join(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

int tk_run_write_json(const char *dir, const char *name, const cJSON *o)
{
	char path[4096];
	char *text = cJSON_Print(o);
	if (!text)
		return tk_fail(TK_EOSERR, "out of memory printing %s", name);
	size_t len = strlen(text);
	char *line = malloc(len + 2);
	if (!line) {
		free(text);
		return tk_fail(TK_EOSERR, "out of memory printing %s", name);
	}
	memcpy(line, text, len);
	memcpy(line + len, "\n", 2);
	join(path, sizeof path, dir, name);
	int rc = tk_write_text(path, line, len + 1);
	free(line);
	free(text);
	return rc;
}

/* The first setting of was that now lacks or holds otherwise, as a
 * message in msg; 1 when there is none. */
static int same_settings(const cJSON *was, const cJSON *now, char *msg, size_t cap)
{
	const cJSON *item;
	cJSON_ArrayForEach(item, was) {
		const cJSON *x = cJSON_GetObjectItem(now, item->string);
		if (x && cJSON_Compare(item, x, 1))
			continue;
		char *a = cJSON_PrintUnformatted(item), *b = x ? cJSON_PrintUnformatted(x) : NULL;
		snprintf(msg, cap, "setting %s was %s, now %s", item->string, a ? a : "?",
			 b ? b : "unset");
		free(a);
		free(b);
		return 0;
	}
	return 1;
}

int tk_run_check_settings(const char *dir, const cJSON *now)
{
	char path[4096], msg[1024], *text;
	join(path, sizeof path, dir, "config.json");
	int rc = tk_read_text(path, 1 << 20, &text, NULL);
	if (rc)
		return rc;
	cJSON *o = cJSON_Parse(text);
	free(text);
	const cJSON *was = cJSON_GetObjectItem(o, "settings");
	int valid = cJSON_IsObject(was), same = valid && same_settings(was, now, msg, sizeof msg);
	cJSON_Delete(o);
	if (!valid)
		return tk_fail(TK_EDATA, "%s: no settings to resume with", path);
	if (!same)
		return tk_fail(TK_EUSAGE, "--resume %s: %s; resume with the options (and data) of "
			       "the run", dir, msg);
	return TK_OK;
}

#define MAX_CHECKPOINTS_FILE (64 << 20)

static int read_checkpoints(const char *dir, char *path, size_t cap, char **text, size_t *len)
{
	join(path, cap, dir, "checkpoints.jsonl");
	if (tk_read_text(path, MAX_CHECKPOINTS_FILE, text, len))
		return tk_fail(TK_ENOINPUT, "--resume %s: no checkpoints.jsonl (was the run started "
			       "with -o %s, and did it write a checkpoint?)", dir, dir);
	return TK_OK;
}

/* The record a line holds (path and step), or NULL. */
static cJSON *checkpoint_record(const char *line, size_t len)
{
	cJSON *o = tk_jsonl_parse(line, len);
	const cJSON *p = cJSON_GetObjectItem(o, "path"), *st = cJSON_GetObjectItem(o, "step");
	if (cJSON_IsString(p) && cJSON_IsNumber(st))
		return o;
	cJSON_Delete(o);
	return NULL;
}

int tk_run_repair_checkpoints(const char *dir, size_t *dropped)
{
	char path[4096], *text;
	size_t len;
	*dropped = 0;
	if (read_checkpoints(dir, path, sizeof path, &text, &len))
		return TK_OK; /* tk_run_last_checkpoint says what is missing */
	if (len == 0 || text[len - 1] == '\n') {
		free(text);
		return TK_OK;
	}
	const char *nl = memrchr(text, '\n', len);
	size_t start = nl ? (size_t)(nl - text) + 1 : 0;
	/* a whole record that only lacks its newline is kept, and ended */
	cJSON *whole = checkpoint_record(text + start, len - start);
	cJSON_Delete(whole);
	if (whole)
		text[len++] = '\n'; /* tk_read_text leaves room for its NUL */
	else
		*dropped = len - start;
	int rc = tk_write_text(path, text, whole ? len : start);
	free(text);
	return rc;
}

int tk_run_last_checkpoint(const char *dir, char *name, size_t cap, int64_t *step,
			   cJSON **record)
{
	char path[4096], *text;
	size_t len;
	int rc = read_checkpoints(dir, path, sizeof path, &text, &len);
	if (rc)
		return rc;
	while (len && tk_jsonl_blank(text + len - 1, 1))
		len--;
	const char *nl = memrchr(text, '\n', len);
	size_t start = nl ? (size_t)(nl - text) + 1 : 0;
	cJSON *o = len ? checkpoint_record(text + start, len - start) : NULL;
	free(text);
	if (!o)
		return tk_fail(TK_EDATA, len ? "%s: the last line is not a checkpoint record"
				       : "%s: holds no checkpoint record", path);
	const cJSON *p = cJSON_GetObjectItem(o, "path"), *st = cJSON_GetObjectItem(o, "step");
	snprintf(name, cap, "%s", p->valuestring);
	*step = (int64_t)st->valuedouble;
	*record = o;
	return TK_OK;
}

int tk_run_trim_metrics(const char *dir, int64_t step)
{
	char path[4096], *text;
	join(path, sizeof path, dir, "metrics.jsonl");
	if (tk_read_text(path, (size_t)1 << 30, &text, NULL))
		return TK_OK; // no metrics yet: nothing to trim
	size_t at = 0;
	char *keep = malloc(strlen(text) + 1);
	if (!keep) {
		free(text);
		return tk_fail(TK_EOSERR, "out of memory trimming %s", path);
	}
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *o = cJSON_Parse(line);
		const cJSON *s = cJSON_GetObjectItem(o, "step");
		if (cJSON_IsNumber(s) && s->valuedouble <= (double)step)
			at += (size_t)sprintf(keep + at, "%s\n", line);
		cJSON_Delete(o);
	}
	keep[at] = 0;
	int rc = tk_write_text(path, keep, at);
	free(keep);
	free(text);
	return rc;
}
