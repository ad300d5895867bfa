/* tk-eval: measure a model.  `score` grades sampled texts against reference
 * answers, `nll` measures a token stream's negative log-likelihood, and
 * `choice` answers multiple-choice questions by the logprob of each
 * option.  Each prints one JSON report (or --table).  See tk-eval(1); the
 * work is in lib/eval*.c. */
#include "cli/tk_cli.h"
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_progress.h"
#include "tk_render.h"
#include "tk_tks.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- JSON Lines --------------------------------------------------------- */

static const char *shown_name(const char *path)
{
	return strcmp(path, "-") ? path : "stdin";
}

/* The one input operand ("-" when none). */
static const char *single_input(const tk_cli *cli, int argc, char **argv)
{
	if (cli->first_operand < argc - 1)
		tk_die(TK_EUSAGE, "one input at most (got %d); concatenate them with cat",
		       argc - cli->first_operand);
	return cli->first_operand < argc ? argv[cli->first_operand] : "-";
}

/* Called with each line that is not blank; a non-zero return stops the
 * reading and is reported as "PATH:LINE: message". */
typedef int (*line_fn)(void *ctx, const char *line, size_t len, uint64_t number);

static void read_lines(const char *path, line_fn fn, void *ctx, tk_progress *p)
{
	FILE *in;
	tk_check(tk_open_input(&in, path));
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	uint64_t number = 0;
	while ((got = getline(&line, &cap, in)) > 0) {
		size_t len = (size_t)got;
		number++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (tk_jsonl_blank(line, len))
			continue;
		int rc = fn(ctx, line, len, number);
		if (rc)
			tk_die(rc, "%s:%" PRIu64 ": %s", shown_name(path), number, tk_error_message());
		if (p)
			tk_progress_update(p, number);
	}
	int failed = ferror(in);
	free(line);
	tk_close_input(in);
	if (failed)
		tk_die(TK_EIO, "%s: read error", shown_name(path));
}

/* An id or answer as text: a string as it is, a number as JSON writes it
 * ("72", "0.5"); NULL for anything else. */
static char *scalar_text(const cJSON *v)
{
	if (cJSON_IsString(v))
		return tk_strdup(v->valuestring);
	if (cJSON_IsNumber(v))
		return cJSON_PrintUnformatted(v);
	return NULL;
}

/* A reference: a string, a number, or a non-empty array of them (any
 * one acceptable). */
static int is_reference(const cJSON *v)
{
	if (cJSON_IsString(v) || cJSON_IsNumber(v))
		return 1;
	if (!cJSON_IsArray(v) || !v->child)
		return 0;
	for (const cJSON *it = v->child; it; it = it->next)
		if (!cJSON_IsString(it) && !cJSON_IsNumber(it))
			return 0;
	return 1;
}

/* ---- reports ------------------------------------------------------------ */

static void write_text(tk_outfile *out, const char *text)
{
	int rc = tk_outfile_write(out, text, strlen(text));
	if (!rc)
		rc = tk_outfile_write(out, "\n", 1);
	if (rc) {
		tk_outfile_abort(out);
		tk_check(rc);
	}
}

static void write_json(tk_outfile *out, cJSON *o)
{
	char *text = cJSON_PrintUnformatted(o);
	if (!text)
		tk_die(TK_EOSERR, "out of memory");
	write_text(out, text);
	free(text);
}

