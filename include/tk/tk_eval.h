/* Evaluation: reading the answer out of a model's text and comparing it
 * with a reference (exact, number, boxed, choice), pass@k, and the
 * per-token log-probabilities behind NLL and multiple choice by logprob.
 *
 *   char *got, *want;
 *   tk_eval_extract(TK_EVAL_NUMBER, "... so she pays $1,000.", &got);  // "1000"
 *   tk_eval_reference(TK_EVAL_NUMBER, "... #### 1000", &want);          // "1000"
 *   int ok = got && want && tk_eval_equal(TK_EVAL_NUMBER, got, want);
 *
 * An extracted answer and a reference are both normalised strings, so that
 * reports can show them; equality of numbers is numeric.  A text with no
 * answer in it extracts to NULL: that is a wrong answer, not an error. */
#ifndef TK_EVAL_H
#define TK_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "tk_render.h"
#include "tk_tokenizer.h"

struct tk_engine;

struct tk_model;
struct tk_lora;

/* ---- answers (lib/eval/eval_answer.c) --------------------------------------- */

enum tk_eval_task {
	TK_EVAL_EXACT,   /* the whole text, case, spaces and end punctuation aside */
	TK_EVAL_NUMBER,  /* the last number in the text */
	TK_EVAL_BOXED,   /* the last \boxed{...}, LaTeX normalised */
	TK_EVAL_CHOICE,  /* the letter chosen: A..J */
	TK_EVAL_N_TASKS
};

int tk_eval_task_parse(const char *name);   /* "number" -> enum, or -1 */
const char *tk_eval_task_name(int task);

/* The answer text gives for task, normalised, as a malloc'd string in
 * *out; *out = NULL when text gives none.  Only TK_EOSERR fails. */
int tk_eval_extract(int task, const char *text, char **out);

/* A reference answer in the form tk_eval_extract gives.  GSM8K's
 * "reasoning #### 72" is read as what follows "####"; a reference holding
 * \boxed{} as its box; for choice a letter ("B", "(B)") or a 0-based index
 * ("1").  *out = NULL when no answer can be read from it. */
int tk_eval_reference(int task, const char *ref, char **out);

/* 1 when a normalised answer equals a normalised reference: as strings, or
 * for number and boxed as numbers (relative tolerance 1e-6). */
int tk_eval_equal(int task, const char *answer, const char *reference);

/* A text graded against a reference with acceptable alternatives. */
typedef struct tk_eval_verdict {
	char *answer;        /* the text's normalised answer; NULL: it gives none */
	char *reference;     /* the reference it matched, else the first that holds
			      * an answer, normalised */
	int correct;
} tk_eval_verdict;

/* Extracts the answer of text and compares it with each of refs (n >= 1).
 * TK_EDATA when no reference holds an answer of the task's kind ("Paris"
 * for number).  Free v with tk_eval_verdict_free, whatever the result. */
int tk_eval_grade(int task, const char *text, const char *const *refs, size_t n,
		  tk_eval_verdict *v);
void tk_eval_verdict_free(tk_eval_verdict *v);

/* ---- pieces (lib/eval/eval_number.c, lib/eval/eval_latex.c, lib/eval/eval_text.c) ---- */

/* The last number in text ("1,000", "$5", "-3.5", "1/2", "50%", "2.") as a
 * canonical string (*out malloc'd: "1000", "5", "-3.5", "1/2", "50") or
 * NULL when there is none. */
int tk_eval_last_number(const char *text, char **out);
/* Reads s, all of it, as a number: decimals, "1,000", "$5", "5%", "1/2",
 * "-3/4", "1e3".  Returns 1 and *value, or 0. */
int tk_eval_number_value(const char *s, double *value);

/* The content of the last \boxed{...} (or \fbox{...}) in text, braces
 * nested, malloc'd; NULL when none or unbalanced. */
