"""Selection speed and score-file size at paper scale (issue 5).

Random score tables shaped like Gemma-3-12B (48 layers; gate 15360; q 4096, k 2048, v 2048; 16 countries;
datasets blend, blendcontrol, countryrc with CountryRC covering the 8 target countries) are saved as a score folder
and loaded back. Timed side by side in this run:

- culnig: `select_general` + `select_specific` for the 8 target countries (defaults of the paper);
- baseline: the original code's approach (score dicts keyed "<site>_<layer>_<neuron>" -> {country: score}, summed and
  sorted with Python's `sorted`), written here from the description of the original algorithm. Building those dicts for
  all 1.13 M neurons x 16 countries x 3 datasets needs several GB, so the baseline runs on the first
  `--baseline-layers` layers and its time is scaled by the neuron ratio (a linear scale under-estimates an n log n sort,
  so the printed full-scale ratio is conservative). culnig is also timed on the same fraction: that ratio is measured
  directly.

Usage: python bench/selection.py [--layers 48] [--baseline-layers 6] [--repeat 3]
"""
from __future__ import annotations
import argparse, json, math, os, sys, tempfile, time
from collections import defaultdict
from pathlib import Path

import torch

from culnig.core import PAPER_COUNTRIES, TARGET_COUNTRIES
from culnig.scorefile import Scores, load_scores, score_key
from culnig.selection import select_general, select_specific

WIDTHS = {'mlp.gate_proj': 15360, 'self_attn.q_proj': 4096, 'self_attn.k_proj': 2048, 'self_attn.v_proj': 2048}
N_SAMPLES = {'blend': 3000, 'blendcontrol': 3000, 'countryrc': 200}


def random_table(n_layers: int, seed: int = 0) -> Scores:
    g = torch.Generator().manual_seed(seed)
    countries = list(PAPER_COUNTRIES)
    crc_rows = torch.tensor([c in TARGET_COUNTRIES for c in countries])
    tensors = {}
    for d in N_SAMPLES:
        for s, w in WIDTHS.items():
            x = torch.randn(len(countries), n_layers, w, generator=g)
            if d == 'blendcontrol': x = x.clamp(min=0)
            if d == 'countryrc': x[~crc_rows] = 0
            tensors[score_key(d, s)] = x
    datasets = {d: dict(n_samples=n, n_per_country={c: n // 16 for c in (TARGET_COUNTRIES if d == 'countryrc' else countries)},
                        sum_p={c: 1.0 for c in countries}, sample_ids=[f'{d}-{i}' for i in range(n)]) for d, n in N_SAMPLES.items()}
    meta = dict(model={'name': 'random-gemma-3-12b-shape'}, countries=countries, n_layers=n_layers, sites=WIDTHS, datasets=datasets)
    return Scores(tensors, meta)


def culnig_select(scores: Scores):
    general = select_general(scores)
    specific = {c: select_specific(scores, c) for c in TARGET_COUNTRIES}
    return general, specific


# --- baseline: the original's dict-of-strings approach -----------------------------------------------------------------

def to_dicts(scores: Scores) -> dict:
    "{dataset: {'<site>_<layer>_<neuron>': {country: score}}} in the original's key order (layer, q/k/v/gate, neuron)."
    out = {}
    countries = scores.countries
    order = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'mlp.gate_proj']
    for d in scores.datasets:
        keep = [i for i, c in enumerate(countries) if c in scores.dataset_countries(d)]
        names = [countries[i] for i in keep]
        vals = {s: scores.get(d, s)[keep].permute(1, 2, 0).tolist() for s in order}
        out[d] = {f'{s}_{l}_{n}': dict(zip(names, vals[s][l][n]))
                  for l in range(scores.n_layers) for s in order for n in range(WIDTHS[s])}
    return out


