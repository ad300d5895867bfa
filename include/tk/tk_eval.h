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

#include "tk_progress.h"
#include "tk_render.h"
#include "tk_tks.h"
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
/* Adds one's sums and records to total. */
void tk_eval_nll_merge(tk_eval_nll *total, const tk_eval_nll *one);

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

/* The rows behind tk_eval_scorer_sequence, for a caller that needs more
 * than the given token's logprob (the top-k of tk_eval_token_scores): fn
 * is called a chunk of positions at a time with the logits of positions
 * first .. first + m − 1 (first >= 1), row j being the distribution of
 * the token at position first + j given the tokens before it:
 *   log p(v) = logits[j·vocab + v] − lse[j]
 * (lse: the trainer's float32 log-sum-exp).  The rows are the scorer's (valid during the call only): the whole
 * (tokens, vocab) is never held at once.  fn's non-zero return stops the
 * run and is returned.   logits (m, vocab), lse (m) */
typedef int (*tk_eval_rows_fn)(void *ctx, size_t first, size_t m, const float *logits,
			       const float *lse);
int tk_eval_scorer_rows(tk_eval_scorer *s, const int32_t *tokens, size_t n,
			tk_eval_rows_fn fn, void *ctx);
size_t tk_eval_scorer_vocab(const tk_eval_scorer *s);

/* Σ log p(cont[c] | prompt) for each of k continuations (each >= 1 token),
 * the prompt run once and shared.  k <= slots.   sums (k) */
int tk_eval_scorer_choices(tk_eval_scorer *s, const int32_t *prompt, size_t n_prompt,
			   const int32_t *const *cont, const size_t *n_cont, size_t k,
			   double *sums);

/* ---- per-token scores (lib/eval/eval_tokens.c) ------------------------------ */

/* The k most likely tokens of a row of logits, most likely first, ties to
 * the lower id, by a partial selection (a heap of k: vocab·log k steps,
 * no sort of the row).  1 <= k <= vocab.   row (vocab), ids (k) */
void tk_eval_top_k(const float *row, size_t vocab, size_t k, int32_t *ids);

/* Each token's logprob given the tokens before it, and the k most likely
 * tokens at its position with their logprobs: the scorer's float32 logits
 * less a log-sum-exp taken in double over the row; they agree with
 * transformers' within 1e-4.  Position 0 predicts nothing: logprob[0] is 0 and row 0 of the
 * top-k is left unset.  Zero-initialise, reuse (it grows), free. */
typedef struct tk_eval_token_scores {
	size_t n, k;
	double *logprob;         /* (n) */
	int32_t *top_ids;        /* (n, k) */
	double *top_logprobs;    /* (n, k) */
	size_t cap_n, cap_top;   /* elements allocated */
} tk_eval_token_scores;

/* Scores tokens (n) through s, with the top k of each position (0: none;
 * at most the vocabulary, else TK_EUSAGE).  The scorer's errors (a token
 * outside the vocabulary, a sequence beyond the context) come back. */
int tk_eval_token_scores_run(tk_eval_scorer *s, const int32_t *tokens, size_t n, size_t k,
			     tk_eval_token_scores *t);
void tk_eval_token_scores_free(tk_eval_token_scores *t);

/* One JSON line for record rec (index from 1) scored in t:
 *   {"record", "meta" (the record's, when it has one), "tokens",
 *    "logprobs": [null, ...], and when t->k > 0
 *    "top_ids": [null, [k ids], ...], "top_logprobs": [null, [k], ...]}
 * logprobs printed with 9 significant digits; one that is not finite as
 * null. */
int tk_eval_token_scores_json(const tk_eval_token_scores *t, const tk_record *rec,
			      uint64_t index, char **line);
/* Writes rec to w with t's logprobs (as float32) in its per-token
 * logprobs and, when t->k > 0, t's top k in its top-K (ids and logprobs;
 * row 0 empty, ids −1; k at most TK_TKS_MAX_TOP_K, else TK_EUSAGE).  Those
 * it had are replaced; tokens, weights and the other fields kept. */
int tk_eval_token_scores_write(const tk_eval_token_scores *t, const tk_record *rec,
			       tk_tks_writer *w);
/* A scored stream's metadata: the input's (input_meta, a JSON object)
 * with "logprobs": {"model", "adapter" (null: none)} added. */
int tk_eval_token_scores_meta(const char *input_meta, const char *model, const char *adapter,
			      char **json);

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
	TK_EVAL_CHOICE_LETTERS = 1u << 0,
	/* tk_eval_chooser: pick by logprob per byte of the choice's text, not
	 * by the sum (tk_eval_choice_tokenize ignores it). */
	TK_EVAL_CHOICE_PER_BYTE = 1u << 1
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

