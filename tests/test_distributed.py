"""Two CPU processes (gloo, launched by torchrun) give the same scores as one process."""
import os, subprocess, sys
from pathlib import Path
import pytest, torch

BIN = Path(sys.executable).parent

def torchrun(script, *args, nproc=2):
    env = {**os.environ, 'CULNIG_PROGRESS': '0', 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([str(BIN/'torchrun'), '--standalone', f'--nproc_per_node={nproc}', str(script), *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return r

def test_two_processes_score_like_one(tmp_path):
    """`torchrun --nproc_per_node 2 culnig score ...` writes the same score folder as one process."""
    from culnig.scoring import load_scores
    env = {**os.environ, 'CULNIG_PROGRESS': '0', 'OMP_NUM_THREADS': '1'}
    prompts = tmp_path/'p.jsonl'
    r = subprocess.run([str(BIN/'culnig'), 'prompts', '--dataset', 'blend,blendcontrol', '--split', 'neuron', '--countries', 'USA,UK,China',
                        '--limit-per-country', '1', '--out', str(prompts)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    args = ['score', '--prompts', str(prompts), '--sites', 'mlp.gate_proj', 'self_attn.q_proj', '--device', 'cpu']
    r = subprocess.run([str(BIN/'culnig'), *args, '--out', str(tmp_path/'one')], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    torchrun(BIN/'culnig', *args, '--out', tmp_path/'two')
    one, two = load_scores(tmp_path/'one'), load_scores(tmp_path/'two')
    assert two.meta['params']['distributed']['world_size'] == 2 and 'distributed' not in one.meta['params']
    assert not list((tmp_path/'two').glob('*checkpoint*')), 'per-rank checkpoints are removed after the result is written'
    assert set(one.tensors) == set(two.tensors) and len(one.tensors) == 4
    for k in one.tensors:
        torch.testing.assert_close(two.tensors[k], one.tensors[k], rtol=1e-5, atol=1e-7)
    for d in one.datasets:
        a, b = one.meta['datasets'][d], two.meta['datasets'][d]
        assert a['n_samples'] == b['n_samples'] and a['n_per_country'] == b['n_per_country'] and a['sample_ids'] == b['sample_ids']
        for c in a['sum_p']: assert abs(a['sum_p'][c] - b['sum_p'][c]) < 1e-5

def test_two_processes_evaluate_like_one(tmp_path):
    """`torchrun --nproc_per_node 2 culnig evaluate ...` writes the same per-item results as one process."""
    import pandas as pd
    args = ['evaluate', '--datasets', 'blend', 'commonsenseqa', '--split', 'heldout', '--countries', 'USA', 'China',
            '--limit-per-country', '2', '--device', 'cpu', '--quiet', '--n-boot', '200']
    env = {**os.environ, 'CULNIG_PROGRESS': '0', 'OMP_NUM_THREADS': '1'}
    one = subprocess.run([str(BIN/'culnig'), *args, '--out', str(tmp_path/'one')], capture_output=True, text=True, env=env, timeout=900)
    assert one.returncode == 0, one.stderr[-3000:]
    torchrun(BIN/'culnig', *args, '--out', tmp_path/'two')
    a, b = pd.read_parquet(tmp_path/'one/items.parquet'), pd.read_parquet(tmp_path/'two/items.parquet')
    assert len(a) > 4
    pd.testing.assert_frame_equal(a.drop(columns=[c for c in a.columns if c.startswith('p_')]),
                                  b.drop(columns=[c for c in b.columns if c.startswith('p_')]))
    for c in [c for c in a.columns if c.startswith('p_')]:
        assert (a[c] - b[c]).abs().max() < 1e-5, c
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path/'one/summary.csv'), pd.read_csv(tmp_path/'two/summary.csv'))
