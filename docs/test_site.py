#!/usr/bin/env python
"""Test the built docs site (site/) the way a reader sees it: `python docs/test_site.py`.

1. Link check (stdlib html.parser) over every HTML file: each internal href/src must resolve to a
   file in site/; a page asset (script, stylesheet, image, iframe) from another host fails, since
   the site must work offline. Missing #fragments are reported as warnings.
2. Browser: Debian's Chromium (/usr/bin/chromium, driven by Playwright) on the site served from
   127.0.0.1. Starting at the home page it follows the navigation to every page and checks that
   each one loads (HTTP 200, no JavaScript error, no failed or off-machine request), shows no
   Python traceback or 404 text, typesets its maths (MathJax finished, formulas rendered, no TeX
   error, no `$...$` left raw in notebook text), and that every <img> loaded (naturalWidth > 0).
   Every HTML page must be reachable from the navigation. Search is tried once on the home page.
   A screenshot of each page (its top 5000 px; --shot-height 0 for all of it) goes to
   _docs/screenshots/ (git-ignored).

Closes with `site: N passed, N failed` (pages) and exits non-zero on any failure.
Options: --site DIR, --screenshots DIR, --chromium PATH (or env CHROMIUM), --shot-height PX,
--no-browser (link check only).
"""
import argparse, html.parser, os, posixpath, re, shutil, socket, subprocess, sys, tempfile, time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit, unquote

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
ASSET_TAGS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src", "video": "src"}
MATH_CLASSES = ("jp-RenderedMarkdown", "jp-RenderedLatex", "jp-MarkdownOutput", "arithmatex")
_MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$])\$(?!\s)[^$\n]+?(?<![\s\\])\$|\\\(.+?\\\)|\\\[.+?\\\]|\\begin\{", re.S)


# ----------------------------------------------------------------------------- link check
class _Refs(html.parser.HTMLParser):
    "Collects links, page assets, element ids and the text of maths-bearing elements."

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.assets, self.ids = [], [], set()
        self.math_text, self._math_depth, self._stack = [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("id", "name"):
            if a.get(k) and (k == "id" or tag == "a"):
                self.ids.add(a[k])
        if tag == "a" and a.get("href") is not None:
            self.links.append(a["href"])
        elif tag == "link" and a.get("href"):
            (self.assets if {"stylesheet", "icon", "preload", "modulepreload"} & set((a.get("rel") or "").split())
             else self.links).append(a["href"])
        elif tag in ASSET_TAGS and a.get(ASSET_TAGS[tag]):
            self.assets.append(a[ASSET_TAGS[tag]])
        if tag in ("br", "img", "hr", "meta", "link", "input", "source", "wbr", "col", "area", "base", "embed"):
            return
        is_math = any(c in (a.get("class") or "").split() for c in MATH_CLASSES)
        skip = tag in ("pre", "code", "script", "style")
        self._stack.append((tag, is_math, skip))
        if is_math:
            self._math_depth += 1

    def handle_endtag(self, tag):
        while self._stack:
            t, is_math, _ = self._stack.pop()
            if is_math:
                self._math_depth -= 1
            if t == tag:
                break

    def handle_data(self, data):
        if self._math_depth > 0 and not any(s for _, _, s in self._stack):
            self.math_text.append(data)


def parse(path):
    p = _Refs()
    p.feed(path.read_text(errors="replace"))
    return p


def base_path(site):
    "URL path the site is served under (from mkdocs.yml site_url), e.g. /quantease/."
    m = re.search(r"^site_url:\s*(\S+)", (ROOT / "mkdocs.yml").read_text(), re.M)
    url = m.group(1).strip("'\"") if m else "/"
    p = urlsplit(url).path or "/"
    return p if p.endswith("/") else p + "/"


def resolve(site, page_rel, ref, base):
    "Site file that `ref` (found in page `page_rel`) points to, and its fragment; None if external."
    u = urlsplit(ref)
    if u.scheme or u.netloc or ref.startswith(("mailto:", "javascript:", "data:", "tel:")):
        return None
    path = unquote(u.path)
    if not path:
        target = page_rel
    elif path.startswith("/"):
        if not path.startswith(base):
            return ("<outside site>" + path, u.fragment)
        target = path[len(base):]
    else:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page_rel), path))
    if target in ("", ".") or target.endswith("/"):
        target = posixpath.join(target, "index.html") if target not in ("", ".") else "index.html"
    elif (site / target).is_dir():
        target = posixpath.join(target, "index.html")
    return target, u.fragment


