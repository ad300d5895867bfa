/* tk-render: chat JSON Lines to a token stream with per-token loss weights,
 * exactly as the model's chat template renders them; generation prompts,
 * preference pairs, raw text; and --show, the way back to text.  See
 * tk-render(1).  The work is in lib/render*.c; this file reads lines,
 * counts, and reports. */
#include "cli/tk_cli.h"
#include "cli/tokenizer_source.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_model.h"
#include "tk_progress.h"
#include "tk_render.h"
#include "tk_rng.h"
#include "tk_tks.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum mode { MODE_CHAT, MODE_PROMPT, MODE_PAIRS, MODE_TEXT, MODE_SHOW, MODE_JUDGE,
	    MODE_FROM_JSON };

static const tk_option options[] = {
	{"model", 'm', "MODEL", "model whose tokenizer and template to use (HF folder, .gguf, .tkc)"},
	{"renderer", 'r', "NAME", "chatml, llama3, llama3.1, qwen3, qwen3-nothink, role-colon "
	 "(default: detected)"},
	{"train-on", 0, "WHICH", "last-assistant (default), all-assistant, all or "
	 "last-assistant-turn"},
	{"max-len", 'n', "N", "truncate records to N tokens (--text: split documents)"},
	{"prompt", 0, NULL, "render generation prompts (for tk-sample)"},
	{"pairs", 0, NULL, "input is preference pairs: prompt, chosen, rejected"},
	{"judge", 0, NULL, "preference pairs as a judge's training chats (A or B, --seed order)"},
	{"both-orders", 0, NULL, "with --judge: each pair twice, its chosen reply as A, then as B"},
	{"text", 0, NULL, "input is raw text (lines, or JSON Lines with \"text\")"},
	{"show", 0, NULL, "print a token stream as text with the trained spans marked"},
	{"json", 0, NULL, "with --show: one JSON object per record"},
	{"from-json", 0, NULL, "the way back: --show --json's records (JSON Lines) to a token stream"},
	{"skip-bad", 0, NULL, "skip bad input lines (counted, reported) instead of stopping"},
	{0, 0, 0, 0}
};
enum { OPT_MODEL, OPT_RENDERER, OPT_TRAIN_ON, OPT_MAX_LEN, OPT_PROMPT, OPT_PAIRS, OPT_JUDGE,
       OPT_BOTH_ORDERS,
       OPT_TEXT, OPT_SHOW, OPT_JSON, OPT_FROM_JSON, OPT_SKIP_BAD };

typedef struct settings {
	const char *model, *renderer, *input;
	int mode, train_on, json, skip_bad;
	size_t max_len;            /* 0: no limit */
	uint64_t seed;             /* --judge: which reply is A */
	int both_orders;           /* --judge: each pair both ways */
} settings;


typedef struct counts {
	uint64_t lines, records, tokens, trained, truncated, dropped, too_long, bad;
	uint64_t first_dropped, first_too_long;
} counts;

typedef struct job {
	const settings *s;
	tk_cli *cli;
	tk_tokenizer_source m;
	tk_renderer *r;
	tk_tks_writer *w;
	tk_chat chat;
	tk_rendered out, alt;
	tk_tokens doc;
	int text_jsonl;            /* --text: the input is JSON Lines */
	int64_t next_group;
	uint64_t line;
	counts c;
} job;

/* ---- options ------------------------------------------------------------ */

static void set_mode(tk_cli *cli, settings *s, int mode)
{
	if (s->mode != MODE_CHAT && s->mode != mode) {
		fprintf(stderr, "%s: --prompt, --pairs, --judge, --text, --show and --from-json exclude each other\n",
			cli->name);
		exit(TK_EUSAGE);
	}
	s->mode = mode;
}

