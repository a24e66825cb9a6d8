"""Evaluation speed, measured side by side in one run on the default model.

1. prompts/s of `culnig.evaluation.classify` (length-ordered batches, last-position logits only) versus a naive loop
   (one prompt at a time, logits at every position, argmax of the last one); goal >= 4x.
2. the intervention's overhead: `classify` inside `intervene(...)` with a culture-general-sized set (1% of the gate neurons,
   0.2% of the attention neurons) versus no intervention; goal <= 1.05x. Runs alternate and the fastest of each is kept.

Both wall-clock and process CPU time are printed: on a shared machine the CPU-time ratio is the steadier one.

    CULNIG_DATA=... HF_HUB_OFFLINE=1 python bench/evaluation.py [--n 32] [--repeats 3]
"""
import argparse, os, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('CULNIG_PROGRESS', '0')
import torch

from culnig.data import build_prompts
from culnig.evaluation import classify
from culnig.intervention import intervene
from culnig.models import load_model
from culnig.scoring import adds_special_tokens
from culnig.sites import find_sites


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def naive(model, tok, records):
    "One prompt at a time, full logits (every position), argmax of the last position, decoded."
    preds = []
    with torch.inference_mode():
        for r in records:
            ids = tok(r['text'], add_special_tokens=adds_special_tokens(r), return_tensors='pt')['input_ids']
            logits = model(input_ids=ids).logits
            preds.append(tok.decode([int(logits[0, -1].argmax())], skip_special_tokens=True))
    return preds


def general_sized_set(sm, seed=0):
    "A random set shaped like a culture-general one: 1% of gate neurons, 0.2% of q/k/v neurons."
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, frac in (('mlp.gate_proj', 0.01), ('self_attn.q_proj', 0.002), ('self_attn.k_proj', 0.002), ('self_attn.v_proj', 0.002)):
        w = sm.widths[name]
        flat = torch.randperm(sm.n_layers * w, generator=g)[:int(frac * sm.n_layers * w)]
        for l in range(sm.n_layers):
            idx = flat[flat // w == l] % w
            if len(idx): out[(name, l)] = idx
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='smollm2-135m-instruct')
    ap.add_argument('--n', type=int, default=32, help='prompts (a mix of CommonsenseQA, CulturalBench and BLEnD)')
    ap.add_argument('--repeats', type=int, default=3, help='alternating runs for the intervention overhead')
    ap.add_argument('--batch-tokens', type=int, default=8192)
    a = ap.parse_args()
    model, tok = load_model(a.model)
    k = a.n // 3
    recs = (build_prompts('commonsenseqa', tok)[:k]
            + build_prompts('culturalbench', tok, split='heldout', limit_per_country=1)[:k]
            + build_prompts('blend', tok, split='heldout', countries=['USA', 'UK', 'China', 'Mexico'], limit_per_country=3)[:a.n - 2 * k])
    lengths = [len(tok(r['text'], add_special_tokens=adds_special_tokens(r))['input_ids']) for r in recs]
    print(f"model {a.model}; {len(recs)} prompts, {sum(lengths)} tokens (min {min(lengths)}, mean {sum(lengths)/len(lengths):.0f}, "
          f"max {max(lengths)}); torch threads {torch.get_num_threads()}")

    run = lambda: classify(model, tok, recs, batch_tokens=a.batch_tokens, show_progress=False)
    run()                                                     # warm-up (allocator, kernels)
    ref, nw, nc = timed(lambda: naive(model, tok, recs))
    res, bw, bc = timed(run)
    same = sum(p == q for p, q in zip(ref, res.prediction))
    print(f"naive loop : {nw:7.1f}s wall {nc:7.1f}s cpu  {len(recs)/nw:6.2f} prompts/s")
    print(f"batched    : {bw:7.1f}s wall {bc:7.1f}s cpu  {len(recs)/bw:6.2f} prompts/s")
    print(f"speed-up   : {nw/bw:.2f}x wall, {nc/bc:.2f}x cpu (goal >= 4x); same paper predictions on {same}/{len(recs)} prompts")

    sm = find_sites(model)
    nset = general_sized_set(sm)
    n_neurons = sum(len(v) for v in nset.values())
    times = {'none': [], 'suppress': [], 'enhance': []}
    for _ in range(a.repeats):
        for op in times:
            if op == 'none': _, w, c = timed(run)
            else:
                with intervene(model, nset, op, sitemap=sm): _, w, c = timed(run)
            times[op].append((w, c))
    best = {op: (min(t[0] for t in ts), min(t[1] for t in ts)) for op, ts in times.items()}
    print(f"intervention overhead ({n_neurons} neurons in {len(nset)} (site, layer) pairs, best of {a.repeats}):")
    for op in ('suppress', 'enhance'):
        print(f"  {op:<8}: {best[op][0]:.1f}s vs {best['none'][0]:.1f}s wall = {best[op][0]/best['none'][0]:.3f}x, "
              f"cpu {best[op][1]/best['none'][1]:.3f}x (goal <= 1.05x)")


if __name__ == '__main__':
    main()
