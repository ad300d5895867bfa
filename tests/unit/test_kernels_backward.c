/* Backward kernels against float64 central finite differences of the
 * float64 reference forwards: for a random r, the loss Σ r·f(inputs) has
 * gradient fᵀ r, which is what a backward computes from dy = r. */
#include "test_kernels.h"

static tk_backend *be;

typedef double (*loss_fn)(void *ctx);

/* grad[i] = ∂loss/∂p[i] by central differences, p perturbed in place. */
static void fd_grad(double *grad, double *p, size_t n, loss_fn loss, void *ctx)
{
	for (size_t i = 0; i < n; i++) {
		double keep = p[i], h = 1e-6 * (fabs(keep) > 1 ? fabs(keep) : 1);
		p[i] = keep + h;
		double up = loss(ctx);
		p[i] = keep - h;
		double down = loss(ctx);
		p[i] = keep;
		grad[i] = (up - down) / (2 * h);
	}
}

static double dot_r(const double *r, const double *y, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += r[i] * y[i];
	return s;
}

/* fd_grad on every stride-th element only (grad elsewhere left 0). */
static void fd_grad_sampled(double *grad, double *p, size_t n, size_t stride,
			    loss_fn loss, void *ctx)
{
	for (size_t i = 0; i < n; i += stride)
		fd_grad(grad + i, p + i, 1, loss, ctx);
}

/* KT_CHECK_NEAR on the sampled elements. */
static void check_sampled(const float *got, const double *want, size_t n,
			  size_t stride, const char *what)
{
	size_t m = (n + stride - 1) / stride;
	float *g = kt_floats(m);
	double *w = kt_doubles(m);
	for (size_t i = 0; i < m; i++)
		g[i] = got[i * stride], w[i] = want[i * stride];
	kt_check_near(__FILE__, __LINE__, what, g, w, m, 1e-5);
	free(g), free(w);
}

/* Accumulating gradients start from `base`: take it off before comparing. */
static void minus(float *g, const float *base, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g[i] -= base[i];
}

/* ---- matmul ---- */

struct mm { double *x, *w, *b, *r, *y; size_t n, in, out; };

static double mm_loss(void *p)
{
	struct mm *c = p;
	ref_matmul(c->y, c->x, c->w, c->b, c->n, c->in, c->out);
	return dot_r(c->r, c->y, c->n * c->out);
}

static void test_matmul_backward(void)
{
	size_t n = 37, in = 13, out = 21;
	float *x = kt_random(n * in, 1), *w = kt_random(out * in, 1), *b = kt_random(out, 1);
	float *dy = kt_random(n * out, 1);
	float *dx = kt_random(n * in, 1), *dw = kt_random(out * in, 1), *db = kt_random(out, 1);
	float *dx0 = kt_floats(n * in), *dw0 = kt_floats(out * in), *db0 = kt_floats(out);
	memcpy(dw0, dw, out * in * sizeof *dw);
	memcpy(db0, db, out * sizeof *db);
	struct mm c = {kt_widen(x, n * in), kt_widen(w, out * in), kt_widen(b, out),
		       kt_widen(dy, n * out), kt_doubles(n * out), n, in, out};
	double *gx = kt_doubles(n * in), *gw = kt_doubles(out * in), *gb = kt_doubles(out);
	fd_grad(gx, c.x, n * in, mm_loss, &c);
	fd_grad(gw, c.w, out * in, mm_loss, &c);
	fd_grad(gb, c.b, out, mm_loss, &c);
	TKT_CHECK(tk_matmul_backward(be, dx, dw, db, dy, x, w, n, in, out, 0) == 0, "%s", tk_error_message());
	minus(dw, dw0, out * in);
	minus(db, db0, out);
	KT_CHECK_NEAR(dx, gx, n * in, 1e-5);   // assigned
	KT_CHECK_NEAR(dw, gw, out * in, 1e-5); // accumulated
	KT_CHECK_NEAR(db, gb, out, 1e-5);
	/* accumulate_dx adds to what is there; NULL gradients are skipped. */
	memcpy(dx0, dx, n * in * sizeof *dx);
	TKT_CHECK(tk_matmul_backward(be, dx, NULL, NULL, dy, x, w, n, in, out, 1) == 0, "%s", tk_error_message());
	minus(dx, dx0, n * in);
	KT_CHECK_NEAR(dx, gx, n * in, 1e-5);
	/* W packed for the backward: the same dx, assigned or added. */
	float *packed = kt_floats(tk_matmul_packed_backward_floats(be, in, out));
	tk_matmul_pack_backward(be, packed, w, in, out);
	TKT_CHECK(tk_matmul_backward_packed(be, dx, dy, packed, n, in, out, 0) == 0, "%s", tk_error_message());
	KT_CHECK_NEAR(dx, gx, n * in, 1e-5);
	memcpy(dx0, dx, n * in * sizeof *dx);
	TKT_CHECK(tk_matmul_backward_packed(be, dx, dy, packed, n, in, out, 1) == 0, "%s", tk_error_message());
	minus(dx, dx0, n * in);
	KT_CHECK_NEAR(dx, gx, n * in, 1e-5);
	free(packed);
	/* Invariance off takes the other sgemm path; same gradients. */
	tk_backend_set_batch_invariant(be, 0);
	memcpy(dw, dw0, out * in * sizeof *dw);
	TKT_CHECK(tk_matmul_backward(be, dx, dw, NULL, dy, x, w, n, in, out, 0) == 0, "%s", tk_error_message());
	minus(dw, dw0, out * in);
	KT_CHECK_NEAR(dx, gx, n * in, 1e-5);
	KT_CHECK_NEAR(dw, gw, out * in, 1e-5);
	tk_backend_set_batch_invariant(be, 1);
	free(x), free(w), free(b), free(dy), free(dx), free(dw), free(db), free(dx0), free(dw0), free(db0);
	free(c.x), free(c.w), free(c.b), free(c.r), free(c.y), free(gx), free(gw), free(gb);
}

