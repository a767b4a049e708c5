#!/usr/bin/env python
"""Run the notebook tests one `nbdev-test` process per notebook, N at a time, and count them.

    python tools/test_nbs.py                      # every notebook in nbs/, 2 at a time
    python tools/test_nbs.py nbs/01_grid.ipynb    # some notebooks
    python tools/test_nbs.py --flags "slow"       # also run cells flagged #| slow

It runs the same tests as `nbdev-test --n-workers 2` (same notebooks: nbdev's skip rules and
`.notest` files; same skipped cells: pyproject `tst_flags`), but each notebook in its own process,
so it can print each notebook's wall time, show the log of a failing one, stop one that hangs
(--timeout), and close with the line CI reads: `tests: N passed, N failed` (notebooks).
Exit status 1 when a notebook fails (or none was found).

Threads: with W workers on C cores each notebook gets OMP_NUM_THREADS=max(1, C//W) unless the
environment already sets it, so parallel notebooks do not fight over the cores.
"""
import argparse, os, shutil, signal, subprocess, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def find_notebooks(paths):
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    cfg = get_config(ROOT)
    files = []
    for p in paths or [str(cfg.nbs_path)]:
        p = Path(p)
        if p.is_file():
            files.append(p.resolve())
        elif p.is_dir():
            files += [Path(f).resolve() for f in nbglob(p, as_path=True)]
        else:
            sys.exit(f"test_nbs.py: no such notebook or folder: {p}")
    # nbdev-test leaves out every notebook with a `.notest` file beside it
    return sorted(f for f in dict.fromkeys(files) if not (f.parent / ".notest").exists())


def run_one(nb, flags, timeout, env, logdir):
    cmd = [shutil.which("nbdev-test") or "nbdev-test", str(nb)]
    if flags:
        cmd += ["--flags", flags]
    log = Path(logdir) / (nb.stem + ".log")
    t0 = time.time()
    with open(log, "w") as out:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            rc = "timeout"
    return nb, rc, time.time() - t0, log.read_text(errors="replace")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", help="notebooks or folders (default: nbs/)")
    ap.add_argument("--flags", default="", help='test flags to run, e.g. "slow gpu"')
    ap.add_argument("--n-workers", type=int, default=int(os.environ.get("QE_TEST_WORKERS", 2)))
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("QE_NB_TIMEOUT", 1200)),
                    help="seconds before one notebook is stopped and counted as failed (default 1200)")
    args = ap.parse_args(argv)

    nbs = find_notebooks(args.paths)
    if not nbs:
        print("test_nbs.py: no notebooks found")
        print("tests: 0 passed, 0 failed")
        return 1
    env = dict(os.environ)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // max(1, args.n_workers)))
    print(f"testing {len(nbs)} notebooks, {args.n_workers} at a time"
          f"{' with flags ' + repr(args.flags) if args.flags else ''} (OMP_NUM_THREADS={env['OMP_NUM_THREADS']})",
          flush=True)
    t0, lock = time.time(), threading.Lock()
    passed, failed = [], []
    with tempfile.TemporaryDirectory(prefix="qe-nbtest-") as logdir, \
            ThreadPoolExecutor(max_workers=max(1, args.n_workers)) as pool:
        futs = [pool.submit(run_one, nb, args.flags, args.timeout, env, logdir) for nb in nbs]
        for fut in as_completed(futs):
            nb, rc, dt, log = fut.result()
            name = nb.relative_to(ROOT).as_posix() if nb.is_relative_to(ROOT) else str(nb)
            with lock:
                if rc == 0:
                    passed.append(name)
                    print(f"PASS {name:<40} {dt:7.1f}s", flush=True)
                else:
                    failed.append(name)
                    why = f"stopped after {args.timeout:.0f}s" if rc == "timeout" else f"exit {rc}"
                    print(f"FAIL {name:<40} {dt:7.1f}s  ({why})", flush=True)
                    lines = log.rstrip().splitlines()
                    for line in lines[-80:]:
                        print(f"  | {line}")
                    if len(lines) > 80:
                        print(f"  | ... ({len(lines) - 80} earlier lines not shown)")
    print(f"notebook tests took {time.time() - t0:.1f}s wall")
    if failed:
        print("failed: " + " ".join(sorted(failed)))
    print(f"tests: {len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
