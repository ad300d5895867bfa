/* The protobuf bodies of tinker 0.38.0 (lib/serve/tinker_public.proto):
 * ForwardBackwardRequest read into a serve_fb, ForwardBackwardOutput and
 * SampleResponse written, through protobuf-c's generated code. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "tinker_public.pb-c.h"

typedef TinkerPublic__Tensor pb_tensor;

static int bad(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

static size_t elem_size(int dtype)
{
	switch (dtype) {
	case TINKER_PUBLIC__DTYPE__DTYPE_FLOAT32:
	case TINKER_PUBLIC__DTYPE__DTYPE_INT32:
		return 4;
	case TINKER_PUBLIC__DTYPE__DTYPE_INT64:
		return 8;
	case TINKER_PUBLIC__DTYPE__DTYPE_BFLOAT16:
		return 2;
	default:
		return 0;
	}
}

/* Element i of a little-endian buffer of dtype, as a double. */
static double elem_at(const uint8_t *p, int dtype, size_t i)
{
	switch (dtype) {
	case TINKER_PUBLIC__DTYPE__DTYPE_FLOAT32: {
		float f;
		memcpy(&f, p + 4 * i, 4);
		return f;
	}
	case TINKER_PUBLIC__DTYPE__DTYPE_INT32: {
		int32_t v;
		memcpy(&v, p + 4 * i, 4);
		return v;
	}
	case TINKER_PUBLIC__DTYPE__DTYPE_INT64: {
		int64_t v;
		memcpy(&v, p + 8 * i, 8);
		return (double)v;
	}
	default: { /* bfloat16: the high half of a float32 */
		uint16_t h;
		memcpy(&h, p + 2 * i, 2);
		uint32_t u = (uint32_t)h << 16;
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	}
}

static int64_t i64_at(const uint8_t *p, size_t i)
{
	int64_t v;
	memcpy(&v, p + 8 * i, 8);
	return v;
}

/* A sparse CSR tensor (rows, cols) made dense; every other entry 0. */
static int csr_to_dense(const pb_tensor *t, size_t es, size_t rows, size_t cols, double *out,
			const char *name, char *err, size_t cap)
{
	const TinkerPublic__SparseCsr *c = t->sparse_csr;
	size_t nnz = c->values.len / es;
	if (c->values.len % es || c->crow_indices.len != 8 * (rows + 1) ||
	    c->col_indices.len != 8 * nnz)
		return bad(err, cap, "%s: sparse_csr sizes do not fit shape [%zu, %zu]", name,
			   rows, cols);
	for (size_t r = 0; r < rows; r++) {
		int64_t a = i64_at(c->crow_indices.data, r), b = i64_at(c->crow_indices.data, r + 1);
		if (a < 0 || b < a || (size_t)b > nnz)
			return bad(err, cap, "%s: sparse_csr row %zu out of order", name, r);
		for (int64_t k = a; k < b; k++) {
			int64_t col = i64_at(c->col_indices.data, (size_t)k);
			if (col < 0 || (size_t)col >= cols)
				return bad(err, cap, "%s: sparse_csr column %lld outside [0, %zu)",
					   name, (long long)col, cols);
			out[r * cols + (size_t)col] = elem_at(c->values.data, t->dtype, (size_t)k);
		}
	}
	return 0;
}

/* A tensor of n values (shape [n] or [n, 1], dense or sparse) into out. */
static int tensor_values(const pb_tensor *t, size_t n, double *out, const char *name,
			 char *err, size_t cap)
{
	size_t es = elem_size(t->dtype);
	if (!es)
		return bad(err, cap, "%s: unknown dtype %d", name, (int)t->dtype);
	size_t cols = 1;
	if (t->n_shape == 2)
		cols = (size_t)t->shape[1];
	if (t->n_shape > 2 || cols != 1 || (t->n_shape >= 1 && (size_t)t->shape[0] != n))
		return bad(err, cap, "%s: shape must be [%zu] (one value per model_input token; "
			   "tk-serve trains on one target per position)", name, n);
	if (t->encoding_case == TINKER_PUBLIC__TENSOR__ENCODING_SPARSE_CSR) {
		memset(out, 0, n * sizeof *out);
		return csr_to_dense(t, es, n, 1, out, name, err, cap);
	}
	if (t->encoding_case != TINKER_PUBLIC__TENSOR__ENCODING_DENSE || t->dense.len != n * es)
		return bad(err, cap, "%s: %zu bytes of data for %zu values of %zu bytes", name,
			   t->encoding_case == TINKER_PUBLIC__TENSOR__ENCODING_DENSE ? t->dense.len
										 : 0, n, es);
	for (size_t i = 0; i < n; i++)
		out[i] = elem_at(t->dense.data, t->dtype, i);
	return 0;
}

/* model_input's tokens: encoded-text chunks only. */
static int datum_tokens(const TinkerPublic__Datum *d, serve_datum *o, char *err, size_t cap)
{
	size_t n = 0;
	for (size_t c = 0; c < d->n_model_input; c++) {
		const TinkerPublic__Chunk *ch = d->model_input[c];
		if (ch->chunk_case != TINKER_PUBLIC__CHUNK__CHUNK_ENCODED_TEXT)
			return bad(err, cap, "model_input: only token chunks (no images or "
				   "audio) are served by tk-serve");
		if (ch->encoded_text->tokens.len % 4)
			return bad(err, cap, "model_input: tokens not whole int32s");
		n += ch->encoded_text->tokens.len / 4;
	}
	if (!n)
		return bad(err, cap, "model_input is empty");
	o->tokens = malloc((n + 1) * sizeof *o->tokens);
	if (!o->tokens)
		return bad(err, cap, "out of memory");
	size_t at = 0;
	for (size_t c = 0; c < d->n_model_input; c++) {
		const ProtobufCBinaryData *b = &d->model_input[c]->encoded_text->tokens;
		memcpy(o->tokens + at, b->data, b->len);
		at += b->len / 4;
	}
	o->n = n;
	return 0;
}

static float *floats_of(const double *v, size_t n)
{
	float *f = malloc(n * sizeof *f);
	for (size_t i = 0; f && i < n; i++)
		f[i] = (float)v[i];
	return f;
}

/* One loss_fn_inputs entry into the datum. */
static int datum_input(const char *key, const pb_tensor *t, serve_datum *o, double *tmp,
		       char *err, size_t cap)
{
	if (tensor_values(t, o->n, tmp, key, err, cap))
		return -1;
	if (!strcmp(key, "target_tokens")) {
		for (size_t i = 0; i + 1 < o->n; i++)
			if ((int32_t)tmp[i] != o->tokens[i + 1])
				return bad(err, cap, "target_tokens[%zu] = %.0f is not model_input[%zu] "
					   "= %d: tk-serve trains next-token targets only", i,
					   tmp[i], i + 1, (int)o->tokens[i + 1]);
		o->tokens[o->n] = (int32_t)tmp[o->n - 1];
		return 1;   /* seen */
	}
	float **dst = !strcmp(key, "weights")    ? &o->weights
		      : !strcmp(key, "logprobs")   ? &o->logprobs
		      : !strcmp(key, "advantages") ? &o->advantages
						   : NULL;
	if (!dst)
		return bad(err, cap, "loss_fn_inputs: unknown key %s", key);
	free(*dst);
	if (!(*dst = floats_of(tmp, o->n)))
		return bad(err, cap, "out of memory");
	return 0;
}

static int datum_from_proto(const TinkerPublic__Datum *d, serve_datum *o, size_t index,
			    char *err, size_t cap)
{
	char e[400];
	if (datum_tokens(d, o, e, sizeof e))
		return bad(err, cap, "datum %zu: %s", index, e);
	double *tmp = malloc(o->n * sizeof *tmp);
	if (!tmp)
		return bad(err, cap, "out of memory");
	int has_targets = 0, rc = 0;
	for (size_t k = 0; !rc && k < d->n_loss_fn_inputs; k++) {
		int r = datum_input(d->loss_fn_inputs[k]->key, d->loss_fn_inputs[k]->value, o, tmp,
				    e, sizeof e);
		if (r < 0)
			rc = bad(err, cap, "datum %zu: %s", index, e);
		has_targets |= r == 1;
	}
	free(tmp);
	if (!rc && !has_targets)
		rc = bad(err, cap, "datum %zu: loss_fn_inputs has no target_tokens", index);
	return rc;
}

/* loss_fn_config's numbers (v2 first, as the SDK's servers prefer it). */
static void read_config(const TinkerPublic__ForwardBackwardRequest *m, serve_fb *fb)
{
	fb->clip_low = fb->clip_high = fb->beta = NAN;
	for (size_t pass = 0; pass < 2; pass++) {
		size_t n = pass ? m->n_loss_fn_config_v2 : m->n_loss_fn_config;
		for (size_t i = 0; i < n; i++) {
			const char *key;
			double v;
			if (pass) {
				const TinkerPublic__LossConfigValue *cv = m->loss_fn_config_v2[i]->value;
				if (!cv || cv->value_case != TINKER_PUBLIC__LOSS_CONFIG_VALUE__VALUE_NUMBER)
					continue;
				key = m->loss_fn_config_v2[i]->key, v = cv->number;
			} else
				key = m->loss_fn_config[i]->key, v = m->loss_fn_config[i]->value;
			if (!strcmp(key, "clip_low_threshold"))
				fb->clip_low = v;
			else if (!strcmp(key, "clip_high_threshold"))
				fb->clip_high = v;
			else if (!strcmp(key, "beta"))
				fb->beta = v;
		}
	}
}

int serve_fb_from_proto(serve_fb *fb, const unsigned char *body, size_t len, char *err,
			size_t cap)
{
	memset(fb, 0, sizeof *fb);
	TinkerPublic__ForwardBackwardRequest *m =
		tinker_public__forward_backward_request__unpack(NULL, len, body);
	if (!m)
		return bad(err, cap, "forward_backward: the body is not a ForwardBackwardRequest");
	int rc = 0;
	fb->model_id = strdup(m->model_id ? m->model_id : "");
	fb->loss_fn = strdup(m->loss_fn ? m->loss_fn : "");
	fb->seq_id = m->seq_id;
	fb->forward_only = m->forward_only;
	read_config(m, fb);
	fb->data = calloc(m->n_data ? m->n_data : 1, sizeof *fb->data);
	if (!fb->model_id || !fb->loss_fn || !fb->data)
		rc = bad(err, cap, "out of memory");
	fb->n_data = fb->data ? m->n_data : 0;
	if (!rc && !m->n_data)
		rc = bad(err, cap, "forward_backward: no datums");
	for (size_t i = 0; !rc && i < m->n_data; i++)
		rc = datum_from_proto(m->data[i], &fb->data[i], i, err, cap);
	tinker_public__forward_backward_request__free_unpacked(m, NULL);
	return rc;
}

void serve_fb_free(serve_fb *fb)
{
	for (size_t i = 0; i < fb->n_data; i++) {
		free(fb->data[i].tokens);
		free(fb->data[i].weights);
		free(fb->data[i].logprobs);
		free(fb->data[i].advantages);
	}
	free(fb->data);
	free(fb->model_id);
	free(fb->loss_fn);
	memset(fb, 0, sizeof *fb);
}

/* ---- writing ------------------------------------------------------------------ */

/* A packed message into r (application/x-protobuf). */
static void reply_packed(serve_reply *r, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	r->body = malloc(n ? n : 1);
	if (!r->body) {
		serve_reply_error(r, 500, "server", "out of memory packing a result");
		return;
	}
	r->len = protobuf_c_message_pack(m, r->body);
	r->status = 200;
	r->type = SERVE_PROTO;
}

/* A float field of every datum: BatchedTensor with byte offsets. */
static void batched_floats(TinkerPublic__BatchedTensor *bt, const float *v, size_t total,
			   const size_t *lengths, size_t n_data, int64_t *offsets)
{
	tinker_public__batched_tensor__init(bt);
	bt->dtype = TINKER_PUBLIC__DTYPE__DTYPE_FLOAT32;
	bt->data.data = (uint8_t *)v;
	bt->data.len = total * sizeof *v;
	offsets[0] = 0;
	for (size_t i = 0; i < n_data; i++)
		offsets[i + 1] = offsets[i] + (int64_t)(lengths[i] * sizeof *v);
	bt->offsets.data = (uint8_t *)offsets;
	bt->offsets.len = (n_data + 1) * sizeof *offsets;
}

void serve_fb_out_reply(const serve_fb_out *o, serve_reply *r)
{
	size_t total = 0;
	for (size_t i = 0; i < o->n_data; i++)
		total += o->lengths[i];
	int64_t *offsets = malloc(2 * (o->n_data + 1) * sizeof *offsets);
	if (!offsets) {
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	TinkerPublic__BatchedTensor lp, el;
	TinkerPublic__ArrayRecord__FieldsEntry f_lp, f_el, *fields[2] = {&f_lp, &f_el};
	tinker_public__array_record__fields_entry__init(&f_lp);
	tinker_public__array_record__fields_entry__init(&f_el);
	batched_floats(&lp, o->logprobs, total, o->lengths, o->n_data, offsets);
	f_lp.key = "logprobs", f_lp.value = &lp;
	if (o->elementwise) {
		batched_floats(&el, o->elementwise, total, o->lengths, o->n_data,
			       offsets + o->n_data + 1);
		f_el.key = "elementwise_loss", f_el.value = &el;
	}
	TinkerPublic__ArrayRecord rec, *recs[1] = {&rec};
	tinker_public__array_record__init(&rec);
	rec.type_tag = "ArrayRecord";
	rec.n_fields = o->elementwise ? 2 : 1;
	rec.fields = fields;
	rec.num_datums = (int64_t)o->n_data;
	TinkerPublic__ForwardBackwardOutput__MetricsEntry loss, *metrics[1] = {&loss};
	tinker_public__forward_backward_output__metrics_entry__init(&loss);
	loss.key = "loss:sum", loss.value = o->loss_sum;
	TinkerPublic__ForwardBackwardOutput out;
	tinker_public__forward_backward_output__init(&out);
	out.loss_fn_output_type = "ArrayRecord";
	out.n_loss_fn_outputs = 1, out.loss_fn_outputs = recs;
	out.n_metrics = 1, out.metrics = metrics;
	reply_packed(r, &out.base);
	free(offsets);
}

void serve_sample_reply(const serve_seq *seqs, size_t n, const float *prompt_logprobs,
			size_t prompt_len, serve_reply *r)
{
	TinkerPublic__SampledSequence *v = calloc(n ? n : 1, sizeof *v);
	TinkerPublic__SampledSequence **pv = calloc(n ? n : 1, sizeof *pv);
	if (!v || !pv) {
		free(v);
		free(pv);
		serve_reply_error(r, 500, "server", "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		tinker_public__sampled_sequence__init(&v[i]);
		v[i].stop_reason = seqs[i].stop ? TINKER_PUBLIC__STOP_REASON__STOP_REASON_STOP
						: TINKER_PUBLIC__STOP_REASON__STOP_REASON_LENGTH;
		v[i].tokens.data = (uint8_t *)seqs[i].tokens;
		v[i].tokens.len = seqs[i].n * sizeof *seqs[i].tokens;
		if (seqs[i].logprobs) {
			v[i].logprobs.data = (uint8_t *)seqs[i].logprobs;
			v[i].logprobs.len = seqs[i].n * sizeof *seqs[i].logprobs;
		}
		pv[i] = &v[i];
	}
	TinkerPublic__SampleResponse m;
	tinker_public__sample_response__init(&m);
	m.n_sequences = n, m.sequences = pv;
	if (prompt_logprobs) {
		m.prompt_logprobs.data = (uint8_t *)prompt_logprobs;
		m.prompt_logprobs.len = prompt_len * sizeof *prompt_logprobs;
	}
	reply_packed(r, &m.base);
	free(pv);
	free(v);
}
