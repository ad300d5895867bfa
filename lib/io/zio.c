/* zstd streams: the compressed transport under .tks and .tkc.
 *
 * The writer compresses into one checksummed frame, through the atomic
 * output file, so that a reader can tell corruption (content checksum) and
 * an interrupted writer never leaves a half file under the final name.
 * Small writes are gathered in a buffer first: the formats write many
 * small fields, and each ZSTD_compressStream2 call has a fixed cost.
 *
 * The reader decodes any number of concatenated frames (what `cat a b`
 * makes) through fixed-size buffers, so memory stays bounded whatever the
 * input size; the decoder's window is capped at 2^READ_WINDOW_LOG_MAX. */
#include "tk_error.h"
#include "tk_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

/* Writes smaller than this are gathered before compression. */
#define GATHER_SIZE ((size_t)128 * 1024)
/* The largest window the reader accepts: 2^27 = 128 MiB, zstd's own
 * default limit; our writer's levels use far less. */
#define READ_WINDOW_LOG_MAX 27

struct tk_zwriter {
	tk_outfile *file;
	ZSTD_CCtx *cctx;
	unsigned char *gather;   /* (GATHER_SIZE) small writes, not yet compressed */
	size_t gathered;
	unsigned char *out;      /* (out_size) compressed bytes, not yet written */
	size_t out_size;
	int error;               /* sticky: the first failure, repeated */
};

static int zstd_fail(int code, const char *path, const char *what, size_t ret)
{
	return tk_fail(code, "%s: %s: %s", path, what, ZSTD_getErrorName(ret));
}

static void zwriter_free(tk_zwriter *w)
{
	ZSTD_freeCCtx(w->cctx);
	free(w->gather);
	free(w->out);
	free(w);
}

int tk_zwriter_open(tk_zwriter **out, const char *path, int level, int threads)
{
	*out = NULL;
	tk_zwriter *w = tk_calloc(1, sizeof *w);
	if (!w)
		return TK_EOSERR;
	w->out_size = ZSTD_CStreamOutSize();
	w->cctx = ZSTD_createCCtx();
	w->gather = tk_malloc(GATHER_SIZE);
	w->out = tk_malloc(w->out_size);
	if (!w->cctx || !w->gather || !w->out) {
		int no_cctx = !w->cctx;
		zwriter_free(w);
		return no_cctx ? tk_fail(TK_EOSERR, "%s: cannot create a zstd compressor", path)
			       : TK_EOSERR;
	}
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
		zwriter_free(w);
		return tk_fail(TK_EUSAGE, "%s: compression level %d is outside zstd's %d..%d",
			       path, level, ZSTD_minCLevel(), ZSTD_maxCLevel());
	}
	size_t ret = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(ret))
		ret = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	if (ZSTD_isError(ret)) {
		zwriter_free(w);
		return zstd_fail(TK_ESOFTWARE, path, "cannot configure zstd", ret);
	}
	/* A libzstd built without threads refuses nbWorkers; compressing on
	 * one thread is then the right answer, not an error. */
	if (threads > 1)
		(void)ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, threads);
	int rc = tk_outfile_open(&w->file, path, 1);
	if (rc != TK_OK) {
		zwriter_free(w);
		return rc;
	}
	*out = w;
	return TK_OK;
}

/* Feeds size bytes to the compressor with the given directive and writes
 * out whatever it produces; with ZSTD_e_end, until the frame is done. */
static int compress_and_write(tk_zwriter *w, const void *data, size_t size,
			      ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {data, size, 0};
	for (;;) {
		ZSTD_outBuffer out = {w->out, w->out_size, 0};
		size_t left = ZSTD_compressStream2(w->cctx, &out, &in, mode);
		if (ZSTD_isError(left))
			return w->error = zstd_fail(TK_ESOFTWARE, tk_outfile_path(w->file),
						    "zstd compression failed", left);
		if (out.pos > 0) {
			int rc = tk_outfile_write(w->file, w->out, out.pos);
			if (rc != TK_OK)
				return w->error = rc;
		}
		int done = mode == ZSTD_e_continue ? in.pos == in.size : left == 0;
		if (done)
			return TK_OK;
	}
}

