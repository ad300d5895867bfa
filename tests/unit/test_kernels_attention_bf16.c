/* The packed attention backward in bf16 (kernels.h: form TK_PACK_BF16_DOT;
 * kernels/cpu/attention_amx.c on AMX tiles): against the reference
 * backend's float64 sums of the same bf16 operands within float32
 * summation, against the float32 backward within bf16 rounding (and not
 * equal to it), the same bits on one thread and on two, and a record's
 * bits alone the same as packed with others.  Records of several lengths
 * (past 64-query blocks, not multiples of 32, empty), GQA groups of 1 to
 * 8, head dimensions 64 and 24, sliding windows. */
#include "test_kernels.h"

#include "cpu/cpu.h" // tk_cpu_amx_ready: whether the tiles run here

static tk_backend *cpu, *cpu1, *ref;

struct shape {
	size_t heads, kv_heads, d, window;
	const int32_t *cu;
	size_t n_records;
};

/* Inputs of one case, out and lse from the reference forward. */
struct inputs {
	size_t n, nq, nk;
	float *q, *k, *v, *dout, *out, *lse;
};

static struct inputs make_inputs(const struct shape *s)
{
	struct inputs in;
	in.n = (size_t)s->cu[s->n_records];
	in.nq = in.n * s->heads * s->d, in.nk = in.n * s->kv_heads * s->d;
	in.q = kt_random(in.nq, 1.5), in.k = kt_random(in.nk, 1.5), in.v = kt_random(in.nk, 1);
	in.dout = kt_random(in.nq, 1), in.out = kt_floats(in.nq);
	in.lse = kt_floats(in.n * s->heads);
	float scale = 1.0f / sqrtf((float)s->d);
	TKT_CHECK(tk_attention_packed_forward(ref, in.out, in.lse, in.q, in.k, in.v, s->cu,
					      s->n_records, in.n, s->heads, s->kv_heads, s->d,
					      scale, s->window) == 0, "%s", tk_error_message());
	return in;
}

static void free_inputs(struct inputs *in)
{
	free(in->q), free(in->k), free(in->v), free(in->dout), free(in->out), free(in->lse);
}

/* dq, dk, dv in one block: (nq + 2 nk). */
static float *backward(tk_backend *be, const struct shape *s, const struct inputs *in, int form)
{
	float *g = kt_floats(in->nq + 2 * in->nk);
	TKT_CHECK(tk_attention_packed_backward(be, g, g + in->nq, g + in->nq + in->nk, in->dout,
					       in->q, in->k, in->v, in->out, in->lse, s->cu,
					       s->n_records, in->n, s->heads, s->kv_heads, s->d,
					       1.0f / sqrtf((float)s->d), s->window, form) == 0,
		  "%s", tk_error_message());
	return g;
}

/* The worst |got − want| of each of dq, dk, dv over the largest |want|
 * of that gradient. */
static double worst_of(const float *got, const float *want, const struct inputs *in)
{
	size_t part[3][2] = {{0, in->nq}, {in->nq, in->nk}, {in->nq + in->nk, in->nk}};
	double worst = 0;
	for (int p = 0; p < 3; p++) {
		double top = 1e-30, e = 0;
		for (size_t i = part[p][0]; i < part[p][0] + part[p][1]; i++) {
			top = fabs(want[i]) > top ? fabs(want[i]) : top;
			double d = fabs((double)got[i] - want[i]);
			e = d > e || d != d ? d : e;
		}
		worst = e / top > worst || e != e ? e / top : worst;
	}
	return worst;
}

static const int32_t mixed[] = {0, 5, 75, 76, 76, 213};  // 5, 70, 1, empty, 137 tokens
static const int32_t longer[] = {0, 300, 333};           // 300 and 33

static const struct shape shapes[] = {
	{6, 2, 64, 0, mixed, 5},
	{4, 4, 24, 0, mixed, 5},    // no group; d padded to 32
	{8, 1, 64, 20, mixed, 5},   // a group of 8; a window inside blocks
	{3, 3, 64, 100, longer, 2}, // a window past a block: keys from past 32
	{9, 3, 64, 0, longer, 2},   // SmolLM2's heads
};
#define N_SHAPES (sizeof shapes / sizeof *shapes)

/* The reference's bf16 form against its float32 one: not equal, within
 * bf16 rounding. */
