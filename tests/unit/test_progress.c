/* The progress reporter: plain lines when not a terminal, nothing when
 * quiet, a final line with the count. */
#include "tk_progress.h"
#include "tkt.h"

static char *run_progress(int quiet, const char *interval)
{
	static char text[4096];
	FILE *out = tmpfile();
	setenv("TK_PROGRESS_INTERVAL", interval, 1);
	tk_progress p = {0};
	p.out = out;
	tk_progress_start(&p, "render", "records", 3, quiet);
	for (uint64_t i = 1; i <= 3; i++)
		tk_progress_update(&p, i);
	tk_progress_finish(&p);
	rewind(out);
	size_t n = fread(text, 1, sizeof text - 1, out);
	text[n] = '\0';
	fclose(out);
	return text;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_plain_lines_when_not_a_terminal(void)
{
	char *text = run_progress(0, "0");
	TKT_CHECK(count_lines(text) == 3, "3 updates, the last one final, got:\n%s", text);
	TKT_CHECK(strstr(text, "render: 3/3 records (100%)") != NULL, "got:\n%s", text);
	TKT_CHECK(strchr(text, '\r') == NULL && strchr(text, '\033') == NULL, "no terminal codes in a log");
}

static void test_long_interval_prints_only_the_end(void)
{
	char *text = run_progress(0, "1000");
	TKT_CHECK(count_lines(text) == 1, "got:\n%s", text);
}

static void test_quiet_prints_nothing(void)
{
	char *text = run_progress(1, "0");
	TKT_CHECK(text[0] == '\0', "got:\n%s", text);
}

int main(void)
{
	TKT_RUN(test_plain_lines_when_not_a_terminal);
	TKT_RUN(test_long_interval_prints_only_the_end);
	TKT_RUN(test_quiet_prints_nothing);
	return tkt_done();
}
