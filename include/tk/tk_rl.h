/* Reinforcement learning pieces: group advantages, the policy losses and
 * their gradients with respect to the policy's per-token logprobs, the KL
 * penalty, and the environments that pose prompts and score completions
 * (arithmetic, math, an external reward program).  tk-rl(1) puts them
 * around the sampler (tk_sampler.h) and the trainer (tk_train.h).
 *
 *   double adv[n];
 *   tk_rl_advantages(rewards, groups, n, 1, adv, &stats);   // per sample
 *   tk_rl_loss_params lp = {TK_RL_PPO, 0.8, 1.2, 0};
 *   for each sampled token t of sample s:
 *           loss += tk_rl_token_loss(&lp, logprob[t], sampler[t], adv[s], &g[t]);
 *   // g[t] = dloss/dlogprob[t]: the trainer's weighted cross-entropy with
 *   // weight −g[t] has exactly this gradient (its loss is −Σ w·logprob).
 *
 * Losses, per sampled token with p = the policy's logprob (trained),
 * q = the sampler's logprob of the same token, A = its advantage and
 * r = exp(p − q) (all summed over tokens; the caller normalises):
 *   is     −r·A                              importance sampling (default)
 *   ppo    −min(r·A, clip(r, lo, hi)·A)      clipped ratio, default 0.8/1.2
 *   cispo  −sg(clip(r, lo, hi))·A·p          clipped stop-gradient ratio
 *   dro    −(A·p − β/2·(p − q)²)             direct reward optimisation
 *   pg     −A·p                              REINFORCE
 * (sg: stop gradient.)  Gradients: is −r·A; ppo −r·A where the unclipped
 * term is the smaller (or the two are equal), else 0; cispo
 * −clip(r, lo, hi)·A; dro −(A − β(p − q)); pg −A. */
#ifndef TK_RL_H
#define TK_RL_H

#include <stddef.h>
#include <stdint.h>

/* ---- losses (lib/rl/rl_loss.c) --------------------------------------------- */

enum tk_rl_loss_kind { TK_RL_IS, TK_RL_PPO, TK_RL_CISPO, TK_RL_DRO, TK_RL_PG,
		       TK_RL_N_LOSSES };

int tk_rl_loss_parse(const char *name);       /* "ppo" -> enum, or -1 */
const char *tk_rl_loss_name(int kind);

typedef struct tk_rl_loss_params {
	int kind;               /* enum tk_rl_loss_kind */
	double clip_low;        /* ppo, cispo: lower ratio bound (0.8) */
	double clip_high;       /* ppo, cispo: upper ratio bound (1.2) */
	double dro_beta;        /* dro: weight of the quadratic term */
} tk_rl_loss_params;

/* The loss of one token and, in *grad, its derivative with respect to the
 * policy logprob p.  q is the sampler's logprob, adv the advantage. */
double tk_rl_token_loss(const tk_rl_loss_params *lp, double p, double q,
			double adv, double *grad);

/* 1 when the ratio r = exp(p − q) is clipped for this token: ppo, where
 * the clipped term is taken (A > 0 and r > hi, or A < 0 and r < lo: no
 * gradient); cispo, where r is outside [lo, hi]; never for the others. */
int tk_rl_token_clipped(const tk_rl_loss_params *lp, double p, double q, double adv);

/* 1 when the loss needs the policy's logprobs before the gradient can be
 * formed (every loss but pg): the trainer then runs a forward first. */
int tk_rl_loss_needs_logprobs(int kind);

/* ---- advantages (lib/rl/rl_loss.c) ----------------------------------------- */

typedef struct tk_rl_group_stats {
	size_t groups;          /* distinct groups seen */
	size_t flat;            /* groups whose rewards are all equal */
	size_t all_good;        /* flat groups whose reward is > 0 (all right) */
	size_t all_bad;         /* flat groups whose reward is <= 0 (all wrong) */
} tk_rl_group_stats;

/* adv[i] = reward[i] − mean of its group's rewards, divided by the group's
 * standard deviation (population, + 1e-6) when scale_by_std.  group[i]
 * names the group of sample i (any ids, samples of a group need not be
 * adjacent).  A group whose rewards are all equal gets advantages 0.
 * stats may be NULL.  TK_EOSERR only.   reward, group, adv (n) */