/* ---- embedding ---- */

static void test_embedding_backward(void)
{
	size_t n = 50, c = 70, vocab = 9; // repeated ids: the scatter must add
	int32_t tokens[50];
	for (size_t i = 0; i < n; i++)
		tokens[i] = (int32_t)(tkt_rand64() % vocab);
	float *dy = kt_random(n * c, 1), *dt = kt_random(vocab * c, 1), *dt0 = kt_floats(vocab * c);
	memcpy(dt0, dt, vocab * c * sizeof *dt);
	double *want = kt_doubles(vocab * c); // the loss is linear: ∂/∂table is the sum
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < c; j++)
			want[(size_t)tokens[i] * c + j] += dy[i * c + j];
	tk_embedding_backward(be, dt, dy, tokens, n, c, vocab);
	minus(dt, dt0, vocab * c);
	KT_CHECK_NEAR(dt, want, vocab * c, 1e-6);
	free(dy), free(dt), free(dt0), free(want);
}

/* ---- rmsnorm ---- */

struct rn { double *x, *w, *r, *y; size_t n, c; double eps; };

static double rn_loss(void *p)
{
	struct rn *s = p;
	ref_rmsnorm(s->y, s->x, s->w, s->n, s->c, s->eps);
	return dot_r(s->r, s->y, s->n * s->c);
}

static void test_rmsnorm_backward(void)
{
	size_t n = 6, c = 75;
	float *x = kt_random(n * c, 2), *w = kt_random(c, 1.5), *dy = kt_random(n * c, 1);
	float *y = kt_floats(n * c), rstd[6], *dx = kt_floats(n * c), *dw = kt_random(c, 1);
	float *dw0 = kt_floats(c), *dx0 = kt_random(n * c, 1);
	memcpy(dw0, dw, c * sizeof *dw);
	struct rn s = {kt_widen(x, n * c), kt_widen(w, c), kt_widen(dy, n * c), kt_doubles(n * c), n, c, 1e-5};
	double *gx = kt_doubles(n * c), *gw = kt_doubles(c);
	fd_grad(gx, s.x, n * c, rn_loss, &s);
	fd_grad(gw, s.w, c, rn_loss, &s);
	tk_rmsnorm_forward(be, y, rstd, x, w, n, c, 1e-5f);
	tk_rmsnorm_backward(be, dx, dw, dy, x, w, rstd, n, c, 0);
	minus(dw, dw0, c);
	KT_CHECK_NEAR(dx, gx, n * c, 1e-5);
	KT_CHECK_NEAR(dw, gw, c, 1e-5);
	memcpy(dx, dx0, n * c * sizeof *dx);
	tk_rmsnorm_backward(be, dx, NULL, dy, x, w, rstd, n, c, 1);
	minus(dx, dx0, n * c);
	KT_CHECK_NEAR(dx, gx, n * c, 1e-5);
	free(x), free(w), free(dy), free(y), free(dx), free(dw), free(dw0), free(dx0);
	free(s.x), free(s.w), free(s.r), free(s.y), free(gx), free(gw);
}

