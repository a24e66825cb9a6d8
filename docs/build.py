"""culnig's documentation: execute the module notebooks, then render the static site under `_docs/` with MkDocs.

    python docs/build.py execute [NB ...] [--out DIR]   # run nbs/*.ipynb in order, save outputs (or into DIR), warn on drift
    python docs/build.py site [--nbs DIR] [--site DIR]  # stage README, chapters, API, reports, data card; `mkdocs build`

`make docs` = execute + site; `make site` = site only, from the notebooks as committed. Why MkDocs: docs/about.md.
"""
from __future__ import annotations
import argparse, configparser, difflib, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'
STAGE = ROOT/'_docs_build'          # generated mkdocs.yml + src/ (git-ignored)
SITE = ROOT/'_docs'
MAX_OUTPUT_BYTES = 1_000_000        # one cell output above this fails the notebook (figures belong in PNG files, tables trimmed)
WARN_NB_BYTES = 2_000_000
# Run in the kernel before the first cell: deterministic seeds and PNG figures of a modest size.
SETUP_CODE = """\
import random as _r; _r.seed(0)
try:
    import numpy as _np; _np.random.seed(0)
except ImportError: pass
try:
    import torch as _t; _t.manual_seed(0)
except ImportError: pass
try:    # a Figure a cell returns shows as a PNG, whatever backend the notebook picks (matplotlib.use('Agg') included)
    from matplotlib_inline.backend_inline import set_matplotlib_formats as _f; _f('png'); del _f
    get_ipython().run_line_magic('config', "InlineBackend.figure_formats = ['png']")
except Exception: pass
del _r
"""
VOLATILE = [(re.compile(r'0x[0-9a-fA-F]{6,}'), '0x…'),                              # object addresses
            (re.compile(r'\d+(\.\d+)?\s*(s|ms|µs|us|sec|seconds|min)\b'), '<time>'),  # timings
            (re.compile(r'\d+(\.\d+)?\s*(it/s|s/it)'), '<rate>'),
            (re.compile(r'/tmp/[^\s\'"]+'), '/tmp/…'),
            (re.compile(r'[ \t]+$', re.M), '')]

def module_notebooks(names=()) -> list[Path]:
    "The module notebooks of nbs/ (not nbs/experiments) in nbdev order (by file name), or those named."
    nbs = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
    if not names: return nbs
    sel = [p for p in nbs if p.name in names or p.stem in names or str(p) in names or p.name in {Path(n).name for n in names}]
    missing = [n for n in names if not any(Path(n).name in (p.name, p.stem) or n in (p.name, p.stem) for p in sel)]
    if missing: sys.exit(f'docs: no module notebook named {missing} in {NBS}')
    return sel

# ---------------------------------------------------------------- execution
def _src(cell) -> str: return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _skip(cell) -> bool:
    "Cells nbdev never runs: `#| eval: false`."
    return bool(re.search(r'^#\|\s*eval:\s*false', _src(cell), re.M))

def output_text(outputs) -> str:
    "What a reader sees as text in a cell's outputs (streams, plain text, errors), with volatile parts masked."
    parts = []
    for o in outputs or []:
        t = o.get('output_type')
        if t == 'stream': parts.append(''.join(o.get('text', '')))
        elif t in ('execute_result', 'display_data'):
            d = o.get('data', {})
            if 'text/plain' in d and not any(k.startswith('image/') for k in d): parts.append(''.join(d['text/plain']))
            elif any(k.startswith('image/') for k in d): parts.append('<figure>')
        elif t == 'error': parts.append(f"{o.get('ename')}: {o.get('evalue')}")
    s = '\n'.join(p.rstrip('\n') for p in parts)
    data = os.environ.get('CULNIG_DATA')
    for path, name in ((data, '<data root>'), (str(ROOT), '<repo>'), (str(Path.home()), '~')):
        if path and len(path) > 1: s = s.replace(path, name)      # machine-specific paths are not drift
    for rx, rep in VOLATILE: s = rx.sub(rep, s)
    return s.strip()

