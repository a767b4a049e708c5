"""Downstream tasks of the seed article (ARC-Challenge, ARC-Easy, WinoGrande, LAMBADA) on SmolLM2-135M: the check of
our data path against lm-eval's own, and the table of accuracy against bits.

    python bench/tasks.py check [--limit N] [--threads T] [--out runs/tasks/check.json]
        SmolLM2 unquantized, 0-shot, arc_challenge + arc_easy (full test sets) and winogrande (full dev set): ours
        (`quantease.tasks.evaluate_tasks`: data through `custom_dataset`, log-likelihoods from the shared-context
        scorer) against lm-eval's `simple_evaluate` with its stock HFLM and task definitions pointed at JSON copies in
        the hub's layout (`dataset_path: json`). Accuracies must be identical and every per-choice log-likelihood
        within 1e-4.
    bench/queue.sh bench/tasks.txt runs/tasks        (one copy per core: the quantize + evaluate runs)
    python bench/tasks.py table [--runs runs/tasks] [--plot runs/tasks/accuracy.png] [--shots K]
        The accuracy-against-bits table (with standard errors) and its plot, from the runs' results JSON (those
        run K-shot; default 0), with each run's evaluation time and tokens scored per second.
"""
import argparse, json, math, os, sys, tempfile, time
from pathlib import Path

TASKS = ('arc_challenge', 'arc_easy', 'winogrande')


def harness_json(model, tok, tasks, limit, data_dir, work, batch_size=16):
    "lm-eval with its stock task yaml, data from hub-layout JSON files under `work`: no quantease code on the data path."
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._yaml_loader import load_yaml
    from quantease.tasks import LOCAL_TASKS, read_jsonl
    specs = []
    for t in tasks:
        yaml, files, row = LOCAL_TASKS[t]
        data = {}
        for split, f in files.items():
            out = Path(work) / f'{t}-{split}.jsonl'
            out.write_text(''.join(json.dumps(r) + '\n' for r in read_jsonl(Path(data_dir) / f, row)))
            data[split] = str(out)
        cfg = dict(load_yaml(str(Path(lm_eval.__file__).parent / 'tasks' / yaml), resolve_func=True),
                   dataset_path='json', dataset_name=None, dataset_kwargs=dict(data_files=data))
        if cfg.get('training_split') not in data: cfg['training_split'] = None
        specs.append(cfg)
    tm = TaskManager(include_defaults=False)
    r = lm_eval.simple_evaluate(model=HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size), tasks=list(tm.load(specs)['tasks'].values()),
                                limit=limit, bootstrap_iters=0, task_manager=tm, log_samples=True)
    return r


