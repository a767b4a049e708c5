"""The QuantEase schedule study: calibration and held-out layer objectives of sweep schedules, damping and starts,
on synthetic and real SmolLM2 layers, at 2, 3 and 4 bits, per channel and with groups of 64; optionally side by side
with the authors' reference implementation (linkedin/QuantEase, from a local clone that is never part of this repo).

    python bench/schedules.py [--bits 2,3,4] [--groups -1,64] [--threads 1] [--out runs/schedules.json]
                              [--reference /path/to/linkedin-QuantEase] [--only-reference]
    python bench/schedules.py --report runs/schedules     # the perplexity table of bench/schedules.txt's runs

Held-out objective: the relative error of the same quantized layer measured with an H built from *other* tokens
(synthetic: a second draw of 8192 tokens from the same distribution; SmolLM2: 64 x 512 tokens of C4 validation
documents, against 16 x 512 C4 training tokens for calibration). Each configuration's objective is divided by the old
default's (every sweep rounded, 1% damping) on the same problem, and the ratios are averaged (a geometric mean would
read the same to 3 digits here).

Synthetic layers (the recipe of the issue that asked for this study): Student-t(4) activations mixed by
I + N(0,1)/sqrt(c), channel scales exp(N(0, 0.25)), 0.5% of the channels x20, 8192 tokens; W Student-t(5) * 0.02.
"""
import argparse, importlib, json, math, os, sys, time, types
from pathlib import Path
import torch
from provenance import write_result

SYNTH = ['1536x576', '576x1536', '1024x1024']
REAL = ['5.self_attn.q_proj', '5.self_attn.o_proj', '5.mlp.down_proj',
        '20.self_attn.q_proj', '20.self_attn.o_proj', '20.mlp.down_proj']


def synthetic(rows, cols, tokens=8192, seed=0):
    "W and the calibration and held-out H of one synthetic layer."
    g = torch.Generator().manual_seed(seed)
    mix = torch.eye(cols) + torch.randn(cols, cols, generator=g) / math.sqrt(cols)
    scale = torch.exp(torch.randn(cols, generator=g) * 0.5)
    loud = torch.randperm(cols, generator=g)[:max(1, int(0.005 * cols))]
    scale[loud] *= 20
    t4 = torch.distributions.StudentT(4.)
    def hessian(s):
        torch.manual_seed(s)
        X = (t4.sample((tokens, cols)) @ mix) * scale
        return X.T @ X / tokens
    Hc, Hh = hessian(seed + 1), hessian(seed + 2)
    torch.manual_seed(seed + 3)
    return torch.distributions.StudentT(5.).sample((rows, cols)) * 0.02, Hc, Hh


def smollm2_hessians(names, sizes, data_dir):
    """W, the calibration H after each size in `sizes` (windows of 512 tokens of one C4 draw, seed 0: each size's H
    sums a prefix of the next one's windows) and the held-out H (64 x 512 C4 validation tokens), per SmolLM2-135M
    layer name ('block.module'), from full-precision inputs."""
    from quantease.models import load_model, find_blocks, find_linears
    from quantease.data import calibration
    from quantease.hessian import Hessian
    from tqdm import tqdm
    model, tok = load_model('smollm2-135m')
    _, blocks = find_blocks(model)
    lins = {n: find_linears(blocks[int(n.split('.')[0])])[n.split('.', 1)[1]] for n in names}
    last = blocks[max(int(n.split('.')[0]) for n in names)]
    class Stop(Exception): pass
    def stop(*a): raise Stop          # nothing after the deepest studied block is needed
    def collect(windows, keep):
        hs = {n: Hessian(m.in_features) for n, m in lins.items()}
        def hook(n):
            def f(module, args): hs[n].add(args[0])
            return f
        handles = [m.register_forward_pre_hook(hook(n)) for n, m in lins.items()] + [last.register_forward_hook(stop)]
        snaps = {}
        try:
            with torch.no_grad():
                for i, ids in enumerate(tqdm(windows, desc='windows', file=sys.stderr), 1):
                    try: model(ids[None])
                    except Stop: pass
                    if i in keep: snaps[i] = {n: (h.S / h.nsamples).float() for n, h in hs.items()}   # H so far
        finally:
            for h in handles: h.remove()
        return snaps
    cal = collect(calibration('c4', tok, nsamples=max(sizes), seqlen=512, seed=0, data_dir=data_dir), set(sizes))
    held = collect(calibration(str(Path(data_dir) / 'c4' / 'c4-validation.sample2000.jsonl'), tok, nsamples=64, seqlen=512, seed=1), {64})[64]
    return {n: (lins[n].weight.data.clone(), {s: cal[s][n] for s in sizes}, held[n]) for n in names}