static void parse_options(tk_cli *cli, settings *s, int argc, char **argv)
{
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0) {
		switch (o) {
		case OPT_MODEL: s->model = v; break;
		case OPT_RENDERER: s->renderer = v; break;
		case OPT_TRAIN_ON:
			s->train_on = tk_train_on_parse(v);
			if (s->train_on < 0)
				tk_die(TK_EUSAGE, "--train-on: '%s' is not last-assistant, "
				       "all-assistant, all or last-assistant-turn", v);
			break;
		case OPT_MAX_LEN: s->max_len = (size_t)tk_cli_int(cli, "max-len", v, 1, INT32_MAX); break;
		case OPT_PROMPT: set_mode(cli, s, MODE_PROMPT); break;
		case OPT_PAIRS: set_mode(cli, s, MODE_PAIRS); break;
		case OPT_JUDGE: set_mode(cli, s, MODE_JUDGE); break;
		case OPT_BOTH_ORDERS: s->both_orders = 1; break;
		case OPT_TEXT: set_mode(cli, s, MODE_TEXT); break;
		case OPT_SHOW: set_mode(cli, s, MODE_SHOW); break;
		case OPT_JSON: s->json = 1; break;
		case OPT_FROM_JSON: set_mode(cli, s, MODE_FROM_JSON); break;
		case OPT_SKIP_BAD: s->skip_bad = 1; break;
		}
	}
	if (cli->first_operand < argc - 1)
		tk_die(TK_EUSAGE, "one input at most (got %d); concatenate them with cat",
		       argc - cli->first_operand);
	s->input = cli->first_operand < argc ? argv[cli->first_operand] : "-";
	if (s->mode != MODE_SHOW && s->mode != MODE_FROM_JSON && !s->model)
		tk_die(TK_EUSAGE, "-m MODEL is needed (its tokenizer and chat template)");
	if (s->both_orders && s->mode != MODE_JUDGE)
		tk_die(TK_EUSAGE, "--both-orders goes with --judge");
	if (s->json && s->mode != MODE_SHOW)
		tk_die(TK_EUSAGE, "--json goes with --show");
}

/* ---- the model ---------------------------------------------------------- */

/* ---- the stream's metadata ---------------------------------------------- */

static const char *const mode_names[] = {"chat", "prompt", "pairs", "text", "show", "judge"};

static void add_stops(cJSON *meta, const tk_renderer *r)
{
	const int32_t *ids;
	const char *const *strings;
	size_t n = tk_renderer_stop_tokens(r, &ids);
	cJSON *a = cJSON_AddArrayToObject(meta, "stop_tokens");
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
	n = tk_renderer_stop_strings(r, &strings);
	a = cJSON_AddArrayToObject(meta, "stop_strings");
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(strings[i]));
}

static char *stream_meta(const job *j)
{
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "tokenizer", j->m.tok_fp);
	if (j->m.model_fp[0])
		cJSON_AddStringToObject(meta, "model", j->m.model_fp);
	cJSON_AddNumberToObject(meta, "vocab_size", (double)tk_tokenizer_vocab_size(j->m.tok));
	cJSON_AddStringToObject(meta, "source", j->s->input);
	cJSON_AddStringToObject(meta, "kind", mode_names[j->s->mode]);
	if (j->r) {
		cJSON_AddStringToObject(meta, "renderer", tk_renderer_name(j->r));
		if (j->s->mode == MODE_CHAT)
			cJSON_AddStringToObject(meta, "train_on", tk_train_on_name(j->s->train_on));
		add_stops(meta, j->r);
	}
	if (j->s->max_len)
		cJSON_AddNumberToObject(meta, "max_len", (double)j->s->max_len);
	char *text = cJSON_PrintUnformatted(meta);
	cJSON_Delete(meta);
	if (!text)
		tk_die(TK_EOSERR, "out of memory");
	return text;
}

/* ---- records ------------------------------------------------------------ */

static double weight_sum(const float *w, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += w[i];
	return s;
}

static int write_record(job *j, const int32_t *ids, const float *w, size_t n,
			int64_t group, int role, const char *meta)
{
	tk_record rec;
	tk_record_init(&rec);
	rec.n = n;
	rec.tokens = (int32_t *)ids;
	rec.weights = (float *)w;
	rec.group = group;
	rec.pair_role = role;
	rec.meta = (char *)meta;
	j->c.records++;
	j->c.tokens += n;
	for (size_t i = 0; i < n; i++)
		j->c.trained += w[i] != 0;
	return tk_tks_write(j->w, &rec);
}

