/* The sampling options (sample_options.h). */
#include "sample_options.h"

#include "tk_error.h"

#include <stdint.h>
#include <string.h>

void tk_sample_opts_init(tk_sample_opts *o, size_t max_tokens, size_t min_tokens)
{
	*o = (tk_sample_opts){.params = {1.0f, 0, 1.0f}, .max_tokens = max_tokens,
			      .min_tokens = min_tokens};
}

int tk_sample_opts_parse(const tk_cli *cli, tk_sample_opts *o, const char *name,
			 const char *v)
{
	if (!strcmp(name, "temperature")) {
		o->params.temperature = (float)tk_cli_double(cli, "temperature", v, 0, 1e6);
	} else if (!strcmp(name, "top-p")) {
		o->params.top_p = (float)tk_cli_double(cli, "top-p", v, 1e-9, 1);
	} else if (!strcmp(name, "top-k")) {
		o->params.top_k = (int)tk_cli_int(cli, "top-k", v, 0, INT32_MAX);
	} else if (!strcmp(name, "max-tokens")) {
		o->max_tokens = (size_t)tk_cli_int(cli, "max-tokens", v, (long long)o->min_tokens,
						   1 << 24);
	} else if (!strcmp(name, "stop")) {
		if (o->n_stops == TK_GEN_MAX_STOPS || !*v)
			tk_die(TK_EUSAGE, "--stop: at most %d non-empty strings", TK_GEN_MAX_STOPS);
		o->stops[o->n_stops++] = v;
	} else if (!strcmp(name, "renderer")) {
		o->renderer = v;
	} else {
		return 0;
	}
	return 1;
}
