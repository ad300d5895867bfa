/* The cross-entropy against soft targets (top-K distillation) against
 * PyTorch autograd (tests/fixtures/train/soft-ce.safetensors, made by
 * scripts/oracle/soft_ce_fixtures.py): the teacher's top-K renormalised
 * (tk_record_top_probs), the loss, dh and dW within 1e-4 relative, whole
 * and in vocabulary chunks, W as given and packed; and with one target of
 * probability 1 it is the hard kernel, bit for bit. */
#include "test_kernels.h"

#include "tk_safetensors.h"
#include "tk_tks.h"

#define FIXTURE "tests/fixtures/train/soft-ce.safetensors"
#define REL 1e-4

static tk_backend *be;

typedef struct fixture {
	tk_safetensors *st;
	size_t n, c, vocab, k;
	const float *h, *w, *teacher, *weight, *q, *loss, *dh, *dw;
	int32_t *ids;
} fixture;

static const float *tensor(const fixture *f, const char *name, size_t rows, size_t cols)
{
	const tk_st_tensor *t = tk_safetensors_find(f->st, name);
	TKT_CHECK(t && t->numel == rows * cols, "fixture tensor %s (%zu x %zu)", name, rows, cols);
	return t && t->numel == rows * cols ? t->data : NULL;
}

static int open_fixture(fixture *f)
{
	*f = (fixture){.n = 70, .c = 24, .vocab = 1700, .k = 5};
	TKT_CHECK(tk_safetensors_open(&f->st, FIXTURE) == 0, "%s", tk_error_message());
	if (!f->st)
		return 0;
	f->h = tensor(f, "h", f->n, f->c);
	f->w = tensor(f, "w", f->vocab, f->c);
	f->teacher = tensor(f, "teacher", f->n, f->k);
	f->weight = tensor(f, "weight", f->n, 1);
	f->q = tensor(f, "q", f->n, f->k);
	f->loss = tensor(f, "loss", f->n, 1);
	f->dh = tensor(f, "dh", f->n, f->c);
	f->dw = tensor(f, "dw", f->vocab, f->c);
	const float *ids = tensor(f, "ids", f->n, f->k);
	f->ids = malloc(f->n * f->k * sizeof *f->ids);
	for (size_t i = 0; ids && i < f->n * f->k; i++)
		f->ids[i] = (int32_t)ids[i];
	return f->h && f->w && f->teacher && f->weight && f->q && f->loss && f->dh && f->dw && ids;
}

static void close_fixture(fixture *f)
{
	tk_safetensors_close(f->st);
	free(f->ids);
}

/* The stream's top-K (teacher logprobs) as the targets' distribution. */
static void test_top_probs_renormalise(void)
{
	fixture f;
	if (!open_fixture(&f)) {
		close_fixture(&f);
		return;
	}
	tk_record r;
	tk_record_init(&r);
	r.n = f.n, r.top_k = f.k, r.top_ids = f.ids, r.top_values = (float *)f.teacher;
	float *q = kt_floats(f.n * f.k);
	for (size_t i = 0; i < f.n; i++)
		tk_record_top_probs(&r, i, q + i * f.k);
	double *want = kt_widen(f.q, f.n * f.k);
	KT_CHECK_NEAR(q, want, f.n * f.k, 1e-6);
	TKT_CHECK(q[3 * f.k] == 0 && q[7 * f.k + 4] == 0, "empty slots: no probability");
	/* weights: the same distribution up to a factor */
	float *scaled = kt_floats(f.n * f.k), *q2 = kt_floats(f.n * f.k);
	for (size_t i = 0; i < f.n * f.k; i++)
		scaled[i] = 3.0f * f.q[i];
	r.top_values = scaled, r.top_weights = 1;
	for (size_t i = 0; i < f.n; i++)
		tk_record_top_probs(&r, i, q2 + i * f.k);
	KT_CHECK_NEAR(q2, want, f.n * f.k, 1e-6);
	free(q), free(want), free(scaled), free(q2);
	close_fixture(&f);
}

