"""Side by side with the tools people pick instead: llm-compressor, GPTQModel and AutoRound against our GPTQ and
QuantEase, on the same calibration windows and the same evaluation.

    python bench/peers.py --list                                  # every run of the plan, and whether it is done
    python bench/peers.py --run quantease gptq llmc-gptq --cells w4-g64 w3-ch --seeds 0 1 \\
        --llmc-python VENV/bin/python [--ar-python VENV2/bin/python] [--gq-python VENV3/bin/python] [--tasks]
    python bench/peers.py --report [results/peers]                # the table, from the committed results

Shared by every run: SmolLM2-135M; C4 calibration, 16 windows of 512 tokens drawn by `quantease.data.calibration`
with the run's seed (handed to the peers as token ids, so every tool sees the same text); asymmetric grids; 2 threads;
perplexity on the first 4 windows of 2048 tokens of WikiText-2, PTB and C4, computed by our `perplexity` in float32
on the dequantized weights (the same arithmetic for every tool: a peer's checkpoint is read by `quantease.load` and
its layers replaced by dense ones); with `--tasks`, 4-bit rows also get LAMBADA, ARC-Challenge, ARC-Easy and
WinoGrande (first 300 items each, 0-shot), and 4-bit runs already made get them added (`add_tasks`). Each run writes one small results file `results/peers/NAME.json` (recipe,
cell, seed, perplexities, quantize seconds, peak RSS, the tool's version and settings, provenance); the table is made
from those files only. The peers run in their own virtual environments (never dependencies of quantease): each
`*_run.py` beside this script quantizes and saves, and reports its own quantize time and peak RSS.

A run's quantize time is the tool's quantization call (ours: `times.quantize`, the block-by-block pass with its
forward passes; llm-compressor: `oneshot`), with the model already loaded; its peak RSS is the process's, ours
including the evaluation that follows in the same process (a model's worth more than the quantize step alone).
Timings are only comparable from runs made alone on the machine; each file records the machine and the 1-minute load
average at the run's start and end (`load_average`), and the table marks a time measured beside other work (either
above the run's own threads + 0.5) with `*`.
"""
import argparse, json, math, os, statistics, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from provenance import fingerprint, stamp, write_result
from report import markdown

DATASETS = ('wikitext2', 'ptb', 'c4')
TASKS = 'lambada,arc_challenge,arc_easy,winogrande'
CALIB = dict(dataset='c4', nsamples=16, seqlen=512)
EVAL = dict(windows=4, seqlen=2048)
THREADS = int(os.environ.get('PEERS_THREADS', 2))   # --threads sets it (and the environment the evaluation process reads)
CELLS = {'w4-g64': (4, 64), 'w4-ch': (4, -1), 'w3-g64': (3, 64), 'w3-ch': (3, -1)}   # 576 columns: no groups of 128

