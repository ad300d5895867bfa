/* Reports and per-record lines as JSON, and a report as a table for
 * people (--table). */
#include "eval_internal.h"
#include "tk_eval.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>

/* ---- building JSON -------------------------------------------------------- */

eval_json eval_json_new(void)
{
	eval_json j = {cJSON_CreateObject(), 1};
	j.ok = j.o != NULL;
	return j;
}

static void added(eval_json *j, const void *item)
{
	j->ok = j->ok && item;
}

void eval_json_number(eval_json *j, const char *key, double v)
{
	added(j, cJSON_AddNumberToObject(j->o, key, v));
}

void eval_json_finite(eval_json *j, const char *key, double v)
{
	if (isfinite(v))
		eval_json_number(j, key, v);
	else
		added(j, cJSON_AddNullToObject(j->o, key));
}

void eval_json_string(eval_json *j, const char *key, const char *s)
{
	added(j, s ? cJSON_AddStringToObject(j->o, key, s) : cJSON_AddNullToObject(j->o, key));
}

void eval_json_bool(eval_json *j, const char *key, int v)
{
	added(j, cJSON_AddBoolToObject(j->o, key, v));
}

void eval_json_item(eval_json *j, const char *key, const cJSON *item, int copy)
{
	cJSON *it = copy && item ? cJSON_Duplicate(item, 1) : (cJSON *)item;
	if (it && j->o && cJSON_AddItemToObject(j->o, key, it))
		return;
	cJSON_Delete(it);
	j->ok = 0;
}

void eval_json_sources(eval_json *j, const char *model, const char *adapter)
{
	eval_json_string(j, "model", model);
	eval_json_string(j, "adapter", adapter);
}

int eval_json_take(eval_json *j, char **out)
{
	*out = j->ok ? cJSON_PrintUnformatted(j->o) : NULL;
	cJSON_Delete(j->o);
	j->o = NULL;
	return *out ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
}

/* ---- the table -------------------------------------------------------------- */

/* "key  value" rows of o's scalar members, objects flattened
 * ("pass@k": {"4": x} -> "pass@4"); a row past 511 bytes is cut. */
static void table_rows(sbuf *b, const cJSON *o, const char *prefix)
{
	char row[512];
	for (const cJSON *it = o->child; it; it = it->next) {
		char key[128];
		snprintf(key, sizeof key, "%s%s", prefix, it->string);
		if (cJSON_IsObject(it)) {
			char sub[128];
			size_t len = strlen(it->string);
			len -= len && it->string[len - 1] == 'k';
			snprintf(sub, sizeof sub, "%.*s", (int)len, it->string);
			table_rows(b, it, sub);
			continue;
		}
		if (cJSON_IsNumber(it) && it->valuedouble != floor(it->valuedouble))
			snprintf(row, sizeof row, "%-14s %.6f", key, it->valuedouble);
		else if (cJSON_IsNumber(it))
			snprintf(row, sizeof row, "%-14s %.0f", key, it->valuedouble);
		else if (cJSON_IsString(it))
			snprintf(row, sizeof row, "%-14s %s", key, it->valuestring);
		else if (cJSON_IsNull(it))
			snprintf(row, sizeof row, "%-14s -", key);
		else
			continue;
		sbuf_puts(b, row);
		sbuf_putc(b, '\n');
	}
}

int tk_eval_report_table(const char *json, char **table)
{
	*table = NULL;
	cJSON *o = cJSON_Parse(json);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return tk_fail(TK_EDATA, "a report is a JSON object");
	}
	sbuf b = {0};
	table_rows(&b, o, "");
	cJSON_Delete(o);
	return sbuf_take(&b, table);
}
