"""Write README.md from nbs/index.ipynb (nbdev-readme needs Quarto, which cannot be installed here).

Usage: python tools/readme.py [--stdout]
The notebook's results tables and figures are themselves generated from results/ by `python bench/report.py readme`,
which also runs this; CI checks both (`python bench/report.py readme --check`).
"""
import re, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

root = Path(__file__).resolve().parents[1]
nb = nbformat.read(root / 'nbs' / 'index.ipynb', as_version=4)
nb.cells = [c for c in nb.cells if not c.source.lstrip().startswith('#| hide')]
body, _ = MarkdownExporter().from_notebook_node(nb)
note = '<!-- generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file -->\n\n'
text = note + re.sub(r'\]\((?!https?:|#|/|nbs/)([^)]+\.ipynb)\)', r'](nbs/\1)', body)   # notebook links from the repo root
if '--stdout' in sys.argv: sys.stdout.write(text)
else:
    (root / 'README.md').write_text(text)
    print('wrote README.md')