int tk_rl_advantages(const double *reward, const int64_t *group, size_t n,
		     int scale_by_std, double *adv, tk_rl_group_stats *stats);

/* The KL penalty folded into per-token advantages, as the cookbook does:
 * with d[t] = q[t] − base[t] the sampled-token estimate of KL(policy ‖
 * base), adv[t] += coef · (mean(d) − d[t]) over the n tokens with
 * mask[t] != 0 (mask NULL: all).  Returns mean(d) (0 when no token).
 *   q, base, adv, mask (n) */
double tk_rl_kl_penalty(const float *q, const float *base, const float *mask,
			size_t n, double coef, float *adv);

/* Sums behind the sample/train consistency metrics over tokens with
 * mask != 0: v1 = mean(q − p), v2 = mean((q − p)²)/2 (the cookbook's
 * kl_sample_train_v1 and _v2), entropy = −mean(q). */
typedef struct tk_rl_kl_sums {
	double diff, diff2, neg_q;
	size_t tokens;
} tk_rl_kl_sums;

void tk_rl_kl_add(tk_rl_kl_sums *s, const float *q, const float *p,
		  const float *mask, size_t n);
double tk_rl_kl_v1(const tk_rl_kl_sums *s);
double tk_rl_kl_v2(const tk_rl_kl_sums *s);
double tk_rl_entropy(const tk_rl_kl_sums *s);

/* ---- the update (lib/rl/rl_update.c) --------------------------------------
 * One optimizer batch of records through the trainer: the policy's
 * logprobs (a forward first when the loss needs them), the per-token
 * gradients of the loss, then a forward/backward of the trainer's
 * weighted cross-entropy with weights −gradient, whose parameter gradient
 * is the loss's.  Gradients accumulate; the caller takes the optimizer
 * step (tk_train_optim_step). */

struct tk_train;

typedef struct tk_rl_record {
	const int32_t *tokens;  /* (n) prompt then completion */
	size_t n;
	const float *mask;      /* (n) 1 on the tokens the loss covers */
	const float *sampler;   /* (n) sampler logprobs q; NULL: none (pg only) */
	const float *adv;       /* (n) advantage of each token */
} tk_rl_record;

typedef struct tk_rl_update_result {
	double loss;            /* Σ token losses / denominator */
	size_t records;         /* records run through the trainer */
	size_t tokens;          /* their tokens */
	size_t skipped;         /* records left out: no gradient (all advantages 0) */
	size_t clipped;         /* masked tokens whose ratio was clipped (tk_rl_token_clipped) */
	size_t scored;          /* masked tokens with a sampler logprob */
	tk_rl_kl_sums kl;       /* sampler vs trainer over the masked tokens run */
} tk_rl_update_result;

/* Runs recs[0..n) in micro-batches of at most micro_tokens tokens (every
 * record must fit one) and adds the gradient of Σ loss / denominator.
 * A record whose masked advantages are all 0 has no gradient (except
 * with dro) and is skipped.  res is zeroed first. */
int tk_rl_update(struct tk_train *t, const tk_rl_loss_params *lp, const tk_rl_record *recs,
		 size_t n, size_t micro_tokens, double denominator, tk_rl_update_result *res);

/* ---- environments (lib/rl/rl_env.c, lib/rl/rl_env_arith.c, lib/rl/rl_env_cmd.c) ---
 * An environment poses prompts and scores completions.  A prompt is a
 * conversation (messages as a JSON array) with an id, an optional
 * reference answer and the other fields of its source line.  Prompt k of
 * a run is a pure function of (seed, k), so a resumed run poses the same
 * prompts: generated problems come from a stream seeded with (seed, k),
 * file prompts in a seeded order reshuffled each pass over the file. */

typedef struct tk_rl_prompt {
	char *id_json;          /* the prompt's id as a JSON value */
	char *messages_json;    /* [{"role":..,"content":..},..] */
	char *answer;           /* reference answer text, or NULL */
	char *meta_json;        /* other fields as a JSON object ("{}" when none) */
} tk_rl_prompt;

void tk_rl_prompt_free(tk_rl_prompt *p);  /* frees the strings; safe on zero */

