/* tk-merge: the model-file tool.  --info says what a token stream,
 * checkpoint or model holds; --init makes a model with random weights. */
#include "tk_cli.h"
#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_io.h"
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
	{0},
};

enum { OPT_INFO, OPT_INIT, OPT_TOKENIZER };

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
	int rc = tk_model_load(&m, path);
	if (rc)
		return rc;
	*out = m->tokenizer;
	m->tokenizer = NULL;
	tk_model_free(m);
	if (!*out)
		return tk_fail(TK_EDATA, "%s: has no tokenizer", path);
	return TK_OK;
}

static int init_model(const tk_cli *cli, const char *config_path, const char *tokenizer_path)
{
	char *json;
	tk_model_config config;
	int rc = tk_read_text(config_path, (size_t)16 << 20, &json, NULL);
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
		rc = tk_model_write_tkc(m, cli->output);
	tk_model_free(m);
	return rc;
}

int main(int argc, char **argv)
{
	tk_cli cli = {
		.name = "tk-merge",
		.usage = "--info FILE... | --init CONFIG.json [--tokenizer MODEL] [--seed S] -o OUT.tkc",
		.summary = "Inspect and create model files, token streams and checkpoints.",
		.options = options,
		.common = TK_CLI_SEED | TK_CLI_OUTPUT,
	};
	tk_cli_init(&cli);
	int want_info = 0;
	const char *init_config = NULL, *tokenizer = NULL, *value;
	for (int opt; (opt = tk_cli_next(&cli, argc, argv, &value)) >= 0;) {
		if (opt == OPT_INFO)
			want_info = 1;
		else if (opt == OPT_INIT)
			init_config = value;
		else if (opt == OPT_TOKENIZER)
			tokenizer = value;
	}
	if (want_info && init_config)
		tk_die(TK_EUSAGE, "--info and --init do different things: give one");
	if (init_config) {
		if (cli.first_operand < argc)
			tk_die(TK_EUSAGE, "--init takes no FILE operand (unexpected '%s')", argv[cli.first_operand]);
		if (strcmp(cli.output, "-") == 0)
			tk_die(TK_EUSAGE, "--init needs -o OUT.tkc");
		tk_check(init_model(&cli, init_config, tokenizer));
		return 0;
	}
	if (tokenizer)
		tk_die(TK_EUSAGE, "--tokenizer goes with --init");
	if (!want_info)
		tk_die(TK_EUSAGE, "nothing to do: give --info FILE or --init CONFIG (see --help)");
	if (cli.first_operand >= argc)
		tk_die(TK_EUSAGE, "--info needs a FILE");
	for (int i = cli.first_operand; i < argc; i++) {
		if (i > cli.first_operand)
			putchar('\n');
		tk_check(info(argv[i]));
	}
	return fflush(stdout) == 0 ? 0 : TK_EIO;
}