# recipe: (tool, its flags, what it is). `ours` = `quantease quantize` flags; the others = their runner's flags.
RECIPES = {
    'quantease':      ('ours', ['--quantization-method', 'quantease'], 'QuantEase, our defaults'),
    'gptq':           ('ours', ['--quantization-method', 'gptq'], 'GPTQ, our defaults'),
    # what the defaults were before this study (min/max ranges; GPTQ in the paper's column order), and the candidates:
    # each a flag of ours, measured beside the defaults
    'quantease-minmax': ('ours', ['--quantization-method', 'quantease', '--clip', 'minmax'], 'QuantEase, min/max ranges (the default before)'),
    'gptq-minmax':    ('ours', ['--quantization-method', 'gptq', '--no-act-order', '--no-static-groups', '--clip', 'minmax'],
                       "GPTQ, the paper's column order, min/max ranges (the default before)"),
    'gptq-act':       ('ours', ['--quantization-method', 'gptq', '--act-order', '--static-groups', '--clip', 'minmax'],
                       'GPTQ, act-order + static groups, min/max ranges'),
    'quantease-act':  ('ours', ['--quantization-method', 'quantease', '--act-order', '--clip', 'minmax'], 'QuantEase, columns visited by act-order'),
    'gptq-quantease': ('ours', ['--quantization-method', 'gptq_quantease', '--act-order', '--static-groups', '--clip', 'minmax'],
                       'QuantEase sweeps from GPTQ (act-order + static groups)'),
    'quantease-mse':  ('ours', ['--quantization-method', 'quantease', '--clip', 'mse'], "QuantEase, GPTQ's clipping search"),
    'quantease-hmse': ('ours', ['--quantization-method', 'quantease', '--clip', 'hmse'], 'QuantEase, H_jj-weighted clipping search'),
    'gptq-act-hmse':  ('ours', ['--quantization-method', 'gptq', '--act-order', '--static-groups', '--clip', 'hmse'],
                       'GPTQ, act-order + static groups, H_jj-weighted clipping search'),
    'quantease-prop': ('ours', ['--quantization-method', 'quantease', '--propagate', '1'],
                       'QuantEase, full-precision target (asymmetric calibration, propagate 1)'),
    'quantease-prop50': ('ours', ['--quantization-method', 'quantease', '--propagate', '0.5'],
                       'QuantEase, half the full-precision correction (propagate 0.5)'),
    'gptq-prop':      ('ours', ['--quantization-method', 'gptq', '--propagate', '1'], 'GPTQ, full-precision target (propagate 1)'),
    'quantease-refit': ('ours', ['--quantization-method', 'quantease', '--refit', '2'],
                        'QuantEase, 2 rounds of least-squares scales for the codes, 5 sweeps after each'),
    'llmc-gptq':      ('llmc', ['--recipe', 'gptq'], 'llm-compressor GPTQ, its default recipe (static act-order, 1% damping)'),
    'llmc-gptq-mse':  ('llmc', ['--recipe', 'gptq', '--observer', 'mse'], 'llm-compressor GPTQ, MSE observer'),
    'llmc-awq':       ('llmc', ['--recipe', 'awq'], 'llm-compressor AWQ'),
    'llmc-autoround': ('llmc', ['--recipe', 'autoround'], 'llm-compressor AutoRound modifier (200 steps)'),
    'autoround':      ('autoround', [], 'auto-round, its defaults (200 steps)'),
    # GPTQModel writes GPTQ v1 by default, whose asymmetric zero points are stored less one by subtracting from the whole
    # packed word: a zero point of 0 borrows from its neighbour (GPTQModel's utils/model.py); v2 stores them as they are
    'gptqmodel':      ('gptqmodel', ['--format', 'gptq_v2'], 'GPTQModel, its defaults (5% damping, act-group-aware order)'),
    'gptqmodel-mse':  ('gptqmodel', ['--format', 'gptq_v2', '--mse', '2.4'], 'GPTQModel, its MSE clipping search'),
    'gptqmodel-gptaq': ('gptqmodel', ['--format', 'gptq_v2', '--gptaq-alpha', '0.25'], 'GPTQModel, GPTAQ (asymmetric calibration)'),
}
RUNNERS = {'llmc': 'llmc_run.py', 'autoround': 'autoround_run.py', 'gptqmodel': 'gptqmodel_run.py'}
PYTHON_FLAG = {'llmc': 'llmc_python', 'autoround': 'ar_python', 'gptqmodel': 'gq_python'}


def run_name(recipe, cell, seed, repeat=0):
    "results file stem of one run: RECIPE-CELL-sSEED, with -rN for the Nth repeat of a tool that is not deterministic"
    return f'{recipe}-{cell}-s{seed}' + (f'-r{repeat}' if repeat else '')


def calib_ids(seed, work):
    "The calibration windows of `seed` as token ids in a safetensors file the peers read (made once per seed)."
    path = Path(work) / f'calib-s{seed}.safetensors'
    if not path.exists():
        from safetensors.torch import save_file
        from quantease.data import calibration
        from quantease.models import model_folder
        ids = calibration(CALIB['dataset'], model_folder('smollm2-135m')[1], nsamples=CALIB['nsamples'], seqlen=CALIB['seqlen'], seed=seed)
        save_file({'input_ids': ids.contiguous()}, str(path))
    return path


