"""Defaults that hold at every calibration size: the held-out layer objective of QuantEase's damping, schedule and sweep
count (and of the clipping search) against the number of calibration tokens, on real SmolLM2-135M layers.

    python bench/calibration.py [--windows 4,16,64,256,512] [--cells w3-ch,w4-ch,w4-g64] [--threads 2]
                                [--out results/study/calibration.json]
    python bench/calibration.py --report results/study/calibration.json

Calibration: the first N windows of 512 tokens of one draw of C4 training documents (`quantease.data.calibration`, seed
0), N = 4 ... 512 (2k to 256k tokens), so each size's H is a prefix of the next one's; held-out: 64 x 512 tokens of C4
validation documents (as in bench/schedules.py). The layers' inputs are the full-precision model's (the study is about
the solver, not about error propagation). For each (size, cell) every configuration's held-out relative error is
divided by the best configuration's on that (size, cell), averaged over the layers; a default should be close to 1 in
every column.
"""
import argparse, json, math, os, sys, time
from pathlib import Path
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schedules import REAL, clip, markdown, smollm2_hessians   # the layers and helpers of the schedule study
from provenance import stamp

CELLS = {'w3-ch': (3, -1), 'w3-g64': (3, 64), 'w4-ch': (4, -1), 'w4-g64': (4, 64)}


def configs():
    """name -> (what, solver(W, H, grid, tokens)), `tokens` the calibration size behind H (only the damping rule reads
    it). Every QuantEase variant runs on the H-weighted clipping search unless it says so."""
    from quantease.descent import quantease
    from quantease.gptq import gptq
    def qe(**kw):                 # every setting named: the study does not move when the library's defaults do
        kw = dict(dict(num_iter=30, shrink=0.02, percdamp=0., schedule='relaxed'), **kw)
        return fixed(clip('hmse', lambda W, H, g: quantease(W, H, g, **kw)))
    def fixed(solve): return lambda W, H, g, tokens: solve(W, H, g)   # settings that do not depend on the size
    def by_tokens(**kw):          # the shrinkage the calibration size asks for (quantease.descent.auto_shrink)
        from quantease.descent import auto_shrink
        return lambda W, H, g, tokens: qe(shrink=auto_shrink(tokens), **kw)(W, H, g, tokens)
    return {
        'default':        ('the default before this study: relaxed sweeps, H + 0.02 diag H, 30 sweeps', qe()),
        'no damping':     ('shrink 0, no λI', qe(shrink=0.)),
        'shrink .05':     ('H + 0.05 diag H', qe(shrink=0.05)),
        'shrink .1':      ('H + 0.1 diag H', qe(shrink=0.1)),
        'shrink .2':      ('H + 0.2 diag H', qe(shrink=0.2)),
        'shrink .3':      ('H + 0.3 diag H', qe(shrink=0.3)),
        'shrink .5':      ('H + 0.5 diag H', qe(shrink=0.5)),
        'shrink .2 x15':  ('H + 0.2 diag H, 15 sweeps', qe(shrink=0.2, num_iter=15)),
        'shrink .2 x20':  ('H + 0.2 diag H, 20 sweeps', qe(shrink=0.2, num_iter=20)),
        'by tokens x20':  ('H + α diag H, α = min(0.5, sqrt(2048 / tokens)), 20 sweeps (the new default)', by_tokens(num_iter=20)),
        '1% λI':          ('1% λI, no shrink (the damping before)', qe(shrink=0., percdamp=0.01)),
        'shrink+1% λI':   ('H + 0.02 diag H + 1% λI', qe(percdamp=0.01)),
        'old':            ('every sweep rounded, 1% λI (the default two versions ago)', qe(schedule='round', shrink=0., percdamp=0.01)),
        '5 sweeps':       ('the default with 5 sweeps', qe(num_iter=5)),
        '10 sweeps':      ('the default with 10 sweeps', qe(num_iter=10)),
        '20 sweeps':      ('the default with 20 sweeps', qe(num_iter=20)),
        'minmax':         ('the default on min/max ranges (no clipping search)', fixed(lambda W, H, g: quantease(W, H, g, num_iter=30, shrink=0.02))),
        'gptq-act-hmse':  ('GPTQ, act-order + static groups, 1% λI, H-weighted search', fixed(clip('hmse', lambda W, H, g: gptq(W, H, g, act_order=True, static_groups=True)))),
    }