/* The length a rendered record keeps under --max-len (counted), or 0 when
 * nothing trained would be left (counted as dropped). */
static size_t kept_length(job *j, const tk_rendered *out, int count)
{
	size_t n = out->ids.n;
	if (j->s->max_len && n > j->s->max_len) {
		n = j->s->max_len;
		j->c.truncated += count;
		if (weight_sum(out->weights, n) == 0) {
			if (count && !j->c.dropped++)
				j->c.first_dropped = j->line;
			return 0;
		}
	}
	return n;
}

static int chat_line(job *j, const char *line, size_t len)
{
	int rc = tk_chat_parse(&j->chat, line, len);
	if (!rc)
		rc = tk_render_mark(j->chat.msgs, j->chat.n, j->s->train_on);
	unsigned flags = j->s->train_on == TK_TRAIN_ALL ? TK_RENDER_TRAIN_ALL : 0;
	if (!rc)
		rc = tk_render_chat(j->r, &j->chat, flags, &j->out);
	if (rc)
		return rc;
	size_t n = kept_length(j, &j->out, 1);
	return n ? write_record(j, j->out.ids.ids, j->out.weights, n, -1, TK_PAIR_NONE,
				j->chat.meta) : TK_OK;
}

/* The line's meta with "reference": the final assistant message that
 * --prompt leaves out (for tk-eval to score samples against). */
static char *meta_with_reference(const tk_chat *c, const tk_message *last)
{
	cJSON *meta = c->meta ? cJSON_Parse(c->meta) : cJSON_CreateObject();
	if (meta && !cJSON_HasObjectItem(meta, "reference"))
		cJSON_AddStringToObject(meta, "reference", last->content);
	char *text = meta ? cJSON_PrintUnformatted(meta) : NULL;
	cJSON_Delete(meta);
	return text;
}

static int prompt_line(job *j, const char *line, size_t len)
{
	int rc = tk_chat_parse(&j->chat, line, len);
	if (rc)
		return rc;
	size_t n = j->chat.n;
	const tk_message *last = &j->chat.msgs[n - 1];
	int has_reference = last->role == TK_ROLE_ASSISTANT;
	n -= has_reference;
	if (n == 0)
		return tk_fail(TK_EDATA, "no message before the assistant's to prompt with");
	tk_chat prompt = j->chat;
	prompt.n = n;
	rc = tk_render_chat(j->r, &prompt, TK_RENDER_GENERATION_PROMPT, &j->out);
	if (rc)
		return rc;
	if (j->s->max_len && j->out.ids.n > j->s->max_len) {
		if (!j->c.too_long++)
			j->c.first_too_long = j->line;
		return TK_OK;
	}
	char *meta = has_reference ? meta_with_reference(&j->chat, last) : NULL;
	rc = write_record(j, j->out.ids.ids, j->out.weights, j->out.ids.n, -1,
			  TK_PAIR_NONE, has_reference ? meta : j->chat.meta);
	free(meta);
	return rc;
}

static int pair_line(job *j, const char *line, size_t len)
{
	int rc = tk_chat_parse_pair(&j->chat, line, len);
	if (!rc)
		rc = tk_render(j->r, j->chat.msgs, j->chat.n, 0, &j->out);
	if (!rc)
		rc = tk_render(j->r, j->chat.alt, j->chat.n_alt, 0, &j->alt);
	if (rc)
		return rc;
	size_t n_chosen = kept_length(j, &j->out, 1);
	size_t n_rejected = kept_length(j, &j->alt, 1);
	if (!n_chosen || !n_rejected) {
		j->c.dropped += n_chosen || n_rejected; /* its partner goes too */
		return TK_OK;
	}
	int64_t group = j->next_group++;
	rc = write_record(j, j->out.ids.ids, j->out.weights, n_chosen, group,
			  TK_PAIR_CHOSEN, j->chat.meta);
	return rc ? rc : write_record(j, j->alt.ids.ids, j->alt.weights, n_rejected, group,
				      TK_PAIR_REJECTED, j->chat.meta);
}

