"""Speed and memory of `culnig.scoring` (issue 4): four ratios, measured side by side in one run.

    python bench/scoring.py            # BLEnD neuron split, first 64 prompts of each of the 8 target countries (512 prompts)
    python bench/scoring.py --quick    # 8 per country (64 prompts) and a shorter aggregation loop
    options: --threads N (torch threads; 1 is steadier on a busy machine), --batch-tokens N, --rounds N, --loop-layers K

1. culnig scoring time / a bare forward+backward of the same batches (frozen weights, gradients to the same site
   activations, logits at the last position, no aggregation): goal <= 1.10.
2. a baseline that follows the original code (weights requiring grad, `model.train()`, logits at every position,
   `retain_grad` on every site, batches of 16 in dataset order, a per-neuron Python loop into nested dicts) / culnig:
   goal >= 2.5. Also printed for scale: baseline / bare pass, the ratio a free aggregation would give.
3. aggregation alone at Gemma-3-12B shapes (48 layers; gate/up 15360, q 4096, k/v 2048; one batch of 16 x 128 tokens),
   random activations and gradients: the per-neuron Python loop / culnig's aggregation: goal >= 100. The Python loop is
   timed on the first `--loop-layers` layers and scaled to 48 (labelled). Reported for the aggregation proper (per-sample
   scores -> per-country sums: index_add_ vs `.tolist()` and the loop) and, for information, for the whole post-backward
   step (a*g, masking, max over tokens, x p, clamp, sums).
4. peak resident memory of scoring / of the bare pass, each in a fresh process over the two largest batches (the peak is
   reached within one batch); the peak is reset with /proc/self/clear_refs after the model is loaded, so it is the peak of
   the pass itself, model included: goal <= 1.2. With `--device cuda` the peak is the GPU's
   (`torch.cuda.max_memory_allocated`, reset after the model is loaded, model included).

On a GPU (`--device cuda`, issue 4's goals are stated for the 2-core CPU; the GPU rows are for information), the machine
may lack the data root and the model package: `--records FILE` reads prompt records written by `culnig prompts` (or
`bench/gpu_check.sh`), and `--model DIR` loads any model folder, e.g. one with random weights from `bench/random_model.py`
(same shapes, so the same cost; not the same scores).

Timings 1 and 2 are interleaved (see `timing`): the machine this runs on may be shared, and its load changes over minutes,
so running the three methods one after the other would measure the load as much as the code. The load average is printed.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('CULNIG_PROGRESS', '0')
GEMMA3_12B = dict(layers=48, widths={'mlp.gate_proj': 15360, 'mlp.up_proj': 15360, 'self_attn.q_proj': 4096,
                                      'self_attn.k_proj': 2048, 'self_attn.v_proj': 2048})


def _rss_kb(field: str) -> int:
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'): return int(line.split()[1])
    return -1

def _reset_peak():
    try: open('/proc/self/clear_refs', 'w').write('5'); return True
    except OSError: return False


def _records(n_per_country: int, tokenizer, path=None):
    from culnig.core import TARGET_COUNTRIES
    if path:                       # prompt records from a file: the first n of each target country, in file order
        from culnig.data import read_jsonl
        seen, out = defaultdict(int), []
        for r in read_jsonl(path):
            if r['country'] in TARGET_COUNTRIES and seen[r['country']] < n_per_country: seen[r['country']] += 1; out.append(r)
        return out
    from culnig.data import build_prompts
    return build_prompts('blend', tokenizer, split='neuron', countries=list(TARGET_COUNTRIES), limit_per_country=n_per_country)


def _sync(model):
    import torch
    if next(model.parameters()).device.type == 'cuda': torch.cuda.synchronize()


def bare_pass(model, tokenizer, records, batch_tokens):
    "The floor: the same tokenisation, batches and forward+backward as culnig, without aggregation."
    import torch
    from culnig.scoring import encode_records, plan_batches, left_pad, attribution_pass, frozen_weights, label_token_id
    from culnig.sites import find_sites
    sm = find_sites(model)
    dev = next(model.parameters()).device
    labels = torch.tensor([label_token_id(tokenizer, r['label'])[0] for r in records])
    seqs = encode_records(tokenizer, records)
    with frozen_weights(model):
        for idx in plan_batches([len(s) for s in seqs], batch_tokens):
            ids, mask = left_pad([seqs[i] for i in idx], tokenizer.pad_token_id)
            p, res = attribution_pass(model, sm, None, ids.to(dev), mask.to(dev), labels[torch.tensor(idx)])
            del res


def original_style(model, tokenizer, records, batch_size=16):
    "The original algorithm, rewritten from its description: weights with grad, train(), full logits, retain_grad, Python loop."
    import torch
    from culnig.sites import find_sites
    sm = find_sites(model)
    dev = next(model.parameters()).device
    scores = defaultdict(lambda: defaultdict(float))
    acts = {}
    def keep(path, sites, out):
        out.retain_grad(); acts[path] = (sites, out)
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags: p.requires_grad_(True)
    model.train()
    try:
        with sm.hook(keep):
            for b0 in range(0, len(records), batch_size):
                batch = records[b0:b0 + batch_size]
                enc = [tokenizer(r['text'], add_special_tokens=False)['input_ids'] for r in batch]
                T = max(map(len, enc))
                ids = torch.tensor([[tokenizer.pad_token_id] * (T - len(e)) + e for e in enc], device=dev)
                mask = torch.tensor([[0] * (T - len(e)) + [1] * len(e) for e in enc], device=dev)
                countries = [r['country'] for r in batch]
                control = torch.tensor(['control' in r['dataset'] for r in batch], device=dev)
                model.zero_grad(); acts.clear()
                logits = model(input_ids=ids, attention_mask=mask).logits[:, -1, :]
                probs = torch.softmax(logits, dim=-1)
                label_ids = torch.tensor([tokenizer.convert_tokens_to_ids(str(r['label'])) for r in batch], device=dev)
                p = probs[torch.arange(len(batch)), label_ids]
                p.sum().backward()
                for sites, out in acts.values():
                    for site in sites:
                        a, g = site.of(out), site.of(out.grad)
                        s = a * g
                        s = s.masked_fill((mask == 0).unsqueeze(-1), 0.0)
                        s = torch.max(s, dim=1).values * p.unsqueeze(1)
                        s[control] = torch.clamp(s[control], min=0.0)
                        rows = s.detach().cpu().tolist()
                        for i in range(len(rows)):
                            for n in range(len(rows[i])):
                                scores[(site.name, site.layer, n)][countries[i]] += rows[i][n]
    finally:
        model.eval()
        for p, f in flags: p.requires_grad_(f); p.grad = None
    return scores


def _setup(args):
    from culnig.models import load_model
    from culnig.scoring import encode_records, plan_batches
    model, tokenizer = load_model(args.model, device=args.device, dtype=args.dtype)
    records = _records(args.n_per_country, tokenizer, args.records)
    seqs = encode_records(tokenizer, records)
    batches = plan_batches([len(s) for s in seqs], args.batch_tokens)
    return model, tokenizer, records, seqs, batches


def _gate_total(sc: dict, n_layers: int, width: int):
    import torch
    t = torch.zeros(n_layers, width, dtype=torch.float64)
    for (name, layer, n), per in sc.items():
        if name == 'mlp.gate_proj': t[layer, n] = sum(per.values())
    return t


def timing(args) -> dict:
    """Wall time of the three methods over the same prompts, interleaved: the prompts are cut into rounds and each round runs
    bare, culnig and the original-style baseline one after the other (rotating who goes first), so that changes in the load
    of a shared machine hit all three alike. culnig's chunks follow its own length-ordered batches (so each chunk is batched as
    in one whole run, and every call pays score_prompts' set-up again); the baseline's chunks are consecutive groups of 16
    prompts in dataset order."""
    import torch
    from culnig.scoring import score_prompts
    from culnig.sites import find_sites
    model, tokenizer, records, seqs, batches = _setup(args)
    sm = find_sites(model)
    R = max(1, min(args.rounds, len(batches)))
    ours = [[records[i] for b in batches[r * len(batches) // R:(r + 1) * len(batches) // R] for i in b] for r in range(R)]
    n16 = -(-len(records) // 16)
    orig = [records[16 * (r * n16 // R):16 * ((r + 1) * n16 // R)] for r in range(R)]
    t = dict(bare=0.0, culnig=0.0, original=0.0)
    g_c = torch.zeros(sm.n_layers, sm.widths['mlp.gate_proj'])
    g_o = torch.zeros(sm.n_layers, sm.widths['mlp.gate_proj'], dtype=torch.float64)
    kinds = ['bare', 'culnig', 'original']
    for r in range(R):
        for kind in kinds[r % 3:] + kinds[:r % 3]:
            _sync(model); t0 = time.perf_counter()
            if kind == 'bare': bare_pass(model, tokenizer, ours[r], args.batch_tokens)
            elif kind == 'culnig':
                sc = score_prompts(model, tokenizer, ours[r], batch_tokens=args.batch_tokens, show_progress=False)
            else: so = original_style(model, tokenizer, orig[r])
            _sync(model); t[kind] += time.perf_counter() - t0
        g_c += sc.get('blend', 'mlp.gate_proj').sum(0)
        g_o += _gate_total(so, sm.n_layers, sm.widths['mlp.gate_proj'])
    slack = 1e-4 * float(g_c.abs().max())
    return dict(seconds=t, n=len(records), rounds=R, n_batches=len(batches),
                consistent=bool((g_o.float() >= g_c - slack).all()))


def memory(kind: str, args) -> dict:
    "Peak resident memory of one method over the largest batches (the peak is per batch), in a fresh process."
    from culnig.scoring import score_prompts
    model, tokenizer, records, seqs, batches = _setup(args)
    big = sorted(batches, key=lambda b: -len(b) * max(len(seqs[i]) for i in b))[:2]
    recs = [records[i] for b in big for i in b]
    import gc, torch; gc.collect()
    tokens = max(len(b) * max(len(seqs[i]) for i in b) for b in big)
    run = lambda: (bare_pass(model, tokenizer, recs, args.batch_tokens) if kind == 'bare' else
                   score_prompts(model, tokenizer, recs, batch_tokens=args.batch_tokens, show_progress=False))
    if args.device == 'cuda':                  # the GPU's peak, model included
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
        run(); torch.cuda.synchronize()
        return dict(kind=kind, rss_before_mb=base, peak_mb=torch.cuda.max_memory_allocated() / 2**20, peak_reset=True, tokens=tokens)
    ok = _reset_peak()
    base = _rss_kb('VmRSS')
    run()
    return dict(kind=kind, rss_before_mb=base / 1024, peak_mb=_rss_kb('VmHWM') / 1024 if ok else None, peak_reset=ok,
                tokens=tokens)


def aggregation(args) -> dict:
    "Aggregation alone at Gemma-3-12B shapes: culnig's vectorised step vs the original per-neuron loop."
    import torch
    from culnig.scoring import accumulate, max_token_scores, sample_scores, Workspace
    from culnig.sites import Site
    torch.manual_seed(0)
    B, T, L, C = 16, 128, GEMMA3_12B['layers'], 16
    widths = GEMMA3_12B['widths']
    pads = torch.randint(0, 24, (B,)); pads[0] = 0
    real = torch.arange(T)[None, :] >= pads[:, None]
    p = torch.rand(B)
    group = torch.randint(0, C, (B,))
    clamp = torch.zeros(B, dtype=torch.bool)
    countries = [f'c{int(i)}' for i in group]
    mod_w = {'mlp': widths['mlp.gate_proj'], 'self_attn.q_proj': widths['self_attn.q_proj'],
             'self_attn.k_proj': widths['self_attn.k_proj'], 'self_attn.v_proj': widths['self_attn.v_proj']}
    data = {k: (torch.randn(B, T, w), torch.randn(B, T, w)) for k, w in mod_w.items()}   # reused by every layer
    def sites_of(layer):
        out = []
        for k in mod_w:
            names = ('mlp.gate_proj', 'mlp.up_proj') if k == 'mlp' else (k,)
            out.append([Site(n, layer, f'layers.{layer}.{n}', None, 0, widths[n]) for n in names])
        return out
    # culnig, whole step: a*g, mask, max, x p, clamp, index_add_ (gate and up read the same tensors here, as two modules would)
    acc = {n: torch.zeros(C, L, w) for n, w in widths.items()}
    work = Workspace()   # as score_prompts does: one product buffer reused by every site and batch
    t0 = time.perf_counter()
    for layer in range(L):
        res = []
        for k, sites in zip(mod_w, sites_of(layer)):
            for s in sites: res.append(([s], *data[k]))
        accumulate(acc, res, real, p, group, clamp, work=work)
    t_culnig_step = time.perf_counter() - t0
    # the per-sample scores alone (shared tensor part), to split the step
    s_rows = {}
    t0 = time.perf_counter()
    for k in mod_w:
        a, g = data[k]
        s_rows[k] = sample_scores(max_token_scores(a, g, real, pad_as_zero=True, work=work), p, clamp)
    t_scores_one_layer = time.perf_counter() - t0
    # culnig aggregation proper: per-sample scores -> per-country sums, all layers
    acc2 = {n: torch.zeros(C, L, w) for n, w in widths.items()}
    t0 = time.perf_counter()
    for layer in range(L):
        for n in widths:
            k = 'mlp' if n.startswith('mlp') else n
            acc2[n][:, layer].index_add_(0, group, s_rows[k])
    t_culnig_agg = time.perf_counter() - t0
    # the original: per site and layer, tensor ops then .tolist() and a loop over every sample and neuron
    K = min(args.loop_layers, L)
    scores = defaultdict(lambda: defaultdict(float))
    t_loop_only = 0.0
    t0 = time.perf_counter()
    for layer in range(K):
        for n in widths:
            k = 'mlp' if n.startswith('mlp') else n
            a, g = data[k]
            s = (a * g).masked_fill(~real[..., None], 0.0)
            s = torch.max(s, dim=1).values * p.unsqueeze(1)
            s[clamp] = torch.clamp(s[clamp], min=0.0)
            t1 = time.perf_counter()
            rows = s.detach().cpu().tolist()
            for i in range(len(rows)):
                for j in range(len(rows[i])):
                    scores[(n, layer, j)][countries[i]] += rows[i][j]
            t_loop_only += time.perf_counter() - t1
    t_orig_step = (time.perf_counter() - t0) * L / K
    t_loop_only *= L / K
    # check that the loop and index_add_ agree on the layers the loop did
    c0 = countries[0]; row = int(group[0]); n = 'self_attn.k_proj'
    got = torch.tensor([scores[(n, 0, j)][c0] for j in range(widths[n])], dtype=torch.float32)
    assert torch.allclose(got, acc2[n][row, 0], rtol=1e-4, atol=1e-4), 'loop and index_add_ disagree'
    return dict(t_culnig_step=t_culnig_step, t_culnig_agg=t_culnig_agg, t_scores_one_layer=t_scores_one_layer,
                t_orig_step=t_orig_step, t_loop_only=t_loop_only, loop_layers=K, layers=L)


def _run(kind, args):
    cmd = [sys.executable, __file__, '--worker', kind, '--n-per-country', str(args.n_per_country),
           '--batch-tokens', str(args.batch_tokens), '--loop-layers', str(args.loop_layers), '--rounds', str(args.rounds), '--tmp', args.tmp,
           '--model', args.model, '--device', args.device] + (['--records', args.records] if args.records else []) + \
          (['--dtype', args.dtype] if args.dtype else [])
    if args.threads: cmd += ['--threads', str(args.threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr); raise SystemExit(f'worker {kind} failed')
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='8 prompts per country, 2 layers of the Python loop')
    ap.add_argument('--n-per-country', type=int, default=None)
    from culnig.scoring import DEFAULT_BATCH_TOKENS
    ap.add_argument('--batch-tokens', type=int, default=DEFAULT_BATCH_TOKENS)
    ap.add_argument('--rounds', type=int, default=8, help='interleaved timing rounds (default: %(default)s)')
    ap.add_argument('--loop-layers', type=int, default=None, help='layers of the Gemma-3-12B Python loop actually timed (then scaled to 48)')
    ap.add_argument('--threads', type=int, default=None, help='torch threads in every measurement (default: torch\'s default)')
    ap.add_argument('--model', default='smollm2-135m-instruct', help='embedded model name or model folder (default: %(default)s)')
    ap.add_argument('--device', default='cpu', choices=('cpu', 'cuda'), help='where the model runs (default: %(default)s)')
    ap.add_argument('--dtype', default=None, help="model dtype (default: culnig's, float32 on the CPU, bfloat16 on a GPU)")
    ap.add_argument('--records', default=None, help='prompt records (JSONL, `culnig prompts` format) instead of building BLEnD from the data root')
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    ap.add_argument('--tmp', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.n_per_country is None: args.n_per_country = 8 if args.quick else 64
    if args.loop_layers is None: args.loop_layers = 2 if args.quick else 6
    if args.threads:
        import torch; torch.set_num_threads(args.threads)
    if args.worker:
        if args.worker == 'aggregation': out = aggregation(args)
        elif args.worker == 'timing': out = timing(args)
        else: out = memory(args.worker.split('-', 1)[1], args)
        print(json.dumps(out)); return
    import torch
    tmp = tempfile.TemporaryDirectory(); args.tmp = tmp.name
    load0 = os.getloadavg()
    dev = torch.cuda.get_device_name(0) if args.device == 'cuda' else f'{os.cpu_count()} cpus'
    print(f'bench/scoring.py: {args.model} on {args.device} ({dev}, dtype {args.dtype or "default"}), BLEnD neuron split, first '
          f'{args.n_per_country} prompts of each of the 8 target countries{" from " + args.records if args.records else ""}; '
          f'batch_tokens={args.batch_tokens}; torch {torch.__version__}, {torch.get_num_threads()} threads; load average before '
          f'{load0[0]:.2f} (this machine may be shared with other jobs).')
    res = {}
    for kind in ('timing', 'mem-bare', 'mem-culnig', 'aggregation'):
        t0 = time.time(); res[kind] = _run(kind, args)
        print(f'  {kind:12s} done in {time.time() - t0:.1f} s wall (load average now {os.getloadavg()[0]:.2f})', flush=True)
    tm, mb, mc, a = res['timing'], res['mem-bare'], res['mem-culnig'], res['aggregation']
    b, c, o = tm['seconds']['bare'], tm['seconds']['culnig'], tm['seconds']['original']
    n = tm['n']
    print(f"\n  prompts: {n} in {tm['n_batches']} length-ordered batches, timed in {tm['rounds']} interleaved rounds")
    print(f"  bare pass {b:.1f} s ({n / b:.2f} prompts/s); culnig {c:.1f} s ({n / c:.2f} prompts/s); original-style {o:.1f} s ({n / o:.2f} prompts/s)")
    print(f"  original-style gate_proj sums >= culnig's everywhere (padding counted as 0 vs excluded): {tm['consistent']}")
    print(f"  peak {'GPU memory' if args.device == 'cuda' else 'RSS'} over the {mb['tokens']}-token batches (model included): bare {mb['peak_mb']:.0f} MB, culnig {mc['peak_mb']:.0f} MB "
          f"(RSS before the pass: {mb['rss_before_mb']:.0f} / {mc['rss_before_mb']:.0f} MB)")
    print(f"  Gemma-3-12B shapes, 16 x 128 tokens, 48 layers: culnig aggregation (index_add_) {a['t_culnig_agg'] * 1e3:.1f} ms; "
          f"culnig whole step {a['t_culnig_step']:.2f} s; per-neuron Python loop {a['t_loop_only']:.2f} s and original whole step "
          f"{a['t_orig_step']:.2f} s [loop timed on {a['loop_layers']} of 48 layers, scaled x{48 / a['loop_layers']:.0f}]")
    ratios = [
        ('culnig scoring / bare forward+backward', c / b, '<= 1.10', c / b <= 1.10),
        ('original-style baseline / culnig', o / c, '>= 2.5', o / c >= 2.5),
        ('  (for scale: original-style baseline / bare pass, the best any aggregation could give)', o / b, '(info)', None),
        ('aggregation: per-neuron Python loop / culnig index_add_ (loop scaled)', a['t_loop_only'] / a['t_culnig_agg'], '>= 100',
         a['t_loop_only'] / a['t_culnig_agg'] >= 100),
        ('  whole post-backward step: original / culnig (loop scaled)', a['t_orig_step'] / a['t_culnig_step'], '(info)', None),
        ('peak memory: culnig / bare pass', mc['peak_mb'] / mb['peak_mb'], '<= 1.2', mc['peak_mb'] / mb['peak_mb'] <= 1.2),
    ]
    print('\n  ratio' + ' ' * 84 + 'value   goal     met')
    for name, v, goal, met in ratios:
        print(f"  {name:<88s} {v:7.2f}  {goal:8s} {'' if met is None else ('yes' if met else 'NO')}")
    print(f'  load average after: {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
