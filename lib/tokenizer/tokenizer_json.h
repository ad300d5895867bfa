/* JSON helpers shared by tokenizer_json.c and tokenizer_config.c.  Not a
 * public header. */
#ifndef TK_TOKENIZER_JSON_H
#define TK_TOKENIZER_JSON_H

#include <cjson/cJSON.h>

#include "tk_tokenizer.h"

/* Parses a whole file; errors name it (with the line of a syntax error). */
int tk_json_read(cJSON **out, const char *path);
/* obj[key] as a bool, dflt when absent or not a bool. */
int tk_json_flag(const cJSON *obj, const char *key, int dflt);
/* obj["type"], or "". */
const char *tk_json_type(const cJSON *obj);

/* A TemplateProcessing post-processor starting with a special token makes
 * that token bos, added to every encoding. */
void tk_json_post_processor(tk_tokenizer *t, const cJSON *node);
/* bos/eos/pad tokens, add_bos_token and chat_template. */
int tk_json_load_config(tk_tokenizer *t, const char *path);

#endif
