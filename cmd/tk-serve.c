/* tk-serve: the Tinker HTTP API on tk's engine, so programs written
 * against the tinker SDK run here unchanged but for the base URL.  The
 * options are parsed here; the server is lib/serve (serve.h); see
 * tk-serve(1). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tk_cli.h"
#include "serve/serve.h"
#include "tk_engine.h"
#include "tk_error.h"

static const tk_option options[] = {
	{"host", 0, "HOST", "address to listen on (default 127.0.0.1: this machine only)"},
	{"port", 'p', "PORT", "port to listen on (default 8000; 0: any free one)"},
	{"model", 'm', "NAME=PATH", "serve the model at PATH under NAME (repeatable)"},
	{"api-key", 0, "KEY", "accept only this API key (default: any)"},
	{"state-dir", 0, "DIR", "where tinker:// checkpoints live (default tk-serve-state)"},
	{"max-tokens", 0, "N", "tokens of one training pass (default 4096)"},
	{"max-body", 0, "BYTES", "largest request body (default 268435456)"},
	{"lora-alpha", 0, "A", "LoRA alpha of new adapters (default 32)"},
	{"max-queue", 0, "N", "requests waiting at most; more get 429, which the SDK retries (default 1024)"},
	{"base-dtype", 0, "D", "frozen base: f32 (default), auto, bf16, q8 or q4 (tk-sft(1))"},
	{0},
};

enum { OPT_HOST, OPT_PORT, OPT_MODEL, OPT_API_KEY, OPT_STATE_DIR, OPT_MAX_TOKENS,
       OPT_MAX_BODY, OPT_LORA_ALPHA, OPT_MAX_QUEUE, OPT_BASE_DTYPE };

static void add_model(serve_config *c, const char *v)
{
	const char *eq = strchr(v, '=');
	if (!eq || eq == v || !eq[1])
		tk_die(TK_EUSAGE, "--model %s: NAME=PATH expected", v);
	serve_model_arg *m = realloc(c->models, (c->n_models + 1) * sizeof *m);
	if (!m)
		tk_die(TK_EOSERR, "out of memory");
	c->models = m;
	m[c->n_models].name = strndup(v, (size_t)(eq - v));
	m[c->n_models].path = strdup(eq + 1);
	if (!m[c->n_models].name || !m[c->n_models].path)
		tk_die(TK_EOSERR, "out of memory");
	c->n_models++;
}

static void parse_options(serve_config *c, tk_cli *cli, int argc, char **argv)
{
	*c = (serve_config){.host = "127.0.0.1", .port = 8000, .state_dir = "tk-serve-state",
			    .max_tokens = 4096, .max_body = 256u << 20, .max_queue = 1024, .lora_alpha = 32};
	const char *v;
	int o;
	while ((o = tk_cli_next(cli, argc, argv, &v)) >= 0) {
		switch (o) {
		case OPT_HOST: c->host = v; break;
		case OPT_PORT: c->port = (int)tk_cli_int(cli, "port", v, 0, 65535); break;
		case OPT_MODEL: add_model(c, v); break;
		case OPT_API_KEY: c->api_key = v; break;
		case OPT_STATE_DIR: c->state_dir = v; break;
		case OPT_MAX_TOKENS:
			c->max_tokens = (size_t)tk_cli_int(cli, "max-tokens", v, 16, 1 << 24);
			break;
		case OPT_MAX_BODY:
			c->max_body = (size_t)tk_cli_int(cli, "max-body", v, 1024, 1ll << 40);
			break;
		case OPT_LORA_ALPHA:
			c->lora_alpha = tk_cli_double(cli, "lora-alpha", v, 1e-6, 1e6);
			break;
		case OPT_MAX_QUEUE:
			c->max_queue = (size_t)tk_cli_int(cli, "max-queue", v, 1, 1 << 24);
			break;
		case OPT_BASE_DTYPE:
			if ((c->base_dtype = tk_engine_base_parse(v)) < 0)
				tk_die(TK_EUSAGE, "--base-dtype %s: f32, auto, bf16, q8 or q4", v);
			break;
		}
	}
	if (cli->first_operand < argc)
		tk_die(TK_EUSAGE, "no operands expected (got %s)", argv[cli->first_operand]);
	c->backend = cli->backend;
	c->threads = cli->threads;
	c->quiet = cli->quiet;
}

int main(int argc, char **argv)
{
	tk_cli cli = {
		.name = "tk-serve",
		.usage = "[OPTIONS]",
		.summary = "serve the Tinker API (training, sampling, checkpoints) on tk's engine",
		.options = options,
		.common = TK_CLI_THREADS | TK_CLI_BACKEND,
	};
	tk_cli_init(&cli);
	serve_config c;
	parse_options(&c, &cli, argc, argv);
	/* The signals are taken by sigwait below; every thread started after
	 * this inherits the mask, so none of them is interrupted. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	serve *s;
	tk_check(serve_open(&s, &c));
	int sig = 0;
	sigwait(&stop, &sig);
	if (!c.quiet)
		fprintf(stderr, "tk-serve: %s: finishing the running request, failing the "
			"queued ones\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
	serve_close(s);
	for (size_t i = 0; i < c.n_models; i++) {
		free(c.models[i].name);
		free(c.models[i].path);
	}
	free(c.models);
	return 0;
}
