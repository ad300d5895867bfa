/* The atomic output file: complete files appear under the final name only
 * on commit; aborts, full devices and terminals are handled. */
#define _GNU_SOURCE
#include "tk_error.h"
#include "tk_io.h"
#include "tkt.h"

#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char path_buf[512];

static const char *scratch(const char *name)
{
	snprintf(path_buf, sizeof path_buf, "%s/%s", tkt_tmpdir(), name);
	return path_buf;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Counts the files in the scratch folder whose name starts with prefix. */
static int count_files(const char *prefix)
{
	DIR *d = opendir(tkt_tmpdir());
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_commit_makes_file(void)
{
	const char *path = scratch("commit.bin");
	unlink(path);
	tk_outfile *f;
	TKT_CHECK(tk_outfile_open(&f, path, 1) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_outfile_write(f, "hello", 5) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(!exists(path), "final name must not exist before commit");
	TKT_CHECK(tk_outfile_commit(f) == TK_OK, "%s", tk_error_message());
	char buf[16] = {0};
	FILE *in = fopen(path, "rb");
	TKT_CHECK(in != NULL, "committed file missing");
	if (in) {
		TKT_CHECK(fread(buf, 1, sizeof buf, in) == 5 && memcmp(buf, "hello", 5) == 0, "content %s", buf);
		fclose(in);
	}
	TKT_CHECK(count_files(".commit.bin.tmp") == 0, "temporary file left behind");
}

static void test_commit_replaces_old_file_whole(void)
{
	const char *path = scratch("replace.txt");
	FILE *old = fopen(path, "w");
	fputs("old content", old);
	fclose(old);
	tk_outfile *f;
	TKT_CHECK(tk_outfile_open(&f, path, 0) == TK_OK, "%s", tk_error_message());
	tk_outfile_write(f, "new", 3);
	/* until the commit, readers still see the old file whole */
	char buf[32] = {0};
	FILE *in = fopen(path, "r");
	TKT_CHECK(in && fread(buf, 1, sizeof buf, in) == 11, "old file changed before commit");
	if (in)
		fclose(in);
	TKT_CHECK(tk_outfile_commit(f) == TK_OK, "%s", tk_error_message());
	in = fopen(path, "r");
	memset(buf, 0, sizeof buf);
	TKT_CHECK(in && fread(buf, 1, sizeof buf, in) == 3 && strcmp(buf, "new") == 0, "got '%s'", buf);
	if (in)
		fclose(in);
}

static void test_abort_leaves_nothing(void)
{
	const char *path = scratch("aborted.bin");
	unlink(path);
	tk_outfile *f;
	TKT_CHECK(tk_outfile_open(&f, path, 1) == TK_OK, "%s", tk_error_message());
	tk_outfile_write(f, "partial", 7);
	tk_outfile_abort(f);
	TKT_CHECK(!exists(path), "aborted output exists under the final name");
	TKT_CHECK(count_files(".aborted.bin.tmp") == 0, "temporary file left behind");
}

/* What a command's exit handler does when it dies half-way: every
 * uncommitted file's temporary is gone, and the owner may still abort
 * (free) or commit (refused) its handle without a double close or free. */
static void test_discard_pending_removes_temporaries(void)
{
	const char *a_path = scratch("pending-a.txt");
	char b_path[512];
	snprintf(b_path, sizeof b_path, "%s/pending-b.txt", tkt_tmpdir());
	unlink(a_path);
	unlink(b_path);
	tk_outfile *a, *b;
	TKT_CHECK(tk_outfile_open(&a, a_path, 0) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_outfile_open(&b, b_path, 0) == TK_OK, "%s", tk_error_message());
	tk_outfile_write(a, "half", 4);
	TKT_CHECK(count_files(".pending-") == 2, "%d temporaries", count_files(".pending-"));
	tk_outfile_discard_pending();
	TKT_CHECK(count_files(".pending-") == 0, "temporary file left behind");
	tk_outfile_abort(a);
	int rc = tk_outfile_commit(b);
	TKT_CHECK(rc == TK_EIO, "commit after discard: rc=%d", rc);
	TKT_CHECK(!exists(a_path) && !exists(b_path), "a discarded file appeared");
	/* a file opened afterwards is unaffected */
	TKT_CHECK(tk_outfile_open(&a, a_path, 0) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_outfile_commit(a) == TK_OK && exists(a_path), "%s", tk_error_message());
}

/* The names tk's own temporaries have, and only those, are recognised
 * (what a later run may clear). */
static void test_temp_name_base(void)
{
	TKT_CHECK(tk_temp_name_base(".step-000004.tkc.tmp-Ab12Cd", "tmp") == 15, "step");
	TKT_CHECK(tk_temp_name_base(".out.old-XyZ789", "old") == 3, "old folder");
	TKT_CHECK(tk_temp_name_base(".a.b.tmp-000000", "tmp") == 3, "dots in the name");
	static const char *const not_ours[] = {
		"step.tkc.tmp-Ab12Cd", ".step.tkc.tmp-Ab12C", ".step.tkc.tmp-Ab12Cd7",
		".step.tkc.tmp-Ab_2Cd", "..tmp-Ab12Cd", ".x.tmp_Ab12Cd", ".x.old-Ab12Cd", "", ".",
	};
	for (size_t i = 0; i < sizeof not_ours / sizeof *not_ours; i++)
		TKT_CHECK(tk_temp_name_base(not_ours[i], "tmp") == 0, "'%s' taken as tk's", not_ours[i]);
	/* what tk_outfile_open makes is one */
	tk_outfile *f;
	TKT_CHECK(tk_outfile_open(&f, scratch("named.txt"), 0) == TK_OK, "%s", tk_error_message());
	DIR *d = opendir(tkt_tmpdir());
	int found = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		found += strncmp(e->d_name, ".named.txt.", 11) == 0 &&
			 tk_temp_name_base(e->d_name, "tmp") == strlen("named.txt");
	if (d)
		closedir(d);
	tk_outfile_abort(f);
	TKT_CHECK(found == 1, "tk_outfile's own temporary not recognised");
}

static void test_full_device_fails_cleanly(void)
{
	tk_outfile *f;
	TKT_CHECK(tk_outfile_open(&f, "/dev/full", 1) == TK_OK, "%s", tk_error_message());
	int rc = tk_outfile_write(f, "x", 1);
	TKT_CHECK(rc == TK_EIO, "rc=%d", rc);
	TKT_CHECK(strstr(tk_error_message(), "/dev/full") != NULL, "message: %s", tk_error_message());
	TKT_CHECK(strstr(tk_error_message(), "No space") != NULL, "message: %s", tk_error_message());
	tk_outfile_abort(f);
	struct stat st;
	TKT_CHECK(stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode), "/dev/full must stay a device");
}

static void test_unwritable_folder_is_reported(void)
{
	tk_outfile *f = NULL;
	int rc = tk_outfile_open(&f, "/nonexistent-folder/out.tks", 1);
	TKT_CHECK(rc == TK_ECANTCREAT, "rc=%d", rc);
	TKT_CHECK(strstr(tk_error_message(), "/nonexistent-folder/out.tks") != NULL, "%s", tk_error_message());
	TKT_CHECK(f == NULL, "handle returned on failure");
}

static void test_binary_to_terminal_refused(void)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0)
		TKT_SKIP("no pseudo-terminal available");
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	if (slave < 0) {
		close(master);
		TKT_SKIP("cannot open the pseudo-terminal");
	}
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	dup2(slave, STDOUT_FILENO);
	tk_outfile *f = NULL;
	int binary_rc = tk_outfile_open(&f, "-", 1);
	if (f)
		tk_outfile_abort(f);
	f = NULL;
	int text_rc = tk_outfile_open(&f, "-", 0);
	if (f)
		tk_outfile_abort(f);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(slave);
	close(master);
	TKT_CHECK(binary_rc == TK_EUSAGE, "binary to a terminal: rc=%d", binary_rc);
	TKT_CHECK(text_rc == TK_OK, "text to a terminal must be allowed: rc=%d", text_rc);
}