def check(a):
    import torch
    torch.set_num_threads(a.threads)
    import lm_eval
    from quantease.models import load_model
    from quantease.tasks import evaluate_tasks
    model, tok = load_model('smollm2-135m')
    t = time.time()
    ours = evaluate_tasks(model, tok, list(TASKS), a.data_dir, a.limit, a.batch_size, details=True)
    ours_s = time.time() - t
    with tempfile.TemporaryDirectory() as d:
        t = time.time()
        r = harness_json(model, tok, TASKS, a.limit, a.data_dir, d, a.batch_size)
        theirs_s = time.time() - t
    rows = {}
    for task in TASKS:
        res = r['results'][task]
        theirs = {k.split(',')[0]: v for k, v in res.items() if ',' in k and 'stderr' not in k}
        ll = [[float(x[0]) for x in s['filtered_resps']] for s in sorted(r['samples'][task], key=lambda s: s['doc_id'])]
        mine = ours[task]['loglik']
        same_shape = len(ll) == len(mine) and all(len(x) == len(y) for x, y in zip(ll, mine))
        dll = max(abs(p - q) for x, y in zip(ll, mine) for p, q in zip(x, y)) if same_shape else float('inf')
        rows[task] = dict(n=ours[task]['n'], ours={k: ours[task][k] for k in ('acc', 'acc_norm') if k in ours[task]},
                          lm_eval=theirs, max_dll=dll, requests=sum(map(len, ll)),
                          identical=all(ours[task][k] == theirs[k] for k in ('acc', 'acc_norm') if k in theirs) and dll < 1e-4)
    req = sum(x['requests'] for x in rows.values())
    print(f"SmolLM2-135M (float32), 0-shot, lm-eval {lm_eval.__version__}, batch {a.batch_size}, {a.threads} threads, {req} requests: "
          f"ours {ours_s:.0f} s ({req / ours_s:.1f} requests/s), lm-eval's {theirs_s:.0f} s ({req / theirs_s:.1f} requests/s)\n")
    print('| task | n | acc (ours) | acc (lm-eval) | acc_norm (ours) | acc_norm (lm-eval) | max abs. loglik diff | identical |')
    print('|---|---|---|---|---|---|---|---|')
    for task, x in rows.items():
        f = lambda d, k: f"{100 * d[k]:.2f}" if k in d else '-'
        print(f"| {task} | {x['n']} | {f(x['ours'], 'acc')} | {f(x['lm_eval'], 'acc')} | {f(x['ours'], 'acc_norm')} | {f(x['lm_eval'], 'acc_norm')} "
              f"| {x['max_dll']:.1e} | {x['identical']} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(dict(rows=rows, seconds=dict(ours=ours_s, lm_eval=theirs_s), limit=a.limit, threads=a.threads), indent=1))
    if not all(x['identical'] for x in rows.values()): sys.exit('accuracies differ or a log-likelihood is off by 1e-4 or more')


def _runs(folder):
    out = {}
    for f in sorted(Path(folder).glob('*.json')):
        try: r = json.loads(f.read_text())
        except json.JSONDecodeError: continue
        if 'tasks' in r: out[f.stem] = r
    return out


def table(a):
    runs = {n: r for n, r in _runs(a.runs).items() if all(v.get('num_fewshot', 0) == a.shots for v in r['tasks'].values())}
    if not runs: sys.exit(f'no {a.shots}-shot results in {a.runs}')
    cols = [c for c in [('arc_challenge', 'acc_norm'), ('arc_easy', 'acc'), ('winogrande', 'acc'), ('lambada', 'acc')]
            if any(c[0] in r['tasks'] for r in runs.values())]
    def bits(r): return r['job']['wbits'] if r.get('quantization') else 16
    def method(r): return r['job']['quantization_method'] if r.get('quantization') else 'unquantized'
    order = sorted(runs, key=lambda n: (-bits(runs[n]), method(runs[n])))
    shots = {t: v.get('num_fewshot', 0) for r in runs.values() for t, v in r['tasks'].items()}
    ns = {t: sorted({r['tasks'][t]['n'] for r in runs.values() if t in r['tasks']}) for t, _ in cols}
    print('Accuracy % ± standard error; ' + ', '.join(f"{t} {m} ({shots.get(t, 0)}-shot, n={'/'.join(map(str, ns[t]))})" for t, m in cols) + '\n')
    has_ppl = any(r.get('eval', {}).get('wikitext2') for r in runs.values())
    print('| run | method | bits | ' + ' | '.join(f'{t} {m}' for t, m in cols) + ' | lm-eval tasks: s, tokens/s |' + (' WikiText-2 ppl |' if has_ppl else ''))
    print('|---|---|---|' + '---|' * (len(cols) + 1 + has_ppl))
    for n in order:
        r = runs[n]
        cells = []
        for t, m in cols:
            v = r['tasks'].get(t, {})
            cells.append(f"{100 * v[m]:.1f} ± {100 * v[m + '_stderr']:.1f}" if m in v and v.get(m + '_stderr') is not None else '-')
        ppl = r.get('eval', {}).get('wikitext2', {}).get('ppl')
        harness = [v for t, v in r['tasks'].items() if t != 'lambada']   # one harness run for these: the same seconds
        speed = f"{harness[0]['seconds']:.0f}, {sum(v['tokens'] for v in harness) / harness[0]['seconds']:.0f}" if harness else '-'
        print(f"| {n} | {method(r)} | {bits(r):g} | " + ' | '.join(cells) + f" | {speed} |" + (f" {'-' if ppl is None else f'{ppl:.2f}'} |" if has_ppl else ''))
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3.4), sharex=True, squeeze=False)
    axes = axes[0]
    for ax, (t, m) in zip(axes, cols):
        for meth, mk in (('gptq', 'o-'), ('quantease', 's-')):
            pts = sorted((bits(r), 100 * r['tasks'][t][m], 100 * r['tasks'][t][m + '_stderr']) for r in runs.values()
                         if method(r) == meth and t in r['tasks'])
            if pts: ax.errorbar([p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], fmt=mk, capsize=3, label=meth)
        fp = [r for r in runs.values() if method(r) == 'unquantized' and t in r['tasks']]
        if fp:
            v, e = 100 * fp[0]['tasks'][t][m], 100 * fp[0]['tasks'][t][m + '_stderr']
            ax.axhspan(v - e, v + e, color='gray', alpha=0.25, label='unquantized ± 1 s.e.')
        chance = {'arc_challenge': 25, 'arc_easy': 25, 'winogrande': 50}.get(t)   # uniform guessing (ARC: nearly all have 4 choices)
        if chance: ax.axhline(chance, color='k', ls=':', lw=1, label='chance')
        ax.set_title(f'{t} ({m})'); ax.set_xlabel('bits per weight'); ax.set_xticks([2, 3, 4, 8])
    axes[0].set_ylabel('accuracy %'); axes[0].legend(fontsize=8)
    fig.tight_layout(); fig.savefig(a.plot, dpi=110)
    print(f'\nwrote {a.plot}')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('check')
    c.add_argument('--limit', type=int, default=None)
    c.add_argument('--batch-size', type=int, default=16)
    c.add_argument('--threads', type=int, default=1)
    c.add_argument('--out', default='runs/tasks/check.json')
    t = sub.add_parser('table')
    t.add_argument('--runs', default='runs/tasks')
    t.add_argument('--plot', default='runs/tasks/accuracy.png')
    t.add_argument('--shots', type=int, default=0, help='report the runs made with this many few-shot examples')
    for q in (c, t): q.add_argument('--data-dir', default=os.environ.get('QUANTEASE_DATA'))
    a = p.parse_args(argv)
    if a.cmd == 'check':
        if not a.data_dir: sys.exit('needs --data-dir or $QUANTEASE_DATA')
        check(a)
    else: table(a)


if __name__ == '__main__':
    main()
