#!/usr/bin/env python
"""Build the quantease documentation site into site/ (one command: `python docs/build.py`).

Quarto (and so `nbdev-docs`) is not available here; the site is MkDocs Material instead:

1. every notebook under nbs/ (nbdev's rules: names starting with `_` or `.` are skipped) becomes a
   page, rendered by mkdocs-jupyter from its *saved* outputs (nothing is executed). nbdev cell
   directives are applied first: `#| hide` and `#| default_exp` cells are dropped, `#| echo: false`
   hides the input, `#| output: false` the outputs, `#| hide_line` and `#| filter_stream` work as in
   nbdev, directive comments are stripped. Page names follow nbdev (`01_grid.ipynb` -> `grid.html`,
   the URL nbdev writes into each module docstring); links to `X.ipynb` are rewritten to the page,
   and `Name` in backticks becomes a link to the API reference when Name is exported;
2. one API reference page per module quantease/*.py, by mkdocstrings from the signatures and
   docstrings (static analysis: nothing is imported);
3. the navigation is generated from the nbs/ listing (index.ipynb is the home page), so a new
   notebook appears without editing any configuration;
4. MathJax 3 is copied from the npm package (docs/package.json, installed under _docs/npm) into the
   site, so maths typesets offline;
5. each notebook page also gets a plain-markdown twin `<page>.html.md` (nbdev's convention).

Generated sources go to _docs/ and the site to site/ (both git-ignored). Options: --strict fails on
MkDocs warnings; --offline-ok lets the build go on without MathJax when npm cannot be reached.
"""
import argparse, ast, json, logging, os, posixpath, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GEN = ROOT / "_docs"
SRC = GEN / "src"
NPM = GEN / "npm"
LIB = "quantease"
REPO_URL = "https://github.com/quantease/quantease"  # replaced by pyproject [tool.nbdev] git_url, branch
BRANCH = "main"

log = logging.getLogger("quantease.docs")


# ----------------------------------------------------------------------------- notebooks
def find_notebooks(nbs):
    "Notebooks under `nbs`, sorted, with nbdev's skip rules (names starting with `_` or `.`)."
    out = []
    for dirpath, dirnames, filenames in os.walk(nbs):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
        for f in sorted(filenames):
            if f.endswith(".ipynb") and not f.startswith(("_", ".")):
                out.append(Path(dirpath, f).relative_to(nbs))
    return out


def page_name(rel):
    "nbdev's page name for a notebook: numeric prefix stripped, lower case (`01_grid.ipynb` -> `grid`)."
    rel = Path(rel)
    return (rel.parent / re.sub(r"^\d+[a-zA-Z0-9]*_", "", rel.name.lower())).with_suffix("").as_posix()


def nb_title(nb, fallback):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+?)\s*#*\s*$", cell.source, re.M)
            if m:
                return re.sub(r"[`*_]", "", m.group(1)).strip()
    return fallback


_HIDE = {"hide", "default_exp"}
_HIDE_LINE = re.compile(r"#\|\s*hide_line\s*$")
_MAGICS = re.compile(r"^\s*(%load_ext|%autoreload|%reload_ext|%matplotlib|%config)\b.*$", re.M)
_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
# left alone when names are auto-linked: fenced code, existing links/images, maths, raw HTML tags
_PROTECT = re.compile(r"^(```|~~~).*?^\1[ \t]*$|!?\[[^\]\n]*\]\([^)\n]*\)|\$\$.+?\$\$|\$[^$\n]+\$|<[^>\n]+>", re.M | re.S)
_MD_LINK = re.compile(r"(\]\(\s*<?)([^)\s>#]+\.ipynb)(#[^)\s>]*)?(>?\s*\))")
_BACKTICK = re.compile(r"(?<![\[`\w])`([A-Za-z_][\w.]*)`(?![\]`])")


def _false(v):
    return str(v).strip().lower() in ("false", "0", "no")


def process_code_cell(cell):
    "Apply nbdev doc directives; return the cell to keep, or None to drop it."
    d = dict(getattr(cell, "directives_", {}) or {})
    if d.keys() & _HIDE or _false(d.get("include", "true")):
        return None
    src = "\n".join(ln for ln in cell.source.splitlines() if not _HIDE_LINE.search(ln))
    src = _MAGICS.sub("", src).strip("\n")
    cell.source = src
    tags = list(cell.metadata.get("tags", []))
    if _false(d.get("echo", "true")):
        tags.append("qe_remove_input")
    if _false(d.get("output", "true")):
        cell.outputs = []
    if "filter_stream" in d and d["filter_stream"].split():
        pat = "|".join(map(re.escape, d["filter_stream"].split()))
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                text = o["text"] if isinstance(o["text"], str) else "".join(o["text"])
                o["text"] = "".join(ln for ln in text.splitlines(True) if not re.search(pat, ln))
    if tags:
        cell.metadata["tags"] = tags
    if not src.strip() and not cell.get("outputs"):
        return None
    return cell