/* NaN and infinities as null: JSON has no such numbers. */
static void add_number(cJSON *o, const char *key, double v)
{
	if (isfinite(v))
		cJSON_AddNumberToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

/* --table: "key  value" rows of the report's scalar members, objects
 * flattened ("pass@k 4" -> "pass@4"). */
static void table_rows(tk_outfile *out, const cJSON *o, const char *prefix)
{
	char row[512];
	for (const cJSON *it = o->child; it; it = it->next) {
		char key[128];
		snprintf(key, sizeof key, "%s%s", prefix, it->string);
		if (cJSON_IsObject(it)) {
			/* "pass@k": {"4": x} -> "pass@4" */
			char sub[128];
			size_t len = strlen(it->string);
			len -= len && it->string[len - 1] == 'k';
			snprintf(sub, sizeof sub, "%.*s", (int)len, it->string);
			table_rows(out, it, sub);
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
		write_text(out, row);
	}
}

static void emit_report(const tk_cli *cli, cJSON *report, int table)
{
	tk_outfile *out;
	tk_check(tk_outfile_open(&out, cli->output, 0));
	if (table)
		table_rows(out, report, "");
	else
		write_json(out, report);
	tk_check(tk_outfile_commit(out));
	cJSON_Delete(report);
}

/* --per-record FILE: one JSON line per sample, record or question.  A
 * run that dies on bad input or a failed write leaves no part of it (the
 * library removes uncommitted files at exit). */
static tk_outfile *open_per_record(const char *path)
{
	if (!path)
		return NULL;
	tk_outfile *out;
	tk_check(tk_outfile_open(&out, path, 0));
	return out;
}

static void close_per_record(tk_outfile *out)
{
	if (out)
		tk_check(tk_outfile_commit(out));
}

/* ---- tk-eval score ------------------------------------------------------ */

static const tk_option score_options[] = {
	{"task", 0, "TASK", "exact, number, boxed or choice: how answers are read and compared"},
	{"answers", 0, "FILE", "reference answers as JSON Lines {\"id\", \"answer\"} (default: meta.answer)"},
	{"answer-key", 0, "KEY", "the meta field holding the reference (default: answer, then reference)"},
	{"k", 'k', "LIST", "pass@k for these k, e.g. 1,4,16 (default: 1 and powers of two)"},
	{"per-record", 0, "FILE", "write each sample's verdict to FILE as JSON Lines"},
	{"table", 0, NULL, "print a table for people instead of JSON"},
	{0, 0, 0, 0}
};
enum { SC_TASK, SC_ANSWERS, SC_ANSWER_KEY, SC_K, SC_PER_RECORD, SC_TABLE };

#define MAX_K 32

typedef struct score_job {
	int task, table;
	const char *input, *answers_path, *answer_key, *per_record_path;
	size_t ks[MAX_K], n_ks;
	tk_eval_map *answers;      /* NULL without --answers */
	tk_eval_groups *groups;
	tk_outfile *per_record;
	uint64_t n, correct, answered;
} score_job;

static void parse_k_list(tk_cli *cli, score_job *j, const char *list)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", list);
	j->n_ks = 0;
	for (char *save, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (j->n_ks == MAX_K)
			tk_die(TK_EUSAGE, "-k: at most %d values", MAX_K);
		j->ks[j->n_ks++] = (size_t)tk_cli_int(cli, "k", item, 1, 1 << 30);
	}
	if (!j->n_ks)
		tk_die(TK_EUSAGE, "-k: no value in '%s'", list);
}

static void parse_score_options(tk_cli *cli, score_job *j, int argc, char **argv)
{
	const char *v;
	int o;
	j->task = -1;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0) {
		switch (o) {
		case SC_TASK:
			if ((j->task = tk_eval_task_parse(v)) < 0)
				tk_die(TK_EUSAGE, "--task: '%s' is not exact, number, boxed or choice", v);
			break;
		case SC_ANSWERS: j->answers_path = v; break;
		case SC_ANSWER_KEY: j->answer_key = v; break;
		case SC_K: parse_k_list(cli, j, v); break;
		case SC_PER_RECORD: j->per_record_path = v; break;
		case SC_TABLE: j->table = 1; break;
		}
	}
	if (j->task < 0)
		tk_die(TK_EUSAGE, "--task is needed: exact, number, boxed or choice");
	j->input = single_input(cli, argc, argv);
}

/* The key samples and answers are matched by: a string id as it is, a
 * number as JSON writes it, so that "7" and 7 are the same prompt. */
static char *id_key(const cJSON *id)
{
	char *key = scalar_text(id);
	return key ? key : cJSON_PrintUnformatted(id);
}

static int answers_line(void *ctx, const char *line, size_t len, uint64_t number)
{
	(void)number;
	score_job *j = ctx;
	cJSON *o = tk_jsonl_parse(line, len);
	if (!o)
		return TK_EDATA;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	const cJSON *answer = cJSON_GetObjectItemCaseSensitive(o, j->answer_key ? j->answer_key : "answer");
	if (!answer && !j->answer_key)
		answer = cJSON_GetObjectItemCaseSensitive(o, "reference");
	char *key = id ? id_key(id) : NULL;
	char *text = is_reference(answer) ? cJSON_PrintUnformatted(answer) : NULL;
	int rc = TK_OK, replaced = 0;
	if (!id)
		rc = tk_fail(TK_EDATA, "no \"id\"");
	else if (!text)
		rc = tk_fail(TK_EDATA, "no \"%s\" (a string, a number or an array of them)",
			     j->answer_key ? j->answer_key : "answer");
	else if (!key || tk_eval_map_put(j->answers, key, text, &replaced))
		rc = tk_fail(TK_EOSERR, "out of memory");
	else if (replaced)
		rc = tk_fail(TK_EDATA, "id %s appears twice", key);
	free(key);
	free(text);
	cJSON_Delete(o);
	return rc;
}

