/* File plumbing shared by every format: an output file that appears under
 * its final name only when complete, and zstd streams on top of it. */
#ifndef TK_IO_H
#define TK_IO_H

#include <stddef.h>
#include <stdio.h>

/* ---- atomic output file ------------------------------------------------
 * Written to "DIR/.NAME.tmp-XXXXXX" next to the final path, then fsync'd and
 * renamed over PATH by tk_outfile_commit.  "-" means stdout (no rename).
 * With binary set, writing to a terminal is refused (TK_EUSAGE). */
typedef struct tk_outfile tk_outfile;

int tk_outfile_open(tk_outfile **out, const char *path, int binary);
int tk_outfile_write(tk_outfile *f, const void *data, size_t size);
/* Flushes, fsyncs, renames into place and frees f (even on failure, in
 * which case the temporary file is removed). */
int tk_outfile_commit(tk_outfile *f);
/* Removes the temporary file and frees f.  Safe on NULL. */
void tk_outfile_abort(tk_outfile *f);
const char *tk_outfile_path(const tk_outfile *f);
/* When name (a file name, no folder) has the form of a temporary name
 * tk makes beside a final name BASE, ".BASE.TAG-XXXXXX" (TAG "tmp" for
 * tk_outfile; XXXXXX six letters or digits, as mkstemp makes them), the
 * length of BASE; else 0.  For clearing what a killed run left, and
 * nothing else. */
size_t tk_temp_name_base(const char *name, const char *tag);
/* Removes the temporary file of every outfile not yet committed or
 * aborted, for exit paths (the tk commands call it at exit, so a command
 * that dies half-way leaves no temporary file).  The outfiles stay
 * allocated: a later abort only frees one, a later commit fails. */
void tk_outfile_discard_pending(void);

/* Opens PATH for reading ("-" = stdin); TK_ENOINPUT with a message on
 * failure. */
int tk_open_input(FILE **out, const char *path);
void tk_close_input(FILE *f);

/* Reads a whole text file (or "-", or a pipe) into a NUL-terminated
 * malloc'd buffer; more than max_bytes is refused (TK_EDATA) rather than
 * read, so a wrong path never eats the memory.  len may be NULL. */
int tk_read_text(const char *path, size_t max_bytes, char **out, size_t *len);

/* Writes len bytes of text as the whole of PATH, atomically (tk_outfile). */
int tk_write_text(const char *path, const char *text, size_t len);

/* ---- JSON Lines ----------------------------------------------------------
 * One line of a JSON Lines file (len bytes without its newline) as the one
 * JSON object it must hold, for cJSON_Delete; NULL with TK_EDATA and a
 * message for malformed JSON ("malformed JSON (near column N)"), anything
 * but spaces after the object, a NUL byte included ("text after the JSON
 * object (column N)"), or a value that is not an object ("not a JSON
 * object").  Readers prefix the message with "FILE:LINE: ". */
struct cJSON;
struct cJSON *tk_jsonl_parse(const char *line, size_t len);
/* 1 when the line holds only spaces, tabs and line ends: skipped. */
int tk_jsonl_blank(const char *line, size_t len);

/* ---- zstd streams ------------------------------------------------------
 * Checksummed frames; the writer compresses with `threads` workers when
 * threads > 1 (zstd's multi-threaded mode), level as zstd's.  The reader
 * decodes any number of concatenated frames in bounded memory and reports
 * a stream that ends inside a frame as truncated (TK_EDATA). */
typedef struct tk_zwriter tk_zwriter;
typedef struct tk_zreader tk_zreader;

int tk_zwriter_open(tk_zwriter **out, const char *path, int level, int threads);
int tk_zwriter_write(tk_zwriter *w, const void *data, size_t size);
/* Ends the frame, commits the file, frees w. */
int tk_zwriter_close(tk_zwriter *w);
void tk_zwriter_abort(tk_zwriter *w);

int tk_zreader_open(tk_zreader **out, const char *path);
/* Reads up to size bytes; *got < size only at the end of the stream. */
int tk_zreader_read(tk_zreader *r, void *data, size_t size, size_t *got);
/* Reads exactly size bytes or fails with TK_EDATA "truncated". */
int tk_zreader_read_exact(tk_zreader *r, void *data, size_t size);
/* 1 when no byte is left (end of input at a frame boundary). */
int tk_zreader_at_end(tk_zreader *r);
const char *tk_zreader_path(const tk_zreader *r);
void tk_zreader_close(tk_zreader *r);

#endif