class Linker:
    "Rewrites notebook links to pages and `Name` to API anchors, relative to the page being written."

    def __init__(self, nb_pages, symbols):
        self.nb_pages = nb_pages  # nbs-relative posix path of the notebook -> page name
        self.symbols = symbols    # `Name`, `Cls.meth`, `mod.Name`, `quantease.mod.Name` -> (module, full path)

    def rel(self, page, target):
        "URL of `target` (site-relative path) from `page` (page name)."
        return posixpath.relpath(target, posixpath.dirname(page) or ".")

    def markdown(self, src, nb_rel, page):
        # 1. links to notebooks, outside fenced code
        src = self._outside(_FENCE, src, lambda t: _MD_LINK.sub(lambda m: self._nb_link(m, nb_rel, page), t))
        # 2. `Name` -> API link, outside code, links, maths and HTML tags
        return self._outside(_PROTECT, src, lambda t: self._backticks(t, page))

    @staticmethod
    def _outside(pattern, src, f):
        "Apply `f` to the parts of `src` that `pattern` does not match."
        out, pos = [], 0
        for m in pattern.finditer(src):
            out += [f(src[pos:m.start()]), m.group(0)]
            pos = m.end()
        return "".join(out + [f(src[pos:])])

    def _nb_link(self, m, nb_rel, page):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(nb_rel.as_posix()), m.group(2)))
        if target not in self.nb_pages:
            return m.group(0)
        url = self.rel(page, self.nb_pages[target] + ".html") + (m.group(3) or "")
        return m.group(1) + url + m.group(4)

    def _backticks(self, text, page):
        # not inside inline maths or an existing link text; one pass over inline code spans
        def sub(m):
            hit = self.symbols.get(m.group(1))
            if not hit:
                return m.group(0)
            mod, full = hit
            return f"[`{m.group(1)}`]({self.rel(page, f'api/{mod}.html')}#{full})"
        return _BACKTICK.sub(sub, text)


def module_symbols(lib_dir):
    "Exported names of each module (its `__all__`), with methods/properties of exported classes."
    syms, short = {}, {}
    modidx = {}
    p = lib_dir / "_modidx.py"
    if p.exists():
        try:
            tree = ast.parse(p.read_text())
            for node in tree.body:
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "d":
                    modidx = ast.literal_eval(node.value).get("syms", {})
        except Exception as e:  # a broken index only costs the autolinks
            log.warning("could not read %s: %s", p, e)
    for f in sorted(lib_dir.glob("*.py")):
        if f.stem.startswith("_"):
            continue
        mod = f.stem
        try:
            tree = ast.parse(f.read_text())
        except SyntaxError as e:
            log.warning("%s does not parse: %s", f, e)
            continue
        exported = set()
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
                try:
                    exported = set(ast.literal_eval(node.value))
                except ValueError:
                    pass
        full_mod = f"{LIB}.{mod}"
        names = set(modidx.get(full_mod, {})) | {f"{full_mod}.{n}" for n in exported}
        for full in sorted(names):
            rest = full[len(full_mod) + 1:]
            parts = rest.split(".")
            if parts[0] not in exported or any(x.startswith("_") for x in parts):
                continue
            for key in (rest, f"{mod}.{rest}", full):
                syms[key] = (mod, full)
            short.setdefault(rest, set()).add(mod)
    # an unqualified name defined in two modules is ambiguous: link only its qualified forms
    for rest, mods in short.items():
        if len(mods) > 1:
            syms.pop(rest, None)
    return syms


def write_notebook_page(nb_path, nb_rel, page, linker, lib_modules):
    from nbdev.process import NBProcessor
    from fastcore.nbio import write_nb

    proc = NBProcessor(nb_path, rm_directives=True)
    nb = proc.nb
    default_exp = next((c.directives_["default_exp"].split()[0] for c in nb.cells
                        if c.cell_type == "code" and c.directives_.get("default_exp")), None)
    cells = []
    for cell in nb.cells:
        # the page needs no cell metadata but tags; some (e.g. execution times that
        # `nbdev-test --save` writes) would not even pass nbconvert's schema check
        cell.metadata = {k: v for k, v in cell.get("metadata", {}).items() if k == "tags"}
        if cell.cell_type == "code":
            cell = process_code_cell(cell)
        elif cell.cell_type == "markdown":
            cell.source = linker.markdown(cell.source, nb_rel, page)
        elif cell.cell_type == "raw":
            cell = None  # Quarto front matter and the like: nothing for this site
        if cell is not None:
            cells.append(cell)
        errors = [o for o in (cell or {}).get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            log.warning("%s: a saved output is an error (%s)", nb_rel, errors[0].get("ename"))
    # a line under the title: where the code goes, its API page, the notebook on GitHub
    links = []
    if default_exp and default_exp.split(".")[-1] in lib_modules:
        mod = default_exp.split(".")[-1]
        links.append(f"Exports `{LIB}.{default_exp}` · [API reference]({linker.rel(page, f'api/{mod}.html')})")
    links.append(f"[Source notebook]({REPO_URL}/blob/{BRANCH}/nbs/{nb_rel.as_posix()})")
    if page != "index":
        info = _new_markdown_cell("<small>" + " · ".join(links) + "</small>")
        at = next((i + 1 for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), 0)
        cells.insert(at, info)
    nb.cells = cells
    out = SRC / (page + ".ipynb")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, out)
    return out


