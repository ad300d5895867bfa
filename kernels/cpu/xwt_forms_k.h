/* The k-quant compact forms, Q4K and Q8K (xwt_forms_k.c): fitting a
 * block's float32 parameters, packing a block, reading a value back.
 * Private to kernels/cpu, beside xwt_forms.c. */
#ifndef TK_XWT_FORMS_K_H
#define TK_XWT_FORMS_K_H

#include "xwt_expand.h"

/* d·q + m with the product rounded first: the forms' value. */
float tk_xwt_k_value(float d, float m, int q);
/* d, m and q in [qmin, qmax] (within -128..127) giving back v[0..n)
 * (stride apart, n at most QK) bit for bit, or 0. */
int tk_xwt_k_fit(const float *v, size_t stride, int n, int qmin, int qmax, float *d,
		 float *m, int8_t *q);
/* One block (QK rows) of a panel's first `cols` columns of w (rows k
 * apart) in form TK_PACK_Q4K or TK_PACK_Q8K; 0 when a value does not fit. */
int tk_xwt_k_pack_block(unsigned char *dst, int form, const float *w, size_t k, size_t cols);
/* Row r (< QK), column c of a block. */
float tk_xwt_k_value_at(int form, const unsigned char *block, size_t r, size_t c);

#endif
