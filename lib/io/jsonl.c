/* One JSON Lines line as the one JSON object it holds: the parser every
 * reader of JSON Lines shares (tk_io.h), so that none of them takes the
 * first object of `{"a":1} {"b":2}` and drops the rest unseen. */
#include "tk_error.h"
#include "tk_io.h"

#include <cjson/cJSON.h>
#include <string.h>

static int space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int tk_jsonl_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!space(line[i]))
			return 0;
	return 1;
}

/* Where cJSON stopped, as a 1-based column (1 when it does not say). */
static size_t column_of(const char *at, const char *line, size_t len)
{
	return at && at >= line && at <= line + len ? (size_t)(at - line) + 1 : 1;
}

/* The object of line[0, len), or NULL with a message; *end: where the
 * parse stopped. */
static cJSON *parse_prefix(const char *line, size_t len, const char **end)
{
	*end = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts(line, len, end, 0);
	if (!o) {
		tk_fail(TK_EDATA, "malformed JSON (near column %zu)", column_of(*end, line, len));
		return NULL;
	}
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		tk_fail(TK_EDATA, "not a JSON object");
		return NULL;
	}
	return o;
}

static size_t skip_space(const char *line, size_t at, size_t len)
{
	while (at < len && space(line[at]))
		at++;
	return at;
}

struct cJSON *tk_jsonl_parse(const char *line, size_t len)
{
	/* cJSON reads a C string: a NUL byte would end the line early, so
	 * only what comes before one is parsed, and the NUL is then text
	 * after a whole object, or else makes the object malformed */
	const char *nul = memchr(line, '\0', len);
	size_t upto = nul ? (size_t)(nul - line) : len;
	const char *end;
	cJSON *o = parse_prefix(line, upto, &end);
	if (!o) {
		/* JSON never holds a raw NUL byte, not even in a string */
		if (nul)
			tk_fail(TK_EDATA, "malformed JSON: a NUL byte at column %zu", upto + 1);
		return NULL;
	}
	size_t after = skip_space(line, (size_t)(end - line), len);
	if (after < len) {
		cJSON_Delete(o);
		tk_fail(TK_EDATA, "text after the JSON object (column %zu)", after + 1);
		return NULL;
	}
	return o;
}