int tk_eval_last_boxed(const char *text, char **out);
/* Simple LaTeX normalisation of an answer: \frac{a}{b}, \dfrac, \tfrac
 * and \frac12 -> a/b; \left, \right, spaces, \! \, \; \: dropped;
 * ^\circ, ^{\circ}, \%, %, \$ and $ dropped; \text{x}, \textbf{x},
 * \mathrm{x}, \mbox{x} -> x; "x = 5" -> 5; a trailing ".0" and a final
 * period dropped; thousands commas dropped. */
int tk_eval_latex_normalize(const char *s, char **out);

/* Lower case (ASCII), runs of white space as one space, trimmed, and
 * trailing punctuation (. , ; : ! ?) and surrounding quotes dropped. */
int tk_eval_exact_normalize(const char *s, char **out);

/* The letter A..J a text chooses ("B", "(B)", "B.", "Answer: C", "the
 * answer is (D)"), or 0 when it chooses none. */
int tk_eval_choice_letter(const char *text);

/* ---- pass@k (lib/eval/eval_passk.c) ----------------------------------------- */

/* The unbiased estimator of pass@k from n samples of which c are correct
 * (Chen et al. 2021): 1 − C(n−c, k) / C(n, k).  NaN when k is 0 or k > n. */
double tk_eval_pass_at_k(size_t n, size_t c, size_t k);

/* Samples and correct ones per prompt, keyed by a string (the prompt id). */
typedef struct tk_eval_groups tk_eval_groups;

int tk_eval_groups_new(tk_eval_groups **out);
void tk_eval_groups_free(tk_eval_groups *g);   /* safe on NULL */
int tk_eval_groups_add(tk_eval_groups *g, const char *key, int correct);
size_t tk_eval_groups_count(const tk_eval_groups *g);
size_t tk_eval_groups_min_size(const tk_eval_groups *g);  /* 0 when empty */
size_t tk_eval_groups_max_size(const tk_eval_groups *g);
/* Mean pass@k over the groups with at least k samples (*used of them). */
double tk_eval_groups_pass_at_k(const tk_eval_groups *g, size_t k, size_t *used);

/* A string -> string map (reference answers by id). */
typedef struct tk_eval_map tk_eval_map;

int tk_eval_map_new(tk_eval_map **out);
void tk_eval_map_free(tk_eval_map *m);          /* safe on NULL */
/* Copies key and value; 1 in *replaced when key was there (kept: the new). */
int tk_eval_map_put(tk_eval_map *m, const char *key, const char *value,
		    int *replaced);
const char *tk_eval_map_get(const tk_eval_map *m, const char *key);
size_t tk_eval_map_count(const tk_eval_map *m);

/* ---- negative log-likelihood (lib/eval/eval_nll.c) -------------------------- */

/* Sums over scored tokens: nats Σ w·(−logprob), the weights, the tokens
 * with a non-zero weight, and Σ w·bytes of their text. */
typedef struct tk_eval_nll {
	double nats, weight, bytes;
	uint64_t tokens, records;
} tk_eval_nll;

/* Adds one record: logprob[i] is log p(tokens[i] | tokens before), i >= 1
 * (position 0 has no prediction and is skipped whatever its weight);
 * bytes[i] the length of token i's text.   logprob, weights, bytes (n) */
void tk_eval_nll_add(tk_eval_nll *acc, const float *logprob,
		     const float *weights, const uint32_t *bytes, size_t n);
double tk_eval_nll_mean(const tk_eval_nll *acc);  /* nats per weight */
double tk_eval_nll_ppl(const tk_eval_nll *acc);   /* exp(mean) */
double tk_eval_nll_bpb(const tk_eval_nll *acc);   /* nats / ln 2 / bytes */

/* ---- log-probabilities through the model (lib/eval/eval_logprob.c) ---------- */

/* The model's log-probabilities of given tokens, from the forward pass
 * (tk_forward.h) and the log-sum-exp kernel the trainer's fused
 * cross-entropy shares, so that they equal the trainer's.  The KV cache
 * grows (the forward is reopened) when a longer sequence comes. */
typedef struct tk_eval_scorer tk_eval_scorer;

/* Opens a backend of the kind ("cpu") with threads threads (0: all
 * cores) for model and adapter (NULL: none), which must outlive the
 * scorer.  slots: sequences scored at once (the choices of a question). */
