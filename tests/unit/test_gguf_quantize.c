/* The GGUF writer's quantized types (Q8_0, Q4_0): blocks equal to the gguf
 * Python package's quantizer where the values came from it, errors within
 * half a step on random values, files read back as written, and rows that
 * are not whole blocks refused. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_dtype.h"
#include "tk_error.h"
#include "tk_gguf.h"
#include "tkt.h"

#define TYPES "tests/fixtures/gguf/types.gguf"
#define QK 32

/* gguf-py quantized t_q8_0 and t_q4_0 of types.gguf; quantizing their
 * values again must give back its blocks byte for byte: the same scale
 * (the largest magnitude over 127, or the extreme over -8) and levels. */
static void test_requantize_gives_gguf_py_blocks(void)
{
	tk_gguf *g;
	TKT_CHECK(tk_gguf_open(&g, TYPES) == TK_OK, "%s", tk_error_message());
	if (!g)
		return;
	static const char *const names[] = {"t_q8_0", "t_q4_0"};
	for (size_t i = 0; i < 2; i++) {
		const tk_gguf_tensor *t = tk_gguf_find_tensor(g, names[i]);
		TKT_CHECK(t != NULL, "%s", names[i]);
		if (!t)
			continue;
		float *values = malloc(t->numel * sizeof *values);
		unsigned char *blocks = malloc(t->nbytes);
		TKT_CHECK(values && blocks, "out of memory");
		tk_gguf_tensor_to_f32(g, t, values);
		TKT_CHECK(tk_ggml_from_f32(t->type, values, blocks, t->numel) == 1, "%s", names[i]);
		TKT_CHECK(memcmp(blocks, t->data, t->nbytes) == 0, "%s: blocks differ", names[i]);
		free(values);
		free(blocks);
	}
	tk_gguf_close(g);
}

/* Random rows: every value within half a step (|d| / 2) of the original,
 * but for the values Q4_0's uneven range clips, within a step. */
static void test_error_within_half_a_step(void)
{
	enum { N = 64 * QK };
	float *x = malloc(N * sizeof *x), *back = malloc(N * sizeof *back);
	unsigned char *blocks = malloc(N * 2);
	for (size_t i = 0; i < N; i++)
		x[i] = (float)(tkt_uniform() - 0.5) * (float)(1 + i / QK);
	for (int k = 0; k < QK; k++)
		x[k] = 0.0f; /* an all-zero block: d = 0 */
	static const int types[] = {TK_GGML_Q8_0, TK_GGML_Q4_0};
	for (size_t ti = 0; ti < 2; ti++) {
		int type = types[ti];
		size_t be, bb;
		tk_ggml_type_block(type, &be, &bb);
		TKT_CHECK(tk_ggml_from_f32(type, x, blocks, N) == 1, "%s", tk_ggml_type_name(type));
		tk_ggml_to_f32(type, blocks, back, N);
		double worst = 0;
		for (size_t b = 0; b < N / QK; b++) {
			uint16_t h = (uint16_t)(blocks[b * bb] | blocks[b * bb + 1] << 8);
			double step = fabs(tk_f16_to_f32(h));
			for (size_t k = b * QK; k < (b + 1) * QK; k++) {
				double e = fabs((double)back[k] - x[k]);
				/* Q4_0's levels are -8..7 steps, the extreme at -8: a
				 * value of the other sign beyond 7.5 steps is clipped to 7
				 * (at most a step away); f16 rounding of d moves the far
				 * levels by up to 2^-11 of them */
				int clipped = type == TK_GGML_Q4_0 && fabs(x[k]) > 7.5 * step;
				double bound = (clipped ? step : step / 2) + fabs(x[k]) * 0x1p-10 + 1e-12;
				TKT_CHECK(e <= bound,
					  "%s [%zu]: %g for %g (step %g)", tk_ggml_type_name(type), k,
					  back[k], x[k], step);
				worst = e > worst ? e : worst;
			}
		}
		TKT_CHECK(back[0] == 0.0f, "zero block");
		printf("# %s: max |err| %.3g on values up to %g\n", tk_ggml_type_name(type), worst,
		       (double)N / QK / 2);
	}
	TKT_CHECK(tk_ggml_from_f32(TK_GGML_Q8_0, x, blocks, QK + 1) == 0, "partial block");
	TKT_CHECK(tk_ggml_from_f32(TK_GGML_Q4_K, x, blocks, 256) == 0, "q4_K is not written");
	free(x);
	free(back);
	free(blocks);
}

static void test_writer_quantized_roundtrip(void)
{
	char path[512];
	tkt_scratch_path(path, sizeof path, "quantized.gguf");
	enum { ROWS = 3, COLS = 96 };
	float x[ROWS * COLS];
	for (size_t i = 0; i < ROWS * COLS; i++)
		x[i] = (float)(tkt_uniform() - 0.5);
	const uint64_t ne[2] = {COLS, ROWS}, odd[2] = {48, 2};
	tk_gguf_writer *w;
	TKT_CHECK(tk_gguf_writer_open(&w, path) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_gguf_add_tensor(w, "q8", TK_GGML_Q8_0, 2, ne, x) == TK_OK, "%s",
		  tk_error_message());
	TKT_CHECK(tk_gguf_add_tensor(w, "q4", TK_GGML_Q4_0, 2, ne, x) == TK_OK, "%s",
		  tk_error_message());
	TKT_CHECK(tk_gguf_writer_close(w) == TK_OK, "%s", tk_error_message());
	tk_gguf *g;
	TKT_CHECK(tk_gguf_open(&g, path) == TK_OK, "%s", tk_error_message());
	for (size_t i = 0; g && i < g->n_tensors; i++) {
		const tk_gguf_tensor *t = &g->tensors[i];
		unsigned char want[ROWS * COLS * 2];
		tk_ggml_from_f32(t->type, x, want, ROWS * COLS);
		TKT_CHECK(t->ne[0] == COLS && t->ne[1] == ROWS && memcmp(t->data, want, t->nbytes) == 0,
			  "%s read back", t->name);
	}
	tk_gguf_close(g);
	/* a row of 48 values is not whole 32-value blocks */
	TKT_CHECK(tk_gguf_writer_open(&w, path) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_gguf_add_tensor(w, "odd", TK_GGML_Q4_0, 2, odd, x) == TK_EUSAGE, "odd rows");
	TKT_CHECK(strstr(tk_error_message(), "'odd'") && strstr(tk_error_message(), "q4_0"), "%s",
		  tk_error_message());
	tk_gguf_writer_abort(w);
	TKT_CHECK(tk_gguf_writer_open(&w, path) == TK_OK, "%s", tk_error_message());
	TKT_CHECK(tk_gguf_add_tensor(w, "k", TK_GGML_Q4_K, 2, ne, x) == TK_EUSAGE, "q4_K write");
	tk_gguf_writer_abort(w);
	remove(path);
}

int main(void)
{
	TKT_RUN(test_requantize_gives_gguf_py_blocks);
	TKT_RUN(test_error_within_half_a_step);
	TKT_RUN(test_writer_quantized_roundtrip);
	return tkt_done();
}