def _output_bytes(o) -> int: return len(json.dumps(o))

def execute(nb_path: Path, out_path: Path, timeout: int = 3600) -> dict:
    "Execute one notebook in a fresh kernel (the reports' kernel environment, cwd nbs/); write it to out_path when it ran clean."
    import nbformat
    from nbclient import NotebookClient
    from culnig.report import kernel_env
    nb = nbformat.read(nb_path, as_version=4)
    old = {c.get('id', i): output_text(c.get('outputs')) for i, c in enumerate(nb.cells) if c.cell_type == 'code'}
    had_outputs = any(c.get('outputs') for c in nb.cells if c.cell_type == 'code')
    skipped = {}
    for i, c in enumerate(nb.cells):
        if c.cell_type == 'code' and _skip(c): skipped[i] = c; nb.cells[i] = nbformat.v4.new_markdown_cell('')   # placeholder
    setup = nbformat.v4.new_code_cell(SETUP_CODE)
    nb.cells.insert(0, setup)
    env = kernel_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    t0 = time.time()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name='python3', allow_errors=True, record_timing=False,
                                extra_arguments=['--IPKernelApp.log_level=ERROR'],
                                resources={'metadata': {'path': str(nb_path.parent)}})
        client.execute()
    except Exception as e:    # a dead kernel or a cell past the timeout
        return dict(notebook=nb_path.name, ok=False, problems=[f'{type(e).__name__}: {str(e).strip()[:800]}'], warnings=[],
                    wall_s=time.time() - t0)
    finally:
        for k, v in saved.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v
    nb.cells.pop(0)
    for i, c in skipped.items(): nb.cells[i] = c
    problems, warnings = [], []
    setup_err = [o for o in setup.get('outputs', []) if o.get('output_type') == 'error']
    if setup_err: problems.append(f"the set-up cell failed: {setup_err[0].get('ename')}: {setup_err[0].get('evalue')}")
    for i, c in enumerate(nb.cells):
        if c.cell_type != 'code': continue
        first = next((l for l in _src(c).splitlines() if l.strip() and not l.startswith('#|')), '')[:80]
        for o in c.get('outputs', []):
            if o.get('output_type') == 'error':
                problems.append(f"cell {i} (`{first}`): {o.get('ename')}: {str(o.get('evalue')).strip()[:600]}")
            elif _output_bytes(o) > MAX_OUTPUT_BYTES:
                problems.append(f"cell {i} (`{first}`): one output is {_output_bytes(o)/1e6:.1f} MB (limit {MAX_OUTPUT_BYTES/1e6:.0f} MB): "
                                "print less, or save the figure as a PNG file")
            for k in o.get('data', {}):
                if k in ('image/svg+xml', 'application/pdf', 'image/jpeg'):
                    warnings.append(f'cell {i} (`{first}`): a {k} output; figures should be PNG')
        if had_outputs:
            new = output_text(c.get('outputs'))
            prev = old.get(c.get('id', i))
            if prev and prev != new:     # a cell with no saved output (new, or silent before) has nothing to drift from
                diff = list(difflib.unified_diff(prev.splitlines(), new.splitlines(), 'saved', 'now', n=0, lineterm=''))[2:8]
                warnings.append(f"cell {i} (`{first}`): the saved output no longer matches what the code prints now:\n      "
                                + '\n      '.join(diff))
    res = dict(notebook=nb_path.name, ok=not problems, problems=problems, warnings=warnings, wall_s=time.time() - t0)
    if problems: return res
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_path)
    clean(out_path)
    size = out_path.stat().st_size
    if size > WARN_NB_BYTES: res['warnings'].append(f'the executed notebook is {size/1e6:.1f} MB')
    return res

def clean(path: Path):
    "nbdev_clean on one notebook: keeps outputs (settings.ini clear_all = False), strips volatile metadata and execution counts."
    from nbdev.clean import nbdev_clean
    nbdev_clean(fname=str(path))

