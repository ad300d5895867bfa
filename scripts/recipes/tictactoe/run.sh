#!/usr/bin/env bash
# Tic-tac-toe self-play (scripts/recipes/envs/tictactoe.py): both seats
# played by the policy in training ("Move: N", cells 1-9; win 1, draw 0,
# loss -1, an illegal move loses; parsed with --lenient, the first lone
# digit 1-9 of a reply without "Move: N" being its move, since a 135M model
# rarely keeps the format); held-out games against a random and a
# perfect (minimax) opponent before and after: mean return and the win,
# draw, loss and illegal-move rates.  Variables as
# scripts/recipes/episodes/run.sh's (defaults here: STEPS 20, 8 groups of 4,
# 8 tokens a turn, 9 turns).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
envs=$here/../envs
export ENV_CMD=${ENV_CMD:-python3 $envs/tictactoe.py --lenient}
export EVALS=${EVALS:-random=python3 $envs/tictactoe.py --lenient --opponent random;minimax=python3 $envs/tictactoe.py --lenient --opponent minimax}
export OUT=${OUT:-tictactoe-out} MAXTOK=${MAXTOK:-8} MAX_TURNS=${MAX_TURNS:-9}
export KEYS=${KEYS:-env/all/win env/all/draw env/all/loss env/all/illegal}
export RL_OPTS=${RL_OPTS:---max-episode-tokens 768}
exec "$here/../episodes/run.sh"
