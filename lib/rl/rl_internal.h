/* What the environment files of lib/rl_env*.c share (tk_rl.h). */
#ifndef RL_INTERNAL_H
#define RL_INTERNAL_H

#include "tk_rl.h"

#include <sys/types.h>

enum rl_env_kind { RL_ARITHMETIC, RL_MATH, RL_CMD };

/* Prompts read from a JSON Lines file, in file order. */
typedef struct rl_prompts {
	tk_rl_prompt *v;        /* (n) */
	size_t n;
	size_t *order;          /* (n) the order of pass `pass` */
	uint64_t pass;          /* which pass order holds; UINT64_MAX: none yet */
} rl_prompts;

/* The reward program and what it has said so far. */
typedef struct rl_child {
	char *command;
	double timeout;         /* seconds */
	pid_t pid;              /* 0 once reaped */
	int to, from;           /* its stdin, its stdout; -1 when closed */
	char *buf;              /* bytes read, not yet a whole line */
	size_t len, cap;
	uint64_t answered;      /* answer lines read over the run */
	char last[320];         /* the last answer line, shortened, for messages */
	int failed;             /* a failure ended it: later scoring refuses */
} rl_child;

struct tk_rl_env {
	int kind;               /* enum rl_env_kind */
	uint64_t seed;
	tk_rl_arith_config arith;
	int task;               /* math: enum tk_eval_task */
	rl_prompts prompts;     /* math and cmd */
	rl_child child;         /* cmd */
};

int rl_prompts_load(rl_prompts *ps, const char *path, int need_answer);
void rl_prompts_free(rl_prompts *ps);
/* A copy of prompt k (pass k / n, in that pass's seeded order). */
int rl_prompts_get(rl_prompts *ps, uint64_t seed, uint64_t k, tk_rl_prompt *out);

int rl_arith_prompt(const tk_rl_env *e, uint64_t k, tk_rl_prompt *out);
int rl_arith_score(const tk_rl_env *e, const tk_rl_sample *s, tk_rl_score *out);
/* 1 when text holds nothing but one number (spaces around allowed). */
int rl_bare_number(const char *text);

int rl_child_start(rl_child *c, const char *command, double timeout);
int rl_child_score(rl_child *c, const tk_rl_sample *s, size_t n, tk_rl_score *out);
void rl_child_stop(rl_child *c);

#endif