def cmd_execute(args):
    nbs = module_notebooks(args.notebooks)
    out = Path(args.out).resolve() if args.out else None
    results = []
    print(f'docs: executing {len(nbs)} notebooks' + (f' into {out}' if out else ' in place'), flush=True)
    for p in nbs:
        r = execute(p, (out/p.name) if out else p, timeout=args.timeout)
        results.append(r)
        print(f"  {'ok    ' if r['ok'] else 'FAILED'} {p.name} ({r['wall_s']:.0f} s)", flush=True)
        for w in r['warnings']: print(f'    warning: {w}', flush=True)
        for e in r['problems']: print(f'    error: {e}', flush=True)
    failed = [r['notebook'] for r in results if not r['ok']]
    drift = [r['notebook'] for r in results if any('no longer matches' in w for w in r['warnings'])]
    if drift: print(f'docs: warning: saved outputs no longer matched the code in {len(drift)} notebook(s): {", ".join(drift)} '
                    '(they now hold the new outputs: review the diff before committing)')
    if failed:
        print(f'docs: {len(failed)} notebook(s) failed and were not saved: {", ".join(failed)}', file=sys.stderr)
        return 1
    print(f'docs: {len(results)} notebooks executed without errors')
    return 0

# ---------------------------------------------------------------- site
def _settings() -> dict:
    cp = configparser.ConfigParser(delimiters=['=']); cp.read(ROOT/'settings.ini', encoding='utf-8')
    return dict(cp['DEFAULT'])

def _title(nb: dict, fallback: str) -> str:
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^#\s+(.+)$', _src(c), re.M)
            if m: return m.group(1).strip()
    return fallback

_DIRECTIVE = re.compile(r'^#\|.*\n?', re.M)

def chapter_notebook(src: Path, dst: Path) -> str:
    "Copy a module notebook for the site: drop `#| hide` and `#| default_exp` cells and nbdev's `#|` directive lines; return its title."
    nb = json.loads(src.read_text(encoding='utf-8'))
    cells = []
    for c in nb['cells']:
        s = _src(c)
        if c['cell_type'] == 'code' and re.search(r'^#\|\s*(hide|default_exp)\b', s, re.M): continue
        if c['cell_type'] == 'markdown':    # mkdocs-jupyter's table of contents loses headings that are inline code only
            c = dict(c, source=_unquote_tables(re.sub(r'^(#{1,6}\s+)`([^`]+)`\s*$', r'\1\2', s, flags=re.M)))
        if c['cell_type'] == 'code':
            c = dict(c, source=_DIRECTIVE.sub('', s))
            if not c['source'].strip() and not c.get('outputs'): continue
        cells.append(c)
    nb['cells'] = cells
    nb.setdefault('metadata', {})['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')
    return _title(nb, src.stem)

def _unquote_tables(md: str) -> str:
    "nbconvert's markdown renderer drops tables inside a blockquote (the reports' provenance header): lift them out."
    lines = md.splitlines()
    if not any(re.match(r'^>\s*\|[-:| ]+\|\s*$', l) for l in lines): return md
    return '\n'.join(re.sub(r'^>\s?', '', l) for l in lines)

def report_notebook(src: Path, dst: Path):
    "Copy an executed report notebook for the site (provenance tables lifted out of their blockquote)."
    nb = json.loads(src.read_text(encoding='utf-8'))
    for c in nb['cells']:
        if c['cell_type'] == 'markdown': c['source'] = _unquote_tables(_src(c))
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')