def ours(recipe, cell, seed, work, tasks):
    "One `quantease quantize` run in its own process; the row of its results."
    bits, group = CELLS[cell]
    out = Path(work) / f'{run_name(recipe, cell, seed)}.quantease.json'
    cmd = [sys.executable, '-m', 'quantease', 'quantize', '--model', 'smollm2-135m', '--dataset', CALIB['dataset'],
           '--nsamples', str(CALIB['nsamples']), '--seqlen', str(CALIB['seqlen']), '--seed', str(seed), '--wbits', str(bits),
           '--groupsize', str(group), '--threads', str(THREADS), '--eval-datasets', ','.join(DATASETS),
           '--eval-windows', str(EVAL['windows']), '--eval-seqlen', str(EVAL['seqlen']), *RECIPES[recipe][1], '--save', str(out),
           '--overwrite', *(['--eval-tasks', TASKS, '--eval-limit', '300'] if tasks else [])]
    subprocess.run(cmd, check=True)
    r = json.loads(out.read_text())
    import quantease
    return dict(tool='quantease', version=quantease.__version__, command=' '.join(cmd[1:]), settings=r['job'],
                ppl={d: r['eval'][d]['ppl'] for d in DATASETS}, tasks=r.get('tasks'),
                quantize_seconds=r['times']['quantize'], peak_rss=r['peak_rss'], phases=r['quantization'].get('phases'),
                layer_error=r['quantization'].get('mean_relative_error'))


def dense_model(folder):
    "A peer's checkpoint as a float32 model whose quantized layers are dense `nn.Linear`s holding the dequantized weights."
    import torch
    from quantease import load
    from serve import dense
    model, tok = load(folder, dtype=torch.float32, kernel=None, tokenizer=True)
    return dense(model, torch).eval(), tok


def peer(recipe, cell, seed, work, pythons, tasks):
    "One peer run: its runner quantizes and saves in its own environment; we read the checkpoint and evaluate it."
    tool, flags, _ = RECIPES[recipe]
    python = pythons.get(tool)
    if not python: raise SystemExit(f'{recipe}: give --{PYTHON_FLAG[tool].replace("_", "-")} (the environment {tool} is installed in)')
    bits, group = CELLS[cell]
    folder = Path(work) / run_name(recipe, cell, seed)
    from quantease.models import model_folder
    cmd = [python, str(HERE / RUNNERS[tool]), '--model', str(model_folder('smollm2-135m')[0]), '--ids', str(calib_ids(seed, work)),
           '--out', str(folder), '--bits', str(bits), '--group', str(group), *flags]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.with_suffix('.log'), 'w') as log:
        subprocess.run(cmd, check=True, env={**os.environ, 'OMP_NUM_THREADS': str(THREADS)}, stdout=log, stderr=subprocess.STDOUT)
    info = json.loads(next(folder.glob('*_run.json')).read_text())
    row = dict(tool=info['tool'], version=info['version'], command=' '.join(cmd[1:]), settings=info.get('settings') or info.get('config') or info.get('args'),
               quantize_seconds=info.get('seconds', info.get('oneshot_seconds')), peak_rss=info['peak_rss'],
               **evaluate_apart(folder, bits, tasks))
    solve = solve_seconds(folder.with_suffix('.log').read_text())
    if solve is not None: row['phases'] = dict(solve=solve)
    return row


def solve_seconds(log):
    "llm-compressor's GPTQ logs each layer's solve time ('GPTQ | METRIC - time 5.35s'): their sum, or None."
    import re
    ts = [float(t) for t in re.findall(r'GPTQ \| METRIC - time ([0-9.]+)s', log)]
    return sum(ts) if ts else None


def evaluate_apart(folder, bits, tasks):
    """`evaluate` in a process of its own. This process starts every run; Linux carries a process's peak RSS across
    fork and exec into the runners' own `ru_maxrss`, so it must stay small: a model evaluated here would become every
    later run's peak."""
    out = Path(folder) / 'eval.json'
    subprocess.run([sys.executable, __file__, '--evaluate', str(folder), str(bits), str(int(tasks)), str(out)], check=True)
    return json.loads(out.read_text())


