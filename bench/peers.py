"""culnig's scoring against the tools a researcher would use instead (issue 20), side by side in one process.

    python bench/peers.py                 # BLEnD + BLEnD-control, neuron split, 1 prompt per dataset and country of the first 4 target countries
    python bench/peers.py --per-country 2 --countries 8 --rounds 5
    options: --per-country N, --countries N, --rounds N (interleaved timing rounds, default 2), --threads N, --batch-tokens N,
             --peers culnig captum nnsight original (which to run), --json PATH

Every peer computes the SAME per-country neuron scores as `culnig.scoring.score_prompts` on the default model: for each
prompt, p = the probability of the label token at the last prompt position, and for every neuron of the five sites
(gate_proj, up_proj, q_proj, k_proj, v_proj outputs of every layer) the score p * max over the prompt's real tokens of
activation * d p / d activation (control prompts clamped at 0), summed per dataset and country.

- culnig: `culnig.scoring.score_prompts` with its defaults.
- captum 0.9 (`captum.attr.LayerGradientXActivation` over the same 150 modules): it returns activation * gradient per
  token; the masking of padded positions, the max over tokens, the weighting by p, the clamp and the per-country sums are
  written here with plain torch (captum has no notion of any of them). It is given culnig's batches, the same forward
  (position ids from the first real token, logits at the last position only) and frozen weights, so the work is the same.
- nnsight 0.8 (`LanguageModel.trace` with `with p.sum().backward():` reading `.grad` of the saved module outputs): the same
  batches, forward and aggregation as captum. nnsight cannot trace gradients through a frozen model ("a forward that
  carried no gradient tracking has no graph"), so the embedding output is made to require grad inside the trace, which is
  what culnig does too.
- original: `original_style` of bench/scoring.py (imported, not copied), which follows the original code: weights with
  grad, `model.train()`, logits at every position, `retain_grad`, batches of 16 in dataset order, HF's default position ids,
  padding counted as 0 before the max, and a per-neuron Python loop into nested dicts summed over all datasets. Its
  scores therefore equal culnig's with `pad_as_zero=True` (culnig's documented option for the original's padding rule),
  summed over the datasets; that is what it is checked against. Its default position ids shift each left-padded prompt's
  positions by a constant, which rotary embeddings do not see beyond float rounding.

Before any timing, every peer's scores are compared with culnig's: the largest absolute difference of every
[country, layer, neuron] table must be within `--rtol` (default 1e-4) of that table's largest magnitude (the original:
`--rtol-original`, 5e-4, because of its position ids; measured 9.2e-5 at 8 prompts). Then the peers
run `--rounds` times in rotating order (so a change in the load of a shared machine hits all alike); per peer the sums
of wall-clock and process CPU time over the rounds, and the largest peak resident memory of its runs (model included;
the peak is reset with /proc/self/clear_refs before each run), are divided by culnig's. The load average is printed.
"""
from __future__ import annotations
import argparse, importlib.util, json, os, platform, sys, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('CULNIG_PROGRESS', '0')
HERE = Path(__file__).resolve().parent
PEERS = ('culnig', 'captum', 'nnsight', 'original')


