"""The `culnig` command line as a user meets it: help, errors that say what to do, exit codes."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
CULNIG = [str(Path(sys.executable).parent/'culnig')]  # the installed console script

def run(*args, env=None, cwd=None):
    e = {**os.environ, 'CULNIG_PROGRESS': '0', **(env or {})}
    return subprocess.run([*CULNIG, *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=600)

def test_help_lists_every_command():
    from culnig.cli import COMMANDS
    r = run('--help')
    assert r.returncode == 0
    for name in COMMANDS: assert f'  {name} ' in r.stdout

def test_every_command_has_its_own_help():
    from culnig.cli import COMMANDS
    for name in COMMANDS:
        r = run(name, '--help')
        assert r.returncode == 0, (name, r.stderr[-2000:])
        assert f'culnig {name}' in r.stdout, name

def test_unknown_command_suggests():
    r = run('evalute')
    assert r.returncode == 2 and "'evaluate'" in r.stderr

def test_models_lists_embedded_models():
    r = run('models')
    assert r.returncode == 0, r.stderr
    assert 'smollm2-135m-instruct' in r.stdout and 'gemma-3-270m' in r.stdout and 'Apache-2.0' in r.stdout

def test_unknown_country_is_a_clear_error(tmp_path):
    r = run('prompts', '--dataset', 'blend', '--countries', 'South Corea', '--out', str(tmp_path/'p.jsonl'))
    assert r.returncode == 2
    assert 'South Korea' in r.stderr and 'Traceback' not in r.stderr

def test_missing_data_root_names_file_and_source(tmp_path):
    r = run('prompts', '--dataset', 'culturalbench', '--out', str(tmp_path/'p.jsonl'), env={'CULNIG_DATA': str(tmp_path/'nowhere')})
    assert r.returncode == 2
    assert 'CulturalBench-Easy.csv' in r.stderr and 'kellycyy/CulturalBench' in r.stderr and 'CULNIG_DATA' in r.stderr

def test_unknown_model_is_a_clear_error(tmp_path):
    r = run('score', '--model', 'no-such-model-xyz', '--datasets', 'blend', '--out', str(tmp_path/'s'), env={'HF_HUB_OFFLINE': '1'})
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert 'smollm2-135m-instruct' in r.stderr  # the error lists the embedded models