/* A pair as the judge's chat, its chosen reply A when chosen_first
 * (tk_chat_judge), written unless --max-len leaves nothing trained. */
static int judge_record(job *j, const char *line, size_t len, int chosen_first, int64_t group)
{
	int rc = tk_chat_parse_pair(&j->chat, line, len);
	if (!rc)
		rc = tk_chat_judge(&j->chat, chosen_first);
	if (!rc)
		rc = tk_render(j->r, j->chat.msgs, j->chat.n, 0, &j->out);
	if (rc)
		return rc;
	size_t n = kept_length(j, &j->out, 1);
	return n ? write_record(j, j->out.ids.ids, j->out.weights, n, group, TK_PAIR_NONE,
				j->chat.meta) : TK_OK;
}

/* The chosen reply is A or B as a stream seeded by --seed and the pair's
 * number says; --both-orders writes both. */
static int judge_line(job *j, const char *line, size_t len)
{
	int64_t group = j->next_group++;
	if (j->s->both_orders) {
		int rc = judge_record(j, line, len, 1, group);
		return rc ? rc : judge_record(j, line, len, 0, group);
	}
	tk_rng rng;
	tk_rng_seed(&rng, j->s->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(group + 1)));
	return judge_record(j, line, len, (int)(tk_rng_next(&rng) >> 63), group);
}

/* A document: bos when the tokenizer adds one, the text, eos; every token
 * weighted but the first of each piece (nothing predicts it); split into
 * pieces of --max-len tokens. */
static int text_line(job *j, const char *line, size_t len)
{
	const char *text = line, *meta = NULL;
	if (j->text_jsonl) {
		int rc = tk_chat_parse_text(&j->chat, line, len);
		if (rc)
			return rc;
		text = j->chat.text;
		len = j->chat.text_len;
		meta = j->chat.meta;
	}
	const tk_tokenizer *tok = j->m.tok;
	j->doc.n = 0;
	int rc = tk_tokenizer_encode(tok, text, len, TK_ENCODE_ADD_BOS, &j->doc);
	if (!rc && tk_tokenizer_eos(tok) >= 0)
		rc = tk_tokens_push(&j->doc, tk_tokenizer_eos(tok));
	if (rc)
		return rc;
	size_t step = j->s->max_len ? j->s->max_len : j->doc.n;
	if (j->out.weights_cap < step) {
		float *w = tk_realloc(j->out.weights, step * sizeof *w);
		if (!w)
			return TK_EOSERR;
		j->out.weights = w;
		j->out.weights_cap = step;
	}
	for (size_t i = 0; i < step; i++)
		j->out.weights[i] = i > 0;
	j->c.truncated += j->doc.n > step;
	for (size_t at = 0; !rc && at < j->doc.n; at += step) {
		size_t n = j->doc.n - at < step ? j->doc.n - at : step;
		rc = write_record(j, j->doc.ids + at, j->out.weights, n, -1, TK_PAIR_NONE, meta);
	}
	return rc;
}

static int handle_line(job *j, const char *line, size_t len)
{
	switch (j->s->mode) {
	case MODE_PROMPT: return prompt_line(j, line, len);
	case MODE_PAIRS: return pair_line(j, line, len);
	case MODE_JUDGE: return judge_line(j, line, len);
	case MODE_TEXT: return text_line(j, line, len);
	default: return chat_line(j, line, len);
	}
}

/* ---- the input loop ----------------------------------------------------- */

static void bad_line(job *j, int rc)
{
	const char *name = strcmp(j->s->input, "-") ? j->s->input : "stdin";
	if (!j->s->skip_bad || rc != TK_EDATA) {
		tk_tks_writer_abort(j->w);
		tk_die(rc, "%s:%" PRIu64 ": %s%s", name, j->line, tk_error_message(),
		       rc == TK_EDATA ? " (--skip-bad skips such lines)" : "");
	}
	if (j->c.bad++ < 10)
		tk_warn("%s:%" PRIu64 ": %s (skipped)", name, j->line, tk_error_message());
}

/* --text reads JSON Lines when the first line that is not blank starts
 * with '{', plain lines otherwise. */
