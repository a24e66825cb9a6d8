"""Public means public: no file imports another culnig module's `_name`, and culnig's modules import each other without a cycle.

Scanned: culnig/*.py (generated from the notebooks), every code cell of nbs/**/*.ipynb (experiment notebooks included), tests/
and bench/. A notebook may use its own module's private names (its `#| default_exp`); nothing else may.
"""
import ast, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {'_modidx'}


def _sources():
    "(label, own module or None, python source) of every scanned file or notebook."
    for p in sorted((ROOT/'culnig').glob('*.py')):
        if p.stem not in GENERATED: yield str(p.relative_to(ROOT)), p.stem, p.read_text(encoding='utf-8')
    for p in sorted((ROOT/'nbs').rglob('*.ipynb')):
        if '.ipynb_checkpoints' in p.parts: continue
        cells = [c for c in json.loads(p.read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'code']
        code = [''.join(c['source']) for c in cells]
        m = next((re.search(r'^#\|\s*default_exp\s+(\S+)', s, re.M) for s in code if 'default_exp' in s), None)
        own = m.group(1) if m else None
        # IPython magics and shell lines are not Python
        src = '\n'.join('\n'.join('' if l.lstrip().startswith(('%', '!')) else l for l in s.splitlines()) for s in code)
        yield str(p.relative_to(ROOT)), own, src
    for d in ('tests', 'bench'):
        for p in sorted((ROOT/d).rglob('*.py')): yield str(p.relative_to(ROOT)), None, p.read_text(encoding='utf-8')


def _culnig_module(name):
    "The culnig module that a dotted import name names (`culnig.x...` -> `x`), else None."
    return name.split('.')[1] if name and name.startswith('culnig.') else None


def private_imports(sources=None):
    "['file: from culnig.x import _name', ...] for every cross-module private import and `culnig.x._name` attribute use."
    bad = []
    for label, own, src in (_sources() if sources is None else sources):
        try: tree = ast.parse(src)
        except SyntaxError as e: raise AssertionError(f'{label} does not parse: {e}')
        aliases = {}                     # local name -> culnig module (import culnig.x as y / from culnig import x)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                # relative imports only occur inside the package: `.x` is culnig.x, `.` is culnig
                mod = (f'culnig.{node.module}' if node.module else 'culnig') if node.level else node.module
                target = _culnig_module(mod)
                if mod == 'culnig':
                    for a in node.names: aliases[a.asname or a.name] = a.name
                    continue
                if target is None or target == own: continue
                for a in node.names:
                    if a.name.startswith('_') and not a.name.startswith('__'):
                        bad.append(f'{label}: from culnig.{target} import {a.name}')
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith('culnig.') and a.asname: aliases[a.asname] = a.name.split('.')[1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith('_') and not node.attr.startswith('__'):
                v = node.value
                mod = None
                if isinstance(v, ast.Name) and v.id in aliases: mod = aliases[v.id]
                elif isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) and v.value.id == 'culnig': mod = v.attr
                if mod and mod != own: bad.append(f'{label}: culnig.{mod}.{node.attr}')
    return sorted(set(bad))


def import_graph():
    "{module: {culnig modules it imports anywhere in its code (top level or inside functions)}} of culnig/*.py."
    g = {}
    for p in sorted((ROOT/'culnig').glob('*.py')):
        if p.stem in GENERATED or p.stem == '__init__': continue
        deps = set()
        for node in ast.walk(ast.parse(p.read_text(encoding='utf-8'))):
            if isinstance(node, ast.ImportFrom):
                if node.level and node.module: deps.add(node.module.split('.')[0])
                elif node.module and node.module.startswith('culnig.'): deps.add(node.module.split('.')[1])
                elif node.module == 'culnig': deps.update(a.name for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name.split('.')[1] for a in node.names if a.name.startswith('culnig.'))
        g[p.stem] = {d for d in deps if d != p.stem and (ROOT/'culnig'/f'{d}.py').exists()}
    return g


def cycles(g):
    "Every cycle of the graph, as a list of modules (one per strongly connected component of more than one module)."
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    for v in sorted(g):
        if v not in index: visit(v)
    return out


def test_scanner_finds_a_private_import(tmp_path):
    "The scanner itself: a cross-module private import and attribute use are found, a module's own private names are not."
    src = "from culnig.scoring import _hidden, public\nimport culnig.models as M\nM._secret()\nfrom culnig import sites\nsites._x\n"
    assert private_imports([('t.py', None, src)]) == ['t.py: culnig.models._secret', 't.py: culnig.sites._x', 't.py: from culnig.scoring import _hidden']
    assert private_imports([('culnig/scoring.py', 'scoring', "from .scoring import _own\nfrom .models import _other\n")]) == [
        'culnig/scoring.py: from culnig.models import _other']
    assert cycles({'a': {'b'}, 'b': {'a'}, 'c': {'a'}}) == [['a', 'b']] and cycles({'a': {'b'}, 'b': set()}) == []


def test_no_cross_module_private_import():
    bad = private_imports()
    assert not bad, 'cross-module private names (make them public where they belong):\n' + '\n'.join(bad)


def test_runner_on_top():
    "Nothing below the papermill runner (culnig.report) imports it; only the CLI does."
    g = import_graph()
    users = sorted(m for m, d in g.items() if 'report' in d and m != 'cli')
    assert not users, f'modules below the runner import culnig.report: {users}'


def test_no_import_cycle():
    "culnig's modules import each other one way: no cycle, counting imports inside functions too (they used to hide cycles)."
    found = cycles(import_graph())
    assert not found, f'import cycles among culnig modules: {found}'


HOOK_CALLS = ('register_forward_hook', 'register_forward_pre_hook', 'register_full_backward_hook', 'register_full_backward_pre_hook')


def hook_registrations():
    "['culnig/x.py:LINE register_...'] for every module-hook registration in culnig/*.py outside culnig/sites.py."
    out = []
    for p in sorted((ROOT/'culnig').glob('*.py')):
        if p.stem in GENERATED or p.stem == 'sites': continue
        for node in ast.walk(ast.parse(p.read_text(encoding='utf-8'))):
            if isinstance(node, ast.Attribute) and node.attr in HOOK_CALLS: out.append(f'culnig/{p.name}:{node.lineno} {node.attr}')
    return out


def test_one_hook_layer():
    "Reading and editing a running model go through one mechanism: only culnig.sites (hooked, SiteMap.hook) registers hooks."
    bad = hook_registrations()
    assert not bad, 'hooks registered outside culnig.sites (use culnig.sites.hooked or SiteMap.hook):\n' + '\n'.join(bad)