def check_weights(model, folder):
    """Where the runner recorded the fingerprints of the weights it quantized (`weights`: {layer: [sum |w|, sum w^2]}),
    the weights read back must match them (rel. 1e-5: float32 sums in another order), or the evaluation would describe
    another model than the one the tool made (auto-round's own dense export once gave back the unquantized weights)."""
    info = json.loads(next(Path(folder).glob('*_run.json')).read_text())
    for name, want in (info.get('weights') or {}).items():
        got = fingerprint(model.get_submodule(name).weight)
        if not all(math.isclose(g, e, rel_tol=1e-5) for g, e in zip(got, want)):
            raise SystemExit(f'{folder}: {name} read back as {got} (|w|, w^2 sums), the runner recorded {want}')


def evaluate(folder, bits, tasks):
    "Perplexities (and the 4-bit rows' tasks) of a checkpoint, by the same code that evaluates our own runs."
    import torch
    from quantease.data import test_stream
    from quantease.evaluate import perplexity
    model, tok = dense_model(folder)
    check_weights(model, folder)
    with torch.inference_mode():
        ppl = {d: float(perplexity(model, test_stream(d, tok), seqlen=EVAL['seqlen'], max_windows=EVAL['windows'])) for d in DATASETS}
    out = dict(ppl=ppl)
    if tasks and bits == 4:
        from quantease.tasks import eval_model
        out['tasks'] = eval_model(model, tok, TASKS, limit=300)
    return out


def run(a):
    work = Path(a.work); work.mkdir(parents=True, exist_ok=True)
    pythons = {t: getattr(a, f) for t, f in PYTHON_FLAG.items()}
    for recipe in a.run:
        if recipe not in RECIPES: raise SystemExit(f'unknown recipe {recipe!r}; known: {", ".join(RECIPES)}')
    for seed in a.seeds:
        for cell in a.cells:
            for recipe in a.run:
                for repeat in range(a.repeats):
                    name = run_name(recipe, cell, seed, repeat)
                    dest = Path(a.out) / f'{name}.json'
                    if dest.exists() and not a.again:
                        if a.tasks and CELLS[cell][0] == 4 and repeat == 0 and not json.loads(dest.read_text()).get('tasks'):
                            add_tasks(dest, recipe, cell, seed, work, pythons)
                        continue
                    print(f'{time.strftime("%H:%M:%S")} {name}', flush=True)
                    load0 = os.getloadavg()[0]
                    tool = RECIPES[recipe][0]
                    try: row = ours(recipe, cell, seed, work, a.tasks) if tool == 'ours' else peer(recipe, cell, seed, work, pythons, a.tasks)
                    except subprocess.CalledProcessError as e:      # one failed run is reported; the others go on
                        print(f'  FAILED: {" ".join(map(str, e.cmd[:3]))} ... exited {e.returncode}', flush=True); continue
                    bits, group = CELLS[cell]
                    write_result(dest, dict(name=name, recipe=recipe, label=RECIPES[recipe][2], cell=cell, bits=bits, group=group,
                                            seed=seed, repeat=repeat, calibration=dict(CALIB, seed=seed), evaluation=EVAL, threads=THREADS,
                                            load_average=[load0, os.getloadavg()[0]], **row))
                    print(f'  ppl {" ".join(f"{d} {v:.2f}" for d, v in row["ppl"].items())}, {row["quantize_seconds"]:.0f} s, '
                          f'{row["peak_rss"] / 2**20:.0f} MiB', flush=True)


