#!/usr/bin/env python3
"""Drives tk-serve with the real tinker SDK (0.38.0) for tests/serve.bats.

Usage: conformance.py CHECK URL MODEL RECORDS.jsonl [ARGS...]

RECORDS.jsonl is `tk-render --show --json` of a token stream: each record's
tokens and weights become one datum (input tokens[:-1], targets tokens[1:],
weights weights[1:]), so the server sees what tk-eval and tk-sample see.
Each check prints one JSON object on stdout for the test to compare with
tk's own commands, and exits non-zero when an SDK-side expectation fails.

  ce                       cross-entropy forward_backward: mean NLL
  train PROMPT.jsonl N     a step, sampler weights saved, greedy tokens
  resume                   save_state -> load_state -> the same next step
  rl                       importance_sampling; a custom loss = the built-in
  errors                   status codes of bad requests
  openai PATH PROMPT N     /v1/completions and /v1/chat/completions on PATH
"""
import json
import sys
import urllib.error
import urllib.request

import numpy as np
import tinker
from tinker import types

LR = 1e-2


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def datum(rec, weights=None, extra=None):
    toks = rec["tokens"]
    w = np.asarray(rec["weights"][1:] if weights is None else weights, dtype=np.float32)
    inputs = {"target_tokens": np.asarray(toks[1:], dtype=np.int64), "weights": w}
    if extra:
        inputs = {"target_tokens": inputs["target_tokens"], **extra}
    return types.Datum(model_input=types.ModelInput.from_ints(toks[:-1]), loss_fn_inputs=inputs)


def client(url):
    return tinker.ServiceClient(base_url=url, api_key="tml-tk-serve-test")


def trainer(sc, model, seed=7):
    return sc.create_lora_training_client(base_model=model, rank=4, seed=seed).result()


def weight_sum(recs):
    return float(sum(sum(r["weights"][1:]) for r in recs))


def sparse(values):
    """The SDK's sparse CSR form of a column (shape [n, 1]): the non-zeros."""
    v = np.asarray(values, np.float32)
    nz = np.flatnonzero(v)
    crow = np.searchsorted(nz, np.arange(len(v) + 1)).tolist()
    return types.TensorData(data=v[nz].tolist(), dtype="float32", shape=[len(v), 1],
                            sparse_crow_indices=crow, sparse_col_indices=[0] * len(nz))


def ce(url, model, recs):
    tc = trainer(client(url), model)
    # the last record's weights in the sparse form the SDK sends
    data = [datum(r) for r in recs[:-1]]
    last = recs[-1]
    data.append(datum(last, extra={"weights": sparse(last["weights"][1:])}))
    out = tc.forward_backward(data, "cross_entropy").result()
    lp = np.concatenate([o["logprobs"].to_numpy() for o in out.loss_fn_outputs])
    w = np.concatenate([np.asarray(r["weights"][1:], np.float32) for r in recs])
    loss = out.metrics["loss:sum"]
    # the per-position outputs agree with the sum
    assert abs(float(-(w * lp).sum()) - loss) <= 1e-6 * abs(loss), (loss, float(-(w * lp).sum()))
    return {"nll": loss / weight_sum(recs), "loss_sum": loss}


def train(url, model, recs, prompt_path, n):
    tc = trainer(client(url), model)
    data = [datum(r) for r in recs]
    before = tc.forward_backward(data, "cross_entropy").result().metrics["loss:sum"]
    step = tc.optim_step(types.AdamParams(learning_rate=LR)).result()
    after = tc.forward(data, "cross_entropy").result().metrics["loss:sum"]
    assert after < before, (before, after)
    saved = tc.save_weights_for_sampler("trained").result()
    sampler = tc.create_sampling_client(saved.path)
    prompt = records(prompt_path)[0]["tokens"]
    params = types.SamplingParams(max_tokens=int(n), temperature=0.0, stop=[])
    res = sampler.sample(types.ModelInput.from_ints(prompt), 2, params,
                         include_prompt_logprobs=True).result()
    seqs = [list(s.tokens) for s in res.sequences]
    assert seqs[0] == seqs[1], seqs   # greedy: both samples alike
    assert res.sequences[0].stop_reason == "length"
    assert len(res.sequences[0].logprobs) == int(n)
    assert res.prompt_logprobs[0] is None and len(res.prompt_logprobs) == len(prompt)
    # the sampler's prompt logprobs are the trainer's, on the same weights
    pd = types.Datum(model_input=types.ModelInput.from_ints(prompt[:-1]),
                     loss_fn_inputs={"target_tokens": np.asarray(prompt[1:], np.int64),
                                     "weights": np.ones(len(prompt) - 1, np.float32)})
    train_lp = tc.forward([pd], "cross_entropy").result().loss_fn_outputs[0]["logprobs"].to_numpy()
    prompt_err = float(np.abs(np.asarray(res.prompt_logprobs[1:]) - train_lp).max())
    # sampler weights saved again under a name a sampler uses: it sees them
    twice = tc.save_weights_for_sampler("twice").result().path
    tc.create_sampling_client(twice).sample(types.ModelInput.from_ints(prompt), 1, params).result()
    tc.forward_backward(data, "cross_entropy").result()
    tc.optim_step(types.AdamParams(learning_rate=LR)).result()
    tc.save_weights_for_sampler("twice").result()
    res2 = tc.create_sampling_client(twice).sample(
        types.ModelInput.from_ints(prompt), 1, params, include_prompt_logprobs=True).result()
    train_lp2 = tc.forward([pd], "cross_entropy").result().loss_fn_outputs[0]["logprobs"].to_numpy()
    prompt_err = max(prompt_err,
                     float(np.abs(np.asarray(res2.prompt_logprobs[1:]) - train_lp2).max()))
    assert float(np.abs(train_lp2 - train_lp).max()) > 1e-4   # the step changed them
    return {"path": saved.path, "tokens": seqs[0], "nll": after / weight_sum(recs),
            "grad_norm": step.metrics["grad_norm:mean"], "prompt_lp_err": prompt_err}