static void sniff_text(job *j, const char *line, size_t len)
{
	if (j->s->mode != MODE_TEXT || j->text_jsonl >= 0)
		return;
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	j->text_jsonl = i < len && line[i] == '{';
}

static void read_lines(job *j, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	tk_progress p = {0};
	tk_progress_start(&p, "render", "lines", 0, j->cli->quiet);
	while ((got = getline(&line, &cap, in)) > 0) {
		size_t len = (size_t)got;
		j->line++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (tk_jsonl_blank(line, len))
			continue;
		sniff_text(j, line, len);
		j->c.lines++;
		int rc = handle_line(j, line, len);
		if (rc)
			bad_line(j, rc);
		tk_progress_update(&p, j->line);
	}
	free(line);
	if (ferror(in)) {
		tk_tks_writer_abort(j->w);
		tk_die(TK_EIO, "%s: read error", j->s->input);
	}
	tk_progress_finish(&p);
}

static void report(const job *j)
{
	const settings *s = j->s;
	const counts *c = &j->c;
	if (!j->cli->quiet)
		tk_warn("%" PRIu64 " records, %" PRIu64 " tokens (%" PRIu64 " weighted) from %"
			PRIu64 " lines, renderer %s", c->records, c->tokens, c->trained, c->lines,
			j->r ? tk_renderer_name(j->r) : "none (--text)");
	if (c->truncated)
		tk_warn("%s %" PRIu64 " %s longer than --max-len %zu", s->mode == MODE_TEXT ?
			"split" : "truncated", c->truncated, s->mode == MODE_TEXT ? "documents" :
			"records", s->max_len);
	if (c->dropped)
		tk_warn("dropped %" PRIu64 " records with no trained token left after "
			"truncation (the first on line %" PRIu64 ")", c->dropped, c->first_dropped);
	if (c->too_long)
		tk_warn("left out %" PRIu64 " prompts longer than --max-len (the first on line %"
			PRIu64 ")", c->too_long, c->first_too_long);
	if (c->bad)
		tk_warn("skipped %" PRIu64 " bad lines (--skip-bad)", c->bad);
}

static void open_renderer(job *j)
{
	if (j->s->mode == MODE_TEXT)
		return;
	int rc = j->s->renderer ? tk_renderer_open(&j->r, j->s->renderer, j->m.tok)
				: tk_renderer_detect(&j->r, j->m.tok);
	if (rc)
		tk_die(rc, "%s: %s", j->s->model, tk_error_message());
}

static int run_render(tk_cli *cli, const settings *s)
{
	job j = {.s = s, .cli = cli, .text_jsonl = -1};
	if (tk_tokenizer_source_load(&j.m, s->model))
		tk_die(TK_ENOINPUT, "%s", tk_error_message());
	open_renderer(&j);
	FILE *in;
	tk_check(tk_open_input(&in, s->input));
	char *meta = stream_meta(&j);
	tk_check(tk_tks_writer_open(&j.w, cli->output, meta, cli->threads));
	free(meta);
	read_lines(&j, in);
	tk_close_input(in);
	tk_check(tk_tks_writer_close(j.w));
	report(&j);
	tk_chat_free(&j.chat);
	tk_rendered_free(&j.out);
	tk_rendered_free(&j.alt);
	tk_tokens_free(&j.doc);
	tk_renderer_free(j.r);
	tk_tokenizer_source_free(&j.m);
	return 0;
}

/* ---- --show ------------------------------------------------------------- */

/* The stream's tokenizer fingerprint must be the model's. */
static void check_fingerprint(const char *stream_meta_json, const tk_tokenizer_source *m,
			      const settings *s)
{
	cJSON *meta = cJSON_Parse(stream_meta_json);
	const cJSON *fp = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer");
	char theirs[64] = "";
	if (cJSON_IsString(fp))
		snprintf(theirs, sizeof theirs, "%s", fp->valuestring);
	cJSON_Delete(meta);
	if (*theirs && strcmp(theirs, m->tok_fp))
		tk_die(TK_EDATA, "%s was rendered with tokenizer %s, but %s has tokenizer %s",
		       s->input, theirs, s->model, m->tok_fp);
}