def smollm2(names, data_dir):
    "W and the calibration (16 x 512 C4 tokens) / held-out H of SmolLM2-135M layers `names` ('block.module')."
    return {n: (W, Hs[16], held) for n, (W, Hs, held) in smollm2_hessians(names, [16], data_dir).items()}


def configs():
    "name -> (description, function(W, H, grid) -> Quantized)."
    from quantease.descent import quantease, Schedule
    from quantease.outliers import gptq_quantease
    from quantease.gptq import gptq
    def qe(**kw): return lambda W, H, g: quantease(W, H, g, **kw)
    ref = Schedule(period=3, first=1, last=25, tail=1, box=False)
    return {
        'old':        ('every sweep rounded, 1% λI (the default before)', qe(schedule='round', percdamp=0.01, shrink=0.)),
        'reference':  ("the authors' schedule, no damping (their code)", qe(schedule='reference', percdamp=0., shrink=0.)),
        'ref+box':    ('the same, relaxed codes kept in the grid range', qe(schedule=Schedule(3, 1, 25, 1), percdamp=0., shrink=0.)),
        'ref, 1% λI': ("the authors' schedule with 1% λI", qe(schedule='reference', percdamp=0.01, shrink=0.)),
        'step 0.5':   ('relaxed steps shrunk to half the way', qe(schedule=Schedule(3, 1, tail=4, step=0.5), percdamp=0., shrink=0.)),
        'step 1.25':  ('relaxed steps over-relaxed (SOR 1.25)', qe(schedule=Schedule(3, 1, tail=4, step=1.25), percdamp=0., shrink=0.)),
        'step 1.5':   ('relaxed steps over-relaxed (SOR 1.5)', qe(schedule=Schedule(3, 1, tail=4, step=1.5), percdamp=0., shrink=0.)),
        'every 2nd':  ('a relaxed sweep every 2nd sweep', qe(schedule=Schedule(2, 1, tail=4), percdamp=0., shrink=0.)),
        'every 4th':  ('a relaxed sweep every 4th sweep', qe(schedule=Schedule(4, 1, tail=4), percdamp=0., shrink=0.)),
        'shrink .02': ('reference pattern, H + 0.02 diag H', qe(schedule=Schedule(3, 1, tail=4), percdamp=0., shrink=0.02)),
        '10% λI':     ('reference pattern, 10% λI', qe(schedule=Schedule(3, 1, tail=4), percdamp=0.1, shrink=0.)),
        'gptq start': ('GPTQ, then 30 relaxed sweeps (SOR 1.25, shrink .02)', lambda W, H, g: gptq_quantease(W, H, g, num_iter=30)),
        'default':    ('the new default: SOR 1.25, H + 0.02 diag H, no λI', qe()),
        # the candidates of the peers issue (bench/peers.py): visiting order and each group's range
        'act-order':  ('the default, columns visited by decreasing H_jj', qe(act_order=True)),
        'mse':        ("the default on GPTQ's clipping search (least sum |error|^2.4)", clip('mse', qe())),
        'hmse':       ('the default on the H_jj-weighted clipping search', clip('hmse', qe())),
        'hmse+act':   ('both', clip('hmse', qe(act_order=True))),
        'gptq':       ('GPTQ, 1% λI, no act-order', lambda W, H, g: gptq(W, H, g, act_order=False, static_groups=False)),
        'gptq-act':   ('GPTQ, act-order + static groups', lambda W, H, g: gptq(W, H, g, act_order=True, static_groups=True)),
        'gptq-mse':   ("GPTQ, act-order + static groups, GPTQ's clipping search", clip('mse', lambda W, H, g: gptq(W, H, g, act_order=True, static_groups=True))),
        'gptq-hmse':  ('GPTQ, act-order + static groups, H_jj-weighted search', clip('hmse', lambda W, H, g: gptq(W, H, g, act_order=True, static_groups=True))),
        # least-squares scales for the codes (`refit`), on the pipeline's defaults at 16 x 512 calibration tokens
        'pipeline':   ("the pipeline's default at 16 x 512 tokens: H_jj-weighted search, shrink 0.5", clip('hmse', qe(tokens=8192))),
        'sweeps+10':  ('the same with 10 more sweeps (as many as refit 2 adds)', clip('hmse', qe(tokens=8192, num_iter=30))),
        'refit 1':    ('the same, then 1 round of least-squares scales + 5 sweeps', clip('hmse', qe(tokens=8192, refit=1))),
        'refit 2':    ('the same, then 2 rounds of least-squares scales + 5 sweeps', clip('hmse', qe(tokens=8192, refit=2))),
        'refit 3':    ('the same, then 3 rounds of least-squares scales + 5 sweeps', clip('hmse', qe(tokens=8192, refit=3))),
    }


