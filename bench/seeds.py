"""How much of a difference between rows of the results table is the draw of calibration windows.

    python bench/seeds.py [runs/table] [runs/seeds]     # prints a markdown table, writes runs/seeds/seeds.json

For every run NAME-s1 in the seeds folder (bench/seeds.txt: the bench/table.txt command with `--seed 1`), the
perplexities and mean layer error of NAME (seed 0, from the table folder) and NAME-s1 side by side, and their ratio.
"""
import json, sys
from pathlib import Path
from quantease.plots import summarize
from report import markdown     # bench/ is on the path when this script runs

DATASETS = ('wikitext2', 'ptb', 'c4')


def main(table='runs/table', seeds='runs/seeds'):
    rows = []
    for f in sorted(Path(seeds).glob('*-s1.json')):
        base = Path(table) / (f.stem[:-3] + '.json')
        if not base.exists(): continue
        runs = [json.loads(p.read_text()) for p in (base, f)]
        if not all(r.get('eval') for r in runs): continue
        s0, s1 = summarize(base), summarize(f)
        err = [r['quantization']['mean_relative_error'] for r in runs]
        rows.append(dict(name=base.stem, label=s0['label'], avg_bits=s0['avg_bits'], error=err,
                         ppl={d: [s0['ppl'].get(d), s1['ppl'].get(d)] for d in DATASETS}))
    if not rows: raise SystemExit(f'no pairs of runs in {table} and {seeds}')
    cell = lambda a, b: f'{a:.2f} / {b:.2f} ({b / a:.2f}x)' if a and b else '-'
    print(markdown(['configuration', 'mean layer error, seed 0 / 1', *(f'{d}, seed 0 / 1 (ratio)' for d in DATASETS)],
                   [[r['label'], f"{r['error'][0]:.4f} / {r['error'][1]:.4f}", *(cell(*r['ppl'][d]) for d in DATASETS)]
                    for r in rows]))
    (Path(seeds) / 'seeds.json').write_text(json.dumps(rows, indent=1))


if __name__ == '__main__':
    main(*sys.argv[1:3])
