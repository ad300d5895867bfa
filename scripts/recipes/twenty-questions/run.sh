#!/usr/bin/env bash
# Twenty questions (scripts/recipes/envs/twenty_questions.py): a secret word
# of 40, yes/no questions or "Guess: WORD", 20 turns; the answerer is
# scripted (it knows the word's attributes: a 135M partner model answers
# close to noise; ANSWERER=partner with PARTNER=MODEL plays it with a
# partner model instead, as tests/recipes.bats does on the tiny model).
# Reward 1 (+0.02 a turn left) for the right guess.  Held-out words before
# and after: mean return, solved rate, questions asked.  Variables as
# scripts/recipes/episodes/run.sh's (defaults here: STEPS 20, 4 groups of
# 4, 24 tokens a turn).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
envs=$here/../envs
if [ "${ANSWERER:-scripted}" = partner ]; then
	: "${PARTNER:?ANSWERER=partner needs PARTNER=MODEL}"
	export ENV_CMD=${ENV_CMD:-python3 $envs/twenty_questions.py --answerer partner}
	export RL_OPTS=${RL_OPTS:---max-episode-tokens 1024 --partner $PARTNER}
	export MAX_TURNS=${MAX_TURNS:-40}
fi
export ENV_CMD=${ENV_CMD:-python3 $envs/twenty_questions.py}
export RL_OPTS=${RL_OPTS:---max-episode-tokens 1024}
export OUT=${OUT:-twenty-questions-out} MAXTOK=${MAXTOK:-24} MAX_TURNS=${MAX_TURNS:-20}
export N_GROUPS=${N_GROUPS:-4} GROUP_SIZE=${GROUP_SIZE:-4}
export KEYS=${KEYS:-env/all/solved env/all/questions}
exec "$here/../episodes/run.sh"