static void load_answers(score_job *j)
{
	tk_check(tk_eval_map_new(&j->answers));
	read_lines(j->answers_path, answers_line, j, NULL);
	if (!tk_eval_map_count(j->answers))
		tk_die(TK_EDATA, "%s: no answers in it", shown_name(j->answers_path));
}

/* The reference of a sample: --answers by id (*owned, parsed from the
 * file's text), else the meta field (into o). */
static int find_reference(const score_job *j, const cJSON *o, const char *key,
			  cJSON **owned, const cJSON **out)
{
	*owned = NULL;
	*out = NULL;
	if (j->answers) {
		if (!key)
			return tk_fail(TK_EDATA, "no \"id\" to look up in %s", shown_name(j->answers_path));
		const char *ref = tk_eval_map_get(j->answers, key);
		if (!ref)
			return tk_fail(TK_EDATA, "id %s is not in %s", key, shown_name(j->answers_path));
		*out = *owned = cJSON_Parse(ref);
		return *owned ? TK_OK : tk_fail(TK_EOSERR, "out of memory");
	}
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "meta");
	const char *names[] = {j->answer_key, "answer", "reference"};
	for (int i = j->answer_key ? 0 : 1; i < (j->answer_key ? 1 : 3) && !*out; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, names[i]);
		if (!v)
			v = cJSON_GetObjectItemCaseSensitive(o, names[i]);
		*out = is_reference(v) ? v : NULL;
	}
	if (!*out)
		return tk_fail(TK_EDATA, "no reference answer (meta.%s%s, or --answers FILE)",
			       j->answer_key ? j->answer_key : "answer",
			       j->answer_key ? "" : " or meta.reference");
	return TK_OK;
}

static void per_sample(score_job *j, const cJSON *o, uint64_t number, const char *answer,
		       const char *reference, int correct)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "line", (double)number);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	const cJSON *sample = cJSON_GetObjectItemCaseSensitive(o, "sample");
	if (id)
		cJSON_AddItemToObject(r, "id", cJSON_Duplicate(id, 1));
	if (sample)
		cJSON_AddItemToObject(r, "sample", cJSON_Duplicate(sample, 1));
	if (answer)
		cJSON_AddStringToObject(r, "answer", answer);
	else
		cJSON_AddNullToObject(r, "answer");
	cJSON_AddStringToObject(r, "reference", reference);
	cJSON_AddBoolToObject(r, "correct", correct);
	write_json(j->per_record, r);
	cJSON_Delete(r);
}

#define MAX_REFERENCES 64

/* Grades the text against the reference (any of its alternatives). */
static int grade(score_job *j, const cJSON *o, uint64_t number, const char *text,
		 const cJSON *reference, const char *group)
{
	char *owned[MAX_REFERENCES];
	const char *refs[MAX_REFERENCES];
	size_t n = 0;
	int rc = TK_OK;
	const cJSON *it = cJSON_IsArray(reference) ? reference->child : reference;
	for (; it; it = cJSON_IsArray(reference) ? it->next : NULL) {
		if (n == MAX_REFERENCES) {
			rc = tk_fail(TK_EDATA, "more than %d acceptable answers", MAX_REFERENCES);
			break;
		}
		if (!(owned[n] = scalar_text(it))) {
			rc = tk_fail(TK_EOSERR, "out of memory");
			break;
		}
		refs[n] = owned[n];
		n++;
	}
	tk_eval_verdict v = {0};
	if (!rc)
		rc = tk_eval_grade(j->task, text, refs, n, &v);
	if (!rc)
		rc = tk_eval_groups_add(j->groups, group, v.correct);
	if (!rc) {
		j->n++;
		j->correct += v.correct;
		j->answered += v.answer != NULL;
		if (j->per_record)
			per_sample(j, o, number, v.answer, v.reference, v.correct);
	}
	tk_eval_verdict_free(&v);
	for (size_t i = 0; i < n; i++)
		free(owned[i]);
	return rc;
}