def step(tc, data):
    loss = tc.forward_backward(data, "cross_entropy").result().metrics["loss:sum"]
    tc.optim_step(types.AdamParams(learning_rate=LR)).result()
    return loss


def resume(url, model, recs):
    sc = client(url)
    a = trainer(sc, model)
    first, second = [datum(r) for r in recs[:1]], [datum(r) for r in recs[1:]] or first
    step(a, first)
    state = a.save_state("after-1").result().path
    step(a, second)
    third_a = a.forward(second, "cross_entropy").result().metrics["loss:sum"]
    # a new client from the state, with the optimizer
    b = sc.create_training_client_from_state_with_optimizer(state)
    step(b, second)
    third_b = b.forward(second, "cross_entropy").result().metrics["loss:sum"]
    # the same client, back to the state, with the optimizer
    a.load_state_with_optimizer(state).result()
    step(a, second)
    third_a2 = a.forward(second, "cross_entropy").result().metrics["loss:sum"]
    # without the optimizer: the same weights, fresh moments (a different step)
    a.load_state(state).result()
    step(a, second)
    third_fresh = a.forward(second, "cross_entropy").result().metrics["loss:sum"]
    info = sc.create_rest_client().get_weights_info_by_tinker_path(state).result()
    return {"state": state, "a": third_a, "b": third_b, "a2": third_a2, "fresh": third_fresh,
            "info_rank": info.lora_rank, "info_base": info.base_model}


def rl(url, model, recs):
    sc = client(url)
    rng = np.random.default_rng(1)
    data = [datum(r) for r in recs]
    fwd = trainer(sc, model, seed=3)
    q = [o["logprobs"].to_numpy() for o in fwd.forward(data, "cross_entropy").result().loss_fn_outputs]
    adv = [rng.standard_normal(len(x)).astype(np.float32) for x in q]
    is_data = [datum(r, extra={"logprobs": qi, "advantages": ai})
               for r, qi, ai in zip(recs, q, adv)]
    # the built-in loss at the sampler's own weights: ratio 1, loss = -sum A
    builtin = trainer(sc, model, seed=3)
    out = builtin.forward_backward(is_data, "importance_sampling").result()
    want = -float(sum(a.sum() for a in adv))
    assert abs(out.metrics["loss:sum"] - want) <= 1e-5 * max(1.0, abs(want)), (out.metrics, want)
    # the other policy losses at ratio 1, against their formulas: ppo -sum A,
    # cispo -sum A*p, dro -sum (A*p - beta/2 (p - q)^2) = -sum A*p
    lp_all = np.concatenate(q).astype(np.float64)
    a_all = np.concatenate(adv).astype(np.float64)
    for loss_fn, cfg, want_l in (
            ("ppo", {"clip_low_threshold": 0.9, "clip_high_threshold": 1.1}, -a_all.sum()),
            ("cispo", {"clip_low_threshold": 0.9, "clip_high_threshold": 1.1},
             -(a_all * lp_all).sum()),
            ("dro", {"beta": 0.1}, -(a_all * lp_all).sum())):
        got = fwd.forward(is_data, loss_fn, cfg).result().metrics["loss:sum"]
        assert abs(got - want_l) <= 1e-4 * max(1.0, abs(want_l)), (loss_fn, got, want_l)
    builtin.optim_step(types.AdamParams(learning_rate=LR)).result()
    # the SDK's custom-loss path: forward, d loss / d logprob, then
    # cross_entropy with weights = -gradient (what forward_backward_custom sends)
    custom = trainer(sc, model, seed=3)
    how = "numpy"
    try:
        import torch  # noqa: F401  (forward_backward_custom needs torch)

        def is_loss(batch, logprobs):
            total = 0
            for lp, qi, ai in zip(logprobs, q, adv):
                total = total - (torch.exp(lp - torch.tensor(qi)) * torch.tensor(ai)).sum()
            return total, {}
        custom.forward_backward_custom(data, is_loss).result()
        how = "forward_backward_custom"
    except ImportError:
        lp = [o["logprobs"].to_numpy() for o in custom.forward(data, "cross_entropy").result().loss_fn_outputs]
        grads = [-np.exp(l - qi) * ai for l, qi, ai in zip(lp, q, adv)]
        custom.forward_backward([datum(r, weights=-g) for r, g in zip(recs, grads)],
                                "cross_entropy").result()
    custom.optim_step(types.AdamParams(learning_rate=LR)).result()
    after_builtin = builtin.forward(data, "cross_entropy").result()
    after_custom = custom.forward(data, "cross_entropy").result()
    a = np.concatenate([o["logprobs"].to_numpy() for o in after_builtin.loss_fn_outputs])
    b = np.concatenate([o["logprobs"].to_numpy() for o in after_custom.loss_fn_outputs])
    moved = float(np.abs(a - np.concatenate(q)).max())
    return {"custom_vs_builtin": float(np.abs(a - b).max()), "moved": moved, "how": how}


