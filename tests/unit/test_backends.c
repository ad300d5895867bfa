/* Every kernel of kernels/kernels.h through the "cpu" and the "ref" backend
 * on the same random inputs: the two agree within the tolerance stated at
 * each comparison, |cpu − ref| <= tol · max |ref| over the output (ref sums
 * in double and rounds once; cpu works in float32, so the tolerances are a
 * few float32 roundings of the sums' length).  Every comparison prints its
 * worst element as a TAP comment; "exact" ones must agree bit for bit.
 * Also: ref's own promises (batch invariance whatever it is told, packed
 * weights as plain copies, compact forms declined) and the backend table's
 * plumbing (names, errors, the workspace), and that kernels/ includes
 * nothing of lib/. */
#include "test_kernels.h"

#include "backend_ops.h" // the workspace, white box

#include <dirent.h>
#include <stdint.h>

static tk_backend *cpu, *ref;

/* Tolerances, relative to the largest |ref| of the output. */
#define TOL_ROUNDING 1e-6 /* elementwise: a few roundings */
#define TOL_SUM 1e-5      /* sums of up to a few hundred products */
#define TOL_LONG_SUM 4e-5 /* sums of thousands */

#define AGREE(what, a, b, n, tol) agree(__FILE__, __LINE__, what, a, b, n, tol)

static void agree(const char *file, int line, const char *what, const float *got_cpu,
		  const float *got_ref, size_t n, double tol)
{
	double scale = 0, worst = 0;
	size_t at = 0;
	for (size_t i = 0; i < n; i++)
		scale = fabs(got_ref[i]) > scale ? fabs(got_ref[i]) : scale;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got_cpu[i] - got_ref[i]);
		if (d > worst || d != d) {
			worst = d, at = i;
			if (d != d)
				break;
		}
	}
	double rel = scale > 0 ? worst / scale : worst;
	printf("# %-34s worst %.3g = %.2g of max |ref| %.3g at [%zu]: cpu %.9g ref %.9g (tol %.0g)\n",
	       what, worst, rel, scale, at, n ? got_cpu[at] : 0.0f, n ? got_ref[at] : 0.0f, tol);
	if (!(rel <= tol))
		tkt_fail_at(file, line, what, "worst %.3g of max |ref| > %.0g", rel, tol);
}

#define SAME(what, a, b, n) same(__FILE__, __LINE__, what, a, b, n)

static void same(const char *file, int line, const char *what, const float *a, const float *b,
		 size_t n)
{
	size_t differ = 0, first = 0;
	for (size_t i = 0; i < n; i++)
		if (memcmp(&a[i], &b[i], sizeof *a) != 0 && differ++ == 0)
			first = i;
	printf("# %-34s exact: %zu of %zu elements differ\n", what, differ, n);
	if (differ)
		tkt_fail_at(file, line, what, "[%zu]: cpu %.9g ref %.9g", first, a[first], b[first]);
}

static float *copy_of(const float *x, size_t n)
{
	float *y = kt_floats(n);
	memcpy(y, x, n * sizeof *y);
	return y;
}

static int32_t *random_ids(size_t n, size_t below)
{
	int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
	if (!ids)
		exit(2);
	for (size_t i = 0; i < n; i++)
		ids[i] = (int32_t)(tkt_rand64() % below);
	return ids;
}

/* ---- the table's plumbing --------------------------------------------- */

static void test_open_and_memory(void)
{
	TKT_CHECK(strncmp(tk_backend_name(ref), "ref", 3) == 0, "%s", tk_backend_name(ref));
	TKT_CHECK(tk_backend_threads(ref) == 1, "ref threads %d", tk_backend_threads(ref));
	tk_backend_set_batch_invariant(ref, 0);
	TKT_CHECK(tk_backend_batch_invariant(ref) == 1, "%s", "ref is always batch invariant");
	tk_backend_set_batch_invariant(cpu, 0);
	TKT_CHECK(tk_backend_batch_invariant(cpu) == 0, "%s", "cpu can trade invariance");
	tk_backend_set_batch_invariant(cpu, 1);
	tk_backend *none = NULL;
	TKT_CHECK(tk_backend_open(&none, "cuda9", 0) == TK_KERNEL_ECONFIG && !none, "%s",
		  "unknown kind");
	TKT_CHECK(strstr(tk_error_message(), "\"cuda9\"") != NULL, "%s", tk_error_message());
	TKT_CHECK(tk_backend_open(&none, "ref", -1) == TK_KERNEL_EUSAGE && !none, "%s",
		  "negative threads");
	size_t n = 333;
	float *host = kt_random(n, 1), *back[2] = {kt_floats(n), kt_floats(n)};
	tk_backend *bes[2] = {cpu, ref};
	for (int b = 0; b < 2; b++) {
		float *dev = tk_backend_alloc(bes[b], n * sizeof *dev);
		TKT_CHECK(dev && ((uintptr_t)dev & 63) == 0, "%s: 64-byte aligned", tk_backend_name(bes[b]));
		tk_copy_to_device(bes[b], dev, host, n * sizeof *dev);
		tk_copy_on_device(bes[b], dev + 1, dev, (n - 1) * sizeof *dev);
		tk_backend_zero(bes[b], dev + n - 1, sizeof *dev);
		tk_copy_to_host(bes[b], back[b], dev, n * sizeof *dev);
		TKT_CHECK(tk_backend_sync(bes[b]) == 0 && back[b][n - 1] == 0.0f, "%s",
			  tk_backend_name(bes[b]));
		tk_backend_free(bes[b], dev);
	}
	SAME("memory and copies", back[0], back[1], n);
	free(host), free(back[0]), free(back[1]);
}