/* ---- reading JSON Lines (lib/eval/eval_lines.c) ----------------------------- */

/* "stdin" for "-", else path: how messages name an input. */
const char *tk_eval_input_name(const char *path);

/* Called with each line that is not blank, its line end cut (line[len] is
 * NUL); number counts from 1.  A non-zero return stops the reading. */
typedef int (*tk_eval_line_fn)(void *ctx, const char *line, size_t len, uint64_t number);

/* Calls fn with each line of path ("-": stdin) that is not blank; fn's
 * error comes back with its message prefixed "NAME:LINE: " (NAME as
 * tk_eval_input_name gives it); TK_ENOINPUT when path cannot be opened,
 * TK_EIO on a read error.  progress (may be NULL) is told each line
 * number done. */
int tk_eval_read_lines(const char *path, tk_eval_line_fn fn, void *ctx, tk_progress *progress);

/* ---- reports (lib/eval/eval_report.c) -------------------------------------- *
 * Reports and per-record lines are one JSON object on one line, malloc'd;
 * numbers that are not finite are written as null. */

/* A report as rows for people, one a line: "key" padded to 14 columns,
 * a space, the value (a number with 6 decimals unless whole, a string as
 * it is, null as "-"; others left out); an object's members are rows of
 * their own, keyed by its name less a final "k" and theirs ("pass@k":
 * {"4": x} -> "pass@4").  TK_EDATA when json is not an object. */
int tk_eval_report_table(const char *json, char **table);

/* ---- grading samples (lib/eval/eval_score.c) -------------------------------- */

/* Grades sampled texts (JSON Lines as tk-sample writes them: "id",
 * "sample", "text", "meta") against reference answers, and tallies them
 * per prompt (by id; a line without one is a prompt of its own). */
typedef struct tk_eval_grader tk_eval_grader;

/* answer_key: the field that holds a reference (copied); NULL: "answer",
 * then "reference". */
int tk_eval_grader_new(tk_eval_grader **out, int task, const char *answer_key);
void tk_eval_grader_free(tk_eval_grader *g);   /* safe on NULL */

/* References by id from path: JSON Lines {"id", ANSWER_KEY} (or
 * "reference" without a key), a reference being a string, a number or an
 * array of them (any one acceptable); from then on a sample's reference
 * is looked up by its id.  Errors by line (no id, no answer, an id twice);
 * TK_EDATA "NAME: no answers in it" for a file without any. */
int tk_eval_grader_load_answers(tk_eval_grader *g, const char *path);

/* Grades one sample line (len bytes), line number of its file.  The
 * reference: by id from the answers loaded, else the meta's ANSWER_KEY
 * field, else the line's own; without a key "answer", then "reference".
 * With verdict, *verdict gets a line for the record (malloc'd):
 *   {"line", "id", "sample" (those two when the sample has them),
 *    "answer" (null: none found), "reference", "correct"}
 * TK_EDATA naming what is wrong with the line. */
int tk_eval_grader_add(tk_eval_grader *g, const char *line, size_t len, uint64_t number,
		       char **verdict);
uint64_t tk_eval_grader_count(const tk_eval_grader *g);   /* samples graded */
const tk_eval_groups *tk_eval_grader_groups(const tk_eval_grader *g);

/* The k a report shows by default: 1 and the powers of two up to the
 * fewest samples a prompt of g has, and that number itself; at most max
 * of them in ks.  Returns how many. */
size_t tk_eval_default_ks(const tk_eval_groups *g, size_t *ks, size_t max);

/* {"task", "accuracy", "n", "correct", "answered", "prompts",
 *  "pass@k": {"K": mean pass@K over the prompts with K samples or more}}
 * for ks[0..n_ks). */
int tk_eval_grader_report(const tk_eval_grader *g, const size_t *ks, size_t n_ks, char **json);

/* ---- NLL of a token stream (lib/eval/eval_nll.c) ----------------------------- */

/* TK_EDATA "NAME was rendered with tokenizer X, but MODEL has tokenizer Y"
 * when the stream's metadata names another tokenizer than tok's. */
int tk_eval_check_stream(const tk_tks_reader *r, const tk_tokenizer *tok, const char *name,
			 const char *model);

/* One record's sums (records 1): its tokens scored through s, each
 * weighted as the record says, the bytes of a token's text (special
 * tokens none) for bits per byte.  A record that weights no token past
 * the first is not run through the model. */
int tk_eval_nll_record(tk_eval_scorer *s, const tk_tokenizer *tok, const tk_record *rec,
		       tk_eval_nll *one);
