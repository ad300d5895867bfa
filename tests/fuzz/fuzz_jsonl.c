/* JSON Lines: tk_jsonl_parse and tk_jsonl_blank on arbitrary lines.  A
 * blank line is never an object; an object the parser accepts, printed
 * and parsed again, is the same object with its members in the same
 * order (where JSON can print it: cJSON writes a non-finite number as
 * null, and a number to within its print precision). */
#include "harness.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tk_error.h"
#include "tk_io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	return 0;
}

static int all_finite(const cJSON *j)
{
	if (cJSON_IsNumber(j) && !isfinite(j->valuedouble))
		return 0;
	for (const cJSON *c = j->child; c; c = c->next)
		if (!all_finite(c))
			return 0;
	return 1;
}

/* cJSON prints a number with 15 digits when they read back within its
 * epsilon, so a printed number may come back one unit in the last place
 * off: close enough here, since the parser under test is tk's line rule,
 * not cJSON's number printing. */
static int close_numbers(double a, double b)
{
	return a == b || fabs(a - b) <= fmax(fabs(a), fabs(b)) * 4 * DBL_EPSILON;
}

/* Structural equality in order (cJSON_Compare looks members up by name,
 * which a line with a key twice defeats). */
static int same_json(const cJSON *a, const cJSON *b)
{
	if ((a->type & 0xff) != (b->type & 0xff))
		return 0;
	if ((a->string || b->string) && (!a->string || !b->string || strcmp(a->string, b->string)))
		return 0;
	if (cJSON_IsString(a) && strcmp(a->valuestring, b->valuestring))
		return 0;
	if (cJSON_IsNumber(a) && !close_numbers(a->valuedouble, b->valuedouble))
		return 0;
	const cJSON *x = a->child, *y = b->child;
	for (; x && y; x = x->next, y = y->next)
		if (!same_json(x, y))
			return 0;
	return !x && !y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	int blank = tk_jsonl_blank(line, size);
	cJSON *o = tk_jsonl_parse(line, size);
	FUZZ_REQUIRE(!(blank && o), "a blank line parsed as an object");
	FUZZ_REQUIRE(o || *tk_error_message(), "refused without a message");
	if (o) {
		FUZZ_REQUIRE(cJSON_IsObject(o), "parsed, but not an object");
		if (all_finite(o)) {
			char *text = cJSON_PrintUnformatted(o);
			FUZZ_REQUIRE(text != NULL, "out of memory");
			cJSON *again = tk_jsonl_parse(text, strlen(text));
			FUZZ_REQUIRE(again != NULL, "printed object does not parse: %s",
				     tk_error_message());
			FUZZ_REQUIRE(same_json(o, again), "printed object parses differently");
			cJSON_Delete(again);
			free(text);
		}
		cJSON_Delete(o);
	}
	tk_error_clear();
	return 0;
}
