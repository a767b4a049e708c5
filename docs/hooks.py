"""MkDocs hooks for the quantease site (see mkdocs.yml `hooks:`).

1. mkdocs-jupyter writes a MathJax 2 <script> block pointing at a CDN into every notebook page; the
   site loads a vendored MathJax 3 for all pages instead (mkdocs.yml `extra_javascript`), so the
   notebook block is removed. A page that still names the placeholder URL fails the build.
2. mkdocs-jupyter builds the page's table of contents from a markdown rendering of the notebook,
   which can disagree with the HTML (a repeated heading gets `tests_1` in the TOC but `tests` in
   the page; `#` lines in outputs become empty entries). Heading ids are made unique in the HTML and
   the TOC is rebuilt from the headings the page really has.
3. mkdocs-jupyter also inlines ~0.6 MB of notebook CSS into every notebook page; each distinct
   <style> block is written once to assets/notebook-<hash>.css and linked instead, which makes
   pages small and the search index quick to build.
"""
import hashlib, re
from pathlib import Path

from mkdocs.structure.toc import get_toc
from mkdocs.utils import get_relative_url

PLACEHOLDER = "quantease-local-mathjax"
_MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_STYLE = re.compile(r'<style type="text/css">(.*?)</style>', re.S)
_MIN_SIZE = 2000  # small <style> blocks stay inline
_HEADING = re.compile(r'<h([1-6])(\s[^>]*?)?\sid="([^"]*)"([^>]*)>(.*?)</h\1>', re.S)
_TAG = re.compile(r"<[^>]+>")
_styles = {}


def on_pre_build(config):
    _styles.clear()


def _fix_headings(html, page, toc_depth):
    seen, tokens = {}, []

    def sub(m):
        level, pre, hid, post, inner = int(m.group(1)), m.group(2) or "", m.group(3), m.group(4), m.group(5)
        new = hid
        if hid in seen:
            seen[hid] += 1
            new = f"{hid}_{seen[hid]}"
            inner = inner.replace(f'href="#{hid}"', f'href="#{new}"')
        seen.setdefault(new, 0)
        name = _TAG.sub("", inner.replace("\u00b6", "")).replace("$", "").strip()
        if level <= toc_depth and name:
            tokens.append({"level": level, "id": new, "name": name, "children": []})
        return f'<h{level}{pre} id="{new}"{post}>{inner}</h{level}>'
    html = _HEADING.sub(sub, html)
    # nest the flat list of headings by level, as python-markdown's toc extension does
    root, stack = [], []
    for t in tokens:
        while stack and stack[-1]["level"] >= t["level"]:
            stack.pop()
        (stack[-1]["children"] if stack else root).append(t)
        stack.append(t)
    page.toc = get_toc(root)
    return html


def on_page_content(html, page, config, files):
    if not page.file.src_uri.endswith(".ipynb"):
        return html
    depth = next((p.config.get("toc_depth", 3) for n, p in config.plugins.items() if "jupyter" in n), 3)
    html = _fix_headings(html, page, depth)

    def link(m):
        css = m.group(1)
        if len(css) < _MIN_SIZE:
            return m.group(0)
        name = f"assets/notebook-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
        _styles[name] = css
        return f'<link rel="stylesheet" href="{get_relative_url(name, page.url)}">'
    return _STYLE.sub(link, html)


def on_post_page(output, page, config):
    if PLACEHOLDER not in output:
        return output
    output = _MATHJAX_BLOCK.sub("", output)
    if PLACEHOLDER in output:
        raise RuntimeError(f"{page.file.src_uri}: could not remove mkdocs-jupyter's MathJax block")
    return output


def on_post_build(config):
    for name, css in _styles.items():
        out = Path(config.site_dir) / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(css)