static int score_line(void *ctx, const char *line, size_t len, uint64_t number)
{
	score_job *j = ctx;
	cJSON *o = tk_jsonl_parse(line, len);
	if (!o)
		return TK_EDATA;
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	char *key = id ? id_key(id) : NULL, group[32];
	cJSON *owned = NULL;
	const cJSON *ref = NULL;
	int rc = TK_OK;
	if (!cJSON_IsString(text))
		rc = tk_fail(TK_EDATA, "no \"text\" string (the sample's completion)");
	if (!rc)
		rc = find_reference(j, o, key, &owned, &ref);
	if (!key)
		/* its own prompt, under a key no id spells */
		snprintf(group, sizeof group, "\x1fline %" PRIu64, number);
	if (!rc)
		rc = grade(j, o, number, text->valuestring, ref, key ? key : group);
	free(key);
	cJSON_Delete(owned);
	cJSON_Delete(o);
	return rc;
}

/* Default k: 1 and the powers of two up to the fewest samples a prompt
 * has, and that number itself. */
static void default_ks(score_job *j)
{
	size_t min = tk_eval_groups_min_size(j->groups);
	j->n_ks = 0;
	for (size_t k = 1; k <= min && j->n_ks < MAX_K; k *= 2)
		j->ks[j->n_ks++] = k;
	if (min > 1 && j->ks[j->n_ks - 1] != min && j->n_ks < MAX_K)
		j->ks[j->n_ks++] = min;
}

static cJSON *score_report(score_job *j)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "task", tk_eval_task_name(j->task));
	add_number(r, "accuracy", (double)j->correct / (double)j->n);
	cJSON_AddNumberToObject(r, "n", (double)j->n);
	cJSON_AddNumberToObject(r, "correct", (double)j->correct);
	cJSON_AddNumberToObject(r, "answered", (double)j->answered);
	cJSON_AddNumberToObject(r, "prompts", (double)tk_eval_groups_count(j->groups));
	if (!j->n_ks)
		default_ks(j);
	cJSON *pass = cJSON_AddObjectToObject(r, "pass@k");
	for (size_t i = 0; i < j->n_ks; i++) {
		char key[32];
		size_t used;
		snprintf(key, sizeof key, "%zu", j->ks[i]);
		double p = tk_eval_groups_pass_at_k(j->groups, j->ks[i], &used);
		add_number(pass, key, p);
		if (used < tk_eval_groups_count(j->groups))
			tk_warn("pass@%zu: over the %zu of %zu prompts with at least %zu samples",
				j->ks[i], used, tk_eval_groups_count(j->groups), j->ks[i]);
	}
	return r;
}

static int run_score(tk_cli *cli, int argc, char **argv)
{
	score_job j = {0};
	parse_score_options(cli, &j, argc, argv);
	if (j.answers_path)
		load_answers(&j);
	tk_check(tk_eval_groups_new(&j.groups));
	j.per_record = open_per_record(j.per_record_path);
	tk_progress p = {0};
	tk_progress_start(&p, "score", "lines", 0, cli->quiet);
	read_lines(j.input, score_line, &j, &p);
	tk_progress_finish(&p);
	if (j.n == 0)
		tk_die(TK_EDATA, "%s: no samples in it", shown_name(j.input));
	close_per_record(j.per_record);
	emit_report(cli, score_report(&j), j.table);
	tk_eval_groups_free(j.groups);
	tk_eval_map_free(j.answers);
	return 0;
}

/* ---- the model (nll, choice) -------------------------------------------- */

typedef struct model_job {
	const char *model_path, *adapter_path, *per_record_path;
	int table;
	tk_model *model;
	tk_lora *adapter;
	tk_eval_scorer *scorer;
	char tok_fp[17];
} model_job;

static void load_model(model_job *m, const tk_cli *cli, size_t slots)
{
	if (!m->model_path)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	if (tk_model_load(&m->model, m->model_path))
		tk_die(TK_ENOINPUT, "%s", tk_error_message());
	if (!m->model->tokenizer)
		tk_die(TK_ECONFIG, "%s: the model has no tokenizer", m->model_path);
	snprintf(m->tok_fp, sizeof m->tok_fp, "%016" PRIx64,
		 tk_tokenizer_fingerprint(m->model->tokenizer));
	/* a missing file is missing input (66), not bad data */
	if (m->adapter_path && strcmp(m->adapter_path, "-") && access(m->adapter_path, R_OK))
		tk_die(TK_ENOINPUT, "%s: cannot open: %s", m->adapter_path, strerror(errno));
	int rc = m->adapter_path ? tk_lora_load(&m->adapter, m->adapter_path, m->model) : TK_OK;
	if (rc)
		tk_die(rc, "%s", tk_error_message());
	tk_check(tk_eval_scorer_open(&m->scorer, cli->backend, cli->threads, m->model, m->adapter,
				     slots));
}

static void unload_model(model_job *m)
{
	tk_eval_scorer_close(m->scorer);
	tk_lora_free(m->adapter);
	tk_model_free(m->model);
}