def _link_rewriter(page_dir: str, mapping: dict, git_url: str):
    "Rewrite relative links of a repository markdown file (its folder `page_dir`) to site pages, or to the repository on GitHub."
    def fix(m):
        text, target = m.group(1), m.group(2)
        if re.match(r'^[a-z]+:|^#|^/', target): return m.group(0)
        path, _, frag = target.partition('#')
        repo_path = os.path.normpath(os.path.join(page_dir, path)).replace(os.sep, '/')
        for prefix, site in mapping.items():
            if repo_path == prefix or repo_path.startswith(prefix.rstrip('/') + '/') and prefix.endswith('/'):
                new = site + repo_path[len(prefix):] if prefix.endswith('/') else site
                if new.endswith('/README.md'): new = new[:-len('README.md')] + 'index.md'
                return f'[{text}]({new}' + (f'#{frag}' if frag else '') + ')'
        return f'[{text}]({git_url}/blob/main/{repo_path}' + (f'#{frag}' if frag else '') + ')'
    return fix

def _rel(to: str, page: str) -> str:
    r = os.path.relpath(to, os.path.dirname(page) or '.').replace(os.sep, '/')
    return r + '/' if to.endswith('/') and not r.endswith('/') else r

def repo_markdown(src: Path, page: str, mapping: dict, git_url: str) -> str:
    "A repository markdown file as a site page `page` (path under src/): links into the repository point at the site's copies."
    text = src.read_text(encoding='utf-8')
    rel_map = {k: _rel(v, page) for k, v in mapping.items()}
    fix = _link_rewriter(os.path.dirname(src.relative_to(ROOT).as_posix()), rel_map, git_url)
    out, fence = [], False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith('```'): fence = not fence
        out.append(line if fence else re.sub(r'(?<!!)\[([^\]]*)\]\(([^)\s]+)\)', fix, line))
    text = ''.join(out)
    text = re.sub(r'!\[([^\]]*)\]\(([^)\s]+)\)', lambda m: m.group(0) if re.match(r'^[a-z]+:', m.group(2)) else
                  f'![{m.group(1)}]({_rel(_img_target(src, m.group(2), mapping), page)})', text)
    return text

def _img_target(src: Path, target: str, mapping: dict) -> str:
    repo_path = os.path.normpath(os.path.join(os.path.dirname(src.relative_to(ROOT).as_posix()), target)).replace(os.sep, '/')
    for prefix, site in mapping.items():
        if prefix.endswith('/') and repo_path.startswith(prefix): return site + repo_path[len(prefix):]
    return repo_path

def api_modules() -> list[str]:
    return sorted(p.stem for p in (ROOT/'culnig').glob('*.py') if not p.stem.startswith('_'))