def link_check(site):
    "Per page: list of broken-link failures, list of warnings. Also returns the parse results."
    base = base_path(site)
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    parsed = {p: parse(site / p) for p in pages}
    fails, warns = defaultdict(list), defaultdict(list)
    for page, refs in parsed.items():
        for ref in refs.assets:
            u = urlsplit(ref)
            if u.scheme in ("http", "https") or ref.startswith("//"):
                fails[page].append(f"asset from another host (site must work offline): {ref}")
        for ref in refs.links + refs.assets:
            r = resolve(site, page, ref, base)
            if r is None:
                continue
            target, frag = r
            if target.startswith("<outside site>") or ".." in target.split("/") or not (site / target).is_file():
                fails[page].append(f"broken link: {ref}")
            elif frag and target.endswith(".html") and target in parsed and frag not in parsed[target].ids:
                warns[page].append(f"missing anchor: {ref}")
    return pages, parsed, fails, warns


# ----------------------------------------------------------------------------- server
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(site):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"http://127.0.0.1:{port}/"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit("test_site.py: the local http server did not start")


# ----------------------------------------------------------------------------- browser
_PAGE_JS = r"""async () => {
  for (const img of document.images) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); setTimeout(r, 10000); })));
  const art = document.querySelector('article') || document.body;
  const sel = '.jp-RenderedMarkdown, .jp-RenderedLatex, .jp-MarkdownOutput, .arithmatex';
  const leftover = [];
  for (const el of art.querySelectorAll(sel)) {
    const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {acceptNode: n =>
        n.parentElement.closest('pre, code, mjx-container, script, style') ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
    let t = ''; while (w.nextNode()) t += w.currentNode.nodeValue;
    const m = t.match(/\$\$[^$]+\$\$|(^|[^\\$])\$(?!\s)[^$\n]+?[^\s\\]\$|\\\([^]*?\\\)|\\\[[^]*?\\\]/);
    if (m) leftover.push(m[0].trim().slice(0, 80));
  }
  return {
    title: document.title,
    h1: !!art.querySelector('h1'),
    text: art.innerText,
    math: art.querySelectorAll('mjx-container').length,
    mathErrors: [...art.querySelectorAll('mjx-merror, [data-mjx-error]')].map(e => e.getAttribute('data-mjx-error') || e.textContent).slice(0, 5),
    leftover: leftover.slice(0, 5),
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    nav: [...document.querySelectorAll('nav.md-nav--primary a.md-nav__link[href], .md-footer a[href], .md-header a[href], .md-tabs a[href]')]
        .map(a => a.href),
  };
}"""


def browse(site, url0, pages, parsed, shots, chromium, results, timings, max_height=0):
    from playwright.sync_api import sync_playwright
    host = urlsplit(url0).netloc
    expected = set(p for p in pages if p != "404.html")
    todo, seen, order = ["index.html"], {"index.html"}, []
    with tempfile.TemporaryDirectory(prefix="qe-chromium-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=chromium, headless=True,
                                                    args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900})
        external = []

        def route(r):
            if urlsplit(r.request.url).netloc != host:
                external.append(r.request.url)
                return r.abort()
            return r.continue_()
        ctx.route("**/*", route)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        events = []
        page.on("console", lambda m: m.type == "error" and events.append(f"console error: {m.text[:200]}"))
        page.on("pageerror", lambda e: events.append(f"JavaScript error: {str(e)[:200]}"))
        page.on("requestfailed", lambda r: urlsplit(r.url).netloc == host and
                events.append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and events.append(f"HTTP {r.status}: {r.url}"))
        while todo:
            rel = todo.pop(0)
            order.append(rel)
            t0 = time.time()
            events.clear(); external.clear()
            fails = results[rel]
            try:
                resp = page.goto(url0 + rel, wait_until="load", timeout=60000)
                if resp is None or resp.status != 200:
                    fails.append(f"HTTP {resp.status if resp else 'no response'}")
                try:
                    page.wait_for_function("document.documentElement.dataset.mathjax === 'done'", timeout=30000)
                except Exception:
                    fails.append("MathJax did not finish typesetting (not loaded?)")
                info = page.evaluate(_PAGE_JS)
            except Exception as e:
                fails.append(f"page did not load: {str(e).splitlines()[0]}")
                timings[rel] = time.time() - t0
                continue
            text = info["text"]
            if "Traceback (most recent call last)" in text:
                i = text.index("Traceback (most recent call last)")
                fails.append("Python traceback in page: " + " ".join(text[i:i + 300].split())[:200])
            if re.search(r"\b404\b.{0,20}not found", text, re.I | re.S) or "404" in info["title"]:
                fails.append("page shows 404")
            if not info["h1"]:
                fails.append("no <h1> title")
            expect_math = bool(_MATH.search("".join(parsed[rel].math_text))) if rel in parsed else False
            if expect_math and info["math"] == 0:
                fails.append("page has $ maths but nothing was typeset")
            for e in info["mathErrors"]:
                fails.append(f"TeX error: {e[:120]}")
            for s in info["leftover"]:
                fails.append(f"maths left untypeset: {s}")
            bad = [i["src"][:100] for i in info["images"] if not i["ok"]]
            if bad:
                fails.append(f"{len(bad)} image(s) did not load: {', '.join(bad[:3])}")
            fails.extend(dict.fromkeys(events))
            fails.extend(f"off-machine request (blocked): {u}" for u in dict.fromkeys(external))
            if rel == "index.html":
                fails.extend(check_search(page))
            shot = shots / (rel[:-5].replace("/", "__") + ".png")
            try:
                h = page.evaluate("document.documentElement.scrollHeight")
                clip = {"x": 0, "y": 0, "width": 1280, "height": min(h, max_height)} if max_height else None
                page.screenshot(path=str(shot), full_page=True, clip=clip, timeout=60000)
            except Exception as e:
                fails.append(f"screenshot failed: {str(e).splitlines()[0]}")
            timings[rel] = time.time() - t0
            results[rel + "#info"] = [f"{info['math']} formulas, {len(info['images'])} images"]
            for href in info["nav"]:
                u = urlsplit(href)
                if u.netloc != host:
                    continue
                t = u.path.lstrip("/") or "index.html"
                if t.endswith("/"):
                    t += "index.html"
                if t not in seen and t.endswith(".html"):
                    seen.add(t)
                    todo.append(t)
        ctx.close()
    for rel in sorted(expected - set(order)):
        results[rel].append("not reachable from the site navigation")
    for rel in sorted(set(order) - set(pages)):
        results[rel].append("navigation links to a page that is not in site/")
    return order