static int flush_gathered(tk_zwriter *w)
{
	if (w->gathered == 0)
		return TK_OK;
	size_t n = w->gathered;
	w->gathered = 0;
	return compress_and_write(w, w->gather, n, ZSTD_e_continue);
}

int tk_zwriter_write(tk_zwriter *w, const void *data, size_t size)
{
	if (w->error)
		return w->error;
	if (size == 0)
		return TK_OK; /* data may be NULL then */
	if (w->gathered + size <= GATHER_SIZE) {
		memcpy(w->gather + w->gathered, data, size);
		w->gathered += size;
		return TK_OK;
	}
	int rc = flush_gathered(w);
	if (rc != TK_OK)
		return rc;
	if (size < GATHER_SIZE / 2) {
		memcpy(w->gather, data, size);
		w->gathered = size;
		return TK_OK;
	}
	return compress_and_write(w, data, size, ZSTD_e_continue);
}

int tk_zwriter_close(tk_zwriter *w)
{
	int rc = w->error;
	if (rc == TK_OK)
		rc = flush_gathered(w);
	if (rc == TK_OK)
		rc = compress_and_write(w, NULL, 0, ZSTD_e_end);
	if (rc != TK_OK) {
		tk_outfile_abort(w->file);
		zwriter_free(w);
		return rc;
	}
	rc = tk_outfile_commit(w->file);
	zwriter_free(w);
	return rc;
}

void tk_zwriter_abort(tk_zwriter *w)
{
	if (!w)
		return;
	tk_outfile_abort(w->file);
	zwriter_free(w);
}

/* ---- reader ------------------------------------------------------------ */

struct tk_zreader {
	FILE *file;
	char *path;
	ZSTD_DCtx *dctx;
	unsigned char *in;        /* (in_size) compressed bytes read from file */
	ZSTD_inBuffer inbuf;
	size_t in_size;
	unsigned char *out;       /* (out_size) decoded bytes not yet handed out */
	size_t out_size, out_pos, out_len;
	int in_frame;             /* decoding a frame that has not ended */
	int pending_flush;        /* the decoder may hold output: call it again */
	int eof;                  /* the file has no more bytes */
	int error;                /* sticky: the first failure, repeated */
	int ended;                /* TK_END reached */
};

int tk_zreader_open(tk_zreader **out, const char *path)
{
	*out = NULL;
	tk_zreader *r = tk_calloc(1, sizeof *r);
	if (!r)
		return TK_EOSERR;
	r->in_size = ZSTD_DStreamInSize();
	r->out_size = ZSTD_DStreamOutSize();
	/* messages name stdin as such, not "-" */
	r->path = tk_strdup(strcmp(path, "-") == 0 ? "(stdin)" : path);
	r->in = tk_malloc(r->in_size);
	r->out = tk_malloc(r->out_size);
	r->dctx = ZSTD_createDCtx();
	int rc = TK_OK;
	if (!r->path || !r->in || !r->out)
		rc = TK_EOSERR;
	else if (!r->dctx)
		rc = tk_fail(TK_EOSERR, "%s: cannot create a zstd decompressor", path);
	else if (ZSTD_isError(ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax,
						     READ_WINDOW_LOG_MAX)))
		rc = tk_fail(TK_ESOFTWARE, "%s: cannot configure zstd", path);
	else
		rc = tk_open_input(&r->file, path);
	if (rc != TK_OK) {
		tk_zreader_close(r);
		return rc;
	}
	r->inbuf.src = r->in;
	*out = r;
	return TK_OK;
}

