/* A sampling request of tk-serve, parsed and run (sample_run.c). */
#ifndef TK_SERVE_SAMPLE_H
#define TK_SERVE_SAMPLE_H

#include "serve.h"
#include "tk_sampler.h"

typedef struct serve_sample_req {
	char *session, *path, *base;    /* which model (one of them) */
	int32_t *prompt;
	size_t prompt_len;
	size_t n;                       /* num_samples */
	size_t max_tokens;
	uint64_t seed;
	tk_sampler_params params;
	int stop_given;                 /* 0: the tokenizer's eos */
	int32_t *stop_ids;
	size_t n_stop_ids;
	char **stop_strings;
	size_t n_stop_strings;
	int prompt_logprobs;
} serve_sample_req;

/* SampleRequest's JSON (and an OpenAI body's sampling fields after
 * serve_sample_parse_openai) into q; a message in err. */
int serve_sample_parse(const cJSON *in, serve_sample_req *q, char *err, size_t cap);
void serve_sample_req_free(void *q);

/* Generates q->n sequences on p; prompt logprobs (NaN first) when asked. */
int serve_sample_run(serve *s, serve_sampler *p, const serve_sample_req *q, serve_seq **seqs,
		     float **prompt_logprobs, char *err, size_t cap);
void serve_seqs_free(serve_seq *seqs, size_t n);

/* The sampler of a tinker:// sampler path, loaded if need be (worker). */
serve_sampler *serve_sampler_for_path(serve *s, const char *tinker_path);

#endif