/* One completion to score. */
typedef struct tk_rl_sample {
	const tk_rl_prompt *prompt;
	size_t group;           /* index of its group in the step */
	const char *text;       /* the completion, as the renderer parsed it back */
	int complete;           /* 1 when a stop token or string ended it */
} tk_rl_sample;

/* What scoring gives for one sample. */
typedef struct tk_rl_score {
	double reward;
	int correct;            /* 1 right, 0 wrong, -1 unknown (cmd without it) */
	int formatted;          /* arithmetic: a bare number; math: an answer read */
	char *metrics_json;     /* cmd: the program's "metrics" object, or NULL */
} tk_rl_score;

typedef struct tk_rl_env tk_rl_env;

enum tk_rl_arith_op { TK_RL_ADD = 1, TK_RL_SUB = 2, TK_RL_MUL = 4 };

typedef struct tk_rl_arith_config {
	int digits;             /* operands of exactly this many digits, 1..9 */
	unsigned ops;           /* TK_RL_ADD | ... */
	double format_reward;   /* added when the answer is a bare number */
	uint64_t seed;
} tk_rl_arith_config;

/* "add,sub,mul" -> mask; TK_EUSAGE naming the bad item. */
int tk_rl_arith_ops_parse(const char *list, unsigned *ops);

/* Generated problems "What is 47 + 38? Answer with the number only.";
 * subtraction never below zero; reward 1 for the right number (the last
 * number of the completion), plus format_reward when the completion is a
 * number alone. */
int tk_rl_env_arithmetic(tk_rl_env **out, const tk_rl_arith_config *c);

/* Prompts from a JSON Lines file: {"messages": [...]} or {"prompt":
 * "text"} (or "question", GSM8K's name) as a user message, with "answer"
 * the reference (GSM8K's "... #### 72" understood) and "id" (default the
 * line number).  task: TK_EVAL_NUMBER or TK_EVAL_BOXED, the extraction of
 * tk_eval.h; reward 1 when the extracted answer equals the reference.
 * Lines without an answer are refused. */
int tk_rl_env_math(tk_rl_env **out, const char *prompts_path, int task,
		   uint64_t seed);

/* The same prompts (answer optional), none scored: every reward is 0,
 * for runs whose rewards come from elsewhere (tk_rl_online's judge or
 * teacher). */
int tk_rl_env_prompts(tk_rl_env **out, const char *prompts_path, uint64_t seed);

/* The same prompts (answer optional), scored by an external program
 * started once with /bin/sh -c command, speaking JSON Lines: tk writes
 * {"id","group","messages","text","meta"} per sample, the program answers
 * {"reward": x} (optional "metrics": {...}, "correct": bool) per sample,
 * in order, and nothing else but blank lines.  timeout: seconds the
 * program may take to answer while answers are awaited, in (0,
 * TK_RL_ENV_TIMEOUT_MAX] (else TK_EUSAGE).  A program that exits, hangs
 * past the timeout (then it is killed), answers something else or writes
 * a line no request asked for (before a step's requests or after its
 * answers) fails the scoring with a message saying which (TK_EIO for
 * exits and hangs, TK_EDATA for a bad or unasked line).  SIGPIPE is
 * ignored from then on, so a write to a dead program is an error, not a
 * signal. */
#define TK_RL_ENV_TIMEOUT_MAX 1e6
int tk_rl_env_cmd(tk_rl_env **out, const char *prompts_path, const char *command,
		  double timeout, uint64_t seed);

/* Episodes: an environment program of protocol 2 (tk-rl(1) ENVIRONMENT
 * PROTOCOL), started once with /bin/sh -c command and greeted; it poses
 * multi-turn episodes (tool results, a game's moves, several seats) and
 * rewards them.  prompts_path (NULL: none) gives each group a line of a
 * JSON Lines file, carried in its reset request.  A program that does not
 * answer hello with protocol 2 is refused (TK_EDATA).  Play them with
 * tk_rl_online_batch (tk_rl_online.episode set) or tk_rl_evaluate. */
int tk_rl_env_episodes(tk_rl_env **out, const char *prompts_path, const char *command,
		       double timeout, uint64_t seed);
/* 1 for an environment of episodes. */
int tk_rl_env_plays_episodes(const tk_rl_env *e);

void tk_rl_env_free(tk_rl_env *e);  /* stops a reward program; safe on NULL */

