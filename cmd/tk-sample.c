/* tk-sample: batched generation from a model (and a LoRA adapter).  Reads
 * prompts (JSON Lines of {"messages": [...]} or {"prompt": "text"}, or a
 * .tks of generation prompts from tk-render --prompt), samples N
 * completions of each with continuous batching over a KV cache, and writes
 * one JSON line per sample in input order, or a token stream (--tks).  The
 * work is in lib/: the prompts are read by lib/render/render_prompts.c,
 * sampled by lib/infer/sampler_generate.c and written by
 * lib/infer/sampler_output.c; see tk-sample(1). */
#include "cli/sample_options.h"
#include "cli/tk_cli.h"
#include "tk_dist.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_progress.h"
#include "tk_render.h"
#include "tk_sampler.h"
#include "tk_tks.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tk_backend.h"
#include "tk_forward.h"


static const tk_option options[] = {
	{"model", 'm', "MODEL", "model to sample from (HF folder, .gguf, .tkc)"},
	{"adapter", 'a', "ADAPTER", "LoRA adapter .tkc to apply (made for MODEL)"},
	{"samples", 'n', "N", "completions per prompt (default 1)"},
	{"logprobs", 0, NULL, "print each sampled token's logprob"},
	{"batch", 0, "N", "sequences decoding together (default 64)"},
	{"tks", 0, NULL, "write a token stream (.tks) instead of JSON Lines"},
	{"ignore-eos", 0, NULL, "do not stop at end-of-sequence or end-of-turn tokens (benchmarks)"},
	TK_SAMPLE_OPTION_ROWS("256"),
	{0},
};

enum {
	OPT_MODEL, OPT_ADAPTER, OPT_SAMPLES, OPT_LOGPROBS, OPT_BATCH, OPT_TKS, OPT_IGNORE_EOS,
};

typedef struct settings {
	const char *model, *adapter, *input;
	long long samples, batch;
	tk_sample_opts sample;     // sampler, --max-tokens, --stop, --renderer
	int logprobs, tks, ignore_eos;
} settings;

/* What the sampling loop's output callback needs. */
typedef struct job {
	const settings *s;
	const tk_prompts *ps;
	tk_sample_format format;
	tk_outfile *out;
	tk_tks_writer *tks;
	tk_progress progress;
	uint64_t done;
	size_t first;              // this rank's first request (tk_dist_share)
	tk_dist_lines *lines;      // several ranks: the lines, for rank 0 to write
} job;

/* ---- options ------------------------------------------------------------ */

static void parse_options(settings *s, tk_cli *cli, int argc, char **argv)
{
	*s = (settings){.samples = 1, .batch = 64};
	tk_sample_opts_init(&s->sample, 256, 0);
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0) {
		if (tk_sample_opts_parse(cli, &s->sample, options[o].long_name, v))
			continue;
		switch (o) {
		case OPT_MODEL: s->model = v; break;
		case OPT_ADAPTER: s->adapter = v; break;
		case OPT_SAMPLES: s->samples = tk_cli_int(cli, "samples", v, 1, 1 << 20); break;
		case OPT_LOGPROBS: s->logprobs = 1; break;
		case OPT_BATCH: s->batch = tk_cli_int(cli, "batch", v, 1, 1 << 16); break;
		case OPT_TKS: s->tks = 1; break;
		case OPT_IGNORE_EOS: s->ignore_eos = 1; break;
		}
	}
	if (!s->model)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	if (argc - cli->first_operand > 1)
		tk_die(TK_EUSAGE, "one input at most (got %d)", argc - cli->first_operand);
	s->input = cli->first_operand < argc ? argv[cli->first_operand] : "-";
}

/* ---- output ------------------------------------------------------------- */

static int write_json(job *j, size_t pi, size_t sample, const tk_gen_result *r)
{
	char *line;
	int rc = tk_sample_json(&j->format, &j->ps->v[pi], pi, sample, r, &line);
	if (!rc && j->lines)
		rc = tk_dist_lines_add(j->lines, line, strlen(line));
	else if (!rc)
		rc = tk_outfile_write(j->out, line, strlen(line));
	if (!rc)
		rc = j->lines ? tk_dist_lines_add(j->lines, "\n", 1) : tk_outfile_write(j->out, "\n", 1);
	free(line);
	return rc;
}

static int emit(void *ctx, size_t index, const tk_gen_result *r)
{
	job *j = ctx;
	index += j->first;
	size_t n = (size_t)j->s->samples, pi = index / n, sample = index % n;
	int rc = j->tks ? tk_sample_write_record(&j->format, &j->ps->v[pi], pi, sample, r, j->tks)
			: write_json(j, pi, sample, r);
	if (!rc)
		tk_progress_update(&j->progress, ++j->done);
	return rc;
}