/* ---- rope ---- */

struct rp { double *x, *r, *y; const int32_t *pos; const float *inv_freq; size_t n, heads, d; };

static double rp_loss(void *p)
{
	struct rp *s = p;
	ref_rope(s->y, s->x, s->pos, s->inv_freq, s->n, s->heads, s->d);
	return dot_r(s->r, s->y, s->n * s->heads * s->d);
}

static void test_rope_backward(void)
{
	size_t n = 5, heads = 3, d = 14, len = n * heads * d;
	int32_t pos[5] = {0, 7, 1, 300, 8191};
	float inv_freq[7], *dy = kt_random(len, 1), *dx = kt_floats(len);
	struct tk_rope_scaling sc = {TK_ROPE_LLAMA3, 8.0, 1.0, 4.0, 64.0};
	tk_rope_inv_freq(inv_freq, d, 10000.0, &sc);
	float *x = kt_random(len, 1);
	struct rp s = {kt_widen(x, len), kt_widen(dy, len), kt_doubles(len), pos, inv_freq, n, heads, d};
	double *gx = kt_doubles(len);
	fd_grad(gx, s.x, len, rp_loss, &s);
	tk_rope_backward(be, dx, dy, pos, inv_freq, n, heads, d);
	KT_CHECK_NEAR(dx, gx, len, 1e-5);
	tk_rope_backward(be, dy, dy, pos, inv_freq, n, heads, d); // in place
	KT_CHECK_SAME(dy, dx, len);
	free(dy), free(dx), free(x), free(s.x), free(s.r), free(s.y), free(gx);
}

/* ---- attention ---- */

struct at { double *q, *k, *v, *r, *y; const int32_t *cu; size_t n_records, n, heads, kv_heads, d; double scale; size_t window; };

static double at_loss(void *p)
{
	struct at *s = p;
	ref_attention_packed(s->y, s->q, s->k, s->v, s->cu, s->n_records, s->heads, s->kv_heads, s->d, s->scale, s->window);
	return dot_r(s->r, s->y, s->n * s->heads * s->d);
}

/* Records of 3, 5 and 1 tokens; forward batch invariant or through sgemm
 * blocks (the lse the backward gets comes from either); window 0 (all
 * keys) or a sliding window. */
static void check_attention_backward(int invariant, const int32_t *cu,
				     size_t n_records, size_t stride, size_t window)
{
	size_t heads = 4, kv_heads = 2, d = 6, n = (size_t)cu[n_records];
	size_t nq = n * heads * d, nk = n * kv_heads * d;
	float *q = kt_random(nq, 1.5), *k = kt_random(nk, 1.5), *v = kt_random(nk, 1);
	float *dout = kt_random(nq, 1), *out = kt_floats(nq), *lse = kt_floats(n * heads);
	float *dq = kt_floats(nq), *dk = kt_floats(nk), *dv = kt_floats(nk);
	float scale = 1.0f / sqrtf((float)d);
	struct at s = {kt_widen(q, nq), kt_widen(k, nk), kt_widen(v, nk), kt_widen(dout, nq),
		       kt_doubles(nq), cu, n_records, n, heads, kv_heads, d, scale, window};
	double *gq = kt_doubles(nq), *gk = kt_doubles(nk), *gv = kt_doubles(nk);
	fd_grad_sampled(gq, s.q, nq, stride, at_loss, &s);
	fd_grad_sampled(gk, s.k, nk, stride, at_loss, &s);
	fd_grad_sampled(gv, s.v, nk, stride, at_loss, &s);
	tk_backend_set_batch_invariant(be, invariant);
	TKT_CHECK(tk_attention_packed_forward(be, out, lse, q, k, v, cu, n_records, n, heads, kv_heads, d, scale, window) == 0, "%s", tk_error_message());
	tk_backend_set_batch_invariant(be, 1);
	TKT_CHECK(tk_attention_packed_backward(be, dq, dk, dv, dout, q, k, v, out, lse, cu, n_records,
					       n, heads, kv_heads, d, scale, window, TK_PACK_F32) == 0, "%s", tk_error_message());
	check_sampled(dq, gq, nq, stride, "dq");
	check_sampled(dk, gk, nk, stride, "dk");
	check_sampled(dv, gv, nk, stride, "dv");
	free(q), free(k), free(v), free(dout), free(out), free(lse), free(dq), free(dk), free(dv);
	free(s.q), free(s.k), free(s.v), free(s.r), free(s.y), free(gq), free(gk), free(gv);
}

