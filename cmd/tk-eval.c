/* tk-eval: measure a model.  `score` grades sampled texts against reference
 * answers, `nll` measures a token stream's negative log-likelihood, and
 * `choice` answers multiple-choice questions by the logprob of each
 * option: each prints one JSON report (or --table).  `logprobs` writes
 * each token's logprob and top-K per record.  See tk-eval(1); the work is
 * in lib/eval/: grading (eval_score.c), NLL (eval_nll.c), choices
 * (eval_chooser.c), per-token scores (eval_tokens.c), reports
 * (eval_report.c). */
#include "cli/tk_cli.h"
#include "cli/eval_io.h"
#include "tk_dist.h"
#include "tk_error.h"
#include "tk_eval.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_progress.h"
#include "tk_render.h"
#include "tk_tks.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	tk_eval_grader *grader;
	tk_outfile *per_record;
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
	j->input = tk_eval_cli_input(cli, argc, argv);
}

static int score_line(void *ctx, const char *line, size_t len, uint64_t number)
{
	score_job *j = ctx;
	char *verdict;
	int rc = tk_eval_grader_add(j->grader, line, len, number, j->per_record ? &verdict : NULL);
	if (!rc && j->per_record)
		tk_eval_cli_write_line(j->per_record, rc, verdict);
	return rc;
}

/* -k, else the default; a k above some prompts' samples is warned of. */
static void choose_ks(score_job *j)
{
	const tk_eval_groups *g = tk_eval_grader_groups(j->grader);
	if (!j->n_ks)
		j->n_ks = tk_eval_default_ks(g, j->ks, MAX_K);
	for (size_t i = 0; i < j->n_ks; i++) {
		size_t used;
		tk_eval_groups_pass_at_k(g, j->ks[i], &used);
		if (used < tk_eval_groups_count(g))
			tk_warn("pass@%zu: over the %zu of %zu prompts with at least %zu samples",
				j->ks[i], used, tk_eval_groups_count(g), j->ks[i]);
	}
}

static int run_score(tk_cli *cli, int argc, char **argv)
{
	score_job j = {0};
	parse_score_options(cli, &j, argc, argv);
	tk_check(tk_eval_grader_new(&j.grader, j.task, j.answer_key));
	if (j.answers_path)
		tk_check(tk_eval_grader_load_answers(j.grader, j.answers_path));
	j.per_record = tk_eval_cli_per_record_open(j.per_record_path);
	tk_progress p = {0};
	tk_progress_start(&p, "score", "lines", 0, cli->quiet);
	tk_check(tk_eval_read_lines(j.input, score_line, &j, &p));
	tk_progress_finish(&p);
	if (tk_eval_grader_count(j.grader) == 0)
		tk_die(TK_EDATA, "%s: no samples in it", tk_eval_input_name(j.input));
	tk_eval_cli_per_record_close(j.per_record);
	choose_ks(&j);
	char *report;
	int rc = tk_eval_grader_report(j.grader, j.ks, j.n_ks, &report);
	tk_eval_cli_report(cli, rc, report, j.table);
	tk_eval_grader_free(j.grader);
	return 0;
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
static int model_option(tk_eval_model *m, int o, const char *v)
{
	switch (o) {
	case NL_MODEL: m->model_path = v; return 1;
	case NL_ADAPTER: m->adapter_path = v; return 1;
	case NL_PER_RECORD: m->per_record_path = v; return 1;
	case NL_TABLE: m->table = 1; return 1;
	}
	return 0;
}

/* Scores every record; returns the totals. */
static tk_eval_nll score_stream(tk_eval_model *m, tk_tks_reader *r, const char *input,
				tk_outfile *per, int quiet)
{
	tk_eval_nll total = {0};
	tk_record rec;
	tk_record_init(&rec);
	tk_progress p = {0};
	tk_progress_start(&p, "nll", "records", 0, quiet);
	int rc;
	while ((rc = tk_tks_read(r, &rec)) == TK_OK) {
		uint64_t index = tk_tks_reader_count(r);
		tk_eval_nll one;
		rc = tk_eval_nll_record(m->scorer, m->model->tokenizer, &rec, &one);
		if (rc)
			tk_die(rc, "%s: record %" PRIu64 ": %s", tk_eval_input_name(input), index,
			       tk_error_message());
		tk_eval_nll_merge(&total, &one);
		if (per) {
			char *line;
			int lrc = tk_eval_nll_record_json(index, &one, &line);
			tk_eval_cli_write_line(per, lrc, line);
		}
		tk_progress_update(&p, index);
	}
	tk_check(rc);
	tk_progress_finish(&p);
	tk_record_free(&rec);
	return total;
}

static int run_nll(tk_cli *cli, int argc, char **argv)
{
	tk_eval_model m = {0};
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0)
		model_option(&m, o, v);
	const char *input = tk_eval_cli_input(cli, argc, argv);
	if (!m.model_path)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	tk_tks_reader *r;
	tk_check(tk_tks_reader_open(&r, input));
	tk_eval_model_load(&m, cli, 1);
	tk_check(tk_eval_check_stream(r, m.model->tokenizer, tk_eval_input_name(input),
				      m.model_path));
	tk_outfile *per = tk_eval_cli_per_record_open(m.per_record_path);
	tk_eval_nll total = score_stream(&m, r, input, per, cli->quiet);
	tk_tks_reader_close(r);
	if (total.tokens == 0)
		tk_die(TK_EDATA, "%s: no trained token (every weight is 0) in %" PRIu64 " records",
		       tk_eval_input_name(input), total.records);
	tk_eval_cli_per_record_close(per);
	char *report;
	int rc = tk_eval_nll_report(&total, m.model_path, m.adapter_path, &report);
	tk_eval_cli_report(cli, rc, report, m.table);
	tk_eval_model_unload(&m);
	return 0;
}

