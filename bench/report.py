"""Tables and plots from the results JSON files of `bench/queue.sh bench/table.txt runs/table`.

    python bench/report.py runs/table            # prints markdown tables, writes summary.json and PNGs into the folder

Tables: (1) WikiText-2 perplexity of rtn / gptq / quantease at 3 and 4 bits, per channel and groups of 64, with
quantization time; (2) every method per channel: WikiText-2 / PTB / C4 perplexity, average bits, mean layer error;
(3) perplexity and LAMBADA for the unquantized model, 8-bit rtn and rtn / gptq / quantease at 4, 3 and 2 bits.
"""
import argparse, json, math
from pathlib import Path
from quantease.plots import summarize, plot_tradeoff, plot_layer_errors

def load(folder):
    "name -> (summary record, raw results) for every finished run in `folder`."
    runs = {}
    for f in sorted(Path(folder).glob('*.json')):
        if f.name == 'summary.json': continue
        r = json.loads(f.read_text())
        if 'eval' not in r or not r['eval']: continue          # still quantizing: no perplexity yet
        runs[f.stem] = (summarize(f), r)
    return runs

def fmt(v, nd=2):
    if v is None: return '-'
    if v >= 1e4: return f'{v:.2e}'
    return f'{v:.{nd}f}'

def ppl(runs, name, ds):
    return runs[name][0]['ppl'].get(ds) if name in runs else None

def label(s, name):
    "Row label: the unquantized run's own, else method and bits (the 1.58-bit rows say which ternary grid)."
    if name == 'fp16': return s['label']
    if s['bits'] == 1.58:
        return ('ternary: gptq_quantease, searched scale' if s['method'] == 'ternary' else f"{s['method']}, absmean") + ' 1.58-bit'
    return f"{s['method']} {s['bits']:g}-bit"

def qtime(runs, name):
    r = runs.get(name)
    return r[1]['times'].get('quantize') if r else None

def markdown(header, rows):
    "A markdown table from column names and rows of cells."
    line = lambda cells: '| ' + ' | '.join(map(str, cells)) + ' |'
    return '\n'.join([line(header), '|' + '---|' * len(header), *map(line, rows)])

def table_main(runs):
    "rtn / gptq / quantease x 3, 4 bits x per-channel, g64: WikiText-2 perplexity and quantization time."
    fp = ppl(runs, 'fp16', 'wikitext2')
    rows = [['unquantized (fp32)', 16, fmt(fp), fmt(fp), '-']]
    for bits in (4, 3):
        for m, short in [('rtn', 'rtn'), ('gptq', 'gptq'), ('quantease', 'qe')]:
            a, b = f'{short}-w{bits}', f'{short}-w{bits}-g64'
            rows.append([m, bits, fmt(ppl(runs, a, 'wikitext2')), fmt(ppl(runs, b, 'wikitext2')),
                         f'{fmt(qtime(runs, a), 0)} / {fmt(qtime(runs, b), 0)}'])
    return markdown(['method', 'bits', 'WikiText-2 ppl, per channel', 'WikiText-2 ppl, g64',
                     'quantize s (per channel / g64)'], rows)

def table_methods(runs):
    "Every method per channel: perplexities, average bits, mean relative layer error, quantization time."
    names = ['fp16'] + [f'{k}-w{b}' for b in (4, 3) for k in ('rtn', 'gptq', 'qe', 'gqe')] \
            + [f'qe-w{b}-o1{s}' for b in (4, 3) for s in ('', 's')] + [f'spqr-w{b}' for b in (4, 3)] \
            + [f'{k}-w1.58' for k in ('rtn', 'gptq', 'qe', 'ternary')]
    order = lambda n: (n != 'fp16', -float(n.split('-w')[1].split('-')[0]) if '-w' in n else 0, names.index(n))
    rows = []
    for n in sorted((n for n in names if n in runs), key=order):
        s, r = runs[n]
        err = (r.get('quantization') or {}).get('mean_relative_error')
        rows.append([label(s, n), fmt(s['avg_bits'], 3), *(fmt(s['ppl'].get(d)) for d in ('wikitext2', 'ptb', 'c4')),
                     fmt(err, 4), fmt(qtime(runs, n), 0)])
    return markdown(['method', 'avg bits', 'WikiText-2', 'PTB', 'C4', 'mean layer error', 'quantize s'], rows)

def table_lambada(runs):
    "Unquantized, rtn at 8 bits and rtn / gptq / quantease at 4, 3 and 2 bits: perplexities and LAMBADA."
    rows = []
    for n in ['fp16', 'rtn-w8'] + [f'{k}-w{b}' for b in (4, 3, 2) for k in ('rtn', 'gptq', 'qe')]:
        if n not in runs: continue
        s = runs[n][0]
        acc = None if s['lambada_acc'] is None else 100 * s['lambada_acc']
        rows.append([label(s, n), fmt(s['ppl'].get('wikitext2')), fmt(acc), fmt(s['lambada_ppl'])])
    return markdown(['model', 'WikiText-2 ppl', 'LAMBADA acc %', 'LAMBADA ppl'], rows)

def settings(runs):
    j = next(iter(runs.values()))[1]['job']
    lam = next((r[1]['tasks']['lambada']['n'] for r in runs.values() if 'lambada' in r[1].get('tasks', {})), None)
    env = next(iter(runs.values()))[1]['env']
    return (f"{j['model']}, calibration {j['nsamples']} x {j['seqlen']} {j['dataset']} tokens (seed {j['seed']}), "
            f"asymmetric grids, true-sequential (not for RTN with groups: RTN ignores the order); perplexity on the first {j['eval_windows']} windows of {j['eval_seqlen']} "
            f"tokens of each test stream" + (f"; LAMBADA on its first {lam} passages" if lam else '') +
            f"; {env['device']}, {env['torch_threads']} torch thread(s) per run, torch {env['torch']}.")

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('folder', nargs='?', default='runs/table')
    a = p.parse_args()
    runs = load(a.folder)
    if not runs: raise SystemExit(f'no finished runs in {a.folder}')
    text = '\n\n'.join(['Settings: ' + settings(runs), '### Perplexity: rtn, gptq, quantease\n\n' + table_main(runs),
                        '### Every method (per channel)\n\n' + table_methods(runs),
                        '### LAMBADA\n\n' + table_lambada(runs)])
    print(text)
    (Path(a.folder) / 'tables.md').write_text(text + '\n')
    (Path(a.folder) / 'summary.json').write_text(json.dumps(
        {n: {k: v for k, v in s.items() if k != 'layers'} | {'quantize_s': qtime(runs, n)} for n, (s, _) in runs.items()}, indent=1))
    pc = [Path(a.folder) / f'{n}.json' for n in runs if 'g64' not in n and not n.endswith('1.58')]
    print('plots:', plot_tradeoff(pc, out=Path(a.folder) / 'tradeoff.png', dataset='wikitext2',
                                  title='SmolLM2-135M: quality against average bits (per channel)'))
    three = [Path(a.folder) / f'{n}.json' for n in ('rtn-w3', 'gptq-w3', 'qe-w3') if n in runs]
    if three: print('      ', plot_layer_errors(three, out=Path(a.folder) / 'layer_errors_w3.png',
                                                 title='SmolLM2-135M, 3-bit per channel: relative error of every layer'))

if __name__ == '__main__':
    main()
