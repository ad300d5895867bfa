/* What tk-eval's subcommands share for input and output: the one input
 * operand, lines and reports written through a tk_outfile (a failed write
 * removes the file and exits), --per-record files. */
#ifndef TK_EVAL_IO_H
#define TK_EVAL_IO_H

#include "cli/tk_cli.h"
#include "tk_io.h"

#include <stddef.h>

struct tk_model;
struct tk_lora;
struct tk_eval_scorer;

/* The one input operand ("-" when none); more exit 64. */
const char *tk_eval_cli_input(const tk_cli *cli, int argc, char **argv);
/* Writes len bytes of data; a failed write removes out and exits. */
void tk_eval_cli_write(tk_outfile *out, const char *data, size_t len);
/* Writes a line the library made (rc its status) and frees it. */
void tk_eval_cli_write_line(tk_outfile *out, int rc, char *line);
/* The report (rc its status) as JSON, or with table as rows for people,
 * to cli->output; frees it. */
void tk_eval_cli_report(const tk_cli *cli, int rc, char *report, int table);
/* --per-record FILE (NULL: none), committed by _close. */
tk_outfile *tk_eval_cli_per_record_open(const char *path);
void tk_eval_cli_per_record_close(tk_outfile *out);

/* The model the model subcommands score with (-m, -a) and its scorer of
 * `slots` sequences (tk_eval.h); failures exit, a missing file 66. */
typedef struct tk_eval_model {
	const char *model_path, *adapter_path, *per_record_path;
	int table;
	struct tk_model *model;
	struct tk_lora *adapter;
	struct tk_eval_scorer *scorer;
} tk_eval_model;
void tk_eval_model_load(tk_eval_model *m, const tk_cli *cli, size_t slots);
void tk_eval_model_unload(tk_eval_model *m);

#endif
