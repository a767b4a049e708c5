#!/usr/bin/env python
"""Exit 0 when `pip install -e ".[EXTRA]"` would change nothing, so .ci/run can skip it.

    python tools/deps_ok.py dev        # 0: quantease is installed editable from this checkout and
                                       #    every requirement of it and of the extra is satisfied
                                       # 1: something is missing or different (the reason is printed)

Only reads pyproject.toml and the installed distributions' metadata: no network, about 0.5 s.
"""
import json, sys, tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(extras):
    try:
        from packaging.requirements import Requirement
    except ImportError:
        print("deps_ok: packaging is not installed")
        return 1
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = proj["name"]
    try:
        dist = metadata.distribution(name)
        url = json.loads(dist.read_text("direct_url.json") or "{}")
    except metadata.PackageNotFoundError:
        print(f"deps_ok: {name} is not installed")
        return 1
    if not url.get("dir_info", {}).get("editable") or url.get("url") != ROOT.as_uri():
        print(f"deps_ok: {name} is not installed editable from {ROOT} ({url.get('url')})")
        return 1
    todo, done = list(proj.get("dependencies", [])), set()
    todo += [f"{name}[{e}]" for e in extras]
    while todo:
        req = Requirement(todo.pop())
        if str(req) in done or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        done.add(str(req))
        if req.name == name:  # a self-reference such as quantease[docs]
            for e in req.extras:
                todo += proj.get("optional-dependencies", {}).get(e, [])
            continue
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            print(f"deps_ok: {req.name} is not installed")
            return 1
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            print(f"deps_ok: {req.name} {have} does not satisfy {req}")
            return 1
        for e in req.extras:  # e.g. mkdocstrings[python]: the extra's own requirements
            for r in metadata.requires(req.name) or []:
                rr = Requirement(r)
                if rr.marker and rr.marker.evaluate({"extra": e}) and not rr.marker.evaluate({"extra": ""}):
                    todo.append(f"{rr.name}{rr.specifier}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