/* A kernel that fails leaves its message in the backend and in lib's. */
static void test_failure_message(void)
{
	float x[4] = {0}, y[4];
	tk_matmul_job jobs[9];
	for (int i = 0; i < 9; i++)
		jobs[i] = (tk_matmul_job){.y = y, .packed = x, .form = TK_PACK_F32, .out = 1};
	tk_backend *bes[2] = {cpu, ref};
	for (int b = 0; b < 2; b++) {
		tk_error_clear();
		int rc = tk_matmul_forward_packed_many(bes[b], x, 1, 4, jobs, 9);
		TKT_CHECK(rc == TK_KERNEL_EUSAGE && rc == TK_EUSAGE, "%s: rc %d", tk_backend_name(bes[b]), rc);
		TKT_CHECK(strstr(tk_backend_error(bes[b]), "9 products") != NULL, "backend: %s",
			  tk_backend_error(bes[b]));
		TKT_CHECK(strcmp(tk_error_message(), tk_backend_error(bes[b])) == 0, "lib: %s",
			  tk_error_message());
	}
	TKT_CHECK((int)TK_KERNEL_ENOMEM == (int)TK_EOSERR && (int)TK_KERNEL_ECONFIG == (int)TK_ECONFIG, "%s",
		  "the kernels' status values are tk_error.h's");
}

/* Takes in stack order; one that does not fit while others are live gets
 * a block of its own; after the outermost release the main block holds
 * what the call took at once, so the same takes again fit in it. */