const char *tk_rl_env_name(const tk_rl_env *e);  /* "arithmetic", "math", "cmd", ... */
/* Prompts in the source file (0 for generated problems). */
size_t tk_rl_env_size(const tk_rl_env *e);

/* Prompt k of the run into *p (the caller frees it). */
int tk_rl_env_prompt(tk_rl_env *e, uint64_t k, tk_rl_prompt *p);

/* Scores n samples; out (n) gets the scores (metrics_json to free with
 * tk_rl_score_free). */
int tk_rl_env_score(tk_rl_env *e, const tk_rl_sample *s, size_t n, tk_rl_score *out);
void tk_rl_score_free(tk_rl_score *s, size_t n);


/* ---- pieces, exposed for tests ----------------------------------------- */

/* The protocol line sent for a sample (malloc'd, no newline). */
char *tk_rl_request_line(const tk_rl_sample *s);
/* Parses an answer line: TK_EDATA with a message saying what is wrong. */
int tk_rl_parse_answer(const char *line, size_t len, tk_rl_score *out);

/* ---- rollouts: one RL step's samples (lib/rl/rl_rollout.c) ---------------
 * The record online RL fills and the update consumes: a prompt's sampled
 * completion with the sampler's logprobs, its score and the advantages
 * it trains with.  A step samples groups of rollouts from the policy
 * (tk_rl_rollouts_sample), scores them (tk_rl_rollouts_score), centres the
 * rewards per group (tk_rl_rollouts_advantages), optionally folds in a KL
 * penalty (tk_rl_rollouts_kl), and hands the update its records
 * (tk_rl_rollouts_records). */

struct tk_forward;
struct tk_renderer;
struct tk_tokens;
struct tk_eval_scorer;
struct tk_tks_writer;
struct tk_gen_options;

typedef struct tk_rl_rollout {
	size_t group;           /* index of its prompt in the step */
	int32_t *tokens;        /* (n) prompt then completion */
	size_t n, n_prompt;
	float *mask;            /* (n) 1 on the completion */
	float *sampler;         /* (n) the sampler's logprobs (0 on the prompt) */
	float *adv;             /* (n) advantages, set by the steps below */
	char *text;             /* the completion as the renderer parses it back */
	int complete;           /* a stop token or string ended it */
	double reward;
} tk_rl_rollout;

/* What a step measures, for its metrics line (tk_rl_metrics_line).
 * Zero it, then tk_rl_step_stats_init; free with tk_rl_step_stats_free. */
/* Episodes of protocol 2 in a step (or an evaluation). */
#define TK_RL_MAX_SEATS 8
typedef struct tk_rl_episode_stats {
	size_t episodes;        /* finished (done, or ended by a limit) */
	size_t failed, dropped; /* failed; finished but left out with their group */
	size_t cut_turns, cut_tokens; /* ended by --max-turns, by the token budget */
	size_t turns, tool_calls;     /* of the policy's seats */
	size_t ob_tokens;       /* observation tokens of the trained records */
	size_t prefilled;       /* prompt tokens run through the model */
	size_t prompt_tokens;   /* prompt tokens of every turn (what prefilling all would cost) */
	size_t seats;           /* the most seats an episode had */
	double seat_reward[TK_RL_MAX_SEATS]; /* Σ returns of each seat */
	double seat_reward2[TK_RL_MAX_SEATS];
	size_t seat_n[TK_RL_MAX_SEATS];
	char failure[320];      /* the last failure: "episode ID: the program's error" */
} tk_rl_episode_stats;

typedef struct tk_rl_step_stats {
	double reward_sum, reward2_sum, correct_sum, format_sum, kl_base, grad_norm, lr;
	size_t samples, correct_known, sampled, dropped;
	tk_rl_group_stats groups;
	tk_rl_update_result up;
	double t_sample, t_score, t_train, t_step;
	int offline;            /* rewards from a stream: no sampling, no grading */
	int has_kl_base;        /* a KL penalty to the base was folded in */
	int has_teacher;        /* the teacher's reverse KL was folded in: */
	double teacher_kl;      /* its mean per sampled token */
	size_t teacher_tokens;  /* tokens the teacher scored */
	double t_teacher;       /* seconds it took */
	size_t judge_pairs, judge_ties, judge_skipped; /* --judge's comparisons */
	double t_judge;
	int substeps;           /* optimizer steps on the batch (0, 1: one) */
	tk_rl_episode_stats ep; /* episodes: the environment protocol 2 */
	void *program_metrics;  /* private: Σ of each metric a reward program gave */
} tk_rl_step_stats;