/* ---- tk-eval judge ------------------------------------------------------ */

/* One record of a judge's stream: a question (tk-render --judge) or half a
 * preference pair (tk-render --pairs), scored by the adapter's implicit
 * reward against the bare model (*reference, opened with the first pair). */
static int judge_record(tk_cli *cli, tk_eval_model *m, tk_eval_scorer **reference,
			const tk_record *rec, tk_eval_judge *total)
{
	if (rec->pair_role == TK_PAIR_NONE) {
		if (total->implicit)
			return tk_fail(TK_EDATA, "a judge's question among preference pairs");
		return tk_eval_judge_record(m->scorer, m->model->tokenizer, rec, total);
	}
	if (total->records + total->has_chosen && !total->implicit)
		return tk_fail(TK_EDATA, "a preference pair among a judge's questions");
	if (!m->adapter)
		tk_die(TK_EUSAGE, "preference pairs are scored by a DPO-trained adapter's "
		       "implicit reward: -a ADAPTER is needed");
	if (!*reference)
		tk_check(tk_eval_scorer_open(reference, cli->backend, cli->threads, m->model,
					     NULL, 1));
	return tk_eval_judge_pair_record(m->scorer, *reference, m->model->tokenizer, rec, total);
}

/* The judge's records (tk-render --judge, or --pairs for a DPO-trained
 * judge) answered: its accuracy. */
static int run_judge(tk_cli *cli, int argc, char **argv)
{
	tk_eval_model m = {0};
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0)
		model_option(&m, o, v);
	const char *input = tk_eval_cli_input(cli, argc, argv);
	tk_tks_reader *r;
	tk_check(tk_tks_reader_open(&r, input));
	tk_eval_model_load(&m, cli, 2);
	tk_check(tk_eval_check_stream(r, m.model->tokenizer, tk_eval_input_name(input),
				      m.model_path));
	tk_eval_judge total = {0};
	tk_eval_scorer *reference = NULL;
	tk_record rec;
	tk_record_init(&rec);
	int rc;
	while ((rc = tk_tks_read(r, &rec)) == TK_OK)
		if ((rc = judge_record(cli, &m, &reference, &rec, &total)))
			tk_die(rc, "%s: record %" PRIu64 ": %s", tk_eval_input_name(input),
			       tk_tks_reader_count(r), tk_error_message());
	tk_check(rc);
	tk_record_free(&rec);
	tk_tks_reader_close(r);
	tk_eval_scorer_close(reference);
	if (total.has_chosen)
		tk_die(TK_EDATA, "%s: the last chosen reply has no rejected one",
		       tk_eval_input_name(input));
	if (!total.records)
		tk_die(TK_EDATA, "%s: no records", tk_eval_input_name(input));
	char *report;
	rc = tk_eval_judge_report(&total, m.model_path, m.adapter_path, &report);
	tk_eval_cli_report(cli, rc, report, m.table);
	tk_eval_model_unload(&m);
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