static void test_missing_input_is_reported(void)
{
	FILE *in = NULL;
	int rc = tk_open_input(&in, "/nonexistent/input.tks");
	TKT_CHECK(rc == TK_ENOINPUT, "rc=%d", rc);
	TKT_CHECK(strstr(tk_error_message(), "input.tks") != NULL, "%s", tk_error_message());
	rc = tk_open_input(&in, tkt_tmpdir());
	TKT_CHECK(rc == TK_ENOINPUT && strstr(tk_error_message(), "folder"), "rc=%d %s", rc, tk_error_message());
}

static void test_read_text_whole_and_bounded(void)
{
	const char *path = scratch("text.json");
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 3000; i++)
		fprintf(f, "line %d\n", i);
	fclose(f);
	char *text = NULL;
	size_t len = 0;
	TKT_CHECK(tk_read_text(path, 1 << 20, &text, &len) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(text && len == strlen(text) && strncmp(text, "line 0\n", 7) == 0, "len %zu", len);
	TKT_CHECK(text && strstr(text, "line 2999\n") != NULL, "last line missing");
	free(text);
	text = NULL;
	int rc = tk_read_text(path, 1000, &text, NULL);
	TKT_CHECK(rc == TK_EDATA && text == NULL, "rc=%d", rc);
	TKT_CHECK(strstr(tk_error_message(), "too large") != NULL, "%s", tk_error_message());
	rc = tk_read_text("/nonexistent/x.json", 1000, &text, NULL);
	TKT_CHECK(rc == TK_ENOINPUT, "rc=%d", rc);
}

int main(void)
{
	TKT_RUN(test_commit_makes_file);
	TKT_RUN(test_commit_replaces_old_file_whole);
	TKT_RUN(test_abort_leaves_nothing);
	TKT_RUN(test_discard_pending_removes_temporaries);
	TKT_RUN(test_temp_name_base);
	TKT_RUN(test_full_device_fails_cleanly);
	TKT_RUN(test_unwritable_folder_is_reported);
	TKT_RUN(test_binary_to_terminal_refused);
	TKT_RUN(test_missing_input_is_reported);
	TKT_RUN(test_read_text_whole_and_bounded);
	return tkt_done();
}