/* {"record": index, "nll", "tokens", "nats", "weight", "bytes"} */
int tk_eval_nll_record_json(uint64_t index, const tk_eval_nll *one, char **line);
/* {"nll", "ppl", "bpb", "tokens", "weight", "bytes", "records",
 *  "model", "adapter" (null: none)} */
int tk_eval_nll_report(const tk_eval_nll *total, const char *model, const char *adapter,
		       char **json);

/* ---- judges (lib/eval/eval_judge.c) ------------------------------------------- */

/* A generative judge's accuracy on the records tk-render --judge writes
 * (a question, then the chosen reply's letter trained): a record is right
 * when the judge's logprob of that letter beats the other's, its question
 * run once.  With pairs whose "chosen" is one policy's answer and
 * "rejected" another's, the accuracy is the first's win rate. */
typedef struct tk_eval_judge {
	uint64_t records, right, ties, chose_a;
	int implicit;                  /* pairs scored by their implicit reward */
	int has_chosen;                /* a chosen record waits for its rejected one */
	double chosen_reward, margin;  /* its reward; Σ chosen − rejected */
} tk_eval_judge;
/* TK_EDATA when the record's first trained token is not A or B. */
int tk_eval_judge_record(tk_eval_scorer *s, const tk_tokenizer *tok, const tk_record *rec,
			 tk_eval_judge *acc);
/* A record of a preference pair (tk-render --pairs: chosen, then its
 * rejected) scored as a DPO-trained judge sees it: its implicit reward,
 * the weighted Σ log p under the judge less under the reference (its base
 * without the adapter).  A pair is right when the chosen reply's reward is
 * the higher.  TK_EDATA for a record that is not part of a pair, or a
 * rejected one with no chosen one before it. */
int tk_eval_judge_pair_record(tk_eval_scorer *judge, tk_eval_scorer *reference,
			      const tk_tokenizer *tok, const tk_record *rec, tk_eval_judge *acc);
/* {"kind" ("generative" or "implicit"), "accuracy", "stderr" (binomial),
 * "right", "ties", "chose_a" (generative: the share of records the judge
 * answered A) or "margin" (implicit: the mean chosen − rejected reward),
 * "records" (pairs when implicit), "model", "adapter"}. */
int tk_eval_judge_report(const tk_eval_judge *t, const char *model, const char *adapter,
			 char **json);

/* ---- answering questions (lib/eval/eval_chooser.c) ---------------------------- */

/* The questions of a file, each line checked (tk_eval_question_parse)
 * and kept as text, to be parsed again one at a time: bad input is found
 * before a model is loaded. */
typedef struct tk_eval_questions {
	char **lines;            /* (n) */
	uint64_t *numbers;       /* (n) their line numbers */
	size_t n, cap;
	size_t max_choices;      /* the most choices a question has */
} tk_eval_questions;

/* Errors by line (tk_eval_read_lines); TK_EDATA "NAME: no questions in
 * it" for a file without any.  Free l with tk_eval_questions_free,
 * whatever the result. */
int tk_eval_questions_read(tk_eval_questions *l, const char *path);
void tk_eval_questions_free(tk_eval_questions *l);

/* Answers questions through a scorer: each choice's continuation scored
 * (tk_eval_choice_tokenize with r, NULL for raw text), picked by the sum
 * of its logprobs and by its logprob per byte, both tallied. */
typedef struct tk_eval_chooser tk_eval_chooser;

/* flags: enum tk_eval_choice_flags.  s, tok and r must outlive c;
 * max_choices: the most choices a question may have (<= s's slots). */
int tk_eval_chooser_new(tk_eval_chooser **out, tk_eval_scorer *s, const tk_tokenizer *tok,
			const tk_renderer *r, unsigned flags, size_t max_choices);
void tk_eval_chooser_free(tk_eval_chooser *c);   /* safe on NULL */

/* Answers q, line number of its file.  With verdict, *verdict gets a line
 * for the record (malloc'd):
 *   {"line", "logprobs": [sum per choice], "per_byte": [...], "pred",
 *    "answer", "correct"}
 * pred being the pick the flags ask for. */
int tk_eval_chooser_answer(tk_eval_chooser *c, const tk_eval_question *q, uint64_t number,
			   char **verdict);

/* {"task": "choice", "accuracy", "n", "correct" (by the pick the flags
 *  ask for), "accuracy_sum", "accuracy_norm", "scoring": "sum" |
 *  "per-byte", "format": the renderer's name or "raw", "prompt": "cloze" |
 *  "letters", "model", "adapter" (null: none)} */
int tk_eval_chooser_report(const tk_eval_chooser *c, const char *model, const char *adapter,
			   char **json);

#endif