typedef struct choice_job {
	tk_eval_model m;
	const char *input, *renderer_name;
	int raw, normalize, letters;
	tk_renderer *renderer;
} choice_job;

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
	j->input = tk_eval_cli_input(cli, argc, argv);
	if (!j->m.model_path)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	if (j->raw && j->renderer_name)
		tk_die(TK_EUSAGE, "--raw and --renderer exclude each other");
}

static void open_renderer(choice_job *j)
{
	if (j->raw)
		return;
	const tk_tokenizer *tok = j->m.model->tokenizer;
	int rc = j->renderer_name ? tk_renderer_open(&j->renderer, j->renderer_name, tok)
				  : tk_renderer_detect(&j->renderer, tok);
	if (rc)
		tk_die(rc, "%s: %s", j->m.model_path, tk_error_message());
}

/* Answers every question, each parsed again from its line. */
static void answer_all(tk_eval_chooser *c, const tk_eval_questions *l, const char *input,
		       tk_outfile *per, int quiet)
{
	tk_eval_question q = {0};
	tk_progress p = {0};
	tk_progress_start(&p, "choice", "questions", l->n, quiet);
	for (size_t i = 0; i < l->n; i++) {
		char *verdict;
		int rc = tk_eval_question_parse(&q, l->lines[i], strlen(l->lines[i]));
		if (!rc)
			rc = tk_eval_chooser_answer(c, &q, l->numbers[i], per ? &verdict : NULL);
		if (rc)
			tk_die(rc, "%s:%" PRIu64 ": %s", tk_eval_input_name(input), l->numbers[i],
			       tk_error_message());
		if (per)
			tk_eval_cli_write_line(per, rc, verdict);
		tk_progress_update(&p, i + 1);
	}
	tk_progress_finish(&p);
	tk_eval_question_free(&q);
}

static int run_choice(tk_cli *cli, int argc, char **argv)
{
	choice_job j = {0};
	parse_choice_options(cli, &j, argc, argv);
	tk_eval_questions l;
	tk_check(tk_eval_questions_read(&l, j.input));
	tk_eval_model_load(&j.m, cli, l.max_choices);
	open_renderer(&j);
	unsigned flags = (j.letters ? TK_EVAL_CHOICE_LETTERS : 0) |
			 (j.normalize ? TK_EVAL_CHOICE_PER_BYTE : 0);
	tk_eval_chooser *c;
	tk_check(tk_eval_chooser_new(&c, j.m.scorer, j.m.model->tokenizer, j.renderer, flags,
				     l.max_choices));
	tk_outfile *per = tk_eval_cli_per_record_open(j.m.per_record_path);
	answer_all(c, &l, j.input, per, cli->quiet);
	tk_eval_cli_per_record_close(per);
	char *report;
	int rc = tk_eval_chooser_report(c, j.m.model_path, j.m.adapter_path, &report);
	tk_eval_cli_report(cli, rc, report, j.m.table);
	tk_eval_chooser_free(c);
	tk_eval_questions_free(&l);
	tk_renderer_free(j.renderer);
	tk_eval_model_unload(&j.m);
	return 0;
}

/* ---- tk-eval logprobs --------------------------------------------------- */

static const tk_option logprobs_options[] = {
	{"model", 'm', "MODEL", "the model (HF folder, .gguf, .tkc)"},
	{"adapter", 'a', "ADAPTER", "a LoRA adapter (.tkc) applied to the model"},
	{"top-k", 0, "K", "the K most likely tokens at each position, with their logprobs "
			  "(default 5, with --tks 0; 0: none)"},
	{"tks", 0, NULL, "write a token stream (.tks) whose records carry the logprobs "
			 "(and the top-K, K <= 1024), instead of JSON Lines"},
	{0, 0, 0, 0}
};
enum { LP_MODEL, LP_ADAPTER, LP_TOP_K, LP_TKS };

