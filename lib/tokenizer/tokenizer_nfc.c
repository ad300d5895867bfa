/* NFC as Unicode's UAX #15 defines it: full canonical decomposition,
 * canonical ordering of combining marks, then canonical composition of
 * each mark with the last starter it is not blocked from.  Hangul
 * syllables decompose and compose by arithmetic. */
#include "tokenizer_nfc.h"

#include "tk_error.h"
#include "base/unicode.h"

#include <stdlib.h>
#include <string.h>

enum {
	S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
	L_COUNT = 19, V_COUNT = 21, T_COUNT = 28,
	N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT
};

static int ccc_of(uint32_t cp)
{
	if (cp < 0x300)
		return 0;
	size_t lo = 0, hi = tk_nfc_n_ccc;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < tk_nfc_ccc[mid].first)
			hi = mid;
		else if (cp > tk_nfc_ccc[mid].last)
			lo = mid + 1;
		else
			return tk_nfc_ccc[mid].ccc;
	}
	return 0;
}

static const struct tk_nfc_decomp *decomp_of(uint32_t cp)
{
	size_t lo = 0, hi = tk_nfc_n_decomp;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < tk_nfc_decomp[mid].cp)
			hi = mid;
		else if (cp > tk_nfc_decomp[mid].cp)
			lo = mid + 1;
		else
			return &tk_nfc_decomp[mid];
	}
	return NULL;
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b)
{
	if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
		return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
	if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 &&
	    b > T_BASE && b < T_BASE + T_COUNT)
		return a + (b - T_BASE);
	size_t lo = 0, hi = tk_nfc_n_pairs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct tk_nfc_pair *p = &tk_nfc_pairs[mid];
		if (a < p->first || (a == p->first && b < p->second))
			hi = mid;
		else if (a > p->first || b > p->second)
			lo = mid + 1;
		else
			return p->composite;
	}
	return 0;
}

int tk_nfc_is_quick(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 0x80)
			return 0;
	return 1;
}

struct cps {
	uint32_t *v;
	size_t n, cap;
};

static int push(struct cps *c, uint32_t cp)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		uint32_t *v = tk_realloc(c->v, cap * sizeof *v);
		if (!v)
			return TK_EOSERR;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = cp;
	return TK_OK;
}

static int decompose(const unsigned char *s, size_t n, struct cps *out)
{
	int rc = TK_OK;
	for (size_t i = 0; i < n && !rc;) {
		size_t len;
		uint32_t cp = tk_utf8_next(s + i, n - i, &len);
		i += len;
		const struct tk_nfc_decomp *d;
		if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
			uint32_t k = cp - S_BASE;
			rc = push(out, L_BASE + k / N_COUNT);
			if (!rc)
				rc = push(out, V_BASE + (k % N_COUNT) / T_COUNT);
			if (!rc && k % T_COUNT)
				rc = push(out, T_BASE + k % T_COUNT);
		} else if (cp >= 0xC0 && cp <= 0x10FFFF && (d = decomp_of(cp))) {
			for (size_t k = 0; k < d->len && !rc; k++)
				rc = push(out, tk_nfc_decomp_cps[d->off + k]);
		} else {
			rc = push(out, cp);
		}
	}
	return rc;
}

/* Stable sort of one run of combining marks by class: insertion for the
 * usual short runs, counting sort for long ones (no quadratic case). */
static int order_run(uint32_t *v, size_t n)
{
	if (n < 32) {
		for (size_t i = 1; i < n; i++) {
			uint32_t x = v[i];
			int c = ccc_of(x);
			size_t k = i;
			while (k > 0 && ccc_of(v[k - 1]) > c) {
				v[k] = v[k - 1];
				k--;
			}
			v[k] = x;
		}
		return TK_OK;
	}
	uint32_t *tmp = tk_malloc(n * sizeof *tmp);
	if (!tmp)
		return TK_EOSERR;
	size_t start[257] = {0};
	for (size_t i = 0; i < n; i++)
		start[ccc_of(v[i]) + 1]++;
	for (int c = 1; c <= 256; c++)
		start[c] += start[c - 1];
	for (size_t i = 0; i < n; i++)
		tmp[start[ccc_of(v[i])]++] = v[i];
	memcpy(v, tmp, n * sizeof *v);
	free(tmp);
	return TK_OK;
}

static int reorder(struct cps *c)
{
	for (size_t i = 0; i < c->n;) {
		if (ccc_of(c->v[i]) == 0) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < c->n && ccc_of(c->v[j]) != 0)
			j++;
		int rc = order_run(c->v + i, j - i);
		if (rc)
			return rc;
		i = j;
	}
	return TK_OK;
}

static void recompose(struct cps *c)
{
	if (c->n == 0)
		return;
	size_t starter = 0, out = 1;
	int last = ccc_of(c->v[0]) ? 256 : 0;
	for (size_t i = 1; i < c->n; i++) {
		uint32_t ch = c->v[i];
		int cls = ccc_of(ch);
		uint32_t comp = compose(c->v[starter], ch);
		if (comp && (last < cls || last == 0)) {
			c->v[starter] = comp;
			continue;
		}
		if (cls == 0)
			starter = out;
		last = cls;
		c->v[out++] = ch;
	}
	c->n = out;
}

int tk_nfc(const unsigned char *s, size_t n, unsigned char **out,
	   size_t *out_len)
{
	*out = NULL;
	struct cps c = {0};
	int rc = decompose(s, n, &c);
	if (!rc)
		rc = reorder(&c);
	unsigned char *buf = rc ? NULL : tk_malloc(4 * c.n + 1);
	if (!buf) {
		free(c.v);
		return rc ? rc : TK_EOSERR;
	}
	recompose(&c);
	size_t o = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (c.v[i] > 0x10FFFF) /* an invalid byte, kept */
			buf[o++] = (unsigned char)(c.v[i] - 0x110000);
		else
			o += tk_utf8_put(c.v[i], (char *)buf + o);
	}
	free(c.v);
	*out = buf;
	*out_len = o;
	return TK_OK;
}
