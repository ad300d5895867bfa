#include "tk_cli.h"
#include "tk_dist.h"
#include "tk_error.h"
#include "tk_io.h"
#include "tk_lora.h"
#include "tk_model.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *program_name = "tk";

const char *tk_program_name(void) { return program_name; }

static void vreport(const char *fmt, va_list ap)
{
	if (tk_dist_is_root()) // with several ranks, the others say which they are
		fprintf(stderr, "%s: ", program_name);
	else
		fprintf(stderr, "%s[%d]: ", program_name, tk_dist_rank());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void tk_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
}

void tk_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	tk_dist_exit(code); // one rank failing ends the job (tk_dist.h)
	exit(code);
}

void tk_check(int rc)
{
	if (rc == TK_OK || rc == TK_END)
		return;
	const char *msg = tk_error_message();
	tk_die(rc, "%s", *msg ? msg : "failed (no message: this is a bug)");
}

static int default_threads(void)
{
	const char *env = getenv("TK_THREADS");
	if (env && *env) {
		char *end;
		long n = strtol(env, &end, 10);
		if (*end == '\0' && n >= 1 && n <= 4096)
			return (int)n;
		tk_warn("ignoring TK_THREADS=%s (not a thread count)", env);
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n >= 1 ? (int)n : 1;
}

void tk_cli_init(tk_cli *cli)
{
	static int cleanup_registered;
	if (!cleanup_registered) {
		/* a command that dies half-way (tk_die) leaves no temporary
		 * output file behind, whoever opened it */
		cleanup_registered = atexit(tk_outfile_discard_pending) == 0;
	}
	program_name = cli->name;
	cli->quiet = 0;
	cli->threads = default_threads();
	cli->seed = 0;
	cli->seed_given = 0;
	cli->output = "-";
	const char *backend = getenv("TK_BACKEND");
	cli->backend = backend && *backend ? backend : "cpu";
	cli->first_operand = 0;
}

/* The common options come after the command's own in the table built for
 * getopt_long; their `val` codes sit above any char. */
enum { OPT_HELP = 1000, OPT_VERSION, OPT_QUIET, OPT_THREADS, OPT_SEED, OPT_OUTPUT, OPT_BACKEND,
       OPT_ACCEPT_BASE };

static const tk_option common_options[] = {
	{"threads", 't', "N", "threads to use (default: TK_THREADS or all cores)"},
	{"backend", 0, "NAME", "compute backend: cpu or ref (default: TK_BACKEND or cpu)"},
	{"seed", 0, "S", "random seed, for repeatable runs"},
	{"output", 'o', "FILE", "write the result to FILE ('-': stdout)"},
	{"accept-base", 0, NULL, "use an adapter on base weights other than its own (said on stderr)"},
	{"quiet", 'q', NULL, "no progress output"},
	{"help", 'h', NULL, "show this help and exit"},
	{"version", 0, NULL, "show the version and exit"},
};

static int common_enabled(const tk_cli *cli, int i)
{
	static const unsigned needs[] = {TK_CLI_THREADS, TK_CLI_BACKEND, TK_CLI_SEED, TK_CLI_OUTPUT,
					 TK_CLI_ADAPTERS, 0, 0, 0};
	return needs[i] == 0 || (cli->common & needs[i]);
}

static size_t count_options(const tk_option *o)
{
	size_t n = 0;
	while (o && o[n].long_name)
		n++;
	return n;
}

static void print_option(FILE *out, const tk_option *o)
{
	char left[64];
	if (o->short_name)
		snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->long_name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
	else
		snprintf(left, sizeof left, "    --%s%s%s", o->long_name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
	fprintf(out, "  %-26s %s\n", left, o->help);
}

void tk_cli_print_help(const tk_cli *cli, FILE *out)
{
	fprintf(out, "Usage: %s %s\n%s\n\nOptions:\n", cli->name, cli->usage, cli->summary);
	for (size_t i = 0; i < count_options(cli->options); i++)
		print_option(out, &cli->options[i]);
	for (int i = 0; i < (int)(sizeof common_options / sizeof *common_options); i++)
		if (common_enabled(cli, i))
			print_option(out, &common_options[i]);
	fprintf(out, "\nFILE '-' means standard input or output.  See %s(1).\n", cli->name);
}

static void usage_error(const tk_cli *cli, const char *what)
{
	fprintf(stderr, "%s: %s\nTry '%s --help' for the options.\n", cli->name, what, cli->name);
	exit(TK_EUSAGE);
}

static struct option *build_long_options(const tk_cli *cli, char *shorts, size_t shorts_size)
{
	size_t n = count_options(cli->options), k = 0, s = 0;
	struct option *lo = calloc(n + 8, sizeof *lo);
	if (!lo)
		tk_die(TK_EOSERR, "out of memory");
	shorts[s++] = ':';
	for (size_t i = 0; i < n; i++) {
		const tk_option *o = &cli->options[i];
		lo[k++] = (struct option){o->long_name, o->arg ? required_argument : no_argument, NULL, (int)(2000 + i)};
		if (o->short_name && s + 3 < shorts_size) {
			shorts[s++] = (char)o->short_name;
			if (o->arg)
				shorts[s++] = ':';
		}
	}
	static const int codes[] = {OPT_THREADS, OPT_BACKEND, OPT_SEED, OPT_OUTPUT, OPT_ACCEPT_BASE,
				    OPT_QUIET, OPT_HELP, OPT_VERSION};
	for (int i = 0; i < 8; i++) {
		if (!common_enabled(cli, i))
			continue;
		const tk_option *o = &common_options[i];
		lo[k++] = (struct option){o->long_name, o->arg ? required_argument : no_argument, NULL, codes[i]};
		if (o->short_name && s + 3 < shorts_size) {
			shorts[s++] = (char)o->short_name;
			if (o->arg)
				shorts[s++] = ':';
		}
	}
	shorts[s] = '\0';
	return lo;
}

/* Maps a short option letter to the getopt code of its table entry. */
static int code_for_short(const tk_cli *cli, int c)
{
	size_t n = count_options(cli->options);
	for (size_t i = 0; i < n; i++)
		if (cli->options[i].short_name == c)
			return (int)(2000 + i);
	switch (c) {
	case 't': return OPT_THREADS;
	case 'o': return OPT_OUTPUT;
	case 'q': return OPT_QUIET;
	case 'h': return OPT_HELP;
	}
	return c;
}

static int handle_common(tk_cli *cli, int code, const char *value)
{
	switch (code) {
	case OPT_HELP:
		tk_cli_print_help(cli, stdout);
		exit(0);
	case OPT_VERSION:
		printf("%s %s\n", cli->name, TK_VERSION);
		exit(0);
	case OPT_QUIET:
		cli->quiet = 1;
		return 1;
	case OPT_THREADS:
		cli->threads = (int)tk_cli_int(cli, "threads", value, 1, 4096);
		return 1;
	case OPT_SEED:
		cli->seed = (uint64_t)tk_cli_int(cli, "seed", value, 0, INT64_MAX);
		cli->seed_given = 1;
		return 1;
	case OPT_OUTPUT:
		cli->output = value;
		return 1;
	case OPT_BACKEND:
		cli->backend = value;
		return 1;
	case OPT_ACCEPT_BASE:
		tk_lora_accept_other_base(1);
		return 1;
	}
	return 0;
}

int tk_cli_next(tk_cli *cli, int argc, char **argv, const char **value)
{
	static struct option *long_options;
	static char shorts[128];
	if (!long_options) {
		long_options = build_long_options(cli, shorts, sizeof shorts);
		opterr = 0;
		optind = 1;
	}
	for (;;) {
		int c = getopt_long(argc, argv, shorts, long_options, NULL);
		if (c == -1) {
			cli->first_operand = optind;
			free(long_options);
			long_options = NULL;
			return -1;
		}
		if (c == '?' || c == ':') {
			char what[160];
			const char *name = argv[optind - 1];
			if (optopt && optopt < 256)
				snprintf(what, sizeof what, c == ':' ? "option -%c needs a value" : "unknown option -%c", optopt);
			else
				snprintf(what, sizeof what, c == ':' ? "option %s needs a value" : "unknown option %s", name);
			usage_error(cli, what);
		}
		if (c < 256)
			c = code_for_short(cli, c);
		if (handle_common(cli, c, optarg))
			continue;
		*value = optarg;
		return c - 2000;
	}
}

long long tk_cli_int(const tk_cli *cli, const char *option, const char *value,
		     long long min, long long max)
{
	char *end;
	errno = 0;
	long long v = strtoll(value, &end, 10);
	if (errno || end == value || *end != '\0' || v < min || v > max) {
		char what[256];
		snprintf(what, sizeof what, "--%s: '%s' is not an integer in [%lld, %lld]",
			 option, value, min, max);
		usage_error(cli, what);
	}
	return v;
}

double tk_cli_double(const tk_cli *cli, const char *option, const char *value,
		     double min, double max)
{
	char *end;
	errno = 0;
	double v = strtod(value, &end);
	if (errno || end == value || *end != '\0' || !isfinite(v) || v < min || v > max) {
		char what[256];
		snprintf(what, sizeof what, "--%s: '%s' is not a number in [%g, %g]",
			 option, value, min, max);
		usage_error(cli, what);
	}
	return v;
}

int tk_cli_lora_load(struct tk_lora **out, const char *path, const struct tk_model *base)
{
	int rc = tk_lora_load(out, path, base);
	if (!rc && (*out)->other_base)
		tk_warn("%s: trained on other base weights than %s's; used on them as "
			"--accept-base asks", path, base->path);
	return rc;
}