typedef struct logprobs_job {
	tk_eval_model m;
	const char *input;
	size_t top_k;
	int top_k_given, tks;
	tk_outfile *out;        /* JSON Lines, or */
	tk_tks_writer *stream;  /* --tks */
} logprobs_job;

static void parse_logprobs_options(tk_cli *cli, logprobs_job *j, int argc, char **argv)
{
	const char *v;
	int o;
	j->top_k = 5;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0) {
		switch (o) {
		case LP_MODEL: j->m.model_path = v; break;
		case LP_ADAPTER: j->m.adapter_path = v; break;
		case LP_TOP_K:
			j->top_k = (size_t)tk_cli_int(cli, "top-k", v, 0, 1 << 24);
			j->top_k_given = 1;
			break;
		case LP_TKS: j->tks = 1; break;
		}
	}
	j->input = tk_eval_cli_input(cli, argc, argv);
	if (!j->m.model_path)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	if (j->tks && j->top_k > TK_TKS_MAX_TOP_K)
		tk_die(TK_EUSAGE, "--top-k %zu with --tks: a token stream holds at most a top-%d",
		       j->top_k, TK_TKS_MAX_TOP_K);
	if (j->tks && !j->top_k_given)
		j->top_k = 0;   /* a stream carries a top-K only when asked */
}

static void open_scored_output(logprobs_job *j, const tk_cli *cli, const tk_tks_reader *r)
{
	if (!j->tks) {
		tk_check(tk_outfile_open(&j->out, cli->output, 0));
		return;
	}
	char *meta;
	tk_check(tk_eval_token_scores_meta(tk_tks_reader_meta(r), j->m.model_path,
					   j->m.adapter_path, &meta));
	tk_check(tk_tks_writer_open(&j->stream, cli->output, meta, 1));
	free(meta);
}

/* One record's scores as a JSON line or a record of the stream. */
static void write_scored(logprobs_job *j, const tk_eval_token_scores *t, const tk_record *rec,
			 uint64_t index)
{
	if (j->stream) {
		int rc = tk_eval_token_scores_write(t, rec, j->stream);
		if (rc) {
			tk_tks_writer_abort(j->stream);
			tk_check(rc);
		}
		return;
	}
	char *line;
	int rc = tk_eval_token_scores_json(t, rec, index, &line);
	tk_eval_cli_write_line(j->out, rc, line);
}

static void score_tokens(logprobs_job *j, tk_tks_reader *r, int quiet)
{
	tk_eval_token_scores t = {0};
	tk_record rec;
	tk_record_init(&rec);
	tk_progress p = {0};
	tk_progress_start(&p, "logprobs", "records", 0, quiet);
	int rc;
	while ((rc = tk_tks_read(r, &rec)) == TK_OK) {
		uint64_t index = tk_tks_reader_count(r);
		rc = tk_eval_token_scores_run(j->m.scorer, rec.tokens, rec.n, j->top_k, &t);
		if (rc)
			tk_die(rc, "%s: record %" PRIu64 ": %s", tk_eval_input_name(j->input), index,
			       tk_error_message());
		write_scored(j, &t, &rec, index);
		tk_progress_update(&p, index);
	}
	tk_check(rc);
	tk_progress_finish(&p);
	tk_record_free(&rec);
	tk_eval_token_scores_free(&t);
}

