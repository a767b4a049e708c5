"""Write README.md from nbs/index.ipynb (nbdev-readme needs Quarto, which cannot be installed here).

Usage: python tools/readme.py
"""
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

root = Path(__file__).resolve().parents[1]
nb = nbformat.read(root / 'nbs' / 'index.ipynb', as_version=4)
nb.cells = [c for c in nb.cells if not c.source.lstrip().startswith('#| hide')]
body, _ = MarkdownExporter().from_notebook_node(nb)
note = '<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->\n\n'
(root / 'README.md').write_text(note + body.replace('](0', '](nbs/0').replace('](1', '](nbs/1'))
print('wrote README.md')