static char *stream_meta(const tk_model *m, const tk_renderer *r, const settings *s)
{
	char fp[17], model_fp[17];
	snprintf(fp, sizeof fp, "%016" PRIx64, tk_tokenizer_fingerprint(m->tokenizer));
	tk_model_fingerprint_hex(m, model_fp);
	cJSON *meta = cJSON_CreateObject();
	cJSON_AddStringToObject(meta, "tokenizer", fp);
	cJSON_AddStringToObject(meta, "model", model_fp);
	cJSON_AddNumberToObject(meta, "vocab_size", (double)tk_tokenizer_vocab_size(m->tokenizer));
	cJSON_AddStringToObject(meta, "source", s->input);
	cJSON_AddStringToObject(meta, "kind", "samples");
	if (r)
		cJSON_AddStringToObject(meta, "renderer", tk_renderer_name(r));
	if (s->adapter)
		cJSON_AddStringToObject(meta, "adapter", s->adapter);
	cJSON_AddNumberToObject(meta, "temperature", s->sample.params.temperature);
	char *text = cJSON_PrintUnformatted(meta);
	cJSON_Delete(meta);
	if (!text)
		tk_die(TK_EOSERR, "out of memory");
	return text;
}

static void open_output(job *j, const tk_cli *cli, const tk_model *m, const tk_renderer *r)
{
	if (j->s->tks) {
		char *meta = stream_meta(m, r, j->s);
		tk_check(tk_tks_writer_open(&j->tks, cli->output, meta, 1));
		free(meta);
	} else {
		tk_check(tk_outfile_open(&j->out, cli->output, 0));
	}
}

/* Several ranks: rank 0 writes every rank's lines, in input order. */
static int write_out(void *ctx, const char *bytes, size_t n)
{
	return tk_outfile_write(ctx, bytes, n);
}

static void close_output(job *j, int rc)
{
	if (!rc && j->lines)
		rc = tk_dist_lines_flush(j->lines, write_out, j->out);
	if (!j->out && !j->tks) { // a rank other than 0 writes nothing
		tk_check(rc);
		return;
	}
	if (rc) {
		tk_tks_writer_abort(j->tks);
		tk_outfile_abort(j->out);
		tk_check(rc);
	}
	tk_check(j->tks ? tk_tks_writer_close(j->tks) : tk_outfile_commit(j->out));
}

/* ---- running ------------------------------------------------------------ */

static tk_renderer *open_renderer(const settings *s, const tk_model *m, char *error, size_t cap)
{
	tk_renderer *r = NULL;
	int rc = s->sample.renderer ? tk_renderer_open(&r, s->sample.renderer, m->tokenizer)
			     : tk_renderer_detect(&r, m->tokenizer);
	if (rc && s->sample.renderer)
		tk_die(rc, "--renderer %s: %s", s->sample.renderer, tk_error_message());
	if (rc)
		snprintf(error, cap, "%s", tk_error_message());
	return rc ? NULL : r;
}

/* Without a renderer, a chat prompt's error is why there is none. */
static void read_prompts(tk_prompts *ps, const settings *s, const tk_model *m,
			 const tk_renderer *r, const char *renderer_error)
{
	int rc = tk_prompts_read(ps, s->input, m->tokenizer, r);
	if (rc == TK_ECONFIG && !r)
		tk_die(rc, "%s: %s", tk_error_message(), renderer_error);
	tk_check(rc);
}

static void check_lengths(const tk_prompts *ps, const settings *s, const tk_model *m)
{
	size_t context = (size_t)m->config.max_positions;
	for (size_t i = 0; i < ps->n; i++)
		if (ps->v[i].ids.n >= context)
			tk_die(TK_EDATA, "%s:%" PRIu64 ": a prompt of %zu tokens is longer than the "
			       "model's context (%zu positions, one left for a new token)",
			       strcmp(s->input, "-") ? s->input : "stdin", ps->v[i].line,
			       ps->v[i].ids.n, context - 1);
}

static tk_forward *open_forward(tk_backend *be, const tk_model *m, const tk_lora *lora,
				const tk_prompts *ps, const settings *s, size_t requests)
{
	size_t longest = 0;
	for (size_t i = 0; i < ps->n; i++)
		longest = ps->v[i].ids.n > longest ? ps->v[i].ids.n : longest;
	size_t context = longest + (s->sample.max_tokens ? (size_t)s->sample.max_tokens : 1);
	if (context > (size_t)m->config.max_positions)
		context = (size_t)m->config.max_positions;
	size_t slots = (size_t)s->batch < requests ? (size_t)s->batch : requests;
	size_t pass = 1024 > slots ? 1024 : slots;
	tk_forward *f;
	tk_check(tk_forward_open(&f, be, m, lora, slots, context, pass));
	return f;
}

