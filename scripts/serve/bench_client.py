#!/usr/bin/env python3
"""forward_backward + optim_step through tk-serve with the tinker SDK, timed
per step (scripts/serve/bench.sh).

Usage: bench_client.py URL MODEL RECORDS.jsonl BATCH STEPS RANK
RECORDS.jsonl: `tk-render --show --json` of the stream tk-sft trains on;
step s takes records [s*BATCH, (s+1)*BATCH) as tk-sft --no-shuffle does.
Prints {"ms": [per step], "tokens": [per step]} on stdout.
"""
import json
import sys
import time

import numpy as np
import tinker
from tinker import types


def main():
    url, model, path = sys.argv[1:4]
    batch, steps, rank = map(int, sys.argv[4:7])
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    sc = tinker.ServiceClient(base_url=url, api_key="tml-bench")
    tc = sc.create_lora_training_client(base_model=model, rank=rank, seed=1).result()
    ms, tokens = [], []
    for s in range(steps):
        part = recs[s * batch:(s + 1) * batch]
        data = [types.Datum(
            model_input=types.ModelInput.from_ints(r["tokens"][:-1]),
            loss_fn_inputs={"target_tokens": np.asarray(r["tokens"][1:], np.int64),
                            "weights": np.asarray(r["weights"][1:], np.float32)})
            for r in part]
        t0 = time.perf_counter()
        fb = tc.forward_backward(data, "cross_entropy")
        opt = tc.optim_step(types.AdamParams(learning_rate=1e-4))
        fb.result()
        opt.result()
        ms.append(1000 * (time.perf_counter() - t0))
        tokens.append(sum(len(r["tokens"]) for r in part))
    print(json.dumps({"ms": ms, "tokens": tokens}))


if __name__ == "__main__":
    main()