def add_tasks(dest, recipe, cell, seed, work, pythons):
    """Give a 4-bit run already made its downstream tasks, keeping its quantize time: a peer's saved checkpoint is
    evaluated again; ours (no checkpoint kept) is quantized again by the same command, deterministic on one machine.
    Either way the new perplexities must equal the file's (rel. 1e-6), or the tasks would not belong to the model the
    file describes, and nothing is written. The tasks carry their own provenance (`tasks_provenance`)."""
    r = json.loads(dest.read_text())
    print(f'{time.strftime("%H:%M:%S")} {dest.stem}: tasks', flush=True)
    if RECIPES[recipe][0] == 'ours': new = ours(recipe, cell, seed, work, True)
    else:
        folder = Path(work) / run_name(recipe, cell, seed)
        if not (folder / 'eval.json').exists():
            return print(f'  {folder} holds no checkpoint of this run: run it again with --again --tasks', flush=True)
        new = evaluate_apart(folder, 4, True)
    if not all(math.isclose(new['ppl'][d], r['ppl'][d], rel_tol=1e-6) for d in DATASETS):
        return print(f'  NOT ADDED: perplexities {new["ppl"]} differ from the file\'s {r["ppl"]}', flush=True)
    r.update(tasks=new['tasks'], tasks_provenance=stamp())
    dest.write_text(json.dumps(r, indent=1) + '\n')
    print('  ' + ', '.join(f'{t} {100 * v["acc"]:.1f}' for t, v in new['tasks'].items()), flush=True)


# ----------------------------------------------------------------------------- the table
def load_rows(folder):
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob('*.json'))]


def runs_by(rows):
    "{(recipe, cell, seed): [rows of its repeats]}"
    out = {}
    for r in rows: out.setdefault((r['recipe'], r['cell'], r['seed']), []).append(r)
    return out


def median_ppl(reps):
    "each test set's median perplexity over the repeats of one run (one repeat: its own)"
    return {d: statistics.median(r['ppl'][d] for r in reps) for d in DATASETS}


def geomean(xs):
    xs = list(xs)
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else None


def ratio(by, a, b, cell, seeds):
    """Geometric mean over seeds and test sets of recipe `a`'s perplexity over recipe `b`'s in `cell` (only the seeds
    both have); None when they share none."""
    pairs = [(median_ppl(by[(a, cell, s)]), median_ppl(by[(b, cell, s)])) for s in seeds if (a, cell, s) in by and (b, cell, s) in by]
    return geomean(pa[d] / pb[d] for pa, pb in pairs for d in DATASETS) if pairs else None


def busy_run(r):
    "whether other work shared the machine during run `r` (its time is then not comparable)"
    return max(r.get('load_average') or [0]) > r['threads'] + 0.5


def when(r):
    "when run `r` was made (its provenance's date, sortable as text)"
    return (r.get('provenance') or {}).get('date', '')


def machine(r):
    "the kind of machine run `r` was made on (CPU name and torch's vector ISA): times compare only within one kind"
    m = (r.get('provenance') or {}).get('machine') or {}
    return m.get('cpu'), m.get('torch_isa')


def seconds(by, a, b, cell, seeds):
    """median quantize time of recipe `a` over recipe `b`'s in `cell`, from runs made alone on the same kind of machine
    (the kind of `a`'s latest such run that `b` also has); None when there is no such pair"""
    runs = lambda x: [r for s in seeds for r in by.get((x, cell, s), []) if not busy_run(r)]
    ra, rb = runs(a), runs(b)
    kinds = {machine(r) for r in rb}
    ra = sorted((r for r in ra if machine(r) in kinds), key=when)
    if not ra: return None
    kind = machine(ra[-1])
    return (statistics.median(r['quantize_seconds'] for r in ra if machine(r) == kind)
            / statistics.median(r['quantize_seconds'] for r in rb if machine(r) == kind))


