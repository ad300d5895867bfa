/* pass@k: the chance that at least one of k samples drawn from a prompt's
 * n is correct, estimated without bias from all n (Chen et al. 2021,
 * "Evaluating Large Language Models Trained on Code"). */
#include "eval_internal.h"
#include "tk_eval.h"

#include <math.h>
#include <stdlib.h>

/* 1 − C(n−c, k)/C(n, k) = 1 − Π_{i=n−c+1..n} (1 − k/i): the product form
 * never forms the binomials, which overflow for large n. */
double tk_eval_pass_at_k(size_t n, size_t c, size_t k)
{
	if (k == 0 || k > n || c > n)
		return NAN;
	if (n - c < k)
		return 1.0;
	double miss = 1.0;
	for (size_t i = n - c + 1; i <= n; i++)
		miss *= 1.0 - (double)k / (double)i;
	return 1.0 - miss;
}

struct tk_eval_groups {
	eval_table t;
};

int tk_eval_groups_new(tk_eval_groups **out)
{
	*out = tk_calloc(1, sizeof **out);
	return *out ? TK_OK : TK_EOSERR;
}

void tk_eval_groups_free(tk_eval_groups *g)
{
	if (!g)
		return;
	eval_table_free(&g->t);
	free(g);
}

int tk_eval_groups_add(tk_eval_groups *g, const char *key, int correct)
{
	int failed = 0;
	eval_entry *e = eval_table_find(&g->t, key, 1, &failed);
	if (!e)
		return TK_EOSERR;
	e->n++;
	e->correct += correct != 0;
	return TK_OK;
}

size_t tk_eval_groups_count(const tk_eval_groups *g) { return g->t.count; }

size_t tk_eval_groups_min_size(const tk_eval_groups *g)
{
	size_t min = 0;
	for (size_t i = 0; i < g->t.cap; i++)
		if (g->t.slots[i].key && (!min || g->t.slots[i].n < min))
			min = g->t.slots[i].n;
	return min;
}

size_t tk_eval_groups_max_size(const tk_eval_groups *g)
{
	size_t max = 0;
	for (size_t i = 0; i < g->t.cap; i++)
		if (g->t.slots[i].key && g->t.slots[i].n > max)
			max = g->t.slots[i].n;
	return max;
}

double tk_eval_groups_pass_at_k(const tk_eval_groups *g, size_t k, size_t *used)
{
	double sum = 0;
	size_t m = 0;
	for (size_t i = 0; i < g->t.cap; i++) {
		const eval_entry *e = &g->t.slots[i];
		if (!e->key || e->n < k)
			continue;
		sum += tk_eval_pass_at_k(e->n, e->correct, k);
		m++;
	}
	if (used)
		*used = m;
	return m ? sum / (double)m : NAN;
}
