/* tk-merge: the model-file tool.  --info says what a token stream,
 * checkpoint or model holds; --init makes a model with random weights;
 * -m MODEL [-a ADAPTER] -o OUT folds an adapter in and exports (HF folder,
 * PEFT adapter, GGUF, .tkc); --average averages checkpoints. */
#include "cli/tk_cli.h"
#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_export.h"
#include "tk_gguf.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"
#include "tk_tkc.h"
#include "tk_tks.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const tk_option options[] = {
	{"info", 'i', NULL, "print what FILE holds: .tks stream, .tkc checkpoint, model"},
	{"init", 0, "CONFIG", "create a model with random weights from an HF config.json"},
	{"tokenizer", 0, "MODEL", "with --init: take the tokenizer of MODEL (or a tokenizer.json)"},
	{"model", 'm', "MODEL", "the base model (HF folder, .gguf or full .tkc)"},
	{"adapter", 'a', "ADAPTER", "a LoRA adapter .tkc to fold into MODEL (or export with --format peft)"},
	{"format", 'f', "FMT", "hf, peft, gguf or tkc (default: from -o: .gguf, .tkc, else hf)"},
	{"dtype", 0, "T", "f32, f16 or bf16 for hf, peft and gguf; q8_0 or q4_0 for gguf (default f32)"},
	{"force", 0, NULL, "replace an existing output"},
	{"average", 0, NULL, "average the checkpoints given as FILEs into -o"},
	{"weights", 0, "LIST", "with --average: comma-separated weights (default equal)"},
	{0},
};

enum { OPT_INFO, OPT_INIT, OPT_TOKENIZER, OPT_MODEL, OPT_ADAPTER, OPT_FORMAT, OPT_DTYPE,
       OPT_FORCE, OPT_AVERAGE, OPT_WEIGHTS };

typedef struct merge_args {
	const char *model, *adapter, *format, *weights;
	const char *dtype_name;
	int dtype;      /* enum tk_dtype; -1 for a type only GGUF stores */
	int gguf_type;  /* enum tk_ggml_type */
	int force;
} merge_args;

/* --dtype: f32, f16 and bf16 for every format that takes one, the
 * quantized types for GGUF only. */
static int parse_dtype(merge_args *a, const char *name)
{
	static const struct {
		const char *name;
		int dtype, gguf_type;
	} types[] = {
		{"f32", TK_F32, TK_GGML_F32}, {"f16", TK_F16, TK_GGML_F16},
		{"bf16", TK_BF16, TK_GGML_BF16}, {"q8_0", -1, TK_GGML_Q8_0},
		{"q4_0", -1, TK_GGML_Q4_0},
	};
	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		if (strcmp(name, types[i].name) == 0) {
			a->dtype_name = name;
			a->dtype = types[i].dtype;
			a->gguf_type = types[i].gguf_type;
			return TK_OK;
		}
	return tk_fail(TK_EUSAGE, "--dtype %s: expected f32, f16, bf16, q8_0 or q4_0", name);
}