int tk_rl_step_stats_init(tk_rl_step_stats *st);
void tk_rl_step_stats_free(tk_rl_step_stats *st);

/* group_size samples of each of prompts[0..groups) from f with o (its
 * batch and logprobs are set here); prompt g is the run's prompt number
 * first + g, which seeds its samples' streams.  The completion text is the
 * renderer's reading of it, cut at the first of cut[0..n_cut) (strings
 * that also end a completion).  *out (groups · group_size) in order;
 * *sampled: new tokens in all. */
int tk_rl_rollouts_sample(struct tk_forward *f, const struct tk_gen_options *o,
			  const struct tk_renderer *r, const char *const *cut, size_t n_cut,
			  const struct tk_tokens *prompts, size_t groups, size_t group_size,
			  uint64_t first, tk_rl_rollout **out, size_t *sampled);
void tk_rl_rollouts_free(tk_rl_rollout *ro, size_t n);

/* Rewards from env (prompts: the step's, by group), added to st. */
int tk_rl_rollouts_score(tk_rl_env *env, const tk_rl_prompt *prompts, tk_rl_rollout *ro,
			 size_t n, tk_rl_step_stats *st);
/* Reward minus its group's mean (÷ std with scale_by_std) on every
 * completion token. */
int tk_rl_rollouts_advantages(tk_rl_rollout *ro, size_t n, int scale_by_std,
			      tk_rl_step_stats *st);
/* --teacher: the teacher's logprobs (its scorer) of the sampled tokens,
 * and coef · (teacher − q) added to each one's advantage: the reverse
 * KL(policy ‖ teacher) estimated per token, not centred (on-policy
 * distillation).  st gets its mean, the tokens scored and the time. */
int tk_rl_rollouts_teacher(struct tk_eval_scorer *teacher, tk_rl_rollout *ro, size_t n,
			   double coef, tk_rl_step_stats *st);

/* --judge: each rollout's reward from a judge comparing the completions of
 * its group pairwise: (wins − losses) / comparisons it took part in, in
 * [−1, 1].  Generative (reference NULL): the judge answers tk_chat_judge's
 * question, every pair in both orders, the letter with the higher logprob
 * winning.  Implicit (reference set): a completion's score is its summed
 * logprob under the judge less under the reference (a DPO adapter's
 * implicit reward), the higher score wins.  A comparison that does not
 * fit the judge's context is skipped (counted); equal ones tie. */
typedef struct tk_rl_judge {
	struct tk_eval_scorer *scorer;      /* the judge's (generative: 2 slots;
					     * implicit: a group's) */
	struct tk_eval_scorer *reference;   /* implicit: the judge's reference, or NULL */
	const struct tk_renderer *renderer; /* the policy's: the judge reads its tokens */
} tk_rl_judge;
int tk_rl_rollouts_judge(const tk_rl_judge *j, const tk_rl_prompt *prompts, tk_rl_rollout *ro,
			 size_t n, size_t group_size, tk_rl_step_stats *st);

/* --kl-coef: the base model's logprobs (ref) of the sampled tokens, the
 * penalty coef · (q − base) folded into the advantages over the step. */
int tk_rl_rollouts_kl(struct tk_eval_scorer *ref, tk_rl_rollout *ro, size_t n, double coef,
		      tk_rl_step_stats *st);
/* The same with the base's logprobs from the trainer with its adapter left
 * out (tk_train_base_logprobs, passes of at most micro tokens): LoRA runs,
 * no second model. */
int tk_rl_rollouts_kl_base(struct tk_train *t, size_t micro, tk_rl_rollout *ro, size_t n,
			   double coef, tk_rl_step_stats *st);
/* The update's records (malloc'd, pointing into ro); with drop_flat the
 * samples of groups whose rewards are all equal are left out (counted in
 * st->dropped).  *tokens: completion tokens kept, the loss's denominator. */