def stage(nbs_dir: Path) -> dict:
    "Lay out _docs_build/src and write _docs_build/mkdocs.yml; return the nav."
    cfg = _settings()
    git_url = cfg.get('git_url', '').rstrip('/')
    src = STAGE/'src'
    if STAGE.exists(): shutil.rmtree(STAGE)
    src.mkdir(parents=True)
    # chapters
    chapters = []
    for p in module_notebooks():
        if p.name == 'index.ipynb': continue
        nbp = nbs_dir/p.name if (nbs_dir/p.name).exists() else p
        title = chapter_notebook(nbp, src/'chapters'/p.name)
        chapters.append({f'{p.stem.split("_")[0]} {title}': f'chapters/{p.name}'})
    # reports and figures
    reports = []
    for mdir in sorted((ROOT/'reports').glob('*/')):
        if not mdir.is_dir(): continue
        model, pages = mdir.name, []
        (src/'reports'/model).mkdir(parents=True)
        (src/'figures'/model).mkdir(parents=True, exist_ok=True)
        for fig in sorted((ROOT/'figures'/model).glob('*')):
            if fig.suffix in ('.png', '.pdf', '.svg'): shutil.copy2(fig, src/'figures'/model/fig.name)
        mapping = {'figures/': 'figures/', 'reports/': 'reports/', 'data/README.md': 'data.md', 'README.md': 'index.md'}
        if (mdir/'summary.md').exists():
            page = f'reports/{model}/summary.md'
            (src/page).write_text(repo_markdown(mdir/'summary.md', page, mapping, git_url), encoding='utf-8')
            pages.append({'Summary': page})
        figs = sorted((src/'figures'/model).glob('*.png'))
        if figs:
            page = f'reports/{model}/gallery.md'
            body = [f'# {model}: every figure\n', f'The PNG files committed under `figures/{model}/` (a PDF of each lies beside it).\n']
            for f in figs: body += [f'## {f.stem}\n', f'![{f.stem}](../../figures/{model}/{f.name})\n']
            (src/page).write_text('\n'.join(body), encoding='utf-8')
            pages.append({'Figure gallery': page})
        for nb in sorted(mdir.glob('*.ipynb')):
            report_notebook(nb, src/'reports'/model/nb.name)
            pages.append({nb.stem.replace('_', ' '): f'reports/{model}/{nb.name}'})
        reports.append({model: pages})
    # home, data card, hand-written pages, API
    mapping = {'nbs/index.ipynb': 'index.md', 'README.md': 'index.md', 'data/README.md': 'data.md', 'reports/': 'reports/',
               'figures/': 'figures/', 'docs/reproducing.md': 'reproducing.md', 'docs/about.md': 'about.md',
               **{f'nbs/{p.name}': f'chapters/{p.name}' for p in module_notebooks() if p.name != 'index.ipynb'}}
    (src/'index.md').write_text(repo_markdown(ROOT/'README.md', 'index.md', mapping, git_url), encoding='utf-8')
    if (ROOT/'data'/'README.md').exists():
        (src/'data.md').write_text(repo_markdown(ROOT/'data'/'README.md', 'data.md', mapping, git_url), encoding='utf-8')
    for name in ('reproducing.md', 'about.md'):      # written for the site: their links are site paths already
        shutil.copy2(ROOT/'docs'/name, src/name)
    api = []
    for mod in api_modules():
        (src/'api').mkdir(exist_ok=True)
        (src/'api'/f'{mod}.md').write_text(f'# culnig.{mod}\n\n::: culnig.{mod}\n', encoding='utf-8')
        api.append({f'culnig.{mod}': f'api/{mod}.md'})
    shutil.copy2(ROOT/'docs'/'extra.css', src/'extra.css')
    bare = [p for p in module_notebooks() if not any(c.get('outputs') for c in json.loads(
        ((nbs_dir/p.name) if (nbs_dir/p.name).exists() else p).read_text(encoding='utf-8'))['cells'] if c['cell_type'] == 'code')]
    if bare: print(f'docs: note: {len(bare)} of {len(module_notebooks())} notebooks have no saved outputs (`make docs` executes them): '
                   + ' '.join(p.stem for p in bare))
    nav = [{'Home': 'index.md'}, {'Reproducing the paper': 'reproducing.md'}, {'Chapters': chapters},
           {'Reports': reports}, {'Data card': 'data.md'}, {'API reference': api}, {'About this site': 'about.md'}]
    conf = dict(site_name=cfg.get('title', 'culnig'), site_description=cfg.get('description', ''), docs_dir='src',
                site_dir=str(SITE), use_directory_urls=False, strict=False, repo_url=git_url,
                theme=dict(name='material', font=False, features=['navigation.sections', 'navigation.top', 'toc.follow'],
                           palette=dict(scheme='default', primary='indigo')),
                extra_css=['extra.css'],
                markdown_extensions=['tables', 'admonition', 'attr_list', 'md_in_html', 'toc', 'pymdownx.superfences',
                                     'pymdownx.details'],
                plugins=['search',
                         {'mkdocs-jupyter': dict(include_source=True, execute=False, ignore_h1_titles=True,
                                                 include_requirejs=False, no_input=False, show_input=True,
                                                 custom_mathjax_url=MATHJAX_PLACEHOLDER,
                                                 highlight_extra_classes='', remove_tag_config={})},
                         {'mkdocstrings': dict(default_handler='python', handlers=dict(python=dict(
                             paths=[str(ROOT)], options=dict(show_source=False, members_order='source', heading_level=2, inherited_members=True,
                                                             show_root_heading=False, show_root_toc_entry=False,
                                                             filters=['!^_'], docstring_style=None, show_signature_annotations=True,
                                                             separate_signature=True, show_if_no_docstring=False))))}],
                nav=nav)
    (STAGE/'mkdocs.yml').write_text(json.dumps(conf, indent=1), encoding='utf-8')    # JSON is YAML
    return conf

