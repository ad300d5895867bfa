/* tk-eval's input and output (eval_io.h). */
#include "cli/eval_io.h"

#include "tk_error.h"
#include "tk_eval.h"

#include "tk_lora.h"
#include "tk_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The one input operand ("-" when none). */
const char *tk_eval_cli_input(const tk_cli *cli, int argc, char **argv)
{
	if (cli->first_operand < argc - 1)
		tk_die(TK_EUSAGE, "one input at most (got %d); concatenate them with cat",
		       argc - cli->first_operand);
	return cli->first_operand < argc ? argv[cli->first_operand] : "-";
}

/* Writes len bytes of data; a failed write removes out and exits. */
void tk_eval_cli_write(tk_outfile *out, const char *data, size_t len)
{
	int rc = tk_outfile_write(out, data, len);
	if (rc) {
		tk_outfile_abort(out);
		tk_check(rc);
	}
}

/* Writes a line the library made (rc its status) and frees it. */
void tk_eval_cli_write_line(tk_outfile *out, int rc, char *line)
{
	tk_check(rc);
	tk_eval_cli_write(out, line, strlen(line));
	tk_eval_cli_write(out, "\n", 1);
	free(line);
}

/* The report (rc its status) as JSON, or with table as rows for people. */
void tk_eval_cli_report(const tk_cli *cli, int rc, char *report, int table)
{
	tk_check(rc);
	char *rows = NULL;
	if (table)
		tk_check(tk_eval_report_table(report, &rows));
	tk_outfile *out;
	tk_check(tk_outfile_open(&out, cli->output, 0));
	if (rows) {
		tk_eval_cli_write(out, rows, strlen(rows));
		free(rows);
		free(report);
	} else {
		tk_eval_cli_write_line(out, TK_OK, report); // frees it
	}
	tk_check(tk_outfile_commit(out));
}

/* --per-record FILE: one JSON line per sample, record or question.  A
 * run that dies on bad input or a failed write leaves no part of it (the
 * library removes uncommitted files at exit). */
tk_outfile *tk_eval_cli_per_record_open(const char *path)
{
	if (!path)
		return NULL;
	tk_outfile *out;
	tk_check(tk_outfile_open(&out, path, 0));
	return out;
}

void tk_eval_cli_per_record_close(tk_outfile *out)
{
	if (out)
		tk_check(tk_outfile_commit(out));
}

void tk_eval_model_load(tk_eval_model *m, const tk_cli *cli, size_t slots)
{
	if (!m->model_path)
		tk_die(TK_EUSAGE, "-m MODEL is needed");
	if (tk_model_load(&m->model, m->model_path))
		tk_die(TK_ENOINPUT, "%s", tk_error_message());
	if (!m->model->tokenizer)
		tk_die(TK_ECONFIG, "%s: the model has no tokenizer", m->model_path);
	/* a missing file is missing input (66), not bad data */
	if (m->adapter_path && strcmp(m->adapter_path, "-") && access(m->adapter_path, R_OK))
		tk_die(TK_ENOINPUT, "%s: cannot open: %s", m->adapter_path, strerror(errno));
	int rc = m->adapter_path ? tk_cli_lora_load(&m->adapter, m->adapter_path, m->model) : TK_OK;
	if (rc)
		tk_die(rc, "%s", tk_error_message());
	tk_check(tk_eval_scorer_open(&m->scorer, cli->backend, cli->threads, m->model, m->adapter,
				     slots));
}

void tk_eval_model_unload(tk_eval_model *m)
{
	tk_eval_scorer_close(m->scorer);
	tk_lora_free(m->adapter);
	tk_model_free(m->model);
}