tk_rl_record *tk_rl_rollouts_records(const tk_rl_rollout *ro, size_t n, size_t group_size,
				     int drop_flat, size_t *kept, double *tokens,
				     tk_rl_step_stats *st);
/* Each rollout as a token-stream record: the completion weighted 1, the
 * sampler's logprobs, the advantages, the reward, group (step − 1) ·
 * groups + its group; meta {"id", "step", "text"}. */
int tk_rl_rollouts_write(struct tk_tks_writer *w, int64_t step, const tk_rl_prompt *prompts,
			 size_t groups, const tk_rl_rollout *ro, size_t n);

/* A rollout stream for tk_rl_rollouts_write: its metadata names the
 * tokenizer and model fingerprints, the vocabulary, the renderer, source
 * "tk-rl", kind "rollouts". */
int tk_rl_rollouts_writer_open(struct tk_tks_writer **out, const char *path,
			       const char *tokenizer_fp, const char *model_fp, size_t vocab,
			       const char *renderer);

/* The step's progress line for a terminal or a log (no newline):
 * "step N/TOTAL  reward R  len L  kl_sample_train K  grad norm G  S s". */
void tk_rl_progress_line(const tk_rl_step_stats *st, int64_t step, int64_t total, char *buf,
			 size_t cap);

/* The step's metrics.jsonl line (malloc'd, no newline): env/..., optim/...,
 * time/... as tk-rl(1) lists them; total 0 when the run's length is open. */
char *tk_rl_metrics_line(const tk_rl_step_stats *st, int64_t step, int64_t total,
			 double elapsed);

/* ---- offline: scored rollouts from a token stream (lib/rl/rl_stream.c) ---
 * Batches of records as tk-rl --rollouts (or any program) writes them:
 * each must carry advantages or a reward with a group, sampler logprobs
 * (but with --loss pg), and fit a pass of micro tokens. */
typedef struct tk_rl_stream tk_rl_stream;

/* path ("-": stdin); tokenizer: the model's fingerprint (16 hex), which
 * the stream's must match when it names one (NULL: not checked). */
int tk_rl_stream_open(tk_rl_stream **out, const char *path, size_t batch, int loss_kind,
		      size_t micro_tokens, const char *tokenizer);
void tk_rl_stream_close(tk_rl_stream *s);   /* safe on NULL */
/* The next batch (*n 0 at the end of the stream): records whose arrays
 * live until the next call, advantages filled (a record's own, or its
 * reward minus its group's mean in the batch, ÷ std with scale_by_std),
 * *tokens the masked tokens (the loss's denominator); the rewards and
 * groups are added to st (NULL: a batch skipped on --resume). */
int tk_rl_stream_next(tk_rl_stream *s, int scale_by_std, const tk_rl_record **recs, size_t *n,
		      double *tokens, tk_rl_step_stats *st);

/* ---- a step's prompts (lib/rl/rl_prompts.c) ------------------------------ */

/* The room a completion needs: the model's positions, --max-tokens, and
 * the update's pass (a prompt and its completion are one record). */
typedef struct tk_rl_room {
	size_t positions, max_tokens, pass;
} tk_rl_room;

typedef struct tk_rl_prompts {
	tk_rl_prompt *p;        /* (n) as the environment posed them */
	struct tk_tokens *ids;  /* (n) their generation prompts */
	size_t n;
} tk_rl_prompts;

/* The environment's first n prompts as JSON Lines (the source line's
 * fields, id, messages, answer) into path ('-': stdout), atomically. */
int tk_rl_prompts_dump(tk_rl_env *env, uint64_t n, const char *path);

/* Prompts first .. first + n − 1 of env, rendered by r; one that leaves no
 * room (TK_EDATA) or fails to render is named by its id.  Free with
 * tk_rl_prompts_free (also on failure: out is then empty). */
int tk_rl_prompts_load(tk_rl_env *env, const struct tk_renderer *r, uint64_t first, size_t n,
		       const tk_rl_room *room, tk_rl_prompts *out);
void tk_rl_prompts_free(tk_rl_prompts *sp);

/* ---- an online step's data (lib/rl/rl_online.c) -------------------------- */

