/* Encoding speed of tk's tokenizer: encodes every line of TEXTFILE as its
 * own text, REPEAT times, and prints the best MB/s by CPU time (what a
 * busy machine does not distort) and by wall time, with the number of ids
 * and a hash of them (so that a peer's ids can be compared).
 *
 *   tokenize (--json tokenizer.json | --gguf model.gguf) TEXTFILE [REPEAT] */
#include "tk_error.h"
#include "tk_gguf.h"
#include "tk_tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds_of(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double seconds(void) { return seconds_of(CLOCK_MONOTONIC); }
static double cpu_seconds(void) { return seconds_of(CLOCK_PROCESS_CPUTIME_ID); }

static int load_gguf(tk_tokenizer **out, const char *path)
{
	tk_gguf *g;
	int rc = tk_gguf_open(&g, path);
	if (rc)
		return rc;
	const tk_gguf_kv *tokens = tk_gguf_find_kv(g, "tokenizer.ggml.tokens");
	const tk_gguf_kv *merges = tk_gguf_find_kv(g, "tokenizer.ggml.merges");
	const tk_gguf_kv *types = tk_gguf_find_kv(g, "tokenizer.ggml.token_type");
	if (!tokens || !merges || !types) {
		tk_gguf_close(g);
		return tk_fail(TK_EDATA, "%s: no tokenizer.ggml vocabulary", path);
	}
	int32_t *tt = malloc(types->count * sizeof *tt);
	if (!tt) {
		tk_gguf_close(g);
		return TK_EOSERR;
	}
	for (uint64_t i = 0; i < types->count; i++)
		tt[i] = (int32_t)tk_gguf_array_int(types, i);
	tk_vocab_spec spec = {.model = "gpt2", .bos_id = -1, .eos_id = -1, .pad_id = -1};
	tk_gguf_get_str(g, "tokenizer.ggml.pre", &spec.pre);
	spec.n_tokens = tokens->count;
	spec.tokens = (const char *const *)tokens->strs;
	spec.token_lens = tokens->str_lens;
	spec.token_types = tt;
	spec.n_merges = merges->count;
	spec.merges = (const char *const *)merges->strs;
	spec.merge_lens = merges->str_lens;
	rc = tk_tokenizer_from_vocab(out, &spec);
	free(tt);
	tk_gguf_close(g);
	return rc;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 4 || (strcmp(argv[1], "--json") && strcmp(argv[1], "--gguf"))) {
		fprintf(stderr, "usage: tokenize (--json tokenizer.json | --gguf model.gguf) TEXTFILE [REPEAT]\n");
		return 64;
	}
	tk_tokenizer *tok;
	double t0 = seconds();
	int rc = strcmp(argv[1], "--json") == 0 ? tk_tokenizer_load_json(&tok, argv[2], NULL)
						: load_gguf(&tok, argv[2]);
	if (rc) {
		fprintf(stderr, "tokenize: %s\n", tk_error_message());
		return 1;
	}
	double load_s = seconds() - t0;
	size_t len;
	char *text = slurp(argv[3], &len);
	if (!text) {
		fprintf(stderr, "tokenize: cannot read %s\n", argv[3]);
		return 66;
	}
	int repeat = argc > 4 ? atoi(argv[4]) : 3;
	double best = 1e30, best_cpu = 1e30;
	size_t n_ids = 0;
	uint64_t hash = 0;
	tk_tokens ids = {0};
	for (int r = 0; r < repeat; r++) {
		n_ids = 0;
		hash = 0xcbf29ce484222325ull;
		double start = seconds(), start_cpu = cpu_seconds();
		for (char *line = text, *end; line < text + len; line = end + 1) {
			end = memchr(line, '\n', (size_t)(text + len - line));
			if (!end)
				end = text + len;
			ids.n = 0;
			if (tk_tokenizer_encode(tok, line, (size_t)(end - line), 0, &ids)) {
				fprintf(stderr, "tokenize: %s\n", tk_error_message());
				return 1;
			}
			n_ids += ids.n;
			for (size_t i = 0; i < ids.n; i++)
				hash = (hash ^ (uint32_t)ids.ids[i]) * 0x100000001b3ull;
		}
		double dt = seconds() - start, dt_cpu = cpu_seconds() - start_cpu;
		best = dt < best ? dt : best;
		best_cpu = dt_cpu < best_cpu ? dt_cpu : best_cpu;
	}
	printf("tk: %.1f MB/s of CPU, %.1f MB/s wall (%zu bytes, %zu ids, best of %d; load %.2f s) ids-hash %016llx\n",
	       len / best_cpu / 1e6, len / best / 1e6, len, n_ids, repeat, load_s,
	       (unsigned long long)hash);
	tk_tokens_free(&ids);
	tk_tokenizer_free(tok);
	free(text);
	return 0;
}
