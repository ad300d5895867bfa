/* greedy.c — libtk from a C program: load a model, encode a text, and
 * extend it greedily by a few tokens with the KV-cache forward.
 *
 *   cc -std=c11 greedy.c $(pkg-config --cflags --libs tk) -o greedy
 *   (PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig after make install PREFIX=...)
 *   ./greedy MODEL "Once upon a time" 8
 *
 * Prints the text with its continuation, then the new token ids as a JSON
 * array.  Built against the installed headers and library by
 * tests/api.bats. */
#include <tk/tk_backend.h>
#include <tk/tk_error.h>
#include <tk/tk_forward.h>
#include <tk/tk_model.h>
#include <tk/tk_tokenizer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t argmax(const float *row, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (row[i] > row[best])
			best = i;
	return best;
}

/* Appends `extra` greedy tokens to ids (room for them is there). */
static int extend(tk_forward *f, tk_tokens *ids, size_t extra, float *logits)
{
	size_t slot = 0, count = ids->n;
	const int32_t *next = ids->ids;
	for (size_t i = 0; i < extra; i++) {
		tk_forward_batch b = {1, &slot, &count, next, 0};
		int rc = tk_forward_run(f, &b, logits);
		if (rc)
			return rc;
		if ((rc = tk_tokens_push(ids, (int32_t)argmax(logits, tk_forward_vocab(f)))))
			return rc;
		next = ids->ids + ids->n - 1;
		count = 1;
	}
	return TK_OK;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: greedy MODEL TEXT N\n");
		return 64;
	}
	size_t extra = strtoul(argv[3], NULL, 10);
	tk_model *m = NULL;
	tk_backend *be = NULL;
	tk_forward *f = NULL;
	tk_tokens ids = {0};
	float *logits = NULL;
	char *text = NULL;
	size_t text_len;
	int rc = tk_model_load(&m, argv[1]);
	if (!rc && !m->tokenizer)
		rc = tk_fail(TK_EDATA, "%s has no tokenizer", argv[1]);
	if (!rc)
		rc = tk_tokenizer_encode(m->tokenizer, argv[2], strlen(argv[2]),
					 TK_ENCODE_ADD_BOS, &ids);
	if (!rc)
		rc = tk_backend_open(&be, "cpu", 0);
	if (!rc)
		rc = tk_forward_open(&f, be, m, NULL, 1, ids.n + extra, ids.n);
	if (!rc && !(logits = malloc(tk_forward_vocab(f) * sizeof *logits)))
		rc = tk_fail(TK_EOSERR, "out of memory");
	if (!rc)
		rc = extend(f, &ids, extra, logits);
	if (!rc)
		rc = tk_tokenizer_decode(m->tokenizer, ids.ids, ids.n, 0, &text, &text_len);
	if (!rc) {
		printf("%s\n[", text);
		for (size_t i = ids.n - extra; i < ids.n; i++)
			printf("%s%d", i > ids.n - extra ? "," : "", (int)ids.ids[i]);
		printf("]\n");
	} else
		fprintf(stderr, "greedy: %s\n", tk_error_message());
	free(text);
	free(logits);
	tk_tokens_free(&ids);
	tk_forward_close(f);
	tk_backend_close(be);
	tk_model_free(m);
	return rc ? 1 : 0;
}