def _bench_scoring():
    "bench/scoring.py as a module (for `original_style`): imported, not copied."
    spec = importlib.util.spec_from_file_location('bench_scoring', HERE / 'scoring.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def _rss_kb(field: str) -> int:
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'): return int(line.split()[1])
    return -1

def _reset_peak() -> bool:
    try: open('/proc/self/clear_refs', 'w').write('5'); return True
    except OSError: return False


# ---------------------------------------------------------------------------------------------------------------------
# What captum and nnsight leave to the user: the batches' tensors and the aggregation, in plain torch

class Job:
    "The prompts, culnig's batches of them, and per prompt: label id, row (dataset x country) and control flag."
    def __init__(self, model, tokenizer, records, batch_tokens):
        import torch
        from culnig.scoring import encode_records, plan_batches, label_token_id, pad_token_id
        from culnig.sites import find_sites
        self.model, self.tokenizer, self.records = model, tokenizer, records
        self.sm = find_sites(model)
        self.datasets = list(dict.fromkeys(r['dataset'] for r in records))
        from culnig.core import PAPER_COUNTRIES
        present = set(r['country'] for r in records)
        self.countries = [c for c in PAPER_COUNTRIES if c in present]
        C = len(self.countries)
        self.seqs = encode_records(tokenizer, records)
        self.batches = plan_batches([len(s) for s in self.seqs], batch_tokens)
        self.labels = torch.tensor([label_token_id(tokenizer, r['label'])[0] for r in records])
        self.group = torch.tensor([self.datasets.index(r['dataset']) * C + self.countries.index(r['country']) for r in records])
        self.clamp = torch.tensor([r['dataset'].endswith('control') for r in records])
        self.pad_id = pad_token_id(tokenizer)
        # the modules holding sites, in forward order (q, k, v, then gate, up, layer after layer)
        order = {path: i for i, (path, _) in enumerate(model.named_modules())}
        self.modules = sorted(self.sm.by_module().items(), key=lambda kv: order[kv[0]])

    def tensors(self, idx):
        "(input_ids, attention_mask, position_ids) of one batch, left-padded; positions count from the first real token."
        import torch
        T = max(len(self.seqs[i]) for i in idx)
        ids = torch.full((len(idx), T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), T), dtype=torch.long)
        for j, i in enumerate(idx):
            ids[j, T - len(self.seqs[i]):] = torch.tensor(self.seqs[i]); mask[j, T - len(self.seqs[i]):] = 1
        return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)

    def new_acc(self):
        import torch
        return {n: torch.zeros(len(self.datasets) * len(self.countries), self.sm.n_layers, w) for n, w in self.sm.widths.items()}

    def add(self, acc, site, ag, real, p, idx):
        "Per-country sums of p * (max over real tokens of a*g), control rows clamped at 0."
        import torch
        x = site.of(ag).detach().float().masked_fill(~real[..., None], float('-inf')).amax(1) * p[:, None]
        ix = torch.tensor(idx)
        x = torch.where(self.clamp[ix][:, None], x.clamp(min=0), x)
        acc[site.name][:, site.layer].index_add_(0, self.group[ix], x)

    def as_tables(self, acc) -> dict:
        "{(dataset, site): [countries, layers, width]}"
        C = len(self.countries)
        return {(d, n): acc[n][k * C:(k + 1) * C] for k, d in enumerate(self.datasets) for n in acc}


def _forward_p(model, ids, mask, pos, labels):
    "The label probability at the last position (the forward every peer is given)."
    import torch
    logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False, logits_to_keep=1).logits[:, -1].float()
    return torch.softmax(logits, -1).gather(1, labels[:, None])[:, 0]


# ---------------------------------------------------------------------------------------------------------------------
# The peers. Each returns {(dataset, site): [countries, layers, width]} (the original: {(None, site): ...}, all datasets).

def run_culnig(job: Job, **kw) -> dict:
    from culnig.scoring import score_prompts
    sc = score_prompts(job.model, job.tokenizer, job.records, countries=job.countries, show_progress=False, **kw)
    return {(d, n): sc.get(d, n) for d in sc.datasets for n in sc.sites}


def run_captum(job: Job) -> dict:
    import torch
    from captum.attr import LayerGradientXActivation
    from culnig.scoring import frozen_weights
    store = {}
    def forward(ids, mask, pos, labels):
        p = _forward_p(job.model, ids, mask, pos, labels); store['p'] = p.detach(); return p
    mods = [m for _, (m, _) in job.modules]
    lgxa = LayerGradientXActivation(forward, mods)
    acc = job.new_acc()
    with frozen_weights(job.model):
        for idx in job.batches:
            ids, mask, pos = job.tensors(idx)
            attrs = lgxa.attribute(ids, additional_forward_args=(mask, pos, job.labels[torch.tensor(idx)]))
            real = mask.bool()
            for (path, (m, sites)), ag in zip(job.modules, attrs):
                for s in sites: job.add(acc, s, ag, real, store['p'], idx)
            del attrs
    return job.as_tables(acc)


def _envoy(lm, path: str):
    x = lm
    for part in path.split('.'): x = x[int(part)] if part.isdigit() else getattr(x, part)
    return x


def run_nnsight(job: Job, lm=None) -> dict:
    import torch
    from culnig.scoring import frozen_weights
    acc = job.new_acc()
    with frozen_weights(job.model):
        for idx in job.batches:
            ids, mask, pos = job.tensors(idx)
            labels = job.labels[torch.tensor(idx)]
            acts, grads, out = {}, {}, {}
            with lm.trace(dict(input_ids=ids, attention_mask=mask, position_ids=pos), use_cache=False, logits_to_keep=1):
                lm.model.embed_tokens.output.requires_grad_(True)      # a frozen model has no graph otherwise
                for path, _ in job.modules: acts[path] = _envoy(lm, path).output
                logits = lm.lm_head.output[:, -1].float()
                p = torch.softmax(logits, -1).gather(1, labels[:, None])[:, 0]
                out['p'] = p.detach()
                with p.sum().backward():                               # gradients in reverse-forward order
                    for path, _ in reversed(job.modules): grads[path] = acts[path].grad
            real = mask.bool()
            for path, (m, sites) in job.modules:
                ag = acts[path].detach() * grads[path]
                for s in sites: job.add(acc, s, ag, real, out['p'], idx)
    return job.as_tables(acc)