static tk_gen_request *make_requests(const tk_prompts *ps, size_t n)
{
	tk_gen_request *reqs = calloc(ps->n * n, sizeof *reqs);
	if (!reqs)
		tk_die(TK_EOSERR, "out of memory");
	for (size_t i = 0; i < ps->n; i++)
		for (size_t j = 0; j < n; j++)
			reqs[i * n + j] = (tk_gen_request){.prompt = ps->v[i].ids.ids,
							   .prompt_len = ps->v[i].ids.n,
							   .stream = ((uint64_t)i << 32) | j};
	return reqs;
}

/* The model's eos, the renderer's stop tokens and strings, and --stop;
 * with --ignore-eos --stop alone. */
static void gen_options(tk_gen_options *o, tk_gen_stops *st, const settings *s,
			const tk_cli *cli, const tk_model *m, const tk_renderer *r)
{
	tk_gen_stops_collect(st, m->tokenizer, s->ignore_eos ? NULL : r, s->sample.stops, s->sample.n_stops);
	*o = (tk_gen_options){
		.params = s->sample.params, .seed = cli->seed, .max_tokens = (size_t)s->sample.max_tokens,
		.logprobs = s->logprobs || s->tks,
		.stop_ids = st->ids, .n_stop_ids = s->ignore_eos ? 0 : st->n_ids,
		.stop_strings = st->strings, .n_stop_strings = st->n_strings,
		.tok = m->tokenizer,
	};
}

int main(int argc, char **argv)
{
	tk_cli cli = {.name = "tk-sample", .usage = "-m MODEL [OPTIONS] [IN]",
		      .summary = "Sample completions of prompts (JSON Lines or .tks) from a model.",
		      .options = options, .common = TK_CLI_THREADS | TK_CLI_BACKEND | TK_CLI_SEED | TK_CLI_OUTPUT |
		      TK_CLI_ADAPTERS};
	tk_cli_init(&cli);
	settings s;
	parse_options(&s, &cli, argc, argv);
	tk_check(tk_dist_init()); // mpirun / srun: the requests shared by the ranks
	if (tk_dist_size() > 1 && s.tks)
		tk_die(TK_EUSAGE, "--tks: several ranks write JSON Lines only for now");
	cli.quiet |= !tk_dist_is_root();
	tk_model *m;
	tk_check(tk_model_load(&m, s.model));
	if (!m->tokenizer)
		tk_die(TK_ECONFIG, "%s: the model has no tokenizer", s.model);
	tk_lora *lora = NULL;
	if (s.adapter)
		tk_check(tk_cli_lora_load(&lora, s.adapter, m));
	char renderer_error[512] = "";
	tk_renderer *r = open_renderer(&s, m, renderer_error, sizeof renderer_error);
	tk_prompts ps;
	read_prompts(&ps, &s, m, r, renderer_error);
	check_lengths(&ps, &s, m);
	size_t total = ps.n * (size_t)s.samples;
	tk_backend *be;
	tk_check(tk_backend_open(&be, cli.backend, cli.threads));
	tk_forward *f = open_forward(be, m, lora, &ps, &s, total);
	tk_lora_free(lora);
	tk_model_drop_weights(m); // the forward holds its own copy
	tk_gen_options o;
	tk_gen_stops st;
	gen_options(&o, &st, &s, &cli, m, r);
	o.batch = tk_forward_slots(f);
	tk_gen_request *reqs = make_requests(&ps, (size_t)s.samples);
	job j = {.s = &s, .ps = &ps,
		 .format = {.tok = m->tokenizer, .renderer = r, .stop_ids = o.stop_ids,
			    .n_stop_ids = o.n_stop_ids, .cuts = s.sample.stops, .n_cuts = s.sample.n_stops,
			    .logprobs = s.logprobs}};
	size_t count;
	tk_dist_share(total, &j.first, &count); // every request, in one process
	tk_dist_lines lines = {0};
	j.lines = tk_dist_size() > 1 ? &lines : NULL;
	if (tk_dist_is_root())
		open_output(&j, &cli, m, r);
	tk_progress_start(&j.progress, "sample", "samples", count, cli.quiet);
	int rc = tk_generate(f, &o, reqs + j.first, count, emit, &j);
	close_output(&j, rc);
	tk_progress_finish(&j.progress);
	free(reqs);
	tk_forward_close(f);
	tk_backend_close(be);
	tk_prompts_free(&ps);
	tk_renderer_free(r);
	tk_model_free(m);
	return 0;
}