static int decode_error(tk_zreader *r, size_t ret)
{
	switch (ZSTD_getErrorCode(ret)) {
	case ZSTD_error_prefix_unknown:
		return tk_fail(TK_EDATA, "%s: not zstd-compressed data (unknown zstd frame magic)", r->path);
	case ZSTD_error_checksum_wrong:
		return tk_fail(TK_EDATA, "%s: zstd content checksum mismatch: the file is corrupt", r->path);
	case ZSTD_error_frameParameter_windowTooLarge:
		return tk_fail(TK_EDATA, "%s: zstd frame needs a window larger than %d MiB",
			       r->path, 1 << (READ_WINDOW_LOG_MAX - 20));
	case ZSTD_error_memory_allocation:
		return tk_fail(TK_EOSERR, "%s: out of memory decoding zstd", r->path);
	default:
		return tk_fail(TK_EDATA, "%s: corrupt zstd data: %s", r->path, ZSTD_getErrorName(ret));
	}
}

/* Takes what the input has now, not a full buffer: in a pipeline the
 * consumer then sees each record as soon as its bytes arrive.  read(2),
 * not fread: the FILE's own buffer is never used, so nothing hides there. */
static int read_more_input(tk_zreader *r)
{
	ssize_t n;
	do
		n = read(fileno(r->file), r->in, r->in_size);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return tk_fail(TK_EIO, "%s: read failed: %s", r->path, strerror(errno));
	if (n == 0)
		r->eof = 1;
	r->inbuf.size = (size_t)n;
	r->inbuf.pos = 0;
	return TK_OK;
}

/* Decodes until some output is ready: TK_OK, TK_END at the end of the input
 * between frames, or an error (remembered, so every later call repeats it). */
static int refill(tk_zreader *r)
{
	if (r->error)
		return r->error;
	if (r->ended)
		return TK_END;
	r->out_pos = r->out_len = 0;
	for (;;) {
		if (r->inbuf.pos == r->inbuf.size && !r->pending_flush) {
			if (!r->eof) {
				int rc = read_more_input(r);
				if (rc != TK_OK)
					return r->error = rc;
				continue;
			}
			if (r->in_frame)
				return r->error = tk_fail(TK_EDATA,
					"%s: truncated: the input ends inside a zstd frame", r->path);
			r->ended = 1;
			return TK_END;
		}
		ZSTD_outBuffer out = {r->out, r->out_size, 0};
		size_t ret = ZSTD_decompressStream(r->dctx, &out, &r->inbuf);
		if (ZSTD_isError(ret))
			return r->error = decode_error(r, ret);
		/* ret == 0: a frame ended and all its output is flushed.
		 * Otherwise a full output buffer may hide more output; the
		 * decoder must be called again before asking for input. */
		r->in_frame = ret != 0;
		r->pending_flush = ret != 0 && out.pos == out.size;
		if (out.pos > 0) {
			r->out_len = out.pos;
			return TK_OK;
		}
	}
}

int tk_zreader_read(tk_zreader *r, void *data, size_t size, size_t *got)
{
	unsigned char *dst = data;
	*got = 0;
	while (*got < size) {
		if (r->out_pos == r->out_len) {
			int rc = refill(r);
			if (rc == TK_END)
				break;
			if (rc != TK_OK)
				return rc;
		}
		size_t n = r->out_len - r->out_pos;
		if (n > size - *got)
			n = size - *got;
		memcpy(dst + *got, r->out + r->out_pos, n);
		r->out_pos += n;
		*got += n;
	}
	return TK_OK;
}

int tk_zreader_read_exact(tk_zreader *r, void *data, size_t size)
{
	size_t got;
	int rc = tk_zreader_read(r, data, size, &got);
	if (rc != TK_OK)
		return rc;
	if (got < size)
		return tk_fail(TK_EDATA, "%s: truncated: the data ends %zu bytes into a %zu-byte item",
			       r->path, got, size);
	return TK_OK;
}

int tk_zreader_at_end(tk_zreader *r)
{
	if (r->out_pos < r->out_len)
		return 0;
	/* an error is not the end: the next read reports it */
	return refill(r) == TK_END;
}

const char *tk_zreader_path(const tk_zreader *r)
{
	return r->path;
}

void tk_zreader_close(tk_zreader *r)
{
	if (!r)
		return;
	tk_close_input(r->file);
	ZSTD_freeDCtx(r->dctx);
	free(r->in);
	free(r->out);
	free(r->path);
	free(r);
}
