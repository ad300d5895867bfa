/* What the environment files of lib/rl_env*.c share (tk_rl.h). */
#ifndef RL_INTERNAL_H
#define RL_INTERNAL_H

#include "tk_rl.h"

#include <sys/types.h>

#include <cjson/cJSON.h>

enum rl_env_kind { RL_ARITHMETIC, RL_MATH, RL_CMD, RL_EPISODES, RL_PROMPTS };

/* Prompts read from a JSON Lines file, in file order. */
typedef struct rl_prompts {
	tk_rl_prompt *v;        /* (n) */
	size_t n;
	size_t *order;          /* (n) the order of pass `pass` */
	uint64_t pass;          /* which pass order holds; UINT64_MAX: none yet */
} rl_prompts;

/* The reward program and what it has said so far. */
typedef struct rl_child {
	const char *role;       /* "reward program", "environment program": messages */
	char *command;
	double timeout;         /* seconds */
	pid_t pid;              /* 0 once reaped */
	int to, from;           /* its stdin, its stdout; -1 when closed */
	char *buf;              /* bytes read, not yet a whole line */
	size_t len, cap;
	uint64_t answered;      /* answer lines read over the run */
	char last[320];         /* the last answer line, shortened, for messages */
	int failed;             /* a failure ended it: later scoring refuses */
	int ordered;            /* answers pair with requests by order (protocol 1) */
} rl_child;

/* Takes answer `index` (from 0) of an exchange: TK_EDATA saying what is
 * wrong with it. */
typedef int (*rl_take_line)(void *ctx, const char *line, size_t len, size_t index);

struct tk_rl_env {
	int kind;               /* enum rl_env_kind */
	uint64_t seed;
	tk_rl_arith_config arith;
	int task;               /* math: enum tk_eval_task */
	rl_prompts prompts;     /* math and cmd */
	rl_child child;         /* cmd, episodes */
	uint64_t next_req;      /* episodes: the number of the next request */
};

int rl_prompts_load(rl_prompts *ps, const char *path, int need_answer);
void rl_prompts_free(rl_prompts *ps);
/* A copy of prompt k (pass k / n, in that pass's seeded order). */
int rl_prompts_get(rl_prompts *ps, uint64_t seed, uint64_t k, tk_rl_prompt *out);

int rl_arith_prompt(const tk_rl_env *e, uint64_t k, tk_rl_prompt *out);
int rl_arith_score(const tk_rl_env *e, const tk_rl_sample *s, tk_rl_score *out);
/* 1 when text holds nothing but one number (spaces around allowed). */
int rl_bare_number(const char *text);

int rl_child_start(rl_child *c, const char *role, const char *command, double timeout);
int rl_child_score(rl_child *c, const tk_rl_sample *s, size_t n, tk_rl_score *out);
/* Writes req (len bytes) while reading answer lines (blank lines
 * skipped) into take until n were taken, each within the timeout of the
 * one before. */
int rl_child_exchange(rl_child *c, const char *req, size_t len, size_t n, rl_take_line take,
		      void *ctx);
/* Refuses anything but blank lines the program wrote (or writes within
 * wait seconds): `when` says when, for the message. */
int rl_child_expect_silence(rl_child *c, const char *when, double wait);
void rl_child_stop(rl_child *c);

/* ---- protocol 2 (rl_env_episodes.c) ---- */

/* Sends reqs[0..n) (objects; "req" numbered here) and waits for their
 * replies: replies[i] answers reqs[i] (the caller frees them).  what[i]
 * names request i's episode in messages.  A reply to no awaited request,
 * or a second one, is refused by name (TK_EDATA). */
int rl_env_call(tk_rl_env *e, cJSON **reqs, const char *const *what, size_t n, cJSON **replies);
int rl_env_hello(tk_rl_env *e);
/* Appends line and a newline to *buf (at *len of *cap bytes). */
int rl_append_line(char **buf, size_t *len, size_t *cap, const char *line);
/* At most 60 bytes of a line a program wrote, escaped, for a message. */
void rl_excerpt(char *out, size_t cap, const char *line, size_t len);
/* Episode group k of a run without a prompts file: an id and no messages. */
int rl_episode_prompt(uint64_t k, tk_rl_prompt *p);

#endif