/* The limits of an episode and what becomes of a failed one. */
typedef struct tk_rl_episode_limits {
	size_t max_turns;       /* turns of an episode, all seats (0: no limit) */
	size_t max_tokens;      /* tokens of a seat's conversation, prompt and completions */
	double overflow_reward; /* the return of a policy seat whose episode ran out of tokens */
	int retry;              /* an episode the program fails: 1 reset it once more, 0 drop it */
	size_t min_episodes;    /* a group keeps its finished episodes when at least this many */
} tk_rl_episode_limits;

/* What an online step needs: the environment, how prompts render and
 * completions are sampled, what the rollouts get, and the policy: a
 * forward of `slots` sequences of `context` positions, opened by the
 * caller for each step (the trainer's live adapter on an engine) and
 * closed after sampling by close_policy (which may also set the backend
 * back for training, e.g. for the KL reference's pass). */
typedef struct tk_rl_online {
	tk_rl_env *env;
	const struct tk_renderer *renderer;
	tk_rl_room room;
	size_t groups, group_size;
	const struct tk_gen_options *gen;   /* params, seed, max_tokens, stops, tok */
	const char *const *cut;             /* strings a completion's text is cut at */
	size_t n_cut;
	int scale_by_std, drop_flat;
	double kl_coef;                     /* > 0: the penalty against the base: */
	struct tk_eval_scorer *ref;         /* a scorer of it, or */
	struct tk_train *ref_train;         /* the LoRA trainer without its adapter */
	size_t ref_micro;                   /* ref_train's pass size */
	struct tk_eval_scorer *teacher;     /* on-policy distillation (NULL: none), */
	double teacher_coef;                /* the weight of its reverse KL */
	const tk_rl_judge *judge;           /* rewards from a judge instead of env's */
	int (*open_policy)(void *ctx, size_t slots, size_t context, struct tk_forward **out);
	void (*close_policy)(void *ctx, struct tk_forward *f); /* NULL: tk_forward_close */
	/* Episodes (tk_rl_env_episodes): their limits, and the partner model
	 * that plays the seats an environment gives it (NULL: none). */
	const tk_rl_episode_limits *episode;
	int (*open_partner)(void *ctx, size_t slots, size_t context, struct tk_forward **out);
	void (*close_partner)(void *ctx, struct tk_forward *f);
	void *ctx;
} tk_rl_online;

/* One step's data: its prompts, rollouts and the update's records. */
typedef struct tk_rl_batch {
	tk_rl_prompts prompts;
	tk_rl_rollout *ro;
	size_t n;               /* rollouts: groups · group_size */
	tk_rl_record *recs;     /* (kept) into ro */
	size_t kept;
	double tokens;          /* completion tokens kept: the loss's denominator */
} tk_rl_batch;

/* Step `step` (from 1): prompts (step − 1)·groups.. posed and rendered,
 * sampled from the policy, scored, advantages and the KL penalty folded
 * in (the caller may write the rollouts, tk_rl_rollouts_write); st gets the scores and the sampling and scoring
 * times.  Free b with tk_rl_batch_free, also on failure. */
int tk_rl_online_batch(const tk_rl_online *o, int64_t step, tk_rl_batch *b,
		       tk_rl_step_stats *st);
void tk_rl_batch_free(tk_rl_batch *b);

/* Held-out episodes (split "test") played by the policy, nothing
 * trained: n episodes, groups · group_size at a time, each its own group
 * (seeded by its number).  res gets the mean return of the policy's
 * seats and its standard error, st the episodes' stats and the program's
 * metrics (zero it and tk_rl_step_stats_init first). */
typedef struct tk_rl_eval_result {
	double mean, stderr_mean;
	size_t n;               /* returns averaged (policy seats of finished episodes) */
} tk_rl_eval_result;
int tk_rl_evaluate(const tk_rl_online *o, size_t n, tk_rl_eval_result *res, tk_rl_step_stats *st);
/* --eval-prompts: the metrics line of an evaluation of held-out prompts
 * (their samples' rewards in st), its keys under test/. */
char *tk_rl_test_line(const tk_rl_step_stats *st, int64_t step, double elapsed);
/* The evaluation's line (malloc'd, no newline): the metrics of
 * tk_rl_metrics_line (step: the policy's) and eval/episodes,
 * eval/mean_return, eval/stderr. */
char *tk_rl_eval_line(const tk_rl_step_stats *st, const tk_rl_eval_result *res, int64_t step,
		      double elapsed);

#endif
