/* What every tk command shares: option tables that generate --help, the
 * common options (-h, --version, -q, -t, --seed, -o), diagnostics as
 * "tk-NAME: message" on stderr, and sysexits-style exit codes. */
#ifndef TK_CLI_H
#define TK_CLI_H

#include <stdint.h>
#include <stdio.h>

typedef struct tk_option {
	const char *long_name; /* "max-len" */
	int short_name;        /* 'n', or 0 for long only */
	const char *arg;       /* "N" when the option takes a value, else NULL */
	const char *help;      /* one line */
} tk_option;

/* Which common options a command takes besides -h, --version and -q. */
enum { TK_CLI_THREADS = 1, TK_CLI_SEED = 2, TK_CLI_OUTPUT = 4, TK_CLI_BACKEND = 8,
       TK_CLI_ADAPTERS = 16 /* --accept-base: the command loads adapters */ };

typedef struct tk_cli {
	const char *name;        /* "tk-merge" */
	const char *usage;       /* "[OPTIONS] FILE..." */
	const char *summary;     /* one line: what the command does */
	const tk_option *options;/* the command's own, ended by {0} */
	unsigned common;         /* TK_CLI_* */
	/* common option values, filled by tk_cli_next */
	int quiet;
	int threads;             /* -t / TK_THREADS / all cores */
	const char *backend;     /* --backend / TK_BACKEND / "cpu" */
	uint64_t seed;
	int seed_given;
	const char *output;      /* -o, default "-" */
	int first_operand;       /* argv index of the first operand, at the end */
} tk_cli;

/* Sets the program name for diagnostics and the defaults. */
void tk_cli_init(tk_cli *cli);

/* Returns the index in cli->options of the next option (its value in
 * *value), or -1 when the options are done (operands start at
 * cli->first_operand).  Handles the common options itself; -h and --version
 * print and exit 0; a bad option exits 64 with a hint. */
int tk_cli_next(tk_cli *cli, int argc, char **argv, const char **value);

void tk_cli_print_help(const tk_cli *cli, FILE *out);

/* Value parsers: on a malformed or out-of-range value they exit 64 naming
 * the option. */
long long tk_cli_int(const tk_cli *cli, const char *option, const char *value,
		     long long min, long long max);
double tk_cli_double(const tk_cli *cli, const char *option, const char *value,
		     double min, double max);

/* tk_lora_load, and a note on stderr when the adapter was trained on other
 * base weights (accepted with --accept-base; refused otherwise). */
struct tk_lora;
struct tk_model;
int tk_cli_lora_load(struct tk_lora **out, const char *path, const struct tk_model *base);

/* Diagnostics: "tk-NAME: message" on stderr. */
void tk_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void tk_die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Exits with rc and the library's last message when rc is an error. */
void tk_check(int rc);
const char *tk_program_name(void);

#endif
