/* The command-line option parser (lib/cli: tk_cli_next, tk_cli_int,
 * tk_cli_double) over a fuzzed argv: the input's NUL-separated pieces
 * after "tk-fuzz".
 *
 * The parser exits (64 for bad usage, 0 for --help and --version), as a
 * command must.  Forking per input would hide the child's coverage from
 * libFuzzer, so this harness is linked with -Wl,--wrap=exit: while a parse
 * runs, exit() longjmps back here with its status, which must be 0 or 64;
 * at any other time (libFuzzer's own exit) it is the real exit.  getopt's
 * hidden state is reset before each parse, since a parse cut short by
 * exit never finishes it. */
#include "harness.h"

#include <getopt.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tk_cli.h"
#include "tk_error.h"

#define MAX_ARGS 64

void __real_exit(int status);
_Noreturn void __wrap_exit(int status);

static jmp_buf back;
static volatile int parsing;
static volatile int exit_status;

_Noreturn void __wrap_exit(int status)
{
	if (parsing) {
		parsing = 0;
		exit_status = status;
		longjmp(back, 1);
	}
	__real_exit(status);
	abort(); /* not reached: tells the compiler so */
}

/* A command's table: values of each kind, short and long names. */
static const tk_option options[] = {
	{"max-len", 'n', "N", "an integer"},
	{"lr", 0, "X", "a number"},
	{"format", 'f', "NAME", "a word"},
	{"resume", 0, NULL, "a flag"},
	{"verbose", 'v', NULL, "a short flag"},
	{0},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	/* what --help and diagnostics print is not under test */
	FILE *null = fopen("/dev/null", "w");
	if (!null)
		abort();
	stdout = null;
	stderr = null;
	unsetenv("TK_THREADS");
	unsetenv("TK_BACKEND");
	return 0;
}

/* GNU getopt re-initialises itself when optind is 0. */
static void reset_getopt(void)
{
	static char name[] = "tk-fuzz";
	char *argv[] = {name, NULL};
	optind = 0;
	while (getopt(1, argv, "") != -1)
		;
}

static int split_args(char *buf, size_t size, char **argv)
{
	static char name[] = "tk-fuzz";
	int argc = 0;
	argv[argc++] = name;
	for (size_t at = 0; at < size && argc < MAX_ARGS; at += strlen(buf + at) + 1)
		argv[argc++] = buf + at;
	argv[argc] = NULL;
	return argc;
}

static void parse(tk_cli *cli, int argc, char **argv)
{
	const char *value;
	int opt;
	while ((opt = tk_cli_next(cli, argc, argv, &value)) != -1) {
		FUZZ_REQUIRE(opt >= 0 && opt < (int)(sizeof options / sizeof *options) - 1,
			     "option index %d", opt);
		FUZZ_REQUIRE(!options[opt].arg || value, "--%s without its value",
			     options[opt].long_name);
		if (opt == 0)
			tk_cli_int(cli, "max-len", value, 1, 1000000);
		else if (opt == 1)
			tk_cli_double(cli, "lr", value, 0, 1);
	}
	FUZZ_REQUIRE(cli->first_operand >= 1 && cli->first_operand <= argc, "first operand %d of %d",
		     cli->first_operand, argc);
	FUZZ_REQUIRE(cli->threads >= 1 && cli->output && cli->backend, "common values unset");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_strndup(data, size);
	char *argv[MAX_ARGS + 1];
	int argc = split_args(buf, size, argv);
	tk_cli cli = {.name = "tk-fuzz", .usage = "[OPTIONS] FILE...", .summary = "fuzz",
		      .options = options,
		      .common = TK_CLI_THREADS | TK_CLI_SEED | TK_CLI_OUTPUT | TK_CLI_BACKEND};
	tk_cli_init(&cli);
	reset_getopt();
	if (setjmp(back) == 0) {
		parsing = 1;
		parse(&cli, argc, argv);
		parsing = 0;
	} else {
		FUZZ_REQUIRE(exit_status == 0 || exit_status == 64, "exit status %d", exit_status);
	}
	free(buf);
	tk_error_clear();
	return 0;
}
