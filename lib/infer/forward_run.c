/* tk_forward_run: checks a batch, stages its tokens into passes of at most
 * f->tokens tokens (slot rows, positions), runs each pass through the
 * layers and makes the logits the caller wants, a chunk of rows at a time. */
#include "forward_internal.h"

#include "kernels.h"
#include "tk_error.h"

#include <stdint.h>
#include <stdlib.h>

static int check_batch(const tk_forward *f, const tk_forward_batch *b)
{
	unsigned char *seen = tk_calloc(f->seqs, 1);
	if (!seen)
		return TK_EOSERR;
	int rc = TK_OK;
	const int32_t *tok = b->tokens;
	for (size_t i = 0; i < b->n_seqs && !rc; i++) {
		size_t s = b->slots[i], c = b->counts[i];
		if (s >= f->seqs)
			rc = tk_fail(TK_EUSAGE, "forward: slot %zu out of range (%zu slots)", s, f->seqs);
		else if (seen[s]++)
			rc = tk_fail(TK_EUSAGE, "forward: slot %zu appears twice in one run", s);
		else if (c == 0)
			rc = tk_fail(TK_EUSAGE, "forward: sequence %zu has no new token", i);
		else if (f->lengths[s] + c > f->context)
			rc = tk_fail(TK_EUSAGE, "forward: sequence of %zu tokens is longer than the "
				     "context (%zu)", f->lengths[s] + c, f->context);
		for (size_t j = 0; j < c && !rc; j++)
			if (tok[j] < 0 || (size_t)tok[j] >= f->d.vocab)
				rc = tk_fail(TK_EUSAGE, "forward: token id %d is outside the "
					     "vocabulary (%zu)", (int)tok[j], f->d.vocab);
		tok += c;
	}
	free(seen);
	return rc;
}

/* Logits of the rows of x listed in h_sel[0..m) into host rows h_out[...]. */
static int logits_of(tk_forward *f, size_t n, float *logits)
{
	fwd_arena *a = &f->a;
	size_t C = f->d.hidden, V = f->d.vocab, m = 0;
	for (size_t i = 0; i < n; i++)
		if (f->h_out[i] != SIZE_MAX)
			f->h_sel[m++] = (int32_t)i;
	for (size_t lo = 0; lo < m; lo += TK_FORWARD_LOGIT_ROWS) {
		size_t rows = m - lo < TK_FORWARD_LOGIT_ROWS ? m - lo : TK_FORWARD_LOGIT_ROWS;
		tk_copy_to_device(f->be, a->sel, f->h_sel + lo, rows * sizeof *a->sel);
		tk_rows_gather(f->be, a->hsel, a->x, a->sel, rows, C);
		tk_rmsnorm_forward(f->be, a->hnorm, NULL, a->hsel, f->e->final_norm, rows, C, f->d.eps);
		int rc = tk_matmul_forward_packed_as(f->be, a->logits, a->hnorm, f->e->lm_head,
						     f->e->lm_head_form, NULL, rows, C, V, 0);
		if (rc)
			return rc;
		for (size_t r = 0; r < rows; r++)
			tk_copy_to_host(f->be, logits + f->h_out[f->h_sel[lo + r]] * V,
					a->logits + r * V, V * sizeof *logits);
	}
	return TK_OK;
}

static int run_pass(tk_forward *f, size_t n, float *logits)
{
	fwd_arena *a = &f->a;
	tk_copy_to_device(f->be, a->ids, f->h_ids, n * sizeof *a->ids);
	tk_copy_to_device(f->be, a->pos, f->h_pos, n * sizeof *a->pos);
	tk_copy_to_device(f->be, a->kv_row, f->h_kv_row, n * sizeof *a->kv_row);
	tk_copy_to_device(f->be, a->cache_row, f->h_cache_row, n * sizeof *a->cache_row);
	int rc = fwd_layers(f, n);
	if (!rc)
		rc = logits_of(f, n, logits);
	return rc;
}

/* Stages token t of sequence i (slot s) at index n of the pass. */
static void stage(tk_forward *f, size_t n, int32_t id, size_t s, size_t out_row)
{
	size_t pos = f->lengths[s]++;
	f->h_ids[n] = id;
	f->h_pos[n] = (int32_t)pos;
	f->h_kv_row[n] = (int32_t)(s * f->context);
	f->h_cache_row[n] = (int32_t)(s * f->context + pos);
	f->h_out[n] = out_row;
}

int tk_forward_run(tk_forward *f, const tk_forward_batch *b, float *logits)
{
	int rc = check_batch(f, b);
	if (rc)
		return rc;
	size_t n = 0, t = 0; // tokens staged in this pass; tokens of the batch so far
	for (size_t i = 0; i < b->n_seqs; i++) {
		for (size_t j = 0; j < b->counts[i]; j++, t++) {
			size_t last = j + 1 == b->counts[i];
			size_t out_row = b->all_logits ? t : last ? i : SIZE_MAX;
			stage(f, n++, b->tokens[t], b->slots[i], out_row);
			if (n == f->tokens) {
				if ((rc = run_pass(f, n, logits)))
					return rc;
				n = 0;
			}
		}
	}
	return n ? run_pass(f, n, logits) : TK_OK;
}
