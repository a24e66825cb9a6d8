"""Render nbs/index.ipynb into README.md (markdown cells as they are, code cells fenced, text outputs fenced).

nbdev_readme needs quarto, which is not installable offline; this keeps index.ipynb the README's single source.
Usage: python .ci/nb2readme.py [--check]
"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent

def render(nb_path=root/'nbs/index.ipynb') -> str:
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    parts = ['<!-- generated from nbs/index.ipynb by .ci/nb2readme.py: edit the notebook, then `make readme` -->']
    for cell in nb['cells']:
        src = ''.join(cell['source']).strip('\n')
        if cell['cell_type'] == 'markdown': parts.append(src)
        elif cell['cell_type'] == 'code' and src and not src.startswith('#| hide'):
            parts.append(f'```python\n{src}\n```')
            for out in cell.get('outputs', []):
                text = ''.join(out.get('text', '') or out.get('data', {}).get('text/plain', ''))
                if text.strip(): parts.append(f'```\n{text.rstrip()}\n```')
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = render(), root/'README.md'
    if '--check' in sys.argv:
        if readme.read_text(encoding='utf-8') != text: sys.exit('README.md is out of date with nbs/index.ipynb: run `make readme`')
    else: readme.write_text(text, encoding='utf-8')