static void add_sources(cJSON *r, const model_job *m)
{
	cJSON_AddStringToObject(r, "model", m->model_path);
	if (m->adapter_path)
		cJSON_AddStringToObject(r, "adapter", m->adapter_path);
	else
		cJSON_AddNullToObject(r, "adapter");
}

/* ---- tk-eval nll -------------------------------------------------------- */

static const tk_option nll_options[] = {
	{"model", 'm', "MODEL", "the model (HF folder, .gguf, .tkc)"},
	{"adapter", 'a', "ADAPTER", "a LoRA adapter (.tkc) applied to the model"},
	{"per-record", 0, "FILE", "write each record's NLL to FILE as JSON Lines"},
	{"table", 0, NULL, "print a table for people instead of JSON"},
	{0, 0, 0, 0}
};
enum { NL_MODEL, NL_ADAPTER, NL_PER_RECORD, NL_TABLE };

/* The options nll and choice share, first in both tables: 1 when o was
 * one of them. */
static int model_option(model_job *m, int o, const char *v)
{
	switch (o) {
	case NL_MODEL: m->model_path = v; return 1;
	case NL_ADAPTER: m->adapter_path = v; return 1;
	case NL_PER_RECORD: m->per_record_path = v; return 1;
	case NL_TABLE: m->table = 1; return 1;
	}
	return 0;
}

/* The stream's tokens must be the model tokenizer's. */
static void check_stream(const tk_tks_reader *r, const model_job *m, const char *input)
{
	cJSON *meta = cJSON_Parse(tk_tks_reader_meta(r));
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
	char stream_fp[64] = "";
	if (cJSON_IsString(fp))
		snprintf(stream_fp, sizeof stream_fp, "%s", fp->valuestring);
	cJSON_Delete(meta);
	if (stream_fp[0] && strcmp(stream_fp, m->tok_fp))
		tk_die(TK_EDATA, "%s was rendered with tokenizer %s, but %s has tokenizer %s",
		       shown_name(input), stream_fp, m->model_path, m->tok_fp);
}

/* Bytes of each token's text; special tokens (<|im_end|>) count none. */
static void token_bytes(const tk_tokenizer *tok, const tk_record *rec, uint32_t *bytes)
{
	for (size_t i = 0; i < rec->n; i++) {
		size_t len = 0;
		if (!tk_tokenizer_is_special(tok, rec->tokens[i]))
			tk_tokenizer_piece(tok, rec->tokens[i], &len);
		bytes[i] = (uint32_t)len;
	}
}

typedef struct nll_buffers {
	float *logprob;
	uint32_t *bytes;
	size_t cap;
} nll_buffers;

static void grow_buffers(nll_buffers *b, size_t n)
{
	if (n <= b->cap)
		return;
	free(b->logprob);
	free(b->bytes);
	b->logprob = tk_malloc(n * sizeof *b->logprob);
	b->bytes = tk_malloc(n * sizeof *b->bytes);
	if (!b->logprob || !b->bytes)
		tk_die(TK_EOSERR, "%s", tk_error_message());
	b->cap = n;
}

static void per_nll_record(tk_outfile *out, uint64_t index, const tk_eval_nll *acc)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "record", (double)index);
	add_number(r, "nll", tk_eval_nll_mean(acc));
	cJSON_AddNumberToObject(r, "tokens", (double)acc->tokens);
	cJSON_AddNumberToObject(r, "nats", acc->nats);
	cJSON_AddNumberToObject(r, "weight", acc->weight);
	cJSON_AddNumberToObject(r, "bytes", acc->bytes);
	write_json(out, r);
	cJSON_Delete(r);
}

static int has_weight(const tk_record *rec)
{
	for (size_t i = 1; i < rec->n; i++)
		if (rec->weights[i] != 0)
			return 1;
	return 0;
}

