#!/usr/bin/env bash
# Guess-the-number (scripts/recipes/envs/guess_number.py): a hidden integer
# from 1 to 100, "Guess: N" answered "too high" / "too low", at most 7
# guesses; reward 1 (+0.05 a guess left) for solving, -0.1 for an
# unparsable turn.  RL with tk-rl --env episodes; the mean return of 200
# held-out episodes (greedy) before and after, with the solved and
# unparsable rates.  Variables as scripts/recipes/episodes/run.sh's
# (defaults here: STEPS 20, 8 groups of 4, 12 tokens a turn, 7 turns).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
envs=$here/../envs
export ENV_CMD=${ENV_CMD:-python3 $envs/guess_number.py --system}
export OUT=${OUT:-guess-number-out} MAXTOK=${MAXTOK:-12} MAX_TURNS=${MAX_TURNS:-7}
export KEYS=${KEYS:-env/all/solved env/all/unparsable env/all/guesses}
export RL_OPTS=${RL_OPTS:---max-episode-tokens 512}
exec "$here/../episodes/run.sh"