def _new_markdown_cell(src):
    from fastcore.nbio import mk_cell
    cell = mk_cell(src, "markdown")
    cell["id"] = "quantease-docs-info"  # fixed id: the same input gives the same page (mkdocs-jupyter cache)
    return cell


# ----------------------------------------------------------------------------- API pages
def write_api_pages(lib_dir, module_notebook, nb_pages):
    pages = []
    for f in sorted(lib_dir.glob("*.py")):
        if f.stem.startswith("_"):
            continue
        mod = f.stem
        lines = [f"# {LIB}.{mod}", ""]
        nb = module_notebook.get(mod)
        if nb:
            lines += [f"Written in the notebook [{nb_pages[nb][1]}](../{nb_pages[nb][0]}.ipynb): "
                      "the derivation, examples and tests are there.", ""]
        lines += [f"::: {LIB}.{mod}", ""]
        out = SRC / "api" / f"{mod}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines))
        pages.append((mod, f"api/{mod}.md"))
    return pages


# ----------------------------------------------------------------------------- assets
def vendor_mathjax(allow_missing=False):
    "Copy MathJax 3 (npm package, pinned in docs/package-lock.json) into the site sources."
    es5 = NPM / "node_modules" / "mathjax" / "es5"
    want = json.loads((DOCS / "package.json").read_text())["dependencies"]["mathjax"]
    have = None
    pj = NPM / "node_modules" / "mathjax" / "package.json"
    if pj.exists():
        have = json.loads(pj.read_text()).get("version")
    if have != want:
        NPM.mkdir(parents=True, exist_ok=True)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(DOCS / f, NPM / f)
        npm = shutil.which("npm")
        cmd = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"] if npm else None
        log.info("installing MathJax %s from npm into %s", want, NPM.relative_to(ROOT))
        r = subprocess.run(cmd, cwd=NPM) if cmd else None
        if r is None or r.returncode != 0:
            msg = "npm is missing or `npm ci` failed: MathJax could not be vendored"
            if not allow_missing:
                sys.exit(f"docs/build.py: {msg} (install Node.js/npm, or pass --offline-ok)")
            log.warning(msg)
            return
    dest = SRC / "assets" / "mathjax"
    # one combined component (TeX input, CommonHTML output) plus what it loads lazily
    keep = ["tex-mml-chtml.js", "input", "output/chtml", "a11y", "ui", "sre", "adaptors"]
    for k in keep:
        s = es5 / k
        if s.is_dir():
            shutil.copytree(s, dest / k, dirs_exist_ok=True)
        elif s.exists():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, dest / k)
    for f in (NPM / "node_modules" / "mathjax").glob("LICENSE*"):
        shutil.copy2(f, dest / f.name)


def copy_static_assets():
    dest = SRC / "assets"
    dest.mkdir(parents=True, exist_ok=True)
    for f in (DOCS / "assets").iterdir():
        if f.is_file():
            shutil.copy2(f, dest / f.name)


def write_markdown_twins(site, pages):
    "`<page>.html.md` next to each notebook page: the notebook as plain markdown, images left out."
    from nbconvert import MarkdownExporter
    import nbformat
    exp = MarkdownExporter()
    for page, src in pages:
        nb = nbformat.read(src, as_version=4)
        for c in nb.cells:
            if c.cell_type == "code":
                c.outputs = [o for o in c.get("outputs", []) if o.get("output_type") == "stream" or
                             "text/plain" in o.get("data", {}) and not any(k.startswith("image/") for k in o.get("data", {}))]
                if "qe_remove_input" in c.metadata.get("tags", []):
                    c.source = ""
        body, _ = exp.from_notebook_node(nb)
        (site / (page + ".html.md")).write_text(body)