def clip(name, solve):
    "`solve` on the same grid with its groups' ranges chosen by `quantease.grid.CLIPS[name]`."
    from dataclasses import replace
    from quantease.grid import CLIPS
    return lambda W, H, g: solve(W, H, replace(g, **CLIPS[name]))


def reference_quantease(root, W, H, bits, iters=30):
    "The authors' QuantEase on (W, H), per channel, no act-order; (dequantized weights, seconds). CUDA timing made inert."
    if str(root) not in sys.path: sys.path.insert(0, str(root))
    class _Event:
        def __init__(self, **kw): pass
        def record(self): pass
        def elapsed_time(self, other): return 0.
    torch.cuda.Event, torch.cuda.synchronize = _Event, lambda *a, **k: None
    qe, quant = importlib.import_module('method.quantease'), importlib.import_module('method.quant')
    lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=False)
    lin.weight.data = W.clone()
    q = qe.QuantEase(lin, num_iter=iters)
    q.XtX = H.clone()
    q.quantizer = quant.Quantizer()
    q.quantizer.configure(bits, perchannel=True, sym=False, mse=False)
    import builtins
    say = builtins.print
    builtins.print = lambda *a, **k: None          # it prints per column
    try:
        t = time.perf_counter()
        q.fasterquant(group_size=-1, actorder=False)
        return lin.weight.data.clone(), time.perf_counter() - t
    finally: builtins.print = say


def markdown(header, rows):
    out = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return '\n'.join(out + ['| ' + ' | '.join(map(str, r)) + ' |' for r in rows])