static int run_logprobs(tk_cli *cli, int argc, char **argv)
{
	logprobs_job j = {0};
	parse_logprobs_options(cli, &j, argc, argv);
	tk_tks_reader *r;
	tk_check(tk_tks_reader_open(&r, j.input));
	tk_eval_model_load(&j.m, cli, 1);
	size_t vocab = tk_eval_scorer_vocab(j.m.scorer);
	if (j.top_k > vocab)
		tk_die(TK_EUSAGE, "--top-k %zu is more than the model's vocabulary of %zu", j.top_k,
		       vocab);
	tk_check(tk_eval_check_stream(r, j.m.model->tokenizer, tk_eval_input_name(j.input),
				      j.m.model_path));
	open_scored_output(&j, cli, r);
	score_tokens(&j, r, cli->quiet);
	tk_tks_reader_close(r);
	tk_check(j.stream ? tk_tks_writer_close(j.stream) : tk_outfile_commit(j.out));
	tk_eval_model_unload(&j.m);
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static const tk_option no_options[] = {{0, 0, 0, 0}};

static const char *const summary =
	"Measure a model: grade sampled answers (score), the NLL of a token stream (nll), "
	"multiple choice by logprob (choice), per-token logprobs and top-K (logprobs), a "
	"judge's accuracy (judge).";

/* tk-eval with no subcommand, or --help / --version. */
static int run_top(int argc, char **argv)
{
	tk_cli cli = {
		.name = "tk-eval",
		.usage = "score|nll|choice|logprobs|judge [OPTIONS] FILE\n"
			 "       tk-eval SUBCOMMAND --help for its options",
		.summary = summary,
		.options = no_options,
	};
	tk_cli_init(&cli);
	const char *v;
	while (tk_cli_next(&cli, argc, argv, &v) >= 0)
		;
	if (cli.first_operand < argc)
		tk_die(TK_EUSAGE, "unknown subcommand '%s' (score, nll, choice, logprobs or judge)",
		       argv[cli.first_operand]);
	tk_die(TK_EUSAGE, "a subcommand is needed: score, nll, choice, logprobs or judge "
	       "(tk-eval --help)");
}

int main(int argc, char **argv)
{
	// under mpirun / srun: the input is not sharded yet, so one rank alone
	if (tk_dist_init() || tk_dist_size() > 1) {
		fprintf(stderr, "tk-eval: %s\n", *tk_error_message() ? tk_error_message()
			: "runs on one rank for now: start it without mpirun / srun, or with -np 1");
		tk_dist_exit(TK_EUSAGE);
		return TK_EUSAGE;
	}
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
		cli.common = TK_CLI_OUTPUT | TK_CLI_THREADS | TK_CLI_BACKEND | TK_CLI_ADAPTERS;
		tk_cli_init(&cli);
		return run_nll(&cli, argc - 1, argv + 1);
	}
	if (!strcmp(sub, "judge")) {
		cli.usage = "judge -m MODEL [-a ADAPTER] [--table] [OPTIONS] [JUDGE.tks|PAIRS.tks|-]";
		cli.options = nll_options;
		cli.summary = "A judge's accuracy: generative on tk-render --judge records, a DPO "
			      "adapter's implicit reward on tk-render --pairs records.";
		cli.common = TK_CLI_OUTPUT | TK_CLI_THREADS | TK_CLI_BACKEND | TK_CLI_ADAPTERS;
		tk_cli_init(&cli);
		return run_judge(&cli, argc - 1, argv + 1);
	}
	if (!strcmp(sub, "logprobs")) {
		cli.usage = "logprobs -m MODEL [-a ADAPTER] [--top-k K | --tks] [OPTIONS] [IN.tks|-]";
		cli.options = logprobs_options;
		cli.summary = "Each token's logprob and the top-K tokens at its position, as JSON "
			      "Lines or a token stream.";
		cli.common = TK_CLI_OUTPUT | TK_CLI_THREADS | TK_CLI_BACKEND | TK_CLI_ADAPTERS;
		tk_cli_init(&cli);
		return run_logprobs(&cli, argc - 1, argv + 1);
	}
	if (!strcmp(sub, "choice")) {
		cli.usage = "choice -m MODEL [-a ADAPTER] [--raw] [--letters] [--length-normalize] [OPTIONS] "
			    "[QUESTIONS.jsonl|-]";
		cli.options = choice_options;
		cli.summary = "Multiple choice by the logprob of each option's continuation.";
		cli.common = TK_CLI_OUTPUT | TK_CLI_THREADS | TK_CLI_BACKEND | TK_CLI_ADAPTERS;
		tk_cli_init(&cli);
		return run_choice(&cli, argc - 1, argv + 1);
	}
	return run_top(argc, argv);
}