def run_original(job: Job, original_style=None) -> dict:
    import torch
    sc = original_style(job.model, job.tokenizer, job.records)
    acc = {n: torch.zeros(len(job.countries), job.sm.n_layers, w, dtype=torch.float64) for n, w in job.sm.widths.items()}
    for (name, layer, n), per in sc.items():
        for c, v in per.items(): acc[name][job.countries.index(c), layer, n] = v
    return {(None, n): t.float() for n, t in acc.items()}


# ---------------------------------------------------------------------------------------------------------------------

def compare(got: dict, ref: dict, rtol: float) -> tuple[bool, float, str]:
    "Largest (max |difference| / max |ref|) over the tables, and whether every table is within rtol."
    worst, where = 0.0, ''
    assert ref and all(float(r.abs().max()) > 0 for r in ref.values()), 'culnig scores are all zero: nothing to compare'
    assert set(got) == set(ref), (sorted(got), sorted(ref))
    for k, r in ref.items():
        g = got[k]
        err = float((g - r).abs().max()) / max(float(r.abs().max()), 1e-30)
        if err > worst: worst, where = err, f'{k[0] or "all datasets"}/{k[1]}'
    return worst <= rtol, worst, where


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--per-country', type=int, default=1, help='prompts per dataset and target country (default: %(default)s)')
    ap.add_argument('--datasets', nargs='+', default=['blend', 'blendcontrol'])
    ap.add_argument('--countries', type=int, default=4, help='the first N of the 8 target countries (default: %(default)s)')
    ap.add_argument('--rounds', type=int, default=2, help='interleaved timing rounds (default: %(default)s)')
    ap.add_argument('--threads', type=int, help="torch threads (default: torch's)")
    ap.add_argument('--batch-tokens', type=int, help="culnig's batch budget, also used for captum's and nnsight's batches (default: culnig's)")
    ap.add_argument('--peers', nargs='+', default=list(PEERS), choices=PEERS)
    ap.add_argument('--rtol', type=float, default=1e-4, help='tolerance of the equality check (default: %(default)s)')
    ap.add_argument('--rtol-original', type=float, default=5e-4,
                    help="the original's tolerance: its HF default position ids put other angles into the rotary "
                         "embeddings, and the rounding differs by up to about 1e-4 of the largest score (default: %(default)s)")
    ap.add_argument('--json', help='also write the figures to this JSON file')
    args = ap.parse_args()
    import torch
    if args.threads: torch.set_num_threads(args.threads)
    from culnig.core import TARGET_COUNTRIES
    from culnig.data import build_prompts
    from culnig.models import load_model
    from culnig import scoring as cs
    load0 = os.getloadavg()
    model, tok = load_model('smollm2-135m-instruct', device='cpu')
    records = []
    for d in args.datasets:
        records += build_prompts(d, tok, split='neuron', countries=list(TARGET_COUNTRIES[:args.countries]),
                                 limit_per_country=args.per_country)
    bt = args.batch_tokens or cs.resolve_batch_tokens(model, 'auto')    # culnig's default budget
    job = Job(model, tok, records, bt)
    n_tok = sum(map(len, job.seqs))
    versions = {'torch': torch.__version__}
    runners = {'culnig': lambda: run_culnig(job, batch_tokens=bt)}
    missing = {}
    if 'captum' in args.peers:
        try:
            import captum; versions['captum'] = captum.__version__; runners['captum'] = lambda: run_captum(job)
        except ImportError as e: missing['captum'] = f'not installed ({e}); `pip install -c constraints.txt -e .[bench]`'
    if 'nnsight' in args.peers:
        try:
            import warnings, nnsight; from nnsight import LanguageModel
            warnings.filterwarnings('ignore', message='LanguageModel is deprecated')   # 0.8's TransformersModel loads by repo id
            versions['nnsight'] = getattr(nnsight, '__version__', '?')
            lm = LanguageModel(model, tokenizer=tok)
            runners['nnsight'] = lambda: run_nnsight(job, lm)
        except ImportError as e: missing['nnsight'] = f'not installed ({e}); `pip install -c constraints.txt -e .[bench]`'
    if 'original' in args.peers:
        orig = _bench_scoring().original_style
        runners['original'] = lambda: run_original(job, orig)
    runners = {k: v for k, v in runners.items() if k == 'culnig' or k in args.peers}
    print(f"bench/peers.py: smollm2-135m-instruct (float32, CPU), {len(records)} prompts ({', '.join(args.datasets)}, neuron "
          f"split, {args.per_country} per dataset and country of the first {args.countries} target countries), {n_tok} tokens, {len(job.batches)} batches of at most "
          f"{bt} tokens; {os.cpu_count()} cpus ({platform.processor() or platform.machine()}), torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; versions {versions}; load average before "
          f"{load0[0]:.2f} (this machine may be shared with other jobs)", flush=True)
    for k, why in missing.items(): print(f"  {k}: skipped, {why}")

    # 1. the same scores, checked before any timing (these runs are also the warm-up)
    ref = runners['culnig']()
    ref_orig = None
    checks = {}
    for k, fn in runners.items():
        if k == 'culnig': continue
        t0 = time.perf_counter(); got = fn()
        if k == 'original':
            po = run_culnig(job, batch_tokens=bt, pad_as_zero=True)
            want = {(None, n): sum(po[d, n] for d in job.datasets) for n in job.sm.names}
        else: want = ref
        ok, err, where = compare(got, want, args.rtol_original if k == 'original' else args.rtol)
        checks[k] = dict(ok=ok, max_rel_err=err, where=where,
                         against='culnig pad_as_zero=True, summed over datasets' if k == 'original' else 'culnig defaults')
        print(f"  equal scores: {k:8s} vs {checks[k]['against']}: max |diff| / max |culnig| = {err:.2e} ({where or 'bitwise equal'}) "
              f"<= {args.rtol_original if k == 'original' else args.rtol:g}: {'yes' if ok else 'NO'}  [{time.perf_counter() - t0:.0f} s]", flush=True)
    bad = [k for k, c in checks.items() if not c['ok']]
    if bad: raise SystemExit(f"bench/peers.py: {', '.join(bad)} do not compute culnig's scores; nothing was timed.")

    # 2. timing, interleaved
    names = list(runners)
    T = {k: dict(wall=0.0, cpu=0.0, peak_mb=0.0, runs=[]) for k in names}
    can_peak = _reset_peak()
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for k in order:
            import gc; gc.collect(); _reset_peak()
            w, c = time.perf_counter(), time.process_time()
            runners[k]()
            w, c = time.perf_counter() - w, time.process_time() - c
            peak = _rss_kb('VmHWM') / 1024 if can_peak else float('nan')
            T[k]['wall'] += w; T[k]['cpu'] += c; T[k]['peak_mb'] = max(T[k]['peak_mb'], peak); T[k]['runs'].append((w, c, peak))
            print(f"    round {r + 1} {k:8s}: wall {w:7.1f} s, CPU {c:7.1f} s, peak {peak:6.0f} MB", flush=True)
        print(f"  round {r + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.2f})", flush=True)
    load1 = os.getloadavg()
    base = T['culnig']
    print(f"\n  {'peer':10s} {'wall s':>8s} {'CPU s':>8s} {'peak MB':>8s}   {'wall ÷ culnig':>13s} {'CPU ÷ culnig':>12s} {'peak ÷ culnig':>13s}")
    for k in names:
        t = T[k]
        print(f"  {k:10s} {t['wall']:8.1f} {t['cpu']:8.1f} {t['peak_mb']:8.0f}   {t['wall'] / base['wall']:13.2f} "
              f"{t['cpu'] / base['cpu']:12.2f} {t['peak_mb'] / base['peak_mb']:13.2f}")
    print(f"  (sums over {args.rounds} rounds; peak = largest resident set of a run, model included"
          f"{'' if can_peak else ', NOT reset between runs: /proc/self/clear_refs not writable'}); "
          f"load average after {load1[0]:.2f} / {load1[1]:.2f} / {load1[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(prompts=len(records), tokens=n_tok, batch_tokens=bt, versions=versions,
                                                   checks=checks, timing=T, load_before=load0, load_after=load1,
                                                   missing=missing, threads=torch.get_num_threads()), indent=1))


if __name__ == '__main__':
    main()