static void test_workspace(void)
{
	tk_backend *be = NULL;
	TKT_CHECK(tk_backend_open(&be, "ref", 0) == 0, "%s", tk_error_message());
	if (!be)
		return;
	for (int round = 0; round < 2; round++) {
		tk_workspace_mark outer = tk_workspace_mark_now(be);
		unsigned char *a = tk_workspace_take(be, 1000);
		tk_workspace_mark inner = tk_workspace_mark_now(be);
		unsigned char *b = tk_workspace_take(be, 5000);
		unsigned char *c = tk_workspace_slices(be, 3, 100); // 3 slices of 128 bytes
		TKT_CHECK(a && b && c, "%s", "taken");
		TKT_CHECK((((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) & 63) == 0, "%s", "aligned");
		TKT_CHECK(a + 1024 <= b || b + 5000 <= a, "%s", "a and b apart");
		TKT_CHECK(tk_workspace_slice_bytes(100) == 128, "%zu", tk_workspace_slice_bytes(100));
		memset(a, 1, 1000), memset(b, 2, 5000), memset(c, 3, 3 * 128);
		TKT_CHECK(a[999] == 1 && b[0] == 2 && b[4999] == 2, "%s", "no overlap");
		if (round == 1)
			TKT_CHECK(b == a + 1024 && c == b + 5056 && !be->arena.extra, "%s",
				  "the second round fits the grown block");
		tk_workspace_release(be, inner);
		unsigned char *again = tk_workspace_take(be, 64);
		TKT_CHECK(again && (round == 0 || again == b), "%s", "released in stack order");
		tk_workspace_release(be, outer);
		TKT_CHECK(be->arena.used == 0 && !be->arena.extra, "%s", "all released");
	}
	TKT_CHECK(be->arena.size >= 1024 + 5056 + 384, "block of %zu bytes", be->arena.size);
	tk_backend_close(be);
}

/* kernels/ includes nothing of lib/ but the public tk_backend.h, and never
 * calls lib's error recorder (lib's tk_backend_error_hook does). */
static void check_hygiene(const char *dir)
{
	DIR *d = opendir(dir);
	TKT_CHECK(d != NULL, "%s: run from the repository root", dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (len < 3 || (strcmp(e->d_name + len - 2, ".c") && strcmp(e->d_name + len - 2, ".h")))
			continue;
		char path[512], line[512];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "r");
		for (int no = 1; f && fgets(line, sizeof line, f); no++) {
			char name[256];
			if (sscanf(line, "#include \"%255[^\"]\"", name) == 1 &&
			    strcmp(name, "tk_backend.h") != 0) {
				char local[800], root[800];
				snprintf(local, sizeof local, "%s/%s", dir, name);
				snprintf(root, sizeof root, "kernels/%s", name);
				FILE *here = fopen(local, "r"), *there = here ? NULL : fopen(root, "r");
				TKT_CHECK(here || there, "%s:%d includes \"%s\" from outside kernels/", path,
					  no, name);
				if (here)
					fclose(here);
				if (there)
					fclose(there);
			}
			TKT_CHECK(!strstr(line, "tk_fail("), "%s:%d calls tk_fail", path, no);
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
}

static void test_kernels_include_nothing_of_lib(void)
{
	check_hygiene("kernels");
	check_hygiene("kernels/cpu");
	check_hygiene("kernels/ref");
}

/* ---- linear layers ------------------------------------------------------ */

static void matmul_case(size_t n, size_t in, size_t out, double tol)
{
	float *x = kt_random(n * in, 1), *w = kt_random(out * in, 1), *bias = kt_random(out, 1);
	float *y0 = kt_random(n * out, 1), *yc = copy_of(y0, n * out), *yr = copy_of(y0, n * out);
	char what[80];
	for (int inv = 1; inv >= 0; inv--) {
		tk_backend_set_batch_invariant(cpu, inv);
		for (int accumulate = 0; accumulate <= 1; accumulate++) {
			memcpy(yc, y0, n * out * sizeof *yc), memcpy(yr, y0, n * out * sizeof *yr);
			TKT_CHECK(tk_matmul_forward(cpu, yc, x, w, bias, n, in, out, accumulate) == 0 &&
				  tk_matmul_forward(ref, yr, x, w, bias, n, in, out, accumulate) == 0,
				  "%s", tk_error_message());
			snprintf(what, sizeof what, "matmul %zux%zux%zu%s%s", n, in, out,
				 accumulate ? " +=" : "", inv ? "" : " (blas)");
			AGREE(what, yc, yr, n * out, tol);
		}
	}
	tk_backend_set_batch_invariant(cpu, 1);
	/* packed: each backend's own layout */
	float *pc = kt_floats(tk_matmul_packed_floats(cpu, in, out));
	float *pr = kt_floats(tk_matmul_packed_floats(ref, in, out));
	tk_matmul_pack(cpu, pc, w, in, out);
	tk_matmul_pack(ref, pr, w, in, out);
	TKT_CHECK(tk_matmul_forward_packed(cpu, yc, x, pc, bias, n, in, out, 0) == 0 &&
		  tk_matmul_forward_packed(ref, yr, x, pr, bias, n, in, out, 0) == 0, "%s",
		  tk_error_message());
	snprintf(what, sizeof what, "matmul packed %zux%zux%zu", n, in, out);
	AGREE(what, yc, yr, n * out, tol);
	float *unpacked = kt_floats(n * out);
	tk_matmul_forward(ref, unpacked, x, w, bias, n, in, out, 0);
	SAME("ref: packed = unpacked", yr, unpacked, n * out);
	/* the backward's packing: dx = dy·W */
	float *dy = kt_random(n * out, 1), *dxc = kt_floats(n * in), *dxr = kt_floats(n * in);
	float *bc = kt_floats(tk_matmul_packed_backward_floats(cpu, in, out));
	float *br = kt_floats(tk_matmul_packed_backward_floats(ref, in, out));
	tk_matmul_pack_backward(cpu, bc, w, in, out);
	tk_matmul_pack_backward(ref, br, w, in, out);
	TKT_CHECK(tk_matmul_backward_packed(cpu, dxc, dy, bc, n, in, out, 0) == 0 &&
		  tk_matmul_backward_packed(ref, dxr, dy, br, n, in, out, 0) == 0, "%s",
		  tk_error_message());
	snprintf(what, sizeof what, "matmul backward packed %zux%zux%zu", n, in, out);
	AGREE(what, dxc, dxr, n * in, tol);
	free(x), free(w), free(bias), free(y0), free(yc), free(yr), free(pc), free(pr);
	free(unpacked), free(dy), free(dxc), free(dxr), free(bc), free(br);
}

static void test_matmul(void)
{
	matmul_case(7, 37, 301, TOL_SUM);
	matmul_case(33, 130, 257, TOL_SUM);
	matmul_case(9, 2100, 61, TOL_LONG_SUM); // k in two of xwt.c's chunks
}

static void test_matmul_many(void)
{
	size_t n = 21, in = 53, outs[3] = {96, 7, 130};
	float *x = kt_random(n * in, 1), *bias = kt_random(130, 1);
	tk_backend *bes[2] = {cpu, ref};
	tk_matmul_job jobs[2][3];
	float *w[3], *packed[2][3];
	for (int i = 0; i < 3; i++) {
		w[i] = kt_random(outs[i] * in, 1);
		for (int b = 0; b < 2; b++) {
			packed[b][i] = kt_floats(tk_matmul_packed_floats(bes[b], in, outs[i]));
			tk_matmul_pack(bes[b], packed[b][i], w[i], in, outs[i]);
			jobs[b][i] = (tk_matmul_job){kt_floats(n * outs[i]), packed[b][i], TK_PACK_F32,
						     i == 2 ? bias : NULL, outs[i]};
		}
	}
	for (int b = 0; b < 2; b++)
		TKT_CHECK(tk_matmul_forward_packed_many(bes[b], x, n, in, jobs[b], 3) == 0, "%s",
			  tk_error_message());
	for (int i = 0; i < 3; i++) {
		AGREE("matmul packed many", jobs[0][i].y, jobs[1][i].y, n * outs[i], TOL_SUM);
		free(w[i]), free(packed[0][i]), free(packed[1][i]), free(jobs[0][i].y), free(jobs[1][i].y);
	}
	free(x), free(bias);
}

/* Every product's gradients: dx (assigned and accumulated), dw, dbias. */
static void test_matmul_backward(void)
{
	size_t n = 29, in = 77, out = 203;
	float *x = kt_random(n * in, 1), *w = kt_random(out * in, 1), *dy = kt_random(n * out, 1);
	float *dx0 = kt_random(n * in, 1), *dw0 = kt_random(out * in, 1), *db0 = kt_random(out, 1);
	for (int accumulate = 0; accumulate <= 1; accumulate++) {
		float *dxc = copy_of(dx0, n * in), *dxr = copy_of(dx0, n * in);
		float *dwc = copy_of(dw0, out * in), *dwr = copy_of(dw0, out * in);
		float *dbc = copy_of(db0, out), *dbr = copy_of(db0, out);
		TKT_CHECK(tk_matmul_backward(cpu, dxc, dwc, dbc, dy, x, w, n, in, out, accumulate) == 0 &&
			  tk_matmul_backward(ref, dxr, dwr, dbr, dy, x, w, n, in, out, accumulate) == 0,
			  "%s", tk_error_message());
		AGREE(accumulate ? "matmul backward dx +=" : "matmul backward dx", dxc, dxr, n * in,
		      TOL_SUM);
		AGREE("matmul backward dw +=", dwc, dwr, out * in, TOL_SUM);
		AGREE("matmul backward dbias +=", dbc, dbr, out, TOL_SUM);
		free(dxc), free(dxr), free(dwc), free(dwr), free(dbc), free(dbr);
	}
	free(x), free(w), free(dy), free(dx0), free(dw0), free(db0);
}

/* A matrix that Q4 holds exactly: per 32 inputs of an output, w = d·q + m
 * with d and m f16 values (powers of two here) and q spanning 0..15. */
static float *q4_exact(size_t in, size_t out)
{
	float *w = kt_floats(in * out);
	for (size_t j = 0; j < out; j++)
		for (size_t t = 0; t < in; t++) {
			size_t r = t % 32;
			int q = r == 0 ? 0 : r == 1 ? 15 : (int)(tkt_rand64() % 16);
			float d = (j % 3 + 1) * 0.0625f, m = -0.5f * (float)(t / 32 % 2 + 1);
			w[j * in + t] = d * (float)q + m;
		}
	return w;
}

/* cpu holds such a matrix in a compact form, ref declines compact forms
 * (float32 copies): the products and the lookups give the same values. */
static void test_compact_forms(void)
{
	size_t n = 5, in = 64, out = 100;
	float *w = q4_exact(in, out), *x = kt_random(n * in, 1);
	int form_cpu = tk_matmul_pack_form(cpu, w, in, out);
	int form_ref = tk_matmul_pack_form(ref, w, in, out);
	printf("# forms: cpu %s, ref %s\n", tk_matmul_pack_form_name(form_cpu),
	       tk_matmul_pack_form_name(form_ref));
	TKT_CHECK(form_ref == TK_PACK_F32, "ref packs as %s", tk_matmul_pack_form_name(form_ref));
	TKT_CHECK(form_cpu != TK_PACK_F32, "cpu packs as %s", tk_matmul_pack_form_name(form_cpu));
	void *pc = kt_floats(tk_matmul_packed_bytes(cpu, form_cpu, in, out) / sizeof(float) + 1);
	void *pr = kt_floats(tk_matmul_packed_bytes(ref, form_ref, in, out) / sizeof(float) + 1);
	TKT_CHECK(tk_matmul_pack_as(cpu, pc, form_cpu, w, in, out) == 1 &&
		  tk_matmul_pack_as(ref, pr, form_ref, w, in, out) == 1, "%s", "packing fits");
	float *yc = kt_floats(n * out), *yr = kt_floats(n * out);
	TKT_CHECK(tk_matmul_forward_packed_as(cpu, yc, x, pc, form_cpu, NULL, n, in, out, 0) == 0 &&
		  tk_matmul_forward_packed_as(ref, yr, x, pr, form_ref, NULL, n, in, out, 0) == 0,
		  "%s", tk_error_message());
	AGREE("matmul packed as a compact form", yc, yr, n * out, TOL_SUM);
	/* a tied embedding's rows read back from the packing: exact */
	int32_t *ids = random_ids(n, out);
	float *ec = kt_floats(n * in), *er = kt_floats(n * in);
	tk_embedding_forward_packed(cpu, ec, ids, pc, form_cpu, n, in, out);
	tk_embedding_forward_packed(ref, er, ids, pr, form_ref, n, in, out);
	SAME("embedding from a compact packing", ec, er, n * in);
	/* ref has no compact forms: packing in one reports a misfit */
	void *q4 = kt_floats(tk_matmul_packed_bytes(ref, TK_PACK_Q4, in, out) / sizeof(float) + 1);
	TKT_CHECK(tk_matmul_pack_as(ref, q4, TK_PACK_Q4, w, in, out) == 0, "%s",
		  "ref declines Q4");
	free(w), free(x), free(pc), free(pr), free(yc), free(yr), free(ids), free(ec), free(er);
	free(q4);
}

static void test_embedding_and_rows(void)
{
	size_t n = 41, c = 70, vocab = 50;
	float *table = kt_random(vocab * c, 1), *dy = kt_random(n * c, 1);
	int32_t *ids = random_ids(n, vocab);
	float *yc = kt_floats(n * c), *yr = kt_floats(n * c);
	tk_embedding_forward(cpu, yc, ids, table, n, c, vocab);
	tk_embedding_forward(ref, yr, ids, table, n, c, vocab);
	SAME("embedding forward", yc, yr, n * c);
	float *dtc = copy_of(table, vocab * c), *dtr = copy_of(table, vocab * c);
	tk_embedding_backward(cpu, dtc, dy, ids, n, c, vocab);
	tk_embedding_backward(ref, dtr, dy, ids, n, c, vocab);
	SAME("embedding backward (token order)", dtc, dtr, vocab * c);
	int32_t rows[5] = {7, 0, 44, 3, 20};
	float *gc = kt_floats(5 * c), *gr = kt_floats(5 * c);
	tk_rows_gather(cpu, gc, table, rows, 5, c);
	tk_rows_gather(ref, gr, table, rows, 5, c);
	SAME("rows gather", gc, gr, 5 * c);
	tk_rows_scatter(cpu, dtc, gc, rows, 5, c);
	tk_rows_scatter(ref, dtr, gr, rows, 5, c);
	SAME("rows scatter", dtc, dtr, vocab * c);
	free(table), free(dy), free(ids), free(yc), free(yr), free(dtc), free(dtr), free(gc), free(gr);
}

/* ---- normalization and rotary embedding ------------------------------- */

static void test_rmsnorm(void)
{
	size_t n = 37, c = 576;
	float *x = kt_random(n * c, 3), *w = kt_random(c, 1), *dy = kt_random(n * c, 1);
	float *yc = kt_floats(n * c), *yr = kt_floats(n * c), rc[37], rr[37];
	tk_rmsnorm_forward(cpu, yc, rc, x, w, n, c, 1e-5f);
	tk_rmsnorm_forward(ref, yr, rr, x, w, n, c, 1e-5f);
	AGREE("rmsnorm forward", yc, yr, n * c, TOL_ROUNDING);
	AGREE("rmsnorm rstd", rc, rr, n, TOL_ROUNDING);
	float *dx0 = kt_random(n * c, 1), *dw0 = kt_random(c, 1);
	for (int accumulate = 0; accumulate <= 1; accumulate++) {
		float *dxc = copy_of(dx0, n * c), *dxr = copy_of(dx0, n * c);
		float *dwc = copy_of(dw0, c), *dwr = copy_of(dw0, c);
		tk_rmsnorm_backward(cpu, dxc, dwc, dy, x, w, rc, n, c, accumulate);
		tk_rmsnorm_backward(ref, dxr, dwr, dy, x, w, rc, n, c, accumulate);
		AGREE(accumulate ? "rmsnorm backward dx +=" : "rmsnorm backward dx", dxc, dxr, n * c,
		      TOL_SUM);
		AGREE("rmsnorm backward dw +=", dwc, dwr, c, TOL_SUM);
		free(dxc), free(dxr), free(dwc), free(dwr);
	}
	free(x), free(w), free(dy), free(yc), free(yr), free(dx0), free(dw0);
}

static void test_rope(void)
{
	size_t n = 23, heads = 5, d = 64, len = n * heads * d;
	int32_t *pos = random_ids(n, 9000);
	float inv_freq[32], *x = kt_random(len, 2), *yc = kt_floats(len), *yr = kt_floats(len);
	tk_rope_inv_freq(inv_freq, d, 10000.0, NULL);
	tk_rope_forward(cpu, yc, x, pos, inv_freq, n, heads, d);
	tk_rope_forward(ref, yr, x, pos, inv_freq, n, heads, d);
	AGREE("rope forward", yc, yr, len, TOL_ROUNDING);
	tk_rope_backward(cpu, yc, x, pos, inv_freq, n, heads, d);
	tk_rope_backward(ref, yr, x, pos, inv_freq, n, heads, d);
	AGREE("rope backward", yc, yr, len, TOL_ROUNDING);
	float *tc = kt_floats(n * d), *tr = kt_floats(n * d);
	tk_rope_table(cpu, tc, pos, inv_freq, n, d);
	tk_rope_table(ref, tr, pos, inv_freq, n, d);
	SAME("rope table (cos, sin rounded once)", tc, tr, n * d);
	tk_rope_forward_table(cpu, yc, x, tc, n, heads, d);
	tk_rope_forward_table(ref, yr, x, tr, n, heads, d);
	AGREE("rope forward from the table", yc, yr, len, TOL_ROUNDING);
	tk_rope_backward_table(cpu, yc, x, tc, n, heads, d);
	tk_rope_backward_table(ref, yr, x, tr, n, heads, d);
	AGREE("rope backward from the table", yc, yr, len, TOL_ROUNDING);
	free(pos), free(x), free(yc), free(yr), free(tc), free(tr);
}

/* ---- attention ------------------------------------------------------------ */

/* A KV cache of two sequences of 80 rows: a 70-token prefill of one (across
 * a 64-key block), one decode token of the other. */
static void attention_cached_case(size_t heads, size_t kv_heads, size_t d, size_t window)
{
	size_t rows = 160, n = 71, ld = kv_heads * d;
	float *kc = kt_random(rows * ld, 1), *vc = kt_random(rows * ld, 1);
	float *q = kt_random(n * heads * d, 1.5);
	float *oc = kt_floats(n * heads * d), *orf = kt_floats(n * heads * d);
	int32_t kv_row[71], pos[71];
	for (size_t i = 0; i < 70; i++)
		kv_row[i] = 80, pos[i] = (int32_t)(5 + i);
	kv_row[70] = 0, pos[70] = 33;
	float scale = 1.0f / sqrtf((float)d);
	tk_attention_cached_forward(cpu, oc, q, kc, vc, kv_row, pos, n, heads, kv_heads, d, scale,
				    window);
	tk_attention_cached_forward(ref, orf, q, kc, vc, kv_row, pos, n, heads, kv_heads, d, scale,
				    window);
	char what[80];
	snprintf(what, sizeof what, "attention cached h%zu/%zu d%zu w%zu", heads, kv_heads, d, window);
	AGREE(what, oc, orf, n * heads * d, TOL_SUM);
	free(kc), free(vc), free(q), free(oc), free(orf);
}

static void test_attention_cached(void)
{
	attention_cached_case(4, 2, 12, 0);  // the portable code
	attention_cached_case(9, 3, 64, 0);  // AVX-512 where the CPU has it
	attention_cached_case(8, 2, 128, 17);
}

/* Three records (one past a 64-query block), forward with lse and
 * backward, with the cpu backend batch invariant (its per-query code) or
 * not (sgemm blocks). */
static void attention_packed_case(size_t heads, size_t kv_heads, size_t d, size_t window)
{
	int32_t cu[4] = {0, 5, 75, 82};
	size_t n = 82, q_len = n * heads * d, kv_len = n * kv_heads * d;
	float *q = kt_random(q_len, 1.5), *k = kt_random(kv_len, 1), *v = kt_random(kv_len, 1);
	float *dout = kt_random(q_len, 1), scale = 1.0f / sqrtf((float)d);
	float *oc = kt_floats(q_len), *orf = kt_floats(q_len);
	float *lc = kt_floats(n * heads), *lr = kt_floats(n * heads);
	float *dq[2] = {kt_floats(q_len), kt_floats(q_len)};
	float *dk[2] = {kt_floats(kv_len), kt_floats(kv_len)};
	float *dv[2] = {kt_floats(kv_len), kt_floats(kv_len)};
	char what[96];
	for (int inv = 1; inv >= 0; inv--) {
		tk_backend_set_batch_invariant(cpu, inv);
		TKT_CHECK(tk_attention_packed_forward(cpu, oc, lc, q, k, v, cu, 3, n, heads, kv_heads,
						      d, scale, window) == 0 &&
			  tk_attention_packed_forward(ref, orf, lr, q, k, v, cu, 3, n, heads, kv_heads,
						      d, scale, window) == 0, "%s", tk_error_message());
		const char *how = inv ? "" : " (blocked)";
		snprintf(what, sizeof what, "attention packed w%zu%s", window, how);
		AGREE(what, oc, orf, q_len, TOL_SUM);
		snprintf(what, sizeof what, "attention packed lse w%zu%s", window, how);
		AGREE(what, lc, lr, n * heads, TOL_ROUNDING);
	}
	tk_backend_set_batch_invariant(cpu, 1);
	/* each backward from its own forward's out and lse */
	TKT_CHECK(tk_attention_packed_backward(cpu, dq[0], dk[0], dv[0], dout, q, k, v, oc, lc, cu, 3,
					       n, heads, kv_heads, d, scale, window, TK_PACK_F32) == 0 &&
		  tk_attention_packed_backward(ref, dq[1], dk[1], dv[1], dout, q, k, v, orf, lr, cu,
					       3, n, heads, kv_heads, d, scale, window, TK_PACK_F32) == 0,
		  "%s", tk_error_message());
	snprintf(what, sizeof what, "attention backward dq w%zu", window);
	AGREE(what, dq[0], dq[1], q_len, TOL_SUM);
	snprintf(what, sizeof what, "attention backward dk w%zu", window);
	AGREE(what, dk[0], dk[1], kv_len, TOL_SUM);
	snprintf(what, sizeof what, "attention backward dv w%zu", window);
	AGREE(what, dv[0], dv[1], kv_len, TOL_SUM);
	free(q), free(k), free(v), free(dout), free(oc), free(orf), free(lc), free(lr);
	for (int b = 0; b < 2; b++)
		free(dq[b]), free(dk[b]), free(dv[b]);
}

static void test_attention_packed(void)
{
	attention_packed_case(6, 2, 32, 0);
	attention_packed_case(6, 3, 64, 9);
}

/* ---- elementwise ----------------------------------------------------------- */

static void test_elementwise(void)
{
	size_t n = 40001; // above the cpu's threshold for threads
	float *g = kt_random(n, 8), *u = kt_random(n, 2), *dout = kt_random(n, 1);
	float *oc = kt_floats(n), *orf = kt_floats(n), *d2c = kt_floats(n), *d2r = kt_floats(n);
	tk_swiglu_forward(cpu, oc, g, u, n);
	tk_swiglu_forward(ref, orf, g, u, n);
	AGREE("swiglu forward", oc, orf, n, TOL_ROUNDING);
	tk_swiglu_backward(cpu, oc, d2c, dout, g, u, n);
	tk_swiglu_backward(ref, orf, d2r, dout, g, u, n);
	AGREE("swiglu backward dgate", oc, orf, n, TOL_ROUNDING);
	AGREE("swiglu backward dup", d2c, d2r, n, TOL_ROUNDING);
	tk_add(cpu, oc, g, u, n);
	tk_add(ref, orf, g, u, n);
	SAME("add", oc, orf, n);
	tk_axpy(cpu, oc, -0.375f, u, n);
	tk_axpy(ref, orf, -0.375f, u, n);
	AGREE("axpy", oc, orf, n, TOL_ROUNDING);
	tk_scale(cpu, oc, oc, 3.0f, n);
	tk_scale(ref, orf, orf, 3.0f, n);
	AGREE("scale", oc, orf, n, TOL_ROUNDING);
	/* softmax, in place too */
	size_t rows = 7, c = 1000;
	float *x = kt_random(rows * c, 6), *dy = kt_random(rows * c, 1);
	float *sc = copy_of(x, rows * c), *sr = copy_of(x, rows * c);
	tk_softmax_forward(cpu, sc, sc, rows, c);
	tk_softmax_forward(ref, sr, sr, rows, c);
	AGREE("softmax forward (in place)", sc, sr, rows * c, TOL_SUM); // sums of 1000
	float *dxc = kt_floats(rows * c), *dxr = kt_floats(rows * c);
	tk_softmax_backward(cpu, dxc, dy, sc, rows, c);
	tk_softmax_backward(ref, dxr, dy, sr, rows, c);
	AGREE("softmax backward", dxc, dxr, rows * c, TOL_SUM);
	free(g), free(u), free(dout), free(oc), free(orf), free(d2c), free(d2r);
	free(x), free(dy), free(sc), free(sr), free(dxc), free(dxr);
}

/* ---- loss and optimizer ---------------------------------------------------- */

/* 70 tokens (two of cpu's chunks of 64), a vocabulary in three of cpu's
 * chunks, a token without target, one of weight 0, weights of both signs;
 * W as given and packed. */
static void test_cross_entropy(void)
{
	size_t n = 70, c = 48, vocab = 1700;
	float *h = kt_random(n * c, 2), *w = kt_random(vocab * c, 1), *weight = kt_random(n, 1);
	int32_t *target = random_ids(n, vocab);
	target[3] = -1, weight[4] = 0.0f, target[5] = (int32_t)vocab - 1;
	tk_backend_set_workspace(cpu, 64 * 768 * sizeof(float));
	tk_backend *bes[2] = {cpu, ref};
	float *loss[2], *lp[2], *dh[2], *dw[2], *dh_packed[2], *dw0 = kt_random(vocab * c, 1);
	for (int b = 0; b < 2; b++) {
		loss[b] = kt_floats(n), lp[b] = kt_floats(n), dh[b] = kt_random(n * c, 5);
		dw[b] = copy_of(dw0, vocab * c), dh_packed[b] = kt_floats(n * c);
		TKT_CHECK(tk_cross_entropy_fused(bes[b], loss[b], lp[b], dh[b], dw[b], h, w, NULL, NULL, TK_PACK_F32,
						 target, weight, n, c, vocab) == 0, "%s",
			  tk_error_message());
		/* the frozen lm_head of LoRA training: W only packed */
		float *fwd = kt_floats(tk_matmul_packed_floats(bes[b], c, vocab));
		float *bwd = kt_floats(tk_matmul_packed_backward_floats(bes[b], c, vocab));
		tk_matmul_pack(bes[b], fwd, w, c, vocab);
		tk_matmul_pack_backward(bes[b], bwd, w, c, vocab);
		TKT_CHECK(tk_cross_entropy_fused(bes[b], NULL, NULL, dh_packed[b], NULL, h, NULL, fwd,
						 bwd, TK_PACK_F32, target, weight, n, c, vocab) == 0, "%s",
			  tk_error_message());
		free(fwd), free(bwd);
	}
	AGREE("cross-entropy loss", loss[0], loss[1], n, TOL_SUM);
	AGREE("cross-entropy logprob", lp[0], lp[1], n, TOL_SUM);
	AGREE("cross-entropy dh", dh[0], dh[1], n * c, TOL_SUM);
	AGREE("cross-entropy dw +=", dw[0], dw[1], vocab * c, TOL_SUM);
	AGREE("cross-entropy dh, W packed", dh_packed[0], dh_packed[1], n * c, TOL_SUM);
	TKT_CHECK(loss[1][3] == 0 && lp[1][3] == 0 && loss[1][4] == 0 && lp[1][4] < 0, "%s",
		  "ref: no target, weight 0");
	/* the sampler's log-sum-exp over logits */
	float *logits = kt_random(n * vocab, 20), lse[2][70];
	for (int b = 0; b < 2; b++)
		TKT_CHECK(tk_logsumexp_forward(bes[b], lse[b], logits, n, vocab) == 0, "%s",
			  tk_error_message());
	AGREE("logsumexp", lse[0], lse[1], n, TOL_ROUNDING);
	tk_backend_set_workspace(cpu, (size_t)16 << 20);
	for (int b = 0; b < 2; b++)
		free(loss[b]), free(lp[b]), free(dh[b]), free(dw[b]), free(dh_packed[b]);
	free(h), free(w), free(weight), free(target), free(dw0), free(logits);
}

static void test_optimizer(void)
{
	size_t n = 40000;
	struct tk_adamw o = {1e-3, 0.9, 0.95, 1e-8, 0.1};
	float *p0 = kt_random(n, 1);
	float *p[2] = {copy_of(p0, n), copy_of(p0, n)}, *m[2] = {kt_floats(n), kt_floats(n)};
	float *v[2] = {kt_floats(n), kt_floats(n)};
	tk_backend *bes[2] = {cpu, ref};
	for (int64_t step = 1; step <= 3; step++) {
		float *g = kt_random(n, 0.01);
		for (int b = 0; b < 2; b++)
			tk_adamw_step(bes[b], p[b], g, m[b], v[b], n, &o, step);
		free(g);
	}
	SAME("adamw (torch's float32 steps)", p[0], p[1], n);
	SAME("adamw m", m[0], m[1], n);
	SAME("adamw v", v[0], v[1], n);
	float acc[2][1] = {{0.5f}, {0.5f}};
	for (int b = 0; b < 2; b++)
		TKT_CHECK(tk_sumsq(bes[b], acc[b], p0, n) == 0, "%s", tk_error_message());
	AGREE("sumsq", acc[0], acc[1], 1, TOL_ROUNDING);
	for (int b = 0; b < 2; b++)
		tk_clip_by_norm(bes[b], p[b], n, acc[b], 3.0f);
	AGREE("clip by norm", p[0], p[1], n, TOL_ROUNDING);
	for (int b = 0; b < 2; b++)
		free(p[b]), free(m[b]), free(v[b]);
	free(p0);
}

int main(void)
{
	if (tk_backend_open(&cpu, "cpu", 0) || tk_backend_open(&ref, "ref", 0)) {
		printf("Bail out! %s\n", tk_error_message());
		return 1;
	}
	printf("# %s\n# %s\n", tk_backend_name(cpu), tk_backend_name(ref));
	TKT_RUN(test_open_and_memory);
	TKT_RUN(test_failure_message);
	TKT_RUN(test_workspace);
	TKT_RUN(test_kernels_include_nothing_of_lib);
	TKT_RUN(test_matmul);
	TKT_RUN(test_matmul_many);
	TKT_RUN(test_matmul_backward);
	TKT_RUN(test_compact_forms);
	TKT_RUN(test_embedding_and_rows);
	TKT_RUN(test_rmsnorm);
	TKT_RUN(test_rope);
	TKT_RUN(test_attention_cached);
	TKT_RUN(test_attention_packed);
	TKT_RUN(test_elementwise);
	TKT_RUN(test_cross_entropy);
	TKT_RUN(test_optimizer);
	tk_backend_close(cpu);
	tk_backend_close(ref);
	return tkt_done();
}