def table(rows):
    "Markdown: one line per recipe and cell (seeds side by side), then QuantEase's and our GPTQ's ratios to the peers."
    by = runs_by(rows)
    seeds = sorted({r['seed'] for r in rows})
    head = ['cell', 'recipe', *(f'{d} s{s}' for d in DATASETS for s in seeds), 'quantize s', 'peak RSS MiB', 'runs']
    lines = []
    for cell in CELLS:
        for recipe in RECIPES:
            got = [by.get((recipe, cell, s)) for s in seeds]
            if not any(got): continue
            ppl = [median_ppl(g) if g else None for g in got]
            reps = [r for g in got if g for r in g]
            alone = [r for r in reps if not busy_run(r)]
            secs = statistics.median(r['quantize_seconds'] for r in alone or reps)
            peaks = [r['peak_rss'] for r in reps if r.get('peak_rss')]
            rss = f'{max(peaks) / 2**20:,.0f}' if peaks else '-'
            busy = '' if alone else '*'
            lines.append([cell, recipe, *(f'{p[d]:.2f}' if p else '-' for d in DATASETS for p in ppl), f'{secs:.0f}{busy}', rss,
                          str(len(reps))])
    out = [markdown(head, lines)]
    peers = [r for r in RECIPES if RECIPES[r][0] != 'ours']
    gptq_peers = [r for r in peers if 'gptq' in r]
    summary = []
    for cell in CELLS:
        target = (0.95, 0.85) if CELLS[cell][0] == 3 else (0.98, 0.92)
        for ours in [r for r in RECIPES if RECIPES[r][0] == 'ours']:
            vs = {p: ratio(by, ours, p, cell, seeds) for p in (gptq_peers if ours.startswith('gptq') and 'quantease' not in ours else peers)}
            vs = {p: v for p, v in vs.items() if v is not None}
            if not vs: continue
            best = max(vs, key=vs.get)               # the peer recipe with the lowest perplexity beside ours
            d = ratio(by, ours, 'llmc-gptq', cell, seeds)
            t = seconds(by, ours, 'llmc-gptq', cell, seeds)
            n = len({s for s in seeds if (ours, cell, s) in by and (best, cell, s) in by})
            summary.append([cell, ours, f'{vs[best]:.3f} ({best})', f'{d:.3f}' if d else '-', f'{t:.2f}' if t else '-', str(n),
                            f'< {target[0]} / < {target[1]}' if 'quantease' in ours else '≤ 1 (best peer GPTQ)'])
    tasks = tasks_table(rows)
    if tasks: out.append(tasks)
    phases = phases_table(rows)
    if phases: out.append(phases)
    if summary:
        out.append(markdown(['cell', 'ours', 'over the best peer recipe (which)', 'over llm-compressor GPTQ default',
                             'quantize time over llm-compressor GPTQ', 'seeds', 'target (QuantEase: best peer / llmc GPTQ)'], summary))
        out.append('Ratios: geometric mean over the seeds both have and the three test sets of our perplexity over the '
                   'peer\'s (a repeated run counts by its median); below 1 = lower perplexity than the peer. Our GPTQ '
                   'recipes are compared with the peers\' GPTQ recipes, our QuantEase recipes with every peer recipe. '
                   'Times: medians over runs made alone (`*` in the table: measured while other work shared the machine, '
                   'left out of the ratio), the ratio from runs on one kind of machine (CPU and vector ISA: the latest '
                   'kind both recipes ran on).')
    return '\n\n'.join(out)


def phases_table(rows):
    """Markdown: where the quantize time goes, per recipe and cell (medians over the runs made alone that logged their
    phases, on the kind of machine of the latest of them: ours all of them; llm-compressor its GPTQ solve, from its
    log, the rest being its forward passes, hooks and saving), or None."""
    by = {}
    for r in rows:
        if r.get('phases') and not busy_run(r): by.setdefault((r['cell'], r['recipe']), []).append(r)
    if not by: return None
    named = ('forward', 'hessian', 'solve')
    def part(r, k):                  # one phase's seconds; 'other' = the run's time less the named phases
        ph = r['phases']
        return r['quantize_seconds'] - sum(v for n, v in ph.items() if n in named) if k == 'other' else ph.get(k)
    lines = []
    for cell in CELLS:
        for recipe in RECIPES:
            g = by.get((cell, recipe))
            if not g: continue
            kind = machine(max(g, key=when))
            g = [r for r in g if machine(r) == kind]
            cells = []
            for k in (*named, 'other'):
                v = [x for x in (part(r, k) for r in g) if x is not None]
                cells.append(f'{statistics.median(v):.0f}' if v else '-')
            lines.append([cell, recipe, *cells, f"{statistics.median(r['quantize_seconds'] for r in g):.0f}", str(len(g)), kind[1] or '-'])
    return markdown(['cell', 'recipe', 'forward s', 'H s', 'solve s', 'other s', 'total s', 'runs', 'machine'], lines) + \
        "\n\nWhere the quantize time goes (runs made alone). Ours: the pipeline's phases (forward: the blocks' passes over " \
        "the calibration windows, true-sequential: one per group of layers plus one for the block's output, each stopping before the group's last layer and replaying the submodules already solved; H: the " \
        "statistics; other: loading, capture, bookkeeping). llm-compressor: its GPTQ solve summed from its log; its " \
        "forward passes, hooks, statistics and loading are all in 'other'."