static void test_ref_form(void)
{
	for (size_t c = 0; c < N_SHAPES; c++) {
		struct inputs in = make_inputs(&shapes[c]);
		float *f32 = backward(ref, &shapes[c], &in, TK_PACK_F32);
		float *bf16 = backward(ref, &shapes[c], &in, TK_PACK_BF16_DOT);
		double e = worst_of(bf16, f32, &in);
		TKT_CHECK(e < 2e-2 && e > 1e-5, "case %zu: bf16 against float32 %.3g", c, e);
		free(f32), free(bf16);
		free_inputs(&in);
	}
}

#define NEED_AMX()                                                                          \
	do {                                                                                \
		if (!tk_cpu_amx_ready())                                                    \
			TKT_SKIP("no AMX-BF16 tiles here (or TK_AMX=0): the float32 code runs"); \
	} while (0)

/* AMX against the reference's same bf16 operands: float32 sums (and p, ds
 * rounded from float32 rather than double: now and then the other bf16
 * neighbour); against float32: bf16 rounding. */
static void test_against_ref(void)
{
	NEED_AMX();
	for (size_t c = 0; c < N_SHAPES; c++) {
		struct inputs in = make_inputs(&shapes[c]);
		float *amx = backward(cpu, &shapes[c], &in, TK_PACK_BF16_DOT);
		float *same = backward(ref, &shapes[c], &in, TK_PACK_BF16_DOT);
		float *f32 = backward(ref, &shapes[c], &in, TK_PACK_F32);
		double e_same = worst_of(amx, same, &in), e_f32 = worst_of(amx, f32, &in);
		printf("# case %zu: against ref bf16 %.3g, against float32 %.3g\n", c, e_same, e_f32);
		TKT_CHECK(e_same < 3e-4, "case %zu: against the reference's bf16 %.3g", c, e_same);
		TKT_CHECK(e_f32 < 1.5e-2 && e_f32 > 4 * e_same, "case %zu: against float32 %.3g "
			  "(the reference's bf16 %.3g)", c, e_f32, e_same);
		free(amx), free(same), free(f32);
		free_inputs(&in);
	}
}

/* One thread and two: the same bits. */
static void test_threads(void)
{
	NEED_AMX();
	for (size_t c = 0; c < N_SHAPES; c++) {
		struct inputs in = make_inputs(&shapes[c]);
		float *two = backward(cpu, &shapes[c], &in, TK_PACK_BF16_DOT);
		float *one = backward(cpu1, &shapes[c], &in, TK_PACK_BF16_DOT);
		KT_CHECK_SAME(one, two, in.nq + 2 * in.nk);
		free(one), free(two);
		free_inputs(&in);
	}
}

/* Each record's gradients alone: the bits it had packed with the others. */
static void test_record_alone(void)
{
	NEED_AMX();
	for (size_t c = 0; c < N_SHAPES; c++) {
		const struct shape *s = &shapes[c];
		struct inputs in = make_inputs(s);
		float *all = backward(cpu, s, &in, TK_PACK_BF16_DOT);
		for (size_t r = 0; r < s->n_records; r++) {
			size_t t0 = (size_t)s->cu[r], len = (size_t)s->cu[r + 1] - t0;
			size_t hq = s->heads * s->d, hk = s->kv_heads * s->d;
			int32_t cu1[2] = {0, (int32_t)len};
			struct shape s1 = {s->heads, s->kv_heads, s->d, s->window, cu1, 1};
			struct inputs one = {len, len * hq, len * hk, in.q + t0 * hq, in.k + t0 * hk,
					     in.v + t0 * hk, in.dout + t0 * hq, in.out + t0 * hq,
					     in.lse + t0 * s->heads};
			float *g = backward(cpu, &s1, &one, TK_PACK_BF16_DOT);
			KT_CHECK_SAME(g, all + t0 * hq, len * hq);
			KT_CHECK_SAME(g + one.nq, all + in.nq + t0 * hk, len * hk);
			KT_CHECK_SAME(g + one.nq + one.nk, all + in.nq + in.nk + t0 * hk, len * hk);
			free(g);
		}
		free(all);
		free_inputs(&in);
	}
}

int main(void)
{
	if (tk_backend_open(&cpu, "cpu", 2) || tk_backend_open(&cpu1, "cpu", 1) ||
	    tk_backend_open(&ref, "ref", 1)) {
		printf("Bail out! %s\n", tk_error_message());
		return 1;
	}
	TKT_RUN(test_ref_form);
	TKT_RUN(test_against_ref);
	TKT_RUN(test_threads);
	TKT_RUN(test_record_alone);
	tk_backend_close(cpu), tk_backend_close(cpu1), tk_backend_close(ref);
	return tkt_done();
}