def baseline_general(ns, n_samples, t_mlp=0.01, t_attn=0.002, r_mlp=0.01, r_attn=0.01):
    mlp, attn = defaultdict(float), defaultdict(float)
    blend, ctrl = ns['blend'], ns['blendcontrol']
    for key, score in blend.items():
        module = key.rsplit('_', 2)[0]
        value = sum(score.values()) / n_samples['blend'] - sum(ctrl[key].values()) / n_samples['blendcontrol']
        (mlp if module == 'mlp.gate_proj' else attn)[key] += value
    mlp_sorted = sorted(mlp.items(), key=lambda kv: kv[1], reverse=True)
    attn_sorted = sorted(attn.items(), key=lambda kv: kv[1], reverse=True)
    cand = mlp_sorted[:int(len(mlp_sorted) * t_mlp)] + attn_sorted[:int(len(attn_sorted) * t_attn)]
    crc_mlp, crc_attn = {}, {}
    for key, score in ns['countryrc'].items():
        (crc_mlp if key.rsplit('_', 2)[0] == 'mlp.gate_proj' else crc_attn)[key] = sum(score.values())
    drop = set(k for k, _ in sorted(crc_mlp.items(), key=lambda kv: kv[1], reverse=True)[:int(len(crc_mlp) * r_mlp)])
    drop |= set(k for k, _ in sorted(crc_attn.items(), key=lambda kv: kv[1], reverse=True)[:int(len(crc_attn) * r_attn)])
    out = []
    for key, v in cand:
        if key in drop: continue
        site, layer, neuron = key.rsplit('_', 2)
        out.append(dict(module_name=site, layer_idx=int(layer), neuron_idx=int(neuron), attribute_score=v))
    return out


def baseline_specific_all(ns, n_samples, countries, t=0.003, r=0.01, z=0.5):
    per = defaultdict(lambda: defaultdict(float))
    blend, ctrl = ns['blend'], ns['blendcontrol']
    for key, score in blend.items():
        for c, v in score.items():
            per[key][c] += v / n_samples['blend'] - ctrl[key][c] / n_samples['blendcontrol']
    results = {}
    for country in countries:
        mine = {k: s[country] for k, s in per.items()}
        ranked = sorted(mine.items(), key=lambda kv: kv[1], reverse=True)
        cand = [k for k, _ in ranked[:int(len(ranked) * t)]]
        crc = {k: s[country] for k, s in ns['countryrc'].items()}
        drop = set(k for k, _ in sorted(crc.items(), key=lambda kv: kv[1], reverse=True)[:int(len(crc) * r)])
        out = []
        for key in cand:
            if key in drop: continue
            vals = per[key]
            mean = sum(vals.values()) / len(vals)
            std = (sum((x - mean) ** 2 for x in vals.values()) / len(vals)) ** 0.5
            zk = 0 if std == 0 else (mine[key] - mean) / std
            if zk < z: continue
            site, layer, neuron = key.rsplit('_', 2)
            out.append(dict(module_name=site, layer_idx=int(layer), neuron_idx=int(neuron), attribute_score=mine[key], scores=dict(vals)))
        results[country] = out
    return results