def tasks_table(rows):
    "Markdown: downstream accuracy of the 4-bit runs made with --tasks (mean over the seeds that have it), or None."
    rs = [r for r in rows if r.get('tasks')]
    if not rs: return None
    names = [t for t in TASKS.split(',') if any(t in r['tasks'] for r in rs)]
    by = {}
    for r in rs: by.setdefault((r['cell'], r['recipe']), []).append(r)
    lines = []
    for cell in CELLS:
        for recipe in RECIPES:
            g = by.get((cell, recipe))
            if not g: continue
            acc = [[100 * r['tasks'][t]['acc'] for r in g if t in r['tasks']] for t in names]
            lines.append([cell, recipe, *(f'{statistics.mean(a):.1f}' if a else '-' for a in acc),
                          f'{statistics.mean(statistics.mean(a) for a in acc if a):.1f}', ' '.join(f's{r["seed"]}' for r in g)])
    n = sorted({v.get('n') for r in rs for v in r['tasks'].values() if v.get('n')})
    return markdown(['cell', 'recipe', *(f'{t} acc %' for t in names), 'mean', 'seeds'], lines) + \
        f"\n\nDownstream tasks of the 4-bit runs (`--tasks`: the first {'/'.join(map(str, n)) or 300} examples of each, zero-shot, by the same scorer for every tool; one standard error is about 2.9 points at 50% accuracy, 2.5 at 25%)."


def listing(a):
    done = {p.stem for p in Path(a.out).glob('*.json')}
    for seed in a.seeds:
        for cell in a.cells:
            for recipe in RECIPES:
                n = run_name(recipe, cell, seed)
                print(f'{"done" if n in done else "    "}  {n:32s} {RECIPES[recipe][2]}')


def main():
    global THREADS
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', nargs='+', metavar='RECIPE', help=f'recipes to run: {", ".join(RECIPES)}')
    ap.add_argument('--cells', nargs='+', default=list(CELLS), choices=list(CELLS))
    ap.add_argument('--seeds', nargs='+', type=int, default=[0, 1])
    ap.add_argument('--repeats', type=int, default=1, help='runs of each (for a tool that is not deterministic: report the median)')
    ap.add_argument('--again', action='store_true', help='run even where a results file exists')
    ap.add_argument('--tasks', action='store_true', help='4-bit rows: also the downstream tasks')
    ap.add_argument('--work', default='runs/peers', help='checkpoints and calibration ids')
    ap.add_argument('--out', default='results/peers', help='one results file per run')
    ap.add_argument('--llmc-python'); ap.add_argument('--ar-python'); ap.add_argument('--gq-python')
    ap.add_argument('--report', nargs='?', const='results/peers', metavar='DIR', help='print the table from the results in DIR')
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--threads', type=int, help=f'threads per run (default {THREADS}); runs made with fewer threads than cores beside '
                    'another driver are starred by their load average and left out of the time ratios')
    ap.add_argument('--evaluate', nargs=4, metavar=('FOLDER', 'BITS', 'TASKS', 'OUT'), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.threads: THREADS = a.threads; os.environ['PEERS_THREADS'] = str(a.threads)
    if a.evaluate:
        folder, bits, tasks, out = a.evaluate
        import torch
        torch.set_num_threads(THREADS)
        return Path(out).write_text(json.dumps(evaluate(folder, int(bits), bool(int(tasks)))))
    if a.report: print(table(load_rows(a.report)))
    elif a.list: listing(a)
    elif a.run: run(a)
    else: ap.print_help()


if __name__ == '__main__':
    main()