static int show_one(tk_outfile *out, const tk_tokenizer_source *m, const tk_record *rec,
		    uint64_t index, const settings *s, int colour)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (!mem)
		return tk_fail(TK_EOSERR, "out of memory");
	int rc = s->json ? tk_render_show_json(mem, m->tok, rec, index)
			 : tk_render_show_text(mem, m->tok, rec, index, colour);
	fclose(mem);
	if (!rc)
		rc = tk_outfile_write(out, buf, len);
	free(buf);
	return rc;
}

static int run_show(tk_cli *cli, const settings *s)
{
	tk_tokenizer_source m = {0};
	if (s->model && tk_tokenizer_source_load(&m, s->model))
		tk_die(TK_ENOINPUT, "%s", tk_error_message());
	tk_tks_reader *r;
	tk_check(tk_tks_reader_open(&r, s->input));
	if (s->model)
		check_fingerprint(tk_tks_reader_meta(r), &m, s);
	tk_outfile *out;
	tk_check(tk_outfile_open(&out, cli->output, 0));
	int colour = !s->json && !strcmp(cli->output, "-") && isatty(STDOUT_FILENO) &&
		     !getenv("NO_COLOR");
	tk_record rec;
	tk_record_init(&rec);
	int rc;
	while ((rc = tk_tks_read(r, &rec)) == TK_OK) {
		rc = show_one(out, &m, &rec, tk_tks_reader_count(r), s, colour);
		if (rc)
			break;
	}
	if (rc != TK_END) {
		tk_outfile_abort(out);
		tk_check(rc);
	}
	tk_check(tk_outfile_commit(out));
	tk_record_free(&rec);
	tk_tks_reader_close(r);
	tk_tokenizer_source_free(&m);
	return 0;
}

/* ---- --from-json --------------------------------------------------------- */

/* Records from JSON Lines; with -m the stream names its tokenizer and
 * vocabulary (so readers check them), as a rendered one does. */
static int run_from_json(tk_cli *cli, const settings *s)
{
	tk_tokenizer_source m = {0};
	if (s->model && tk_tokenizer_source_load(&m, s->model))
		tk_die(TK_ENOINPUT, "%s", tk_error_message());
	char *text = tk_render_records_meta(s->model ? m.tok_fp : NULL,
					    s->model ? tk_tokenizer_vocab_size(m.tok) : 0, s->input);
	FILE *in;
	tk_check(tk_open_input(&in, s->input));
	tk_tks_writer *w;
	tk_check(text ? tk_tks_writer_open(&w, cli->output, text, cli->threads) : TK_EOSERR);
	free(text);
	uint64_t records;
	const char *name = strcmp(s->input, "-") ? s->input : "stdin";
	int rc = tk_render_records_from_json(in, name, w, &records);
	tk_close_input(in);
	if (rc) {
		tk_tks_writer_abort(w);
		tk_check(rc);
	}
	tk_check(tk_tks_writer_close(w));
	if (!cli->quiet)
		tk_warn("%" PRIu64 " records", records);
	tk_tokenizer_source_free(&m);
	return 0;
}

int main(int argc, char **argv)
{
	tk_cli cli = {
		.name = "tk-render",
		.usage = "-m MODEL [OPTIONS] [IN.jsonl|-]\n       tk-render --show [-m MODEL] [--json] [IN.tks|-]"
			 "\n       tk-render --from-json [-m MODEL] [IN.jsonl|-]",
		.summary = "Render chat data to a token stream with per-token loss weights, "
			   "as the model's chat template does; show a stream as text.",
		.options = options,
		.common = TK_CLI_THREADS | TK_CLI_OUTPUT | TK_CLI_SEED,
	};
	tk_cli_init(&cli);
	settings s = {.mode = MODE_CHAT, .train_on = TK_TRAIN_LAST_ASSISTANT};
	parse_options(&cli, &s, argc, argv);
	s.seed = cli.seed_given ? cli.seed : 0;
	return s.mode == MODE_SHOW ? run_show(&cli, &s) : s.mode == MODE_FROM_JSON
		? run_from_json(&cli, &s) : run_render(&cli, &s);
}