def report(folder):
    "Perplexity of the schedules' model runs (bench/schedules.txt: NAME = {new,old,ref}-w{bits}[-g64]-s{seed}), with ratios to old."
    runs = {}
    for f in sorted(Path(folder).glob('*.json')):
        r = json.loads(f.read_text())
        ppl = {d: v['ppl'] for d, v in (r.get('eval') or {}).items() if isinstance(v, dict) and 'ppl' in v}
        if ppl: runs[f.stem] = dict(ppl=ppl, seconds=r['times']['quantize'], error=r['quantization'].get('mean_relative_error'))
    sets = ('wikitext2', 'ptb', 'c4')
    rows, logs = [], {'new': [], 'ref': []}
    for setting in ('w4', 'w4-g64', 'w3', 'w3-g64'):
        for seed in (0, 1):
            old = runs.get(f'old-{setting}-s{seed}')
            for who in ('new', 'old', 'ref'):
                r = runs.get(f'{who}-{setting}-s{seed}')
                if r is None: continue
                cells = []
                for d in sets:
                    ratio = r['ppl'][d] / old['ppl'][d] if old and who != 'old' else None
                    if ratio: logs[who].append(math.log(ratio))
                    cells.append(f"{r['ppl'][d]:.2f}" + (f" ({ratio:.3f})" if ratio else ''))
                rows.append([setting, seed, who, *cells, f"{r['error']:.5f}" if r['error'] else '-', f"{r['seconds']:.0f}"])
    print('SmolLM2-135M, C4 16 x 512 calibration, perplexity on the first 4 windows of 2048 tokens; '
          '(ratio) = against the old default on the same setting and seed\n')
    print(markdown(['setting', 'seed', 'schedule', 'WikiText-2', 'PTB', 'C4', 'mean layer error', 'quantize s'], rows))
    for who, ls in logs.items():
        if ls: print(f"\n{who} / old, geometric mean over {len(ls)} (setting, seed, test set) cells: {math.exp(sum(ls) / len(ls)):.3f}")