/* Loss, dh, dW of the fixture's soft targets against torch's. */
static void check_soft(size_t workspace, int packed)
{
	fixture f;
	if (!open_fixture(&f)) {
		close_fixture(&f);
		return;
	}
	size_t n = f.n, c = f.c, vocab = f.vocab, k = f.k;
	float *loss = kt_floats(n), *dh = kt_random(n * c, 3), *dw = kt_floats(vocab * c);
	float *fwd = NULL, *bwd = NULL;
	if (packed) {
		fwd = kt_floats(tk_matmul_packed_floats(be, c, vocab));
		bwd = kt_floats(tk_matmul_packed_backward_floats(be, c, vocab));
		tk_matmul_pack(be, fwd, f.w, c, vocab);
		tk_matmul_pack_backward(be, bwd, f.w, c, vocab);
	}
	tk_backend_set_workspace(be, workspace);
	TKT_CHECK(tk_cross_entropy_soft_fused(be, loss, dh, packed ? NULL : dw, f.h, f.w, fwd, bwd, TK_PACK_F32,
					      f.ids, f.q, k, f.weight, n, c, vocab) == 0,
		  "%s", tk_error_message());
	double *loss_want = kt_widen(f.loss, n), *dh_want = kt_widen(f.dh, n * c);
	double *dw_want = kt_widen(f.dw, vocab * c);
	KT_CHECK_NEAR(loss, loss_want, n, REL);
	KT_CHECK_NEAR(dh, dh_want, n * c, REL);
	if (!packed) // with the packed forms the head is frozen: no dW
		KT_CHECK_NEAR(dw, dw_want, vocab * c, REL);
	TKT_CHECK(loss[3] == 0 && loss[4] == 0, "no target, zero weight: loss %g %g", loss[3], loss[4]);
	for (size_t j = 0; j < c; j++)
		TKT_CHECK(dh[3 * c + j] == 0 && dh[4 * c + j] == 0, "no target, zero weight: dh");
	free(loss), free(dh), free(dw), free(fwd), free(bwd);
	free(loss_want), free(dh_want), free(dw_want);
	close_fixture(&f);
}

static void test_soft_one_chunk(void) { check_soft((size_t)16 << 20, 0); }
static void test_soft_vocab_chunks(void) { check_soft(64 * 768 * sizeof(float), 0); }
static void test_soft_packed(void) { check_soft(64 * 768 * sizeof(float), 1); }

/* k = 1 with q = 1: the hard kernel's loss, dh and dW, bit for bit. */
static void test_soft_one_hot_is_hard(void)
{
	size_t n = 70, c = 19, vocab = 1700;
	float *h = kt_random(n * c, 2), *w = kt_random(vocab * c, 2), *weight = kt_random(n, 1);
	int32_t target[70];
	float one[70];
	for (size_t i = 0; i < n; i++) {
		target[i] = (int32_t)(tkt_rand64() % vocab);
		one[i] = 1.0f;
	}
	target[3] = -1;
	weight[5] = -0.75f;
	float *loss[2], *dh[2], *dw[2];
	for (int s = 0; s < 2; s++) {
		loss[s] = kt_floats(n), dh[s] = kt_floats(n * c), dw[s] = kt_floats(vocab * c);
		tk_backend_set_workspace(be, 64 * 768 * sizeof(float));
		int rc = s ? tk_cross_entropy_soft_fused(be, loss[s], dh[s], dw[s], h, w, NULL, NULL, TK_PACK_F32,
							 target, one, 1, weight, n, c, vocab)
			   : tk_cross_entropy_fused(be, loss[s], NULL, dh[s], dw[s], h, w, NULL, NULL, TK_PACK_F32,
						    target, weight, n, c, vocab);
		TKT_CHECK(rc == 0, "%s", tk_error_message());
	}
	KT_CHECK_SAME(loss[1], loss[0], n);
	KT_CHECK_SAME(dh[1], dh[0], n * c);
	KT_CHECK_SAME(dw[1], dw[0], vocab * c);
	for (int s = 0; s < 2; s++)
		free(loss[s]), free(dh[s]), free(dw[s]);
	free(h), free(w), free(weight);
}

int main(void)
{
	TKT_RUN(test_top_probs_renormalise);
	for (size_t k = 0; k < KT_KINDS; k++) {
		kt_kind = kt_kinds[k];
		be = kt_open(0);
		KT_RUN_ON(test_soft_one_chunk);
		KT_RUN_ON(test_soft_vocab_chunks);
		KT_RUN_ON(test_soft_packed);
		KT_RUN_ON(test_soft_one_hot_is_hard);
		tk_backend_close(be);
	}
	return tkt_done();
}