def best_of(fn, repeat):
    "(best wall seconds, best CPU seconds of this process, result): the machine is shared, so CPU time is printed too."
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w); cpus.append(time.process_time() - c)
    return min(walls), min(cpus), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--layers', type=int, default=48)
    ap.add_argument('--baseline-layers', type=int, default=6)
    ap.add_argument('--repeat', type=int, default=3)
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}')
    n_per_layer = sum(WIDTHS.values())
    full = random_table(a.layers)
    n_neurons = a.layers * n_per_layer
    print(f'table: {a.layers} layers x {n_per_layer} gate+q/k/v neurons = {n_neurons:,} neurons, {len(full.countries)} countries, '
          f'datasets {full.datasets}')

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter(); full.save(Path(d)/'scores'); t_save = time.perf_counter() - t0
        st = (Path(d)/'scores/scores.safetensors').stat().st_size
        js = (Path(d)/'scores/scores.json').stat().st_size
        t0 = time.perf_counter(); loaded = load_scores(Path(d)/'scores'); t_load = time.perf_counter() - t0
    raw = 4 * n_neurons * len(full.countries)
    print(f'\n== score file size (save {t_save:.2f} s, load {t_load:.2f} s)')
    print(f'scores.safetensors {st:,} B = {st / len(full.datasets):,.0f} B per dataset; '
          f'4 B x neurons x countries = {raw:,} B per dataset; header overhead {st - raw * len(full.datasets):,} B')
    print(f'scores.json (metadata incl. {sum(N_SAMPLES.values())} sample ids) {js:,} B')
    print(f'ratio file / (4 B x neurons x countries x datasets) = {st / (raw * len(full.datasets)):.6f}')

    # culnig at full scale, on the loaded table (hashes come from scores.json; pooled matrices are built on the first call)
    t_cul, c_cul, (gen, spec) = best_of(lambda: culnig_select(load_scores_again(loaded)), a.repeat)
    print(f'\n== culnig, full scale: general ({len(gen)} neurons) + 8 specific ({sum(len(v) for v in spec.values())} neurons): '
          f'{t_cul:.2f} s wall, {c_cul:.2f} s CPU (best of {a.repeat}, each on a freshly loaded table)')

    # the same fraction for both
    part = slice_layers(full, a.baseline_layers)
    n_part = a.baseline_layers * n_per_layer
    t_cul_part, c_cul_part, (gen_p, spec_p) = best_of(lambda: culnig_select(load_scores_again(part)), a.repeat)
    t0 = time.perf_counter(); dicts = to_dicts(part); t_build = time.perf_counter() - t0
    n_samples = {d: part.n_samples(d) for d in part.datasets}
    t_base_part, c_base_part, (bgen, bspec) = best_of(lambda: (baseline_general(dicts, n_samples), baseline_specific_all(dicts, n_samples, TARGET_COUNTRIES)), 1)
    same_g = [(e['module_name'], e['layer_idx'], e['neuron_idx']) for e in gen_p.top_neurons] == \
             [(e['module_name'], e['layer_idx'], e['neuron_idx']) for e in bgen]
    same_s = all([(e['module_name'], e['layer_idx'], e['neuron_idx']) for e in spec_p[c].top_neurons] ==
                 [(e['module_name'], e['layer_idx'], e['neuron_idx']) for e in bspec[c]] for c in TARGET_COUNTRIES)
    js_bytes = len(json.dumps({'neuron_scores': dicts['blend']}, indent=4))
    del dicts
    scale = n_neurons / n_part
    print(f'\n== fraction: first {a.baseline_layers} of {a.layers} layers ({n_part:,} neurons; baseline dicts built in {t_build:.1f} s, not timed)')
    print(f'culnig   {t_cul_part:.3f} s wall, {c_cul_part:.3f} s CPU')
    print(f'baseline {t_base_part:.3f} s wall, {c_base_part:.3f} s CPU   (same neurons as culnig: general {same_g}, specific {same_s})')
    print(f'ratio baseline / culnig (measured on the fraction) = {t_base_part / t_cul_part:.1f}x wall, {c_base_part / c_cul_part:.1f}x CPU')
    print(f'\n== full scale')
    print(f'culnig   {t_cul:.2f} s wall, {c_cul:.2f} s CPU (measured)')
    print(f'baseline {t_base_part * scale:.1f} s wall, {c_base_part * scale:.1f} s CPU (SCALED: fraction time x {scale:.0f}, linear in neurons)')
    print(f'ratio baseline / culnig (scaled baseline) = {t_base_part * scale / t_cul:.1f}x wall, {c_base_part * scale / c_cul:.1f}x CPU')
    print(f'load average at the end (2-core machine shared with other jobs): {os.getloadavg()[0]:.1f}')
    print(f"original JSON for one dataset (indent=4, as the original writes): ~{js_bytes * scale / 1e9:.2f} GB "
          f"(SCALED from {js_bytes / 1e6:.0f} MB) vs {raw / 1e6:.0f} MB safetensors")
    return 0


def load_scores_again(scores: Scores) -> Scores:
    "A fresh Scores object over the same tensors (no cached pooled matrices), as after `load_scores`."
    sc = Scores(scores.tensors, scores.meta)
    sc._hashes = scores._hashes
    return sc


def slice_layers(scores: Scores, n: int) -> Scores:
    tensors = {k: v[:, :n].contiguous() for k, v in scores.tensors.items()}
    meta = {k: v for k, v in scores.meta.items() if k != 'tensors'}
    meta['n_layers'] = n
    sc = Scores(tensors, meta)
    sc.tensor_hashes()
    return sc


if __name__ == '__main__':
    sys.exit(main())