def main(argv=None):
    if argv is None: argv = sys.argv[1:]
    if argv[:1] == ['--report']: return report(argv[1] if len(argv) > 1 else 'runs/schedules')
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--bits', default='2,3,4')
    p.add_argument('--groups', default='-1,64')
    p.add_argument('--configs', default=None, help='comma list (default: all)')
    p.add_argument('--sources', default='synthetic,smollm2')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--reference', default=None, help='a local clone of linkedin/QuantEase: adds the side-by-side table')
    p.add_argument('--only-reference', action='store_true', help='only the side-by-side table')
    p.add_argument('--data-dir', default=os.environ.get('QUANTEASE_DATA'))
    p.add_argument('--out', default='runs/schedules.json')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from quantease.grid import Grid
    from quantease.hessian import relative_error
    from quantease.gptq import gptq
    from quantease.descent import quantease
    problems = {}
    if 'synthetic' in a.sources: problems.update({('synthetic', s): synthetic(*map(int, s.split('x'))) for s in SYNTH})
    if 'smollm2' in a.sources:
        if not a.data_dir: raise SystemExit('SmolLM2 layers need --data-dir or $QUANTEASE_DATA')
        problems.update({('smollm2', n): v for n, v in smollm2(REAL, a.data_dir).items()})
    out = dict(settings=vars(a), study=[], reference=[])
    if not a.only_reference:
        cfgs = configs()
        names = a.configs.split(',') if a.configs else list(cfgs)
        bits, groups = [int(b) for b in a.bits.split(',')], [int(g) for g in a.groups.split(',')]
        for (src, layer), (W, Hc, Hh) in problems.items():
            for b in bits:
                for gs in groups:
                    grid = Grid(bits=b, groupsize=gs)
                    for name in names:
                        t = time.perf_counter()
                        q = cfgs[name][1](W, Hc, grid)
                        rec = dict(source=src, layer=layer, bits=b, groupsize=gs, config=name, seconds=time.perf_counter() - t,
                                   cal=relative_error(W, q.weight, Hc), held=relative_error(W, q.weight, Hh))
                        out['study'].append(rec)
                    print(f'{src} {layer} {b} bits g{gs}: done', file=sys.stderr, flush=True)
        write_result(a.out, out)     # with its provenance: command, commit, machine, date
        base = {(r['source'], r['layer'], r['bits'], r['groupsize']): r for r in out['study'] if r['config'] == 'old'}
        def ratio(rs, key): return sum(r[key] / base[(r['source'], r['layer'], r['bits'], r['groupsize'])][key] for r in rs) / len(rs)
        rows = []
        for name in names:
            cells = [name, cfgs[name][0]]
            for src in ('synthetic', 'smollm2'):
                rs = [r for r in out['study'] if r['config'] == name and r['source'] == src]
                cells += [f"{ratio(rs, 'cal'):.3f}", f"{ratio(rs, 'held'):.3f}"] if rs else ['-', '-']
            rows.append(cells)
        print(f"\nLayer objective relative to the old default (mean over layers, {a.bits} bits, groups {a.groups}):\n")
        print(markdown(['config', 'what', 'synthetic cal', 'synthetic held-out', 'SmolLM2 cal', 'SmolLM2 held-out'], rows))
        for b in bits:
            rows = []
            for name in names:
                cells = [name]
                for src in ('synthetic', 'smollm2'):
                    rs = [r for r in out['study'] if r['config'] == name and r['source'] == src and r['bits'] == b]
                    cells += [f"{ratio(rs, 'cal'):.3f}", f"{ratio(rs, 'held'):.3f}"] if rs else ['-', '-']
                rows.append(cells)
            print(f"\n{b} bits:\n")
            print(markdown(['config', 'synthetic cal', 'synthetic held-out', 'SmolLM2 cal', 'SmolLM2 held-out'], rows))
    if a.reference:
        rows = []
        for (src, layer), (W, Hc, Hh) in problems.items():
            for b in (3, 4):
                Qr, tr = reference_quantease(a.reference, W, Hc, b)
                ours = {}
                for name, kw in [('ours, reference schedule', dict(schedule='reference', percdamp=0., shrink=0.)), ('ours, default', {}),
                                 ('ours, old default', dict(schedule='round', percdamp=0.01, shrink=0.))]:
                    t = time.perf_counter(); q = quantease(W, Hc, Grid(bits=b), threads=a.threads, **kw); ours[name] = (q.weight, time.perf_counter() - t)
                t = time.perf_counter(); g = gptq(W, Hc, Grid(bits=b), act_order=False); ours['gptq'] = (g.weight, time.perf_counter() - t)
                rec = dict(source=src, layer=layer, bits=b, reference=dict(cal=relative_error(W, Qr, Hc), held=relative_error(W, Qr, Hh), seconds=tr))
                for k, (Q, s) in ours.items(): rec[k] = dict(cal=relative_error(W, Q, Hc), held=relative_error(W, Q, Hh), seconds=s)
                out['reference'].append(rec)
                cell = lambda d: f"{d['cal']:.5f} / {d['held']:.5f}"
                rows.append([src, layer, b, cell(rec['reference']), cell(rec['ours, reference schedule']), cell(rec['ours, default']),
                             cell(rec['ours, old default']), cell(rec['gptq']), f"{tr:.2f}", f"{rec['ours, default']['seconds']:.2f}",
                             f"{tr / rec['ours, default']['seconds']:.1f}x"])
                print(f'{src} {layer} {b} bits: reference done', file=sys.stderr, flush=True)
        write_result(a.out, out)     # with its provenance: command, commit, machine, date
        print(f"\nSide by side with linkedin/QuantEase (per channel, asymmetric, 30 sweeps, no act-order, {a.threads} thread(s)); "
              "relative error calibration / held-out:\n")
        print(markdown(['source', 'layer', 'bits', 'reference', 'ours, its schedule', 'ours, default', 'ours, old default', 'GPTQ',
                        'reference s', 'ours s', 'speed-up'], rows))
        for src in ('synthetic', 'smollm2'):
            rs = [r for r in out['reference'] if r['source'] == src]
            if not rs: continue
            m = lambda k, key: sum(r[k][key] for r in rs) / len(rs)
            print(f"\n{src}: mean calibration objective reference {m('reference', 'cal'):.5f}, ours with its schedule "
                  f"{m('ours, reference schedule', 'cal'):.5f}, our default {m('ours, default', 'cal'):.5f}, old default "
                  f"{m('ours, old default', 'cal'):.5f}; held-out {m('reference', 'held'):.5f} / {m('ours, reference schedule', 'held'):.5f}"
                  f" / {m('ours, default', 'held'):.5f} / {m('ours, old default', 'held'):.5f}")


if __name__ == '__main__':
    main()