/* Scores every record; returns the totals. */
static tk_eval_nll score_stream(model_job *m, tk_tks_reader *r, const char *input,
				tk_outfile *per, int quiet)
{
	tk_eval_nll total = {0};
	nll_buffers buf = {0};
	tk_record rec;
	tk_record_init(&rec);
	tk_progress p = {0};
	tk_progress_start(&p, "nll", "records", 0, quiet);
	int rc;
	while ((rc = tk_tks_read(r, &rec)) == TK_OK) {
		uint64_t index = tk_tks_reader_count(r);
		grow_buffers(&buf, rec.n);
		tk_eval_nll one = {0};
		if (has_weight(&rec)) {
			rc = tk_eval_scorer_sequence(m->scorer, rec.tokens, rec.n, buf.logprob);
			if (rc)
				tk_die(rc, "%s: record %" PRIu64 ": %s", shown_name(input), index,
				       tk_error_message());
			token_bytes(m->model->tokenizer, &rec, buf.bytes);
			tk_eval_nll_add(&one, buf.logprob, rec.weights, buf.bytes, rec.n);
		} else {
			one.records = 1;
		}
		total.nats += one.nats;
		total.weight += one.weight;
		total.bytes += one.bytes;
		total.tokens += one.tokens;
		total.records++;
		if (per)
			per_nll_record(per, index, &one);
		tk_progress_update(&p, index);
	}
	tk_check(rc);
	tk_progress_finish(&p);
	tk_record_free(&rec);
	free(buf.logprob);
	free(buf.bytes);
	return total;
}

static cJSON *nll_report(const tk_eval_nll *t, const model_job *m)
{
	cJSON *r = cJSON_CreateObject();
	add_number(r, "nll", tk_eval_nll_mean(t));
	add_number(r, "ppl", tk_eval_nll_ppl(t));
	add_number(r, "bpb", tk_eval_nll_bpb(t));
	cJSON_AddNumberToObject(r, "tokens", (double)t->tokens);
	cJSON_AddNumberToObject(r, "weight", t->weight);
	cJSON_AddNumberToObject(r, "bytes", t->bytes);
	cJSON_AddNumberToObject(r, "records", (double)t->records);
	add_sources(r, m);
	return r;
}

static int run_nll(tk_cli *cli, int argc, char **argv)
{
	model_job m = {0};
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0)
		model_option(&m, o, v);
	const char *input = single_input(cli, argc, argv);
	if (!m.model_path)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	tk_tks_reader *r;
	tk_check(tk_tks_reader_open(&r, input));
	load_model(&m, cli, 1);
	check_stream(r, &m, input);
	tk_outfile *per = open_per_record(m.per_record_path);
	tk_eval_nll total = score_stream(&m, r, input, per, cli->quiet);
	tk_tks_reader_close(r);
	if (total.tokens == 0)
		tk_die(TK_EDATA, "%s: no trained token (every weight is 0) in %" PRIu64 " records",
		       shown_name(input), total.records);
	close_per_record(per);
	emit_report(cli, nll_report(&total, &m), m.table);
	unload_model(&m);
	return 0;
}

/* ---- tk-eval choice ----------------------------------------------------- */

static const tk_option choice_options[] = {
	{"model", 'm', "MODEL", "the model (HF folder, .gguf, .tkc)"},
	{"adapter", 'a', "ADAPTER", "a LoRA adapter (.tkc) applied to the model"},
	{"per-record", 0, "FILE", "write each question's scores to FILE as JSON Lines"},
	{"table", 0, NULL, "print a table for people instead of JSON"},
	{"raw", 0, NULL, "the question as raw text, not a chat message"},
	{"renderer", 'r', "NAME", "chat renderer (default: detected from the model)"},
	{"length-normalize", 0, NULL, "pick by logprob per byte of the choice, not the sum"},
	{"letters", 0, NULL, "list the choices as A. B. ... and score the letters (MMLU style)"},
	{0, 0, 0, 0}
};
enum { CH_RAW = NL_TABLE + 1, CH_RENDERER, CH_LENGTH_NORMALIZE, CH_LETTERS };

/* The questions, read and checked before the model is loaded. */
typedef struct question_list {
	char **lines;             /* (n) */
	uint64_t *numbers;        /* (n) line numbers */
	size_t n, cap, max_choices;
	tk_eval_question q;       /* scratch */
} question_list;

static int question_line(void *ctx, const char *line, size_t len, uint64_t number)
{
	question_list *l = ctx;
	int rc = tk_eval_question_parse(&l->q, line, len);
	if (rc)
		return rc;
	if (l->q.n_choices > l->max_choices)
		l->max_choices = l->q.n_choices;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **lines = tk_realloc(l->lines, cap * sizeof *lines);
		uint64_t *numbers = lines ? tk_realloc(l->numbers, cap * sizeof *numbers) : NULL;
		if (lines)
			l->lines = lines;
		if (!numbers)
			return TK_EOSERR;
		l->numbers = numbers;
		l->cap = cap;
	}
	l->numbers[l->n] = number;
	l->lines[l->n] = tk_strdup(line);
	return l->lines[l->n++] ? TK_OK : TK_EOSERR;
}

