/* Episodes of protocol 2 as the rounds of a step play them: each seat's
 * conversation, its return, the tokens its trained turns leave for the
 * update, and what its KV slot holds (rl_episode.c, rl_episodes_play.c,
 * rl_episodes_batch.c). */
#ifndef RL_EPISODE_H
#define RL_EPISODE_H

#include "rl_internal.h"

#include "tk_render.h"
#include "tk_sampler.h"

#define RL_MAX_SEATS 8

enum rl_player { RL_POLICY, RL_PARTNER, RL_PLAYERS };
/* EP_CUT: ended by tk-rl, its close not yet sent; then EP_CLOSED. */
enum rl_episode_state { EP_RESET, EP_LIVE, EP_DONE, EP_CUT, EP_CLOSED, EP_FAILED };

typedef struct ep_seat {
	cJSON *messages;        /* its conversation */
	int player;             /* enum rl_player */
	double ret;             /* Σ rewards given to it */
	size_t turns, tool_calls;
	tk_rl_rollout *recs;    /* policy: records of its turns (merged when a turn extends the last) */
	size_t n_recs;
	int32_t *held;          /* the tokens of its last turn: prompt, completion */
	size_t n_held;
	size_t slot;            /* its KV slot in its player's forward */
} ep_seat;

typedef struct episode {
	char id[96];
	size_t group, index;    /* its group in the step, its place in the group */
	uint64_t ordinal;       /* unique in the run: seeds its draws */
	uint64_t number;        /* its number in its split (train or test) */
	uint64_t seed;          /* the environment's seed: its group's */
	const tk_rl_prompt *prompt; /* --prompts: its group's line, else NULL */
	int state;              /* enum rl_episode_state */
	int attempts;           /* resets so far */
	size_t turns, n_seats, next;
	ep_seat seat[RL_MAX_SEATS];
	cJSON *tools;           /* declared at reset, or NULL */
	cJSON *metrics;         /* the last "metrics" the program gave */
	const char *cut_reason; /* why tk-rl ended it (EP_CUT) */
	char failure[200];      /* the program's "error", when it failed one */
	/* the turn being played */
	tk_tokens prompt_ids;
	size_t cached;          /* of prompt_ids already in its slot */
	int32_t *tokens;        /* (n) the completion */
	float *logprobs;
	size_t n;
	int finish;
	int sampled;            /* the turn awaits its step request */
} episode;

/* Limits and what a round needs. */
typedef struct rl_play {
	const tk_rl_online *o;
	tk_rl_env *env;
	int test;               /* held-out episodes: nothing kept for training */
	episode *ep;
	size_t n;
	struct tk_forward *f[RL_PLAYERS]; /* NULL: not opened this step */
	size_t slots[RL_PLAYERS];
	episode **slot_owner[RL_PLAYERS]; /* (slots) whose seat a slot holds */
	size_t *slot_seat[RL_PLAYERS];
	size_t prefilled, prompt_tokens, sampled, requests;
	double t_sample, t_env;
} rl_play;

void rl_episode_free(episode *ep);
/* Back to the state before its reset (for a retry). */
void rl_episode_clear(episode *ep);

/* The reset request / applying its reply. */
cJSON *rl_episode_reset_request(const episode *ep, int test);
int rl_episode_apply_reset(episode *ep, const cJSON *reply);
/* The step request of the turn just sampled (the seat's message appended
 * to its conversation here) / applying its reply. */
cJSON *rl_episode_step_request(episode *ep, const tk_renderer *r, const tk_tokenizer *tok);
int rl_episode_apply_step(episode *ep, const cJSON *reply);
cJSON *rl_episode_close_request(const episode *ep);
/* An "error" reply: the failure policy applied (EP_RESET for a retry,
 * else EP_FAILED); the program's message kept in ep->failure. */
void rl_episode_failed(episode *ep, const char *why, int retry);

/* The generation prompt of the moving seat's conversation into
 * ep->prompt_ids. */
int rl_episode_render(episode *ep, const tk_renderer *r);
/* The sampled turn added to the seat's records (policy seats) and to what
 * its slot holds. */
int rl_episode_keep_turn(episode *ep, int train);

/* Opens player's forward (rl_episodes_batch.c). */
int rl_play_open(rl_play *p, int player);
/* Plays p's episodes (state EP_RESET) to their ends. */
int rl_episodes_play(rl_play *p);

/* tk_rl_online_batch for an environment of episodes. */
int rl_episodes_batch(const tk_rl_online *o, int64_t step, tk_rl_batch *b, tk_rl_step_stats *st);

/* Leading tokens a and b share. */
size_t rl_common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb);

#endif