/* A quantized --dtype with a format that cannot hold it. */
static int dtype_fits(const merge_args *a, const char *format)
{
	if (a->dtype >= 0 || strcmp(format, "gguf") == 0)
		return TK_OK;
	return tk_fail(TK_EUSAGE, "--dtype %s is written to GGUF only (-o OUT.gguf), not %s",
		       a->dtype_name, format);
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Replaces long arrays (a tokenizer's vocabulary, say) by their length,
 * so that the metadata stays readable. */
static void shorten_arrays(cJSON *j)
{
	for (cJSON *item = j ? j->child : NULL; item; item = item->next) {
		int n = cJSON_IsArray(item) ? cJSON_GetArraySize(item) : 0;
		if (n > 16) {
			char text[64];
			snprintf(text, sizeof text, "(%d values)", n);
			cJSON *summary = cJSON_CreateString(text);
			/* the replacement takes over the key, then the old item goes */
			if (summary && item->string) {
				summary->string = item->string;
				item->string = NULL;
				cJSON_ReplaceItemViaPointer(j, item, summary);
				item = summary;
			} else {
				cJSON_Delete(summary);
			}
		} else {
			shorten_arrays(item);
		}
	}
}

/* Prints a JSON text indented, or as it is when it does not parse. */
static void print_json(const char *label, const char *json)
{
	cJSON *j = cJSON_Parse(json ? json : "{}");
	shorten_arrays(j);
	char *text = j ? cJSON_Print(j) : NULL;
	printf("%s: %s\n", label, text ? text : json);
	free(text);
	cJSON_Delete(j);
}

typedef struct stream_totals {
	uint64_t records, tokens, trained_tokens, max_len;
	uint64_t with_logprobs, with_advantages, with_reward, in_pairs;
	double weight_sum;
} stream_totals;

static void add_record(stream_totals *t, const tk_record *r)
{
	t->records++;
	t->tokens += r->n;
	if (r->n > t->max_len)
		t->max_len = r->n;
	for (size_t i = 0; i < r->n; i++) {
		t->weight_sum += r->weights[i];
		t->trained_tokens += r->weights[i] != 0;
	}
	t->with_logprobs += r->logprobs != NULL;
	t->with_advantages += r->advantages != NULL;
	t->with_reward += r->has_reward != 0;
	t->in_pairs += r->pair_role != TK_PAIR_NONE;
}

static int info_stream(const char *path)
{
	tk_tks_reader *reader;
	int rc = tk_tks_reader_open(&reader, path);
	if (rc != TK_OK)
		return rc;
	tk_record rec;
	tk_record_init(&rec);
	stream_totals t = {0};
	while ((rc = tk_tks_read(reader, &rec)) == TK_OK)
		add_record(&t, &rec);
	if (rc == TK_END) {
		printf("file: %s\nkind: token stream\n", path);
		print_json("metadata", tk_tks_reader_meta(reader));
		printf("records: %llu\ntokens: %llu\ntrained tokens: %llu\nweight sum: %.6g\n"
		       "longest record: %llu\nwith logprobs: %llu\nwith advantages: %llu\n"
		       "with reward: %llu\nin preference pairs: %llu\n",
		       (unsigned long long)t.records, (unsigned long long)t.tokens,
		       (unsigned long long)t.trained_tokens, t.weight_sum,
		       (unsigned long long)t.max_len, (unsigned long long)t.with_logprobs,
		       (unsigned long long)t.with_advantages, (unsigned long long)t.with_reward,
		       (unsigned long long)t.in_pairs);
		rc = TK_OK;
	}
	tk_record_free(&rec);
	tk_tks_reader_close(reader);
	return rc;
}

static void print_shape(const tk_tensor_info *t)
{
	putchar('[');
	for (int d = 0; d < t->ndim; d++)
		printf(d ? ", %lld" : "%lld", (long long)t->shape[d]);
	putchar(']');
}

static int info_checkpoint(const char *path)
{
	tk_tkc *ckpt;
	int rc = tk_tkc_read(&ckpt, path);
	if (rc != TK_OK)
		return rc;
	printf("file: %s\nkind: checkpoint\n", path);
	print_json("metadata", ckpt->meta_json);
	size_t total = 0;
	printf("tensors: %zu\n", ckpt->count);
	for (size_t i = 0; i < ckpt->count; i++) {
		const tk_tensor_info *t = &ckpt->tensors[i];
		printf("  %-48s %-4s ", t->name, tk_dtype_name(t->dtype));
		print_shape(t);
		putchar('\n');
		total += t->nbytes;
	}
	printf("tensor bytes: %zu\n", total);
	tk_tkc_free(ckpt);
	return TK_OK;
}

static int info_model(const char *path)
{
	tk_model *m;
	int rc = tk_model_load(&m, path);
	if (rc != TK_OK)
		return rc;
	tk_model_describe(m, stdout);
	tk_model_free(m);
	return TK_OK;
}

/* A .tkc is shown as a checkpoint (any kind); folders, .gguf and other
 * files as models, whose loader tells the formats apart by content. */
static int info(const char *path)
{
	if (has_suffix(path, ".tkc"))
		return info_checkpoint(path);
	if (has_suffix(path, ".tks") || strcmp(path, "-") == 0)
		return info_stream(path);
	return info_model(path);
}

/* --tokenizer: a tokenizer.json (with tokenizer_config.json beside it when
 * there is one) or any model tk loads. */
static int load_tokenizer(const char *path, tk_tokenizer **out)
{
	if (has_suffix(path, ".json")) {
		char config[4096];
		const char *slash = strrchr(path, '/');
		int dir_len = slash ? (int)(slash - path) : 1;
		snprintf(config, sizeof config, "%.*s/tokenizer_config.json", dir_len, slash ? path : ".");
		FILE *probe = fopen(config, "r");
		if (probe)
			fclose(probe);
		return tk_tokenizer_load_json(out, path, probe ? config : NULL);
	}
	tk_model *m;
	int rc = tk_model_load_meta(&m, path);
	if (rc)
		return rc;
	*out = m->tokenizer;
	m->tokenizer = NULL;
	tk_model_free(m);
	if (!*out)
		return tk_fail(TK_EDATA, "%s: has no tokenizer", path);
	return TK_OK;
}

static const char *format_of(const merge_args *a, const char *out);

/* --init writes a full .tkc (float32) or a GGUF in --dtype. */
static int init_format(const merge_args *a, const char *out, const char **format)
{
	*format = format_of(a, out);
	if (strcmp(*format, "tkc") && strcmp(*format, "gguf"))
		return tk_fail(TK_EUSAGE, "--init writes a .tkc or a .gguf, not %s (-o %s)",
			       *format, out);
	if (strcmp(*format, "tkc") == 0 && a->dtype != TK_F32)
		return tk_fail(TK_EUSAGE, "--init -o %s writes float32: give -o OUT.gguf for "
			       "--dtype %s", out, a->dtype_name);
	return TK_OK;
}

static int init_model(const tk_cli *cli, const merge_args *a, const char *config_path,
		      const char *tokenizer_path)
{
	const char *format;
	int rc = init_format(a, cli->output, &format);
	if (rc)
		return rc;
	char *json;
	tk_model_config config;
	rc = tk_read_text(config_path, (size_t)16 << 20, &json, NULL);
	if (rc)
		return rc;
	rc = tk_model_config_from_json(&config, json, config_path);
	free(json);
	tk_tokenizer *tok = NULL;
	if (!rc && tokenizer_path)
		rc = load_tokenizer(tokenizer_path, &tok);
	tk_model *m = NULL;
	if (!rc) {
		rc = tk_model_init_random(&m, &config, tok, cli->seed);
		if (rc)
			tk_tokenizer_free(tok);
	}
	if (!rc)
		rc = strcmp(format, "gguf") == 0 ? tk_model_write_gguf(m, cli->output, a->gguf_type)
						 : tk_model_write_tkc(m, cli->output);
	tk_model_free(m);
	return rc;
}

static const char *format_of(const merge_args *a, const char *out)
{
	if (a->format)
		return a->format;
	if (has_suffix(out, ".gguf"))
		return "gguf";
	if (has_suffix(out, ".tkc"))
		return "tkc";
	return a->adapter && !a->model ? "peft" : "hf";
}

static int refuse_existing(const char *out, int force)
{
	FILE *f = force ? NULL : fopen(out, "r");
	if (!f)
		return TK_OK;
	fclose(f);
	return tk_fail(TK_ECANTCREAT, "%s: exists (use --force to replace it)", out);
}

static int export_model(tk_model *m, const char *format, const char *out, const merge_args *a)
{
	if (strcmp(format, "hf") == 0)
		return tk_export_hf(m, out, a->dtype, a->force);
	int rc = refuse_existing(out, a->force);
	if (rc)
		return rc;
	if (strcmp(format, "tkc") == 0)
		return tk_model_write_tkc(m, out);
	return tk_model_write_gguf(m, out, a->gguf_type);
}

static int merge(const tk_cli *cli, const merge_args *a)
{
	const char *format = format_of(a, cli->output);
	static const char *const formats[] = {"hf", "peft", "gguf", "tkc"};
	int known = 0;
	for (int i = 0; i < 4; i++)
		known |= strcmp(format, formats[i]) == 0;
	if (!known)
		return tk_fail(TK_EUSAGE, "--format %s: expected hf, peft, gguf or tkc", format);
	if (strcmp(format, "peft") == 0 && !a->adapter)
		return tk_fail(TK_EUSAGE, "--format peft exports an adapter: give -a ADAPTER");
	int rc = dtype_fits(a, format);
	if (rc)
		return rc;
	tk_model *m;
	rc = tk_model_load(&m, a->model);
	if (rc)
		return rc;
	tk_lora *l = NULL;
	if (a->adapter)
		rc = tk_cli_lora_load(&l, a->adapter, m);
	if (!rc && strcmp(format, "peft") == 0)
		rc = tk_export_peft(l, a->model, cli->output, a->dtype, a->force);
	else if (!rc) {
		if (l)
			rc = tk_lora_merge_into(m, l);
		if (!rc)
			rc = export_model(m, format, cli->output, a);
	}
	tk_lora_free(l);
	tk_model_free(m);
	return rc;
}

/* ---- --average ----------------------------------------------------------- */

static int parse_weights(const char *list, size_t n, double *w)
{
	if (!list) {
		for (size_t i = 0; i < n; i++)
			w[i] = 1.0 / (double)n;
		return TK_OK;
	}
	size_t k = 0;
	double sum = 0;
	for (const char *p = list; *p && k <= n; k++) {
		char *end;
		double v = strtod(p, &end);
		if (end == p || (*end && *end != ',') || !(v >= 0) || k == n)
			return tk_fail(TK_EUSAGE, "--weights %s: expected %zu non-negative numbers", list, n);
		w[k] = v;
		sum += v;
		p = *end ? end + 1 : end;
	}
	if (k != n || !(sum > 0))
		return tk_fail(TK_EUSAGE, "--weights %s: expected %zu non-negative numbers, not all 0", list, n);
	for (size_t i = 0; i < n; i++)
		w[i] /= sum;
	return TK_OK;
}

static int same_layout(const tk_tkc *a, const tk_tkc *b, const char *path)
{
	if (a->count != b->count)
		return tk_fail(TK_EDATA, "%s: holds %zu tensors, the first checkpoint %zu", path, b->count, a->count);
	for (size_t i = 0; i < a->count; i++) {
		const tk_tensor_info *x = &a->tensors[i], *y = tk_tkc_find(b, x->name);
		if (!y || y->ndim != x->ndim || y->nbytes != x->nbytes ||
		    memcmp(y->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim) != 0)
			return tk_fail(TK_EDATA, "%s: tensor %s is missing or shaped differently", path, x->name);
		if (x->dtype == TK_I32)
			return tk_fail(TK_EDATA, "%s: tensor %s holds integers, which do not average", path, x->name);
	}
	return TK_OK;
}

/* Accumulates w * ckpt's tensors into sums (f64, one array per tensor). */
static void accumulate(double **sums, const tk_tkc *c, const tk_tkc *layout, double w)
{
	for (size_t i = 0; i < layout->count; i++) {
		const tk_tensor_info *t = tk_tkc_find(c, layout->tensors[i].name);
		size_t n = t->nbytes / tk_dtype_size(t->dtype);
		float v[1024];
		for (size_t j = 0; j < n; j += 1024) {
			size_t k = n - j < 1024 ? n - j : 1024;
			tk_dtype_to_f32(t->dtype, (const char *)t->data + j * tk_dtype_size(t->dtype), v, k);
			for (size_t q = 0; q < k; q++)
				sums[i][j + q] += w * v[q];
		}
	}
}

static int write_average(const tk_tkc *layout, double **sums, const char *out)
{
	tk_tkc_writer *w;
	int rc = tk_tkc_writer_open(&w, out, layout->meta_json, 1);
	for (size_t i = 0; i < layout->count && !rc; i++) {
		const tk_tensor_info *t = &layout->tensors[i];
		size_t n = t->nbytes / tk_dtype_size(t->dtype);
		float *f = tk_malloc(n * sizeof *f);
		void *data = tk_malloc(t->nbytes);
		rc = f && data ? TK_OK : TK_EOSERR;
		for (size_t j = 0; j < n && !rc; j++)
			f[j] = (float)sums[i][j];
		if (!rc) {
			tk_dtype_from_f32(t->dtype, f, data, n);
			rc = tk_tkc_write_tensor(w, t->name, t->dtype, t->ndim, t->shape, data);
		}
		free(f);
		free(data);
	}
	if (rc) {
		if (w)
			tk_tkc_writer_abort(w);
		return rc;
	}
	return tk_tkc_writer_close(w);
}

static int average(const tk_cli *cli, char **paths, size_t n, const merge_args *a)
{
	double *w = tk_calloc(n, sizeof *w);
	int rc = w ? parse_weights(a->weights, n, w) : TK_EOSERR;
	if (!rc)
		rc = refuse_existing(cli->output, a->force);
	tk_tkc *first = NULL;
	if (!rc)
		rc = tk_tkc_read(&first, paths[0]);
	double **sums = !rc ? tk_calloc(first->count, sizeof *sums) : NULL;
	for (size_t i = 0; sums && i < first->count && !rc; i++)
		if (!(sums[i] = tk_calloc(first->tensors[i].nbytes / tk_dtype_size(first->tensors[i].dtype), sizeof **sums)))
			rc = TK_EOSERR;
	if (!rc && !sums)
		rc = TK_EOSERR;
	if (!rc)
		accumulate(sums, first, first, w[0]);
	for (size_t k = 1; k < n && !rc; k++) {
		tk_tkc *c;
		rc = tk_tkc_read(&c, paths[k]);
		if (!rc)
			rc = same_layout(first, c, paths[k]);
		if (!rc)
			accumulate(sums, c, first, w[k]);
		tk_tkc_free(c);
	}
	if (!rc)
		rc = write_average(first, sums, cli->output);
	for (size_t i = 0; sums && i < first->count; i++)
		free(sums[i]);
	free(sums);
	tk_tkc_free(first);
	free(w);
	return rc;
}

int main(int argc, char **argv)
{
	tk_cli cli = {
		.name = "tk-merge",
		.usage = "--info FILE... | --init CONFIG.json [--tokenizer MODEL] [--dtype T] -o OUT.tkc|OUT.gguf\n"
			 "       | -m MODEL [-a ADAPTER] [--format hf|peft|gguf|tkc] [--dtype T] -o OUT\n"
			 "       | --average [--weights LIST] CKPT... -o OUT.tkc",
		.summary = "Inspect, create, merge, export and average models and checkpoints.",
		.options = options,
		.common = TK_CLI_SEED | TK_CLI_OUTPUT | TK_CLI_ADAPTERS,
	};
	tk_cli_init(&cli);
	int want_info = 0, want_average = 0;
	const char *init_config = NULL, *tokenizer = NULL, *value;
	merge_args args = {.dtype_name = "f32", .dtype = TK_F32, .gguf_type = TK_GGML_F32};
	for (int opt; (opt = tk_cli_next(&cli, argc, argv, &value)) >= 0;) {
		switch (opt) {
		case OPT_INFO: want_info = 1; break;
		case OPT_INIT: init_config = value; break;
		case OPT_TOKENIZER: tokenizer = value; break;
		case OPT_MODEL: args.model = value; break;
		case OPT_ADAPTER: args.adapter = value; break;
		case OPT_FORMAT: args.format = value; break;
		case OPT_FORCE: args.force = 1; break;
		case OPT_AVERAGE: want_average = 1; break;
		case OPT_WEIGHTS: args.weights = value; break;
		case OPT_DTYPE: tk_check(parse_dtype(&args, value)); break;
		}
	}
	if (want_info + !!init_config + want_average + !!(args.model || args.adapter) > 1)
		tk_die(TK_EUSAGE, "--info, --init, --average and -m/-a do different things: give one");
	if (args.model || args.adapter) {
		if (!args.model)
			tk_die(TK_EUSAGE, "-a needs the base model: give -m MODEL");
		if (strcmp(cli.output, "-") == 0)
			tk_die(TK_EUSAGE, "give the output with -o OUT");
		if (cli.first_operand < argc)
			tk_die(TK_EUSAGE, "unexpected operand '%s'", argv[cli.first_operand]);
		tk_check(merge(&cli, &args));
		return 0;
	}
	if (want_average) {
		if (argc - cli.first_operand < 1)
			tk_die(TK_EUSAGE, "--average needs checkpoints to average");
		if (strcmp(cli.output, "-") == 0)
			tk_die(TK_EUSAGE, "--average needs -o OUT.tkc");
		tk_check(average(&cli, argv + cli.first_operand, (size_t)(argc - cli.first_operand), &args));
		return 0;
	}
	if (init_config) {
		if (cli.first_operand < argc)
			tk_die(TK_EUSAGE, "--init takes no FILE operand (unexpected '%s')", argv[cli.first_operand]);
		if (strcmp(cli.output, "-") == 0)
			tk_die(TK_EUSAGE, "--init needs -o OUT.tkc (or OUT.gguf)");
		tk_check(init_model(&cli, &args, init_config, tokenizer));
		return 0;
	}
	if (tokenizer)
		tk_die(TK_EUSAGE, "--tokenizer goes with --init");
	if (!want_info)
		tk_die(TK_EUSAGE, "nothing to do: give --info, --init, -m or --average (see --help)");
	if (cli.first_operand >= argc)
		tk_die(TK_EUSAGE, "--info needs a FILE");
	for (int i = cli.first_operand; i < argc; i++) {
		if (i > cli.first_operand)
			putchar('\n');
		tk_check(info(argv[i]));
	}
	return fflush(stdout) == 0 ? 0 : TK_EIO;
}