typedef struct choice_job {
	model_job m;
	const char *input, *renderer_name;
	int raw, normalize, letters;
	tk_renderer *renderer;
	tk_eval_choice_tokens tokens;
	double *sums, *norms;     /* (max choices) */
	const int32_t **conts;
	size_t *lens;
	uint64_t n, correct_sum, correct_norm;
} choice_job;

static void per_question(tk_outfile *out, uint64_t number, const choice_job *j,
			 size_t k, size_t pred, size_t answer)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "line", (double)number);
	cJSON *sums = cJSON_AddArrayToObject(r, "logprobs");
	cJSON *norms = cJSON_AddArrayToObject(r, "per_byte");
	for (size_t c = 0; c < k; c++) {
		cJSON_AddItemToArray(sums, cJSON_CreateNumber(j->sums[c]));
		cJSON_AddItemToArray(norms, cJSON_CreateNumber(j->norms[c]));
	}
	cJSON_AddNumberToObject(r, "pred", (double)pred);
	cJSON_AddNumberToObject(r, "answer", (double)answer);
	cJSON_AddBoolToObject(r, "correct", pred == answer);
	write_json(out, r);
	cJSON_Delete(r);
}

static int answer_question(choice_job *j, tk_eval_question *q, uint64_t number,
			   tk_outfile *per)
{
	const tk_tokenizer *tok = j->m.model->tokenizer;
	int rc = tk_eval_choice_tokenize(q, j->renderer, tok,
					 j->letters ? TK_EVAL_CHOICE_LETTERS : 0, &j->tokens);
	size_t k = q->n_choices;
	for (size_t c = 0; !rc && c < k; c++) {
		j->conts[c] = j->tokens.cont[c].ids;
		j->lens[c] = j->tokens.cont[c].n;
	}
	if (!rc)
		rc = tk_eval_scorer_choices(j->m.scorer, j->tokens.prompt.ids, j->tokens.prompt.n,
					    j->conts, j->lens, k, j->sums);
	if (rc)
		return rc;
	for (size_t c = 0; c < k; c++)
		j->norms[c] = j->sums[c] / (double)(j->tokens.bytes[c] ? j->tokens.bytes[c] : 1);
	size_t by_sum = tk_eval_argmax(j->sums, k), by_norm = tk_eval_argmax(j->norms, k);
	j->n++;
	j->correct_sum += by_sum == q->answer;
	j->correct_norm += by_norm == q->answer;
	if (per)
		per_question(per, number, j, k, j->normalize ? by_norm : by_sum, q->answer);
	return TK_OK;
}

static void parse_choice_options(tk_cli *cli, choice_job *j, int argc, char **argv)
{
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0) {
		if (model_option(&j->m, o, v))
			continue;
		switch (o) {
		case CH_RAW: j->raw = 1; break;
		case CH_RENDERER: j->renderer_name = v; break;
		case CH_LENGTH_NORMALIZE: j->normalize = 1; break;
		case CH_LETTERS: j->letters = 1; break;
		}
	}
	j->input = single_input(cli, argc, argv);
	if (!j->m.model_path)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	if (j->raw && j->renderer_name)
		tk_die(TK_EUSAGE, "--raw and --renderer exclude each other");
}

static void open_choice_buffers(choice_job *j, size_t k)
{
	j->sums = tk_calloc(k, sizeof *j->sums);
	j->norms = tk_calloc(k, sizeof *j->norms);
	j->conts = tk_calloc(k, sizeof *j->conts);
	j->lens = tk_calloc(k, sizeof *j->lens);
	if (!j->sums || !j->norms || !j->conts || !j->lens)
		tk_die(TK_EOSERR, "%s", tk_error_message());
	if (j->raw)
		return;
	const tk_tokenizer *tok = j->m.model->tokenizer;
	int rc = j->renderer_name ? tk_renderer_open(&j->renderer, j->renderer_name, tok)
				  : tk_renderer_detect(&j->renderer, tok);
	if (rc)
		tk_die(rc, "%s: %s", j->m.model_path, tk_error_message());
}

static cJSON *choice_report(const choice_job *j)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "task", "choice");
	double n = (double)j->n;
	add_number(r, "accuracy", (double)(j->normalize ? j->correct_norm : j->correct_sum) / n);
	cJSON_AddNumberToObject(r, "n", n);
	cJSON_AddNumberToObject(r, "correct", (double)(j->normalize ? j->correct_norm
								    : j->correct_sum));
	add_number(r, "accuracy_sum", (double)j->correct_sum / n);
	add_number(r, "accuracy_norm", (double)j->correct_norm / n);
	cJSON_AddStringToObject(r, "scoring", j->normalize ? "per-byte" : "sum");
	cJSON_AddStringToObject(r, "format", j->renderer ? tk_renderer_name(j->renderer) : "raw");
	cJSON_AddStringToObject(r, "prompt", j->letters ? "letters" : "cloze");
	add_sources(r, &j->m);
	return r;
}