# ----------------------------------------------------------------------------- main
class _Count(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.n = 0

    def emit(self, record):
        self.n += 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strict", action="store_true", help="fail on MkDocs warnings")
    ap.add_argument("--offline-ok", action="store_true", help="build without MathJax if npm cannot be reached")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)-7s %(name)s: %(message)s")
    counter = _Count()
    logging.getLogger().addHandler(counter)
    # nbconvert's accessibility note on every matplotlib output: not actionable for saved outputs
    logging.getLogger("traitlets").addFilter(lambda r: "Alternative text is missing" not in r.getMessage())
    t0 = time.time()
    os.chdir(ROOT)
    # notebook pages are cached by content (mkdocs.yml cache_dir): keep the cache out of the clone
    os.environ.setdefault("QE_DOCS_CACHE", str(Path.home() / ".cache" / "quantease-docs" / "mkdocs-jupyter"))

    from nbdev.config import get_config
    cfg = get_config(ROOT)
    nbs, lib_dir = Path(cfg.nbs_path), Path(cfg.lib_path)
    global REPO_URL, BRANCH
    REPO_URL, BRANCH = cfg.get("git_url") or REPO_URL, cfg.get("branch") or BRANCH

    if SRC.exists():
        shutil.rmtree(SRC)
    SRC.mkdir(parents=True)

    notebooks = find_notebooks(nbs)
    nb_pages = {}  # nbs-relative path -> (page name, title)
    used = {}
    for rel in notebooks:
        name = page_name(rel)
        if name in used or name.startswith("api/") or name == "api":  # keep page names unique
            name = rel.with_suffix("").as_posix()
        used[name] = rel
        nb_pages[rel.as_posix()] = name

    from fastcore.nbio import read_nb
    titles, module_notebook = {}, {}
    for rel in notebooks:
        nb = read_nb(nbs / rel)
        titles[rel.as_posix()] = nb_title(nb, Path(nb_pages[rel.as_posix()]).name.replace("_", " ").capitalize())
        for c in nb.cells:
            m = c.cell_type == "code" and re.search(r"^\s*#\s*\|\s*default_exp\s+(\S+)", c.source, re.M)
            if m:
                module_notebook.setdefault(m.group(1).split(".")[-1], rel.as_posix())
                break
    lib_modules = {f.stem for f in lib_dir.glob("*.py") if not f.stem.startswith("_")}
    linker = Linker({k: v for k, v in nb_pages.items()}, module_symbols(lib_dir))

    written = []
    for rel in notebooks:
        page = nb_pages[rel.as_posix()]
        written.append((page, write_notebook_page(nbs / rel, rel, page, linker, lib_modules)))
    pages_with_titles = {k: (v, titles[k]) for k, v in nb_pages.items()}
    api = write_api_pages(lib_dir, module_notebook, pages_with_titles)

    # navigation: home, then the notebooks in nbs/ order (sub-folders as sections), then the API
    nav, sections = [], {}
    home = nb_pages.get("index.ipynb")
    if home is None:
        (SRC / "index.md").write_text(_fallback_home(pages_with_titles))
        nav.append({"Home": "index.md"})
    for rel in notebooks:
        key = rel.as_posix()
        entry = {titles[key]: nb_pages[key] + ".ipynb"}
        if key == "index.ipynb":
            nav.insert(0, {"Home": "index.ipynb"})
        elif rel.parent == Path("."):
            nav.append(entry)
        else:
            sec = rel.parent.as_posix()
            if sec not in sections:
                sections[sec] = []
                nav.append({sec.replace("_", " ").replace("/", " / ").title(): sections[sec]})
            (sections[sec].insert(0, entry) if rel.name == "index.ipynb" else sections[sec].append(entry))
    if api:
        nav.append({"API reference": [{f"{LIB}.{m}": p} for m, p in api]})

    copy_static_assets()
    vendor_mathjax(allow_missing=args.offline_ok)
    t1 = time.time()

    from mkdocs.config import load_config
    from mkdocs.commands.build import build
    mk = load_config(str(ROOT / "mkdocs.yml"), nav=nav, strict=args.strict)
    mk.plugins.on_startup(command="build", dirty=False)
    try:
        build(mk)
    finally:
        mk.plugins.on_shutdown()
    site = Path(mk.site_dir)
    write_markdown_twins(site, written)
    t2 = time.time()
    print(f"docs: {len(notebooks)} notebook pages, {len(api)} API pages -> {site.relative_to(ROOT)}/ "
          f"(prepare {t1 - t0:.1f}s, mkdocs {t2 - t1:.1f}s, {counter.n} warnings)")
    if args.strict and counter.n:
        sys.exit(f"docs/build.py: {counter.n} warnings with --strict")


def _fallback_home(pages):
    lines = ["# quantease", "", "No `nbs/index.ipynb` yet. Pages:", ""]
    for k, (page, title) in pages.items():
        lines.append(f"- [{title}]({page}.ipynb)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