def http(url, path, body, content_type="application/json"):
    req = urllib.request.Request(url + path, data=body, method="POST",
                                 headers={"Content-Type": content_type,
                                          "X-API-Key": "tml-tk-serve-test"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def errors(url, model, recs):
    sc = client(url)
    tc = trainer(sc, model)
    got = {}
    got["unknown_base"], _ = http(url, "/api/v1/create_model", json.dumps(
        {"session_id": "x", "model_seq_id": 9, "base_model": "no/such-model",
         "lora_config": {"rank": 4}}).encode())
    got["not_json"], _ = http(url, "/api/v1/optim_step", b"{nope")
    got["unknown_client"], _ = http(url, "/api/v1/optim_step", json.dumps(
        {"model_id": "nobody", "adam_params": {"learning_rate": 0.1}}).encode())
    got["not_protobuf"], body = http(url, "/api/v1/forward_backward", b"\xff\xff\xff",
                                     "application/x-protobuf")
    got["unknown_path"], _ = http(url, "/api/v1/no_such_call", b"{}")
    # a datum whose targets are not the inputs shifted: refused, naming it
    toks = recs[0]["tokens"]
    bad = types.Datum(model_input=types.ModelInput.from_ints(toks[:-1]),
                      loss_fn_inputs={"target_tokens": np.asarray(toks[:-1][::-1], np.int64),
                                      "weights": np.ones(len(toks) - 1, np.float32)})
    try:
        tc.forward_backward([datum(recs[0]), bad], "cross_entropy").result()
        got["bad_datum"] = "accepted"
    except Exception as e:  # the SDK raises the server's 400
        got["bad_datum"] = str(e)
    # the server still works after all that
    got["still_works"] = tc.forward([datum(recs[0])], "cross_entropy").result().metrics["loss:sum"]
    return got


def openai(url, model, recs, path, prompt_path, n):
    prompt = records(prompt_path)[0]["tokens"]
    status, comp = http(url, "/v1/completions", json.dumps(
        {"model": path, "prompt": prompt, "max_tokens": int(n), "temperature": 0,
         "stop": []}).encode())
    assert status == 200, comp
    status, chat = http(url, "/v1/chat/completions", json.dumps(
        {"model": path, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4,
         "temperature": 0}).encode())
    assert status == 200, chat
    msg = chat["choices"][0]["message"]
    assert msg["role"] == "assistant" and isinstance(msg["content"], str), chat
    status, _ = http(url, "/v1/completions", json.dumps(
        {"model": "tinker://nobody/sampler_weights/none", "prompt": "a"}).encode())
    return {"text": comp["choices"][0]["text"], "usage": comp["usage"],
            "finish": comp["choices"][0]["finish_reason"], "unknown_model": status}


def main():
    check, url, model, recs = sys.argv[1], sys.argv[2], sys.argv[3], records(sys.argv[4])
    rest = sys.argv[5:]
    fn = {"ce": ce, "train": train, "resume": resume, "rl": rl, "errors": errors,
          "openai": openai}[check]
    print(json.dumps(fn(url, model, recs, *rest)))


if __name__ == "__main__":
    main()
