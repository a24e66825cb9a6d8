"""Cost of each neuron-identification method (culnig.methods) on the same prompts, side by side in one run.

Prompts: BLEnD and BLEnD-control identification split, the first N of each of a few target countries, default model, CPU.
Prints seconds per prompt (wall and process CPU) for every method and its ratio to 'culnig' (gradient x activation),
the paper's method; every method scores the same sites (gate, q, k, v: the ones selection uses).
usage: python bench/methods.py [--per-country N] [--countries ...] [--steps S] [--methods ...]
"""
import argparse, os, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from culnig.models import load_model
from culnig.data import build_prompts
from culnig.methods import run_method, METHODS

ap = argparse.ArgumentParser()
ap.add_argument('--model', default='smollm2-135m-instruct')
ap.add_argument('--per-country', type=int, default=8)
ap.add_argument('--countries', nargs='+', default=['USA', 'China'])
ap.add_argument('--steps', type=int, default=16)
ap.add_argument('--methods', nargs='+', default=list(METHODS))
ap.add_argument('--repeat', type=int, default=1, help='run the cheap methods this many times and keep the fastest')
args = ap.parse_args()

model, tok = load_model(args.model)
records = []
for d in ('blend', 'blendcontrol'):
    recs = build_prompts(d, tok, split='neuron', countries=args.countries)
    seen = {}
    for r in recs:
        if seen.get(r['country'], 0) < args.per_country:
            records.append(r); seen[r['country']] = seen.get(r['country'], 0) + 1
n_tok = sum(len(tok(r['text'], add_special_tokens=False)['input_ids']) for r in records)
print(f"model {args.model}, {len(records)} prompts ({n_tok / len(records):.0f} tokens on average), torch threads {torch.get_num_threads()}")
res = {}
for name in args.methods:
    kw = dict(show_progress=False, sites=('mlp.gate_proj', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj'))
    if name == 'ig': kw['steps'] = args.steps
    best = None
    for _ in range(1 if name == 'ig' else args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        run_method(name, model, tok, records, **kw)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        best = (dt, dc) if best is None or dt < best[0] else best
    res[name] = (best[0] / len(records), best[1] / len(records))
base = res.get('culnig')
print('wall = elapsed seconds; cpu = process CPU seconds (all threads), steadier on a shared machine')
for name, (w, c) in res.items():
    extra = f"  ({w / base[0]:.2f} x culnig wall, {c / base[1]:.2f} x culnig cpu)" if base else ''
    print(f"{name:8s} wall {w:.3f} s/prompt  cpu {c:.3f} s/prompt{extra}" + (f"  [steps={args.steps}]" if name == 'ig' else ''))