static void test_attention_backward(void)
{
	int32_t cu[4] = {0, 3, 8, 9};
	check_attention_backward(1, cu, 3, 1, 0);
	check_attention_backward(0, cu, 3, 1, 0);
	int32_t with_empty[5] = {0, 0, 3, 3, 5};
	check_attention_backward(0, with_empty, 4, 1, 0);
	/* sliding windows: within short records, and past a 64-query block
	 * (the blocks' key ranges then start after key 0) */
	check_attention_backward(1, cu, 3, 1, 2);
	check_attention_backward(0, cu, 3, 1, 2);
	int32_t long_record[3] = {0, 70, 75};
	check_attention_backward(0, long_record, 2, 13, 20);
	check_attention_backward(1, long_record, 2, 13, 20);
}

/* A record longer than a block of queries (64), every 23rd input checked. */
static void test_attention_backward_long(void)
{
	int32_t cu[3] = {0, 2, 72};
	check_attention_backward(0, cu, 2, 23, 0);
	check_attention_backward(1, cu, 2, 23, 0);
}

/* ---- swiglu ---- */

struct sg { double *g, *u, *r; size_t n; };

static double sg_loss(void *p)
{
	struct sg *s = p;
	double l = 0;
	for (size_t i = 0; i < s->n; i++)
		l += s->r[i] * ref_silu(s->g[i]) * s->u[i];
	return l;
}

static void test_swiglu_backward(void)
{
	size_t n = 301;
	float *g = kt_random(n, 8), *u = kt_random(n, 2), *dout = kt_random(n, 1);
	float *dg = kt_floats(n), *du = kt_floats(n);
	struct sg s = {kt_widen(g, n), kt_widen(u, n), kt_widen(dout, n), n};
	double *gg = kt_doubles(n), *gu = kt_doubles(n);
	fd_grad(gg, s.g, n, sg_loss, &s);
	fd_grad(gu, s.u, n, sg_loss, &s);
	tk_swiglu_backward(be, dg, du, dout, g, u, n);
	KT_CHECK_NEAR(dg, gg, n, 1e-5);
	KT_CHECK_NEAR(du, gu, n, 1e-5);
	free(g), free(u), free(dout), free(dg), free(du), free(s.g), free(s.u), free(s.r), free(gg), free(gu);
}

/* ---- softmax ---- */

struct sm { double *x, *r; size_t n, c; };

static double sm_loss(void *p)
{
	struct sm *s = p;
	double l = 0;
	for (size_t i = 0; i < s->n; i++) {
		const double *x = s->x + i * s->c;
		double m = -INFINITY, z = 0;
		for (size_t j = 0; j < s->c; j++)
			m = x[j] > m ? x[j] : m;
		for (size_t j = 0; j < s->c; j++)
			z += exp(x[j] - m);
		for (size_t j = 0; j < s->c; j++)
			l += s->r[i * s->c + j] * exp(x[j] - m) / z;
	}
	return l;
}

static void test_softmax_backward(void)
{
	size_t n = 4, c = 33;
	float *x = kt_random(n * c, 3), *dy = kt_random(n * c, 1);
	float *y = kt_floats(n * c), *dx = kt_floats(n * c);
	struct sm s = {kt_widen(x, n * c), kt_widen(dy, n * c), n, c};
	double *gx = kt_doubles(n * c);
	fd_grad(gx, s.x, n * c, sm_loss, &s);
	tk_softmax_forward(be, y, x, n, c);
	tk_softmax_backward(be, dx, dy, y, n, c);
	KT_CHECK_NEAR(dx, gx, n * c, 1e-5);
	free(x), free(dy), free(y), free(dx), free(s.x), free(s.r), free(gx);
}

int main(void)
{
	for (size_t k = 0; k < KT_KINDS; k++) {
		kt_kind = kt_kinds[k];
		be = kt_open(0);
		KT_RUN_ON(test_matmul_backward);
		KT_RUN_ON(test_embedding_backward);
		KT_RUN_ON(test_rmsnorm_backward);
		KT_RUN_ON(test_rope_backward);
		KT_RUN_ON(test_attention_backward);
		KT_RUN_ON(test_attention_backward_long);
		KT_RUN_ON(test_swiglu_backward);
		KT_RUN_ON(test_softmax_backward);
		tk_backend_close(be);
	}
	return tkt_done();
}
