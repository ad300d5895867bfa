/* The options of every command that samples (tk-sample, tk-rl): the
 * sampler's temperature, top-p and top-k, --max-tokens, --stop strings and
 * the chat --renderer, parsed by one implementation.  A command puts
 * TK_SAMPLE_OPTION_ROWS(its default --max-tokens, as a string) in its
 * option table and hands each option to tk_sample_opts_parse first. */
#ifndef TK_SAMPLE_OPTIONS_H
#define TK_SAMPLE_OPTIONS_H

#include <stddef.h>

#include "tk_cli.h"
#include "tk_sampler.h"

typedef struct tk_sample_opts {
	tk_sampler_params params;
	size_t max_tokens, min_tokens;        /* --max-tokens, and its lowest value */
	const char *stops[TK_GEN_MAX_STOPS];  /* --stop, in order */
	size_t n_stops;
	const char *renderer;
} tk_sample_opts;

#define TK_SAMPLE_OPTION_ROWS(MAX_TOKENS) \
	{"temperature", 0, "T", "sampling temperature, 0 for greedy (default 1)"}, \
	{"top-p", 0, "P", "keep the most probable tokens summing to P (default 1: all)"}, \
	{"top-k", 0, "K", "keep the K most probable tokens (default 0: all)"}, \
	{"max-tokens", 0, "N", "new tokens per completion, at most (default " MAX_TOKENS ")"}, \
	{"stop", 0, "STR", "also stop when the completion's text holds STR (repeatable)"}, \
	{"renderer", 0, "NAME", "chat renderer (default: from the model's chat template)"}

/* Defaults: temperature 1, top-p 1, top-k 0, max_tokens (at least
 * min_tokens when given). */
void tk_sample_opts_init(tk_sample_opts *o, size_t max_tokens, size_t min_tokens);
/* 1 when the option named `name` is one of the rows (parsed into o; a bad
 * value exits 64), 0 otherwise. */
int tk_sample_opts_parse(const tk_cli *cli, tk_sample_opts *o, const char *name,
			 const char *value);

#endif