static int run_choice(tk_cli *cli, int argc, char **argv)
{
	choice_job j = {0};
	parse_choice_options(cli, &j, argc, argv);
	question_list l = {0};
	read_lines(j.input, question_line, &l, NULL);
	if (l.n == 0)
		tk_die(TK_EDATA, "%s: no questions in it", shown_name(j.input));
	load_model(&j.m, cli, l.max_choices);
	open_choice_buffers(&j, l.max_choices);
	tk_outfile *per = open_per_record(j.m.per_record_path);
	tk_progress p = {0};
	tk_progress_start(&p, "choice", "questions", l.n, cli->quiet);
	for (size_t i = 0; i < l.n; i++) {
		int rc = tk_eval_question_parse(&l.q, l.lines[i], strlen(l.lines[i]));
		if (!rc)
			rc = answer_question(&j, &l.q, l.numbers[i], per);
		if (rc)
			tk_die(rc, "%s:%" PRIu64 ": %s", shown_name(j.input), l.numbers[i],
			       tk_error_message());
		free(l.lines[i]);
		tk_progress_update(&p, i + 1);
	}
	tk_progress_finish(&p);
	close_per_record(per);
	emit_report(cli, choice_report(&j), j.m.table);
	tk_eval_question_free(&l.q);
	free(l.lines);
	free(l.numbers);
	tk_eval_choice_tokens_free(&j.tokens);
	tk_renderer_free(j.renderer);
	free(j.sums);
	free(j.norms);
	free(j.conts);
	free(j.lens);
	unload_model(&j.m);
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static const tk_option no_options[] = {{0, 0, 0, 0}};

static const char *const summary =
	"Measure a model: grade sampled answers (score), the NLL of a token stream (nll), "
	"multiple choice by logprob (choice).";

/* tk-eval with no subcommand, or --help / --version. */
static int run_top(int argc, char **argv)
{
	tk_cli cli = {
		.name = "tk-eval",
		.usage = "score|nll|choice [OPTIONS] FILE\n"
			 "       tk-eval SUBCOMMAND --help for its options",
		.summary = summary,
		.options = no_options,
	};
	tk_cli_init(&cli);
	const char *v;
	while (tk_cli_next(&cli, argc, argv, &v) >= 0)
		;
	if (cli.first_operand < argc)
		tk_die(TK_EUSAGE, "unknown subcommand '%s' (score, nll or choice)",
		       argv[cli.first_operand]);
	tk_die(TK_EUSAGE, "a subcommand is needed: score, nll or choice "
	       "(tk-eval --help)");
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return run_top(argc, argv);
	tk_cli cli = {.name = "tk-eval", .summary = summary};
	const char *sub = argv[1];
	if (!strcmp(sub, "score")) {
		cli.usage = "score --task exact|number|boxed|choice [--answers FILE] [OPTIONS] "
			    "[SAMPLES.jsonl|-]";
		cli.options = score_options;
		cli.summary = "Grade sampled answers against reference answers: accuracy, pass@k.";
		cli.common = TK_CLI_OUTPUT;
		tk_cli_init(&cli);
		return run_score(&cli, argc - 1, argv + 1);
	}
	if (!strcmp(sub, "nll")) {
		cli.usage = "nll -m MODEL [-a ADAPTER] [OPTIONS] [IN.tks|-]";
		cli.options = nll_options;
		cli.summary = "The NLL, perplexity and bits per byte of a token stream under a model.";
		cli.common = TK_CLI_OUTPUT | TK_CLI_THREADS | TK_CLI_BACKEND;
		tk_cli_init(&cli);
		return run_nll(&cli, argc - 1, argv + 1);
	}
	if (!strcmp(sub, "choice")) {
		cli.usage = "choice -m MODEL [-a ADAPTER] [--raw] [--letters] [--length-normalize] [OPTIONS] "
			    "[QUESTIONS.jsonl|-]";
		cli.options = choice_options;
		cli.summary = "Multiple choice by the logprob of each option's continuation.";
		cli.common = TK_CLI_OUTPUT | TK_CLI_THREADS | TK_CLI_BACKEND;
		tk_cli_init(&cli);
		return run_choice(&cli, argc - 1, argv + 1);
	}
	return run_top(argc, argv);
}