MATHJAX_PLACEHOLDER = '__CULNIG_MATHJAX__'

def add_mathjax(site: Path) -> int:
    "Serve MathJax from the site itself (the copy in the `jupyter-server-mathjax` wheel), not from a CDN; return pages patched."
    pages = [f for f in site.rglob('*.html') if MATHJAX_PLACEHOLDER in f.read_text(encoding='utf-8')]
    try:
        import jupyter_server_mathjax
        static = Path(jupyter_server_mathjax.__file__).parent/'static'
        shutil.copytree(static, site/'assets'/'mathjax', dirs_exist_ok=True)
        ok = True
    except ImportError:
        print('docs: warning: jupyter-server-mathjax is not installed (the docs extra): formulas stay as TeX source')
        ok = False
    for f in pages:
        url = (os.path.relpath(site/'assets'/'mathjax'/'MathJax.js', f.parent).replace(os.sep, '/')
               + '?config=TeX-AMS-MML_HTMLorMML-full,Safe') if ok else ''
        f.write_text(f.read_text(encoding='utf-8').replace(MATHJAX_PLACEHOLDER, url), encoding='utf-8')
    return len(pages)

def cmd_site(args):
    global SITE
    if args.site: SITE = Path(args.site).resolve()
    nbs_dir = Path(args.nbs).resolve() if args.nbs else NBS
    t0 = time.time()
    stage(nbs_dir)
    env = dict(os.environ, PYTHONWARNINGS='ignore', DISABLE_MKDOCS_2_WARNING='true', NO_MKDOCS_2_WARNING='1')
    r = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--clean', '-q', '-f', str(STAGE/'mkdocs.yml')], env=env,
                       capture_output=True, text=True)
    log = (r.stdout + r.stderr).strip()
    noise = ('MkDocs 2.0', 'mkdocs 2.0', 'Material for MkDocs', '│', '┃', 'https://squidfunk', 'pip install')
    lines = [l for l in log.splitlines() if l.strip() and not any(n in l for n in noise)]
    if lines: print('\n'.join(lines))
    if r.returncode:
        print(f'docs: mkdocs build failed (exit {r.returncode})', file=sys.stderr); return r.returncode
    if not (SITE/'index.html').exists():
        print(f'docs: mkdocs wrote no {SITE/"index.html"}', file=sys.stderr); return 1
    add_mathjax(SITE)
    print(f'docs: site written to {SITE} in {time.time() - t0:.0f} s: open {SITE/"index.html"} '
          f'or run `python -m http.server -d {os.path.relpath(SITE) if SITE.is_relative_to(Path.cwd()) else SITE}`')
    return 0

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    e = sub.add_parser('execute', help='execute the module notebooks and save their outputs')
    e.add_argument('notebooks', nargs='*', help='only these (file or stem names); default: every nbs/*.ipynb')
    e.add_argument('--out', help='write the executed notebooks here instead of over nbs/')
    e.add_argument('--timeout', type=int, default=3600, help='seconds one cell may run')
    s = sub.add_parser('site', help='render the site from the notebooks as they are')
    s.add_argument('--nbs', help='take the chapter notebooks from this folder (default nbs/)')
    s.add_argument('--site', help=f'write the site here (default {SITE.relative_to(ROOT)}/)')
    args = ap.parse_args(argv)
    return cmd_execute(args) if args.cmd == 'execute' else cmd_site(args)

if __name__ == '__main__':
    sys.exit(main())