def table(out):
    "Per configuration: held-out error / the best configuration's, mean over layers, per (cell, size); worst over all."
    rs = out['study']
    cells, sizes = out['cells'], out['sizes']
    names = list(dict.fromkeys(r['config'] for r in rs))
    best = {}
    for r in rs:
        k = (r['cell'], r['size'], r['layer'])
        best[k] = min(best.get(k, math.inf), r['held'])
    def ratio(name, cell, size):
        xs = [r['held'] / best[(cell, size, r['layer'])] for r in rs if r['config'] == name and r['cell'] == cell and r['size'] == size]
        return sum(xs) / len(xs) if xs else None
    lines = []
    for cell in cells:
        rows = []
        for name in names:
            v = [ratio(name, cell, s) for s in sizes]
            rows.append([name] + [f'{x:.3f}' if x else '-' for x in v])
        lines.append(f"\n{cell} (held-out error / the best configuration's on the same size; tokens = windows x 512):\n")
        lines.append(markdown(['config'] + [f'{s * 512 // 1024}k' for s in sizes], rows))
    rows = []
    for name in names:
        v = [ratio(name, c, s) for c in cells for s in sizes]
        v = [x for x in v if x]
        secs = [r['seconds'] for r in rs if r['config'] == name]
        rows.append([name, out['configs'][name], f'{sum(v) / len(v):.3f}', f'{max(v):.3f}', f'{sum(secs):.0f}'])
    lines.append(f"\nAll cells and sizes ({len(cells)} x {len(sizes)}): mean and worst ratio to the best configuration; solve seconds summed:\n")
    lines.append(markdown(['config', 'what', 'mean', 'worst', 'solve s'], rows))
    return '\n'.join(lines)


def main(argv=None):
    if argv is None: argv = sys.argv[1:]
    if argv[:1] == ['--report']:
        return print(table(json.loads(Path(argv[1] if len(argv) > 1 else 'results/study/calibration.json').read_text())))
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--windows', default='4,16,64,256,512', help='calibration sizes, in windows of 512 tokens')
    p.add_argument('--cells', default='w3-ch,w4-ch,w4-g64')
    p.add_argument('--configs', default=None, help='comma list (default: all)')
    p.add_argument('--layers', default=','.join(REAL))
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--data-dir', default=os.environ.get('QUANTEASE_DATA'))
    p.add_argument('--out', default='results/study/calibration.json')
    p.add_argument('--append', action='store_true', help='add these configurations to the results already in --out (same sizes and cells)')
    a = p.parse_args(argv)
    if not a.data_dir: raise SystemExit('the SmolLM2 layers need --data-dir or $QUANTEASE_DATA')
    torch.set_num_threads(a.threads)
    from quantease.grid import Grid
    from quantease.hessian import relative_error
    sizes, cells = [int(s) for s in a.windows.split(',')], a.cells.split(',')
    cfgs = configs()
    names = a.configs.split(',') if a.configs else list(cfgs)
    out = dict(provenance=stamp(), settings=vars(a), sizes=sizes, cells=cells, configs={n: cfgs[n][0] for n in names}, study=[])
    if a.append:              # a second pass: the same problems, more configurations (each pass keeps its provenance)
        old = json.loads(Path(a.out).read_text())
        if (old['sizes'], old['cells']) != (sizes, cells): raise SystemExit(f"--append needs the sizes and cells of {a.out}: {old['sizes']}, {old['cells']}")
        names = [n for n in names if n not in old['configs']]
        out = dict(old, passes=old.get('passes', [dict(provenance=old['provenance'], settings=old['settings'])]) + [dict(provenance=out['provenance'], settings=vars(a))],
                   configs={**old['configs'], **{n: cfgs[n][0] for n in names}})
    problems = smollm2_hessians(a.layers.split(','), sizes, a.data_dir)
    for layer, (W, Hs, Hh) in problems.items():
        for size in sizes:
            for cell in cells:
                bits, gs = CELLS[cell]
                for name in names:
                    t = time.perf_counter()
                    f, grid = cfgs[name][1], Grid(bits=bits, groupsize=gs)
                    q = f(W, Hs[size], grid, size * 512)
                    out['study'].append(dict(layer=layer, size=size, cell=cell, config=name, seconds=round(time.perf_counter() - t, 3),
                                             cal=relative_error(W, q.weight, Hs[size]), held=relative_error(W, q.weight, Hh)))
            print(f'{layer} {size} windows: done', file=sys.stderr, flush=True)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(out, indent=1))       # after each layer: a crash keeps what is done
    print(table(out))


if __name__ == '__main__':
    main()
