"""Cost of each neuron-identification method (culnig.methods) on the same prompts, side by side in one run.

Prompts: BLEnD and BLEnD-control identification split, the first N of each of a few target countries, default model, CPU.
Prints seconds per prompt for every method and its ratio to 'culnig' (gradient x activation), the paper's method.
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
    kw = dict(show_progress=False)
    if name == 'ig': kw['steps'] = args.steps
    best = None
    for _ in range(1 if name == 'ig' else args.repeat):
        t0 = time.perf_counter(); run_method(name, model, tok, records, **kw); dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    res[name] = best / len(records)
base = res.get('culnig')
for name, s in res.items():
    extra = f"  ({s / base:.2f} x culnig)" if base else ''
    print(f"{name:8s} {s:.4f} s/prompt{extra}" + (f"  [steps={args.steps}]" if name == 'ig' else ''))
