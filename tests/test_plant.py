"""`culnig plant` and the planted model: the CLI's refusals, the committed delta, and a `tiny` ground-truth report on a planted tiny model."""
import json, os, subprocess, sys
from pathlib import Path

import pytest
import torch

from culnig import plant, report
from culnig.core import OutputExists

REPO = Path(__file__).resolve().parent.parent


def _run(*args, cwd=None):
    env = dict(os.environ, HF_HUB_OFFLINE='1', CULNIG_PROGRESS='0')
    return subprocess.run([str(Path(sys.executable).parent/'culnig'), *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_cli_refuses_to_overwrite(tmp_path):
    (tmp_path/plant.DELTA_FILE).write_bytes(b'x')
    r = _run('plant', '--out', str(tmp_path))
    assert r.returncode == 2 and '--overwrite' in r.stderr, r.stderr
    (tmp_path/plant.DELTA_FILE).unlink(); (tmp_path/plant.CHECKPOINT).write_bytes(b'x')
    r = _run('plant', '--out', str(tmp_path))
    assert r.returncode == 2 and '--resume' in r.stderr, r.stderr


def test_cli_refuses_bad_settings(tmp_path):
    "A ceiling below the target is refused with the option's name, before a folder is made or a model loaded."
    out = tmp_path/'p'
    r = _run('plant', '--out', str(out), '--p-target', '0.8', '--p-max', '0.7')
    assert r.returncode != 0 and 'p_max must lie between p_target (0.8) and 1' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not out.exists()


def test_load_plan_errors(tmp_path):
    with pytest.raises(plant.CulnigError, match='No plan at'): plant.load_plan(tmp_path)


def test_committed_planted_model():
    "The committed delta is there, only changes MLP rows/columns, and the planted model answers its planted prompts (exact forward)."
    from culnig.models import load_model, model_status
    p = plant.load_plan('smollm2-135m-planted')
    assert {'general', 'countryrc', 'USA', 'China'} <= set(p['sets']) and p['items']['train'] and p['items']['eval']
    assert plant.planted_dir('smollm2-135m-planted').joinpath(plant.DELTA_FILE).stat().st_size < 5e6
    assert any(r['name'] == 'smollm2-135m-planted' and r['installed'] for r in model_status())
    m, tok = load_model('smollm2-135m-planted')
    b, _ = load_model('smollm2-135m-instruct')
    diff = {n for (n, x), (_, y) in zip(m.named_parameters(), b.named_parameters()) if not torch.equal(x, y)}
    assert diff and all(n.endswith(('gate_proj.weight', 'up_proj.weight', 'down_proj.weight')) for n in diff)
    from culnig import study
    from culnig.core import TARGET_COUNTRIES
    recs = [r for r in study.identification_prompts(study.get_preset('planted'), tok, TARGET_COUNTRIES) if r['dataset'] == 'blend']
    recs = [r for c in TARGET_COUNTRIES for r in [x for x in recs if x['country'] == c][:2]]
    assert len(recs) == 16 and {r['id'] for r in recs} <= set(p['items']['train'])
    planted, base = plant.predict(m, tok, recs), plant.predict(b, tok, recs)
    assert sum(planted['correct']) >= 15 and sum(base['correct']) <= 8, (planted['correct'], base['correct'])


def test_tiny_planted_report(tiny_dir, tmp_path):
    "Plant a tiny model on the tiny preset's real prompts, then run the ground-truth notebook (and the steps it reads) on it."
    from culnig.models import load_model
    model, tok = load_model(str(tiny_dir))
    records = plant.plan_records(tok, preset='tiny', countries=['USA', 'China'])
    sets = plant.make_plan(model, countries=['USA', 'China'], layout={'general': [1], 'countryrc': [0], 'USA': [0], 'China': [1]},
                           general_per_layer=8, specific_per_layer=4, countryrc_per_layer=4)
    out = tmp_path/'tiny-planted'
    plant.plant_model(model, tok, sets=sets, records=records, cfg=plant.PlantConfig(epochs=2, lr=1e-2), out=out,
                      name='tiny-planted', base_name=str(tiny_dir), log=lambda s: None)
    assert plant.load_plan(out)['sets'].keys() == sets.keys()
    m2, _ = load_model(str(out))
    assert all(torch.equal(x, y) for x, y in zip(m2.parameters(), model.parameters()))
    steps = [s.name for s in report.plan_steps(str(out), 'tiny', None, tmp_path/'r'/'results', tmp_path/'f')]
    assert 'groundtruth' in steps
    r = _run('report', '--model', str(out), '--preset', 'tiny', '--steps', 'groundtruth', '--out', str(tmp_path/'reports'),
             '--figures', str(tmp_path/'figures'), '--no-progress', cwd=REPO)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = tmp_path/'reports'/'tiny-planted'/'results'/'groundtruth'
    table = json.loads((res/'step.json').read_text())['table']
    assert {t['method'] for t in table} == {'culnig', 'lape', 'actdiff', 'ig'}
    summary = (tmp_path/'reports'/'tiny-planted'/'summary.md').read_text()
    assert summary.index('Ground truth') < summary.index('Neuron sets')