def check_search(page):
    "Type a word into Material's search box; at least one result must come back."
    try:
        page.keyboard.press("/")  # Material's shortcut to the search box
        page.click("input.md-search__input", timeout=5000)
        page.keyboard.type("quantization", delay=20)  # Material searches on key events
        page.wait_for_selector(".md-search-result__item", timeout=15000)
        page.keyboard.press("Escape")
        return []
    except Exception as e:
        return [f"search returned no result: {str(e).splitlines()[0][:120]}"]


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description="Test the built docs site.")
    ap.add_argument("--site", default=str(ROOT / "site"))
    ap.add_argument("--screenshots", default=str(ROOT / "_docs" / "screenshots"))
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--no-browser", action="store_true", help="link check only")
    ap.add_argument("--shot-height", type=int, default=5000,
                    help="screenshots show the top of each page down to this many px (0: the whole page)")
    args = ap.parse_args(argv)
    site, shots = Path(args.site).resolve(), Path(args.screenshots).resolve()
    if not (site / "index.html").is_file():
        raise SystemExit(f"test_site.py: {site}/index.html missing: build the site first (python docs/build.py)")
    t0 = time.time()
    pages, parsed, link_fails, warns = link_check(site)
    n_links = sum(len(p.links) + len(p.assets) for p in parsed.values())
    print(f"link check: {len(pages)} HTML files, {n_links} links/assets, "
          f"{sum(map(len, link_fails.values()))} broken, {sum(map(len, warns.values()))} warnings ({time.time() - t0:.1f}s)")
    results, timings = defaultdict(list), {}
    for p in pages:
        results[p].extend(link_fails.get(p, []))
    order = sorted(pages)
    if not args.no_browser:
        if not Path(args.chromium).exists():
            raise SystemExit(f"test_site.py: no browser at {args.chromium} (apt-get install -y chromium)")
        if shots.exists():
            shutil.rmtree(shots)
        shots.mkdir(parents=True)
        proc, url0 = serve(site)
        try:
            order = browse(site, url0, pages, parsed, shots, args.chromium, results, timings, args.shot_height)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        order += [p for p in pages if p not in order and (p != "404.html" or results.get(p))]
    passed = failed = 0
    for rel in order:
        fails = results.get(rel, [])
        info = results.get(rel + "#info", [""])[0]
        t = f"{timings[rel]:.1f}s" if rel in timings else ""
        print(f"{'PASS' if not fails else 'FAIL'} {rel:<32} {t:>6}  {info}")
        for f in fails:
            print(f"       - {f}")
        for w in warns.get(rel, []):
            print(f"       ~ warning: {w}")
        passed, failed = (passed + 1, failed) if not fails else (passed, failed + 1)
    if not args.no_browser:
        print(f"screenshots: {shots.relative_to(ROOT) if shots.is_relative_to(ROOT) else shots}/ "
              f"({len(list(shots.glob('*.png')))} pages), {time.time() - t0:.1f}s in all")
    print(f"site: {passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