int tk_eval_scorer_open(tk_eval_scorer **out, const char *backend, int threads,
			const struct tk_model *model, const struct tk_lora *adapter,
			size_t slots);
/* The same on an engine (tk_engine.h) and its adapter of that name (NULL:
 * the bare base; a trainer's live adapter scores its current weights): no
 * weights of its own.  The engine must outlive the scorer. */
int tk_eval_scorer_open_engine(tk_eval_scorer **out, struct tk_engine *e, const char *adapter,
			       size_t slots);
void tk_eval_scorer_close(tk_eval_scorer *s);   /* safe on NULL */
size_t tk_eval_scorer_max_length(const tk_eval_scorer *s); /* model context */

/* logprob[i] = log p(tokens[i] | tokens[0..i)) for i >= 1; logprob[0] = 0.
 * TK_EDATA for a token outside the vocabulary or a sequence longer than
 * the model's context.   tokens, logprob (n) */
int tk_eval_scorer_sequence(tk_eval_scorer *s, const int32_t *tokens, size_t n,
			    float *logprob);

/* Σ log p(cont[c] | prompt) for each of k continuations (each >= 1 token),
 * the prompt run once and shared.  k <= slots.   sums (k) */
int tk_eval_scorer_choices(tk_eval_scorer *s, const int32_t *prompt, size_t n_prompt,
			   const int32_t *const *cont, const size_t *n_cont, size_t k,
			   double *sums);

/* ---- multiple-choice questions (lib/eval/eval_choice.c) -------------------- */

/* {"question": "...", "choices": ["..", ".."], "answer": 1} (or "B", or
 * the right choice's text).  Zero-initialise, reuse, free. */
typedef struct tk_eval_question {
	void *json;              /* the parsed line (cJSON); owns the strings */
	const char *question;
	const char **choices;    /* (n_choices) */
	size_t n_choices, cap;
	size_t answer;           /* index of the right choice */
} tk_eval_question;

/* TK_EDATA naming what is wrong: malformed JSON, no question, fewer than
 * two choices, an answer that is none of them. */
int tk_eval_question_parse(tk_eval_question *q, const char *line, size_t len);
void tk_eval_question_free(tk_eval_question *q);

/* What is scored for a question: the prompt, then each choice's
 * continuation.  Zero-initialise, reuse, free. */
typedef struct tk_eval_choice_tokens {
	tk_tokens prompt;
	tk_tokens *cont;         /* (n) */
	size_t *bytes;           /* (n) length of each continuation's text */
	size_t n, cap;
	tk_rendered full;        /* scratch */
	tk_tokens whole;         /* scratch */
	char *listed;            /* scratch: the question with its choices listed */
} tk_eval_choice_tokens;

/* How a question is put to the model. */
enum tk_eval_choice_flags {
	/* MMLU style: the choices listed after the question as "A. ...",
	 * "B. ...", then "Answer:"; the continuations are the letters. */
	TK_EVAL_CHOICE_LETTERS = 1u << 0
};

/* With a renderer: the prompt is the question as a user message with the
 * generation prompt, a continuation the tokens the template gives the
 * choice as the assistant's answer (its end-of-turn token left out).
 * Without (renderer NULL, raw text): the prompt is the question's tokens
 * (bos when the tokenizer adds one), a continuation the choice after a
 * space unless the question ends in white space, cut from the tokens of
 * question + continuation where they agree (as lm-evaluation-harness
 * does).  TK_EDATA for an empty prompt or continuation, or more than 26
 * choices with TK_EVAL_CHOICE_LETTERS. */
int tk_eval_choice_tokenize(const tk_eval_question *q, const tk_renderer *renderer,
			    const tk_tokenizer *tok, unsigned flags,
			    tk_eval_choice_tokens *out);
void tk_eval_choice_tokens_free(tk_eval_choice_tokens *t);

/* The index of the best score (the first of equals). */
size_t tk_eval_argmax(const double *scores, size_t n);

#endif
