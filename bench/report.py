"""The README's (and the notebooks' front page's) results, generated from the committed files under `results/`.

    python bench/report.py collect runs/table results/table    # keep the small part of finished runs (with provenance)
    python bench/report.py readme                              # fill nbs/index.ipynb's tables and values, write README.md
    python bench/report.py readme --check                      # CI: exit 1 if either would change
    python bench/report.py tables                              # print every table

Runs: `bench/queue.sh bench/table.txt runs/table` (and tasks.txt, seeds.txt) writes one results JSON per
`quantease quantize` command and stamps it with its provenance (`bench/provenance.py`: command, commit, machine, CPU
flags, threads, date). `collect` keeps what the tables need (settings, perplexities, task scores, times, memory, the
per-layer errors) under `results/<set>/<name>.json`, a few KB each; a run without provenance is refused.

In `nbs/index.ipynb`, a table is the text between `<!-- results:NAME -->` and `<!-- /results -->`, and a value in the
prose is the text between `<!--v:KEY-->` and `<!--/v-->` (KEY as in `value`): `readme` replaces both with what the
results say, so no figure is typed by hand. Each table ends with where its rows come from (commits, machine, dates).
"""
import argparse, json, math, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / 'results'
INDEX = ROOT / 'nbs' / 'index.ipynb'
PAGES = [INDEX]       # notebooks whose marked tables and values are generated (the front page first)
DATASETS = ('wikitext2', 'ptb', 'c4')


# ----------------------------------------------------------------------------- collect
def condense(r, name):
    "The part of a `quantease quantize` results dict the tables use."
    q = r.get('quantization') or {}
    keep_q = {k: q[k] for k in ('settings', 'avg_bits', 'mean_relative_error', 'time', 'phases', 'memory') if k in q}
    if q.get('layers'): keep_q['layers'] = [dict(name=l['name'], relative_error=l['relative_error']) for l in q['layers']]
    tasks = {t: {k: v for k, v in m.items() if k in ('acc', 'acc_stderr', 'acc_norm', 'acc_norm_stderr', 'ppl', 'n', 'num_fewshot', 'seconds')}
             for t, m in r.get('tasks', {}).items()}
    return dict(name=name, provenance=r['provenance'], job=r['job'], env=r.get('env'), quantization=keep_q or None,
                eval={k: {kk: v[kk] for kk in ('ppl', 'windows', 'total_windows', 'seqlen') if kk in v} for k, v in r.get('eval', {}).items()},
                tasks=tasks, times=r.get('times'), peak_rss=r.get('peak_rss'))


def collect(src, dest):
    "Condense every finished, stamped run of folder `src` into `dest`."
    dest = Path(dest); dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted(Path(src).glob('*.json')):
        r = json.loads(f.read_text())
        if not r.get('eval') and not r.get('tasks'): continue             # still running
        if 'provenance' not in r: raise SystemExit(f'{f}: no provenance (run it through bench/queue.sh)')
        (dest / f.name).write_text(json.dumps(condense(r, f.stem), indent=1) + '\n')
        n += 1
    print(f'{n} results into {dest}')


# ----------------------------------------------------------------------------- reading
def runs(kind):
    "name -> condensed results of `results/<kind>`."
    d = RESULTS / kind
    return {f.stem: json.loads(f.read_text()) for f in sorted(d.glob('*.json'))} if d.exists() else {}


def ppl(r, ds):
    return (r or {}).get('eval', {}).get(ds, {}).get('ppl')


def fmt(v, nd=2):
    if v is None: return '-'
    if isinstance(v, str): return v
    if abs(v) >= 1e4: return f'{v:.2e}'
    return f'{v:.{nd}f}'


def short(v):
    "A perplexity in a sentence: 3 significant figures, no trailing noise."
    return f'{v:.2e}' if v >= 1e4 else f'{v:.0f}' if v >= 100 else f'{v:.1f}'


def markdown(header, rows):
    line = lambda cells: '| ' + ' | '.join(map(str, cells)) + ' |'
    return '\n'.join([line(header), '|' + '---|' * len(header), *map(line, rows)])


def cpu_words(m):
    flags = m.get('flags', [])
    isa = 'AVX512-BF16' if 'avx512_bf16' in flags else 'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else 'no AVX2'
    return f"{m.get('cpu', '?')} ({isa})"


def source(rs, folder):
    "Where the rows of a table come from: the results folder, commits, machine, threads and dates."
    provs = [r['provenance'] for r in rs if r and 'provenance' in r]
    if not provs: return ''
    commits = sorted({p['commit'][:7] + ('+dirty' if p['commit'].endswith('+dirty') else '') for p in provs})
    machines = sorted({cpu_words(p['machine']) for p in provs})
    threads = sorted({str(p.get('threads') or p['machine'].get('torch_threads')) for p in provs})
    dates = sorted({p['date'][:10] for p in provs})
    return (f"\n\n<sub>From `{folder}` ({len(provs)} runs): commit {', '.join(commits)}; {'; '.join(machines)}, "
            f"{'/'.join(threads)} thread(s) per run; {dates[0]}{' to ' + dates[-1] if len(dates) > 1 else ''}.</sub>")


# ----------------------------------------------------------------------------- tables
def label(r):
    s = (r.get('quantization') or {}).get('settings')
    if not s: return f"unquantized ({r['job'].get('dtype', 'float32')})"
    g, o = s['grid'], s.get('solver_options') or {}
    method = s['method']
    if method == 'quantease' and o.get('outlier'): method = f"quantease +{100 * o['outlier']:g}% {'columns' if o.get('structured') else 'outliers'}"
    if g['bits'] == 1.58: method = 'ternary: gptq_quantease, searched scale' if method == 'ternary' else f'{method}, absmean'
    return f"{method} {g['bits']:g}-bit"


def qtime(r):
    return (r or {}).get('times', {}).get('quantize')


def table_perplexity():
    t = runs('table')
    rows = [['unquantized (fp32)', 16, fmt(ppl(t.get('fp16'), 'wikitext2')), fmt(ppl(t.get('fp16'), 'wikitext2')), '-']]
    used = [t.get('fp16')]
    for bits in (4, 3):
        for m, short in (('rtn', 'rtn'), ('gptq', 'gptq'), ('quantease', 'qe')):
            a, b = t.get(f'{short}-w{bits}'), t.get(f'{short}-w{bits}-g64')
            if not (a or b): continue
            used += [a, b]
            rows.append([m, bits, fmt(ppl(a, 'wikitext2')), fmt(ppl(b, 'wikitext2')), f'{fmt(qtime(a), 0)} / {fmt(qtime(b), 0)}'])
    return markdown(['method', 'bits', 'WikiText-2 ppl, per channel', 'WikiText-2 ppl, g64', 'quantize s (per channel / g64)'], rows) \
        + source(used, 'results/table')


def table_methods():
    t = runs('table')
    names = ['fp16'] + [f'{k}-w{b}' for b in (4, 3) for k in ('rtn', 'gptq', 'qe', 'gqe')] \
        + [f'qe-w{b}-o1{s}' for b in (4, 3) for s in ('', 's')] + [f'spqr-w{b}' for b in (4, 3)] \
        + [f'{k}-w1.58' for k in ('rtn', 'gptq', 'qe', 'ternary')]
    bits = lambda n: 32 if n == 'fp16' else float(n.split('-w')[1].split('-')[0])
    rows, used = [], []
    for n in sorted((n for n in names if n in t), key=lambda n: (n != 'fp16', -bits(n), names.index(n))):
        r = t[n]; q = r.get('quantization') or {}
        used.append(r)
        rows.append([label(r), fmt(q.get('avg_bits', 32.0), 3), *(fmt(ppl(r, d)) for d in DATASETS), fmt(q.get('mean_relative_error'), 4),
                     fmt(qtime(r), 0)])
    return markdown(['method', 'avg bits', 'WikiText-2', 'PTB', 'C4', 'mean layer error', 'quantize s'], rows) + source(used, 'results/table')


def table_lambada():
    t = runs('table')
    rows, used = [], []
    for n in ['fp16', 'rtn-w8'] + [f'{k}-w{b}' for b in (4, 3, 2) for k in ('rtn', 'gptq', 'qe')]:
        r = t.get(n)
        if not r or 'lambada' not in r.get('tasks', {}): continue
        used.append(r)
        lam = r['tasks']['lambada']
        rows.append([label(r), fmt(ppl(r, 'wikitext2')), fmt(100 * lam['acc'] if lam.get('acc') is not None else None), fmt(lam.get('ppl'))])
    return markdown(['model', 'WikiText-2 ppl', 'LAMBADA acc %', 'LAMBADA ppl'], rows) + source(used, 'results/table')


def table_serve():
    "The serving matrix, `bench/serve.py` (results/serve/matrix*.json: its halves, each run on its own machine)."
    files = sorted((RESULTS / 'serve').glob('matrix*.json'))
    if not files: return '(no serving matrix committed yet)'
    ress = [json.loads(f.read_text()) for f in files]
    cons = ('vllm', 'transformers', 'quantease')
    groups = {}
    for res in ress:
        isa = cpu_words(res['provenance']['machine']).split('(')[-1].rstrip(')')
        for name, row in res['cells'].items():
            fmt_ = name.split('-', 1)[0]
            act = 'on' if name.endswith('-act') else 'off'
            key = f"controls, {isa}" if name.startswith(('llmc', 'mutant')) else f"{fmt_}, act-order {act}, {isa}"
            groups.setdefault(key, []).append(row)
    def cell(rows, c):
        served = sum(r[c]['verdict'] == 'pass' and (r[c]['note'] is None or 'dequantize=True' in (r[c]['note'] or '')) for r in rows)
        refused = sum(r[c]['verdict'] == 'pass' and not (r[c]['note'] is None or 'dequantize=True' in (r[c]['note'] or '')) for r in rows)
        fail = sum(r[c]['verdict'] == 'FAIL' for r in rows)
        skip = sum(r[c]['verdict'] == 'skip' for r in rows)
        return f"{served} served, {refused} refused as noted" + (f", **{fail} FAIL**" if fail else '') + (f", {skip} not run" if skip else '')
    def control(rows, c):
        ok = sum(r[c]['verdict'] == 'pass' for r in rows)
        return f"{ok} of {len(rows)} as expected" + ('' if ok == len(rows) else ', **FAIL**')
    rows = [[k if not k.startswith('controls') else k.replace('controls', "controls (llm-compressor's checkpoint must agree, the mutant must not)"), len(v),
             *((control if k.startswith('controls') else cell)(v, c) for c in cons)] for k, v in groups.items()]
    ops = []
    for res in ress:
        op = {r['vllm'].get('vllm_int4_op') for r in res['cells'].values() if r['vllm'].get('vllm_int4_op')}
        isa = cpu_words(res['provenance']['machine']).split('(')[-1].rstrip(')')
        if op: ops.append(f"{isa}: {', '.join({'vllm': 'its own (cpu_gemm_wna16)', 'stand-in': 'a stand-in (its AVX2 build lacks the op)'}.get(o, o) for o in sorted(op))}")
    return markdown(['cells', 'count', 'vLLM 0.32 (CPU)', 'transformers', 'quantease.load'], rows) + \
        (f"\n\nvLLM's int4 matmul on {'; on '.join(ops)}." if ops else '') + source(ress, 'results/serve/matrix*.json')


def table_resume():
    f = RESULTS / 'resume' / 'kills.json'
    if not f.exists(): return '(no kill bench committed yet)'
    r = json.loads(f.read_text())
    return (f"{r['identical']} of {r['total']} resumed checkpoints bit-identical to the uninterrupted run "
            f"({r['killed']} killed mid-run, the rest after the run had finished; reference run {r['reference_seconds']} s)."
            + source([r], 'results/resume/kills.json'))


def table_decode():
    "Decode speed and peak memory, `bench/generate.py` runs under results/generate (one table row per model and config)."
    used = [r for r in runs('generate').values() if 'rows' in r]
    if not used: return '(no decode benchmark committed yet)'
    rows = []
    for r in used:
        for x in r['rows']:
            want = 'vllm-bf16' if x['config'].startswith('vllm') else 'bf16'      # vLLM's rows against vLLM's bfloat16
            base = next((b for b in r['rows'] if b['model'] == x['model'] and b['config'] == want and b.get('attention') == x.get('attention')), None)
            ratio = lambda k: f" ({x[k] / base[k]:.2f}×)" if base and base.get(k) and x is not base else ''
            ks = ', '.join(f'{k} {v}' for k, v in x.get('kernels', {}).items()) or ('vLLM' if x['config'].startswith('vllm') else 'dense')
            old = '' if r.get('settings', {}).get('decode_timing') else '†'      # the earlier protocol (below)
            rows.append([cpu_words(r['provenance']['machine']).split('(')[-1].rstrip(')'), r.get('settings', {}).get('threads', '-'), x['model'], x['config'] + old, x.get('dtype', 'bfloat16' if x['config'] != 'fp32' else 'float32'), x.get('attention', '-'), ks, f"{x.get('decode_b1_tok_s', 0):.2f}{ratio('decode_b1_tok_s')}",
                         f"{x.get('decode_b8_tok_s', 0):.2f}{ratio('decode_b8_tok_s')}",
                         f"{x['peak_rss'] / 2**20:,.0f}" + (f" ({x['peak_rss'] / base['peak_rss']:.2f}×)" if base and x is not base else '')])
    failed = [f"{x['model']} {x['config']} ({x['error']})" for r in used for x in r.get('failed', [])]
    return markdown(['CPU', 'threads', 'model', 'config', 'activations', 'attention', 'kernels (layers)', 'decode tok/s, batch 1', 'decode tok/s, batch 8', 'peak RSS MiB'], rows) \
        + (f"\n\nFailed rows: {'; '.join(failed)}." if failed else '') \
        + ("\n\n† Earlier protocol: tokens/s from the mean decode step (now the median) and a prefill that computed the whole prompt's logits (now the last position's, as `generate` does)."
           if any(not r.get('settings', {}).get('decode_timing') for r in used) else '') + source(used, 'results/generate')


def table_interleaved():
    "Decode speed against bfloat16 with the two models' steps in turns, `bench/generate.py --interleaved` (results/generate: files with 'interleaved' rows)."
    used = [r for r in runs('generate').values() if 'interleaved' in r]
    if not used: return '(no interleaved decode benchmark committed yet)'
    rows = [[cpu_words(r['provenance']['machine']).split('(')[-1].rstrip(')'), r['settings']['threads'], x['model'], x['config'], x['attention'],
             ', '.join(f'{k} {v}' for k, v in x['kernels'].items()),
             *(f"{x[f'b{b}_tok_s']:.2f} / {x[f'b{b}_bf16_tok_s']:.2f} (**{x[f'b{b}_ratio']:.2f}×**)" if f'b{b}_ratio' in x else '-' for b in (1, 8))]
            for r in used for x in r['interleaved']]
    return markdown(['CPU', 'threads', 'model', 'config', 'attention', 'kernels (layers)', 'batch 1 tok/s: config / bfloat16', 'batch 8 tok/s: config / bfloat16'], rows) \
        + source(used, 'results/generate')


def table_moe():
    "Mixtures of experts at Qwen3-30B-A3B's shape, `bench/moe.py` runs under results/moe (one table per run)."
    used = list(runs('moe').values())
    if not used: return '(no mixture-of-experts benchmark committed yet)'
    out = []
    for r in used:
        rows = []
        for b in r['per_block']:
            p = b['phases']
            other = b['seconds'] - sum(p.get(k, 0) for k in ('load', 'forward', 'hessian', 'solve'))
            rows.append([b['block'], f"{b['seconds']:.0f}", f"{p.get('load', 0):.1f}", f"{p.get('forward', 0):.0f}",
                         f"{p.get('hessian', 0):.0f}", f"{p.get('solve', 0):.0f}", f"{other:.0f}"])
        t, x, g1, g8 = r['tokens_per_expert'], r['extrapolated'], r['extrapolated']['gpu_1'], r['extrapolated']['gpu_8']
        route = r.get('routing')
        out.append(f"{r['method']} 4-bit per channel, {r['nsamples']} x {r['seqlen']} random-token calibration, {r['threads']} "
                   f"threads, streamed (one block of {r['blocks_in_folder']} in memory), block 0 of Qwen3-30B-A3B's shape:\n\n"
                   + markdown(['block', 'seconds', 'load', 'forward', 'statistics', 'solve', 'other'], rows) + '\n\n'
                   + markdown(['measure', 'value'], [
                       ['peak RSS / one block in bf16 (the float64 Hessians of 128 experts: 4.3 GiB)', f"{r['peak_rss'] / 2**30:.2f} GiB / {r['block_bytes_bf16'] / 2**30:.2f} GiB "
                                                         f"({r['peak_rss'] / r['block_bytes_bf16']:.2f}x)"],
                       [f"tokens per expert, {t['tokens']:,} tokens (min / median / max)", f"{t['min']} / {t['median']:g} / {t['max']}"],
                       *([[f"tokens per expert, {route['tokens']:,} tokens, block 0 routing only", f"{route['min']} / {route['median']:g} / {route['max']}"]] if route else []),
                       ['experts that fell back to RTN', r['fallback']],
                       ['one block at 128 x 2048 tokens (forward and statistics scaled)', f"{x['per_block_at_128x2048']:,.0f} s"],
                       ['whole model, 48 blocks, this CPU (extrapolated)', f"{x['whole_model_cpu'] / 3600:,.1f} h"],
                       ['cost model, 1 GPU / 8 GPUs: flops and bytes at assumed rates (`distributed.predict`), no per-call overhead: a lower bound',
                        f"{g1['total']:,.0f} s / {g8['total']:,.0f} s"],
                       ["llm-compressor's published GPTQ, 1 GPU / 4 GPUs", f"{x['llm_compressor']['gpus=1']:,} s / {x['llm_compressor']['gpus=4']:,} s"]]))
    return '\n\n'.join(out) + source(used, 'results/moe')


def _kernel_files(pattern):
    "The results of `results/kernels` whose file names match `pattern` (e.g. 'roofline-*.json'), in name order."
    import fnmatch
    return [r for name, r in runs('kernels').items() if fnmatch.fnmatchcase(f'{name}.json', pattern)]


def table_micro():
    "One layer through each path, `bench/kernel_micro.py` (results/kernels/micro*.json: one table per machine)."
    rs = _kernel_files('micro*.json')
    if not rs: return '(no kernel micro-benchmark committed yet)'
    out = []
    for r in rs:
        base = {x['batch']: x['ms'] for x in r['layer'] if x['path'] == 'bf16 dense'}
        rows = [[f"{x['bits']}-bit" + (f", g{x['group']}" if x['group'] > 0 else ', per channel') if x['path'] != 'bf16 dense' else 'bfloat16',
                 x['path'], x['batch'], f"{x['ms']:.3f}", f"{x['gflops']:.0f}", f"{base[x['batch']] / x['ms']:.2f}x"]
                for x in sorted(r['layer'], key=lambda x: (x['path'] != 'bf16 dense', -x['bits'], x['batch'], {'tiled fallback': 2}.get(x['path'], 1), x['path']))]
        out.append(f"{cpu_words(r['provenance']['machine'])}, {r['threads']} threads:\n\n"
                   + markdown(['layer 5632 x 2048', 'path', 'batch', 'ms', 'GFLOP/s', 'vs bfloat16'], rows) + source([r], 'results/kernels/micro*.json'))
    return '\n\n'.join(out)


def table_attention():
    "One decode step's attention, sdpa against the regrouped call, `bench/kernel_micro.py` (results/kernels/micro.json)."
    rs = _kernel_files('micro.json')
    if not rs: return '(no kernel micro-benchmark committed yet)'
    att = {}
    for x in rs[0]['attention']: att.setdefault((x['batch'], x['positions']), {})[x['path']] = x
    rows = [[b, T, f"{v['sdpa']['ms']:.3f}", f"{v['regrouped']['ms']:.3f}", f"{v['sdpa']['ms'] / v['regrouped']['ms']:.1f}x",
             f"{v['sdpa']['max_diff']:.1e}"] for (b, T), v in att.items()]
    return markdown(['batch', 'cached positions', 'sdpa ms', 'regrouped ms', 'speed-up', 'max abs difference'], rows) \
        + source(rs, 'results/kernels/micro.json')


def table_roofline():
    "One decode step against its bound, `bench/roofline.py` (results/kernels/roofline-*.json: one file per attention)."
    rs = _kernel_files('roofline-*.json')
    if not rs: return '(no roofline committed yet)'
    rows = [[r['attention'], x['batch'], f"{x['bf16_ms']:.1f}", f"{x['w4_ms']:.1f}", f"{x['w4_speedup']:.2f}", f"{x['rest_ms']:.1f}",
             f"{x['bound_ms']:.1f}", f"{x['best_speedup']:.2f}"] for r in rs for x in r['rows']]
    peaks = ', '.join(f"{r['peak_flops'] / 1e9:.0f}" for r in rs)
    return (markdown(['attention', 'batch', 'bf16 step ms', '4-bit step ms', 'speed-up', 'step without linear layers ms', 'bound ms',
                      'best possible speed-up'], rows) + f"\n\nbfloat16 peak measured in each run: {peaks} GFLOP/s; kernels: {rs[0]['kernels']}."
            + source(rs, 'results/kernels/roofline-*.json'))


def table_kernel_ppl():
    "SmolLM2 WikiText-2 perplexity through each CPU path, `bench/kernel_ppl.py` (results/kernels/ppl*.json: one checkpoint each)."
    rs = _kernel_files('ppl*.json')
    if not rs: return '(no kernel perplexity committed yet)'
    rows = []
    for r in rs:
        exact = r['paths'].get('float32 tiled (exact)', {}).get('ppl')
        for k, v in r['paths'].items():
            ks = v['kernels'] if isinstance(v['kernels'], str) else ', '.join(f'{a} {b}' for a, b in v['kernels'].items())
            # a kernel against the fallback path that computes as it does: the nearest of them (bfloat16 weights, float32 sums, exact)
            falls = {f: x['ppl'] for f, x in r['paths'].items() if 'tiled' in f}
            near = min(falls, key=lambda f: abs(falls[f] - v['ppl'])) if 'tiled' not in k and falls else None
            rows.append([f"{r.get('bits', 4)}-bit `{Path(r.get('checkpoint', '')).name}`", cpu_words(r['provenance']['machine']).split('(')[-1].rstrip(')'), k, f"{v['ppl']:.4f}",
                         f"{v['ppl'] - exact:+.4f}" if exact else '-', f"{v['ppl'] - falls[near]:+.4f} ({near})" if near else '-', ks])
    return markdown(['checkpoint', 'CPU', 'path', 'perplexity', 'vs float32 exact', 'vs the nearest fallback path', 'kernels (layers)'], rows) + source(rs, 'results/kernels/ppl*.json')


def table_head():
    """The output layer quantized too, `bench/head.txt` runs under results/head, each beside its twin with the head in
    full precision: the run of the same flags kept in results/head (made with the same defaults), else results/table's."""
    h, t = runs('head'), runs('table')
    used = {n: r for n, r in h.items() if n.endswith('-head')}
    if not used: return '(no output-layer runs committed yet)'
    rows = []
    for name, r in used.items():
        base = h.get(name.removesuffix('-head')) or t.get(name.removesuffix('-head'))
        cells = []
        for ds in DATASETS:
            a, b = ppl(base, ds), ppl(r, ds)
            cells.append(f"{fmt(a)} / {fmt(b)}" + (f" (+{100 * (b / a - 1):.0f}%)" if a and b else ''))
        rows.append([label(r), *cells])
    return markdown(['run', *(f'{d} ppl: head full precision / quantized' for d in DATASETS)], rows) + source(list(h.values()), 'results/head')


def table_peers():
    "Beside llm-compressor, GPTQModel and AutoRound: `bench/peers.py` runs, one file each under results/peers."
    import peers                                     # bench/ is on the path; peers imports this module's markdown
    rs = list(runs('peers').values())
    if not rs: return '(no side-by-side runs committed yet)'
    return peers.table(rs) + source(rs, 'results/peers')


def ratio_to(recs, base):
    """For a layer study's records: mean(rs, key), the mean over records `rs` of each one's `key` divided by the `base`
    configuration's on the same problem (source, layer, bits, grouping); None for no records."""
    problem = lambda x: (x['source'], x['layer'], x['bits'], x['groupsize'])
    ref = {problem(x): x for x in recs if x['config'] == base}
    return lambda rs, key: sum(x[key] / ref[problem(x)][key] for x in rs) / len(rs) if rs else None


CLIP_CONFIGS = {'default': 'QuantEase, min/max ranges (the default before this study)', 'act-order': 'QuantEase, act-order',
                'mse': "QuantEase, GPTQ's clipping search", 'hmse': 'QuantEase, H_jj-weighted clipping search (the default now)',
                'hmse+act': 'QuantEase, H_jj-weighted search + act-order', 'gptq': 'GPTQ, no act-order',
                'gptq-act': 'GPTQ, act-order + static groups', 'gptq-mse': "GPTQ act-order, GPTQ's clipping search",
                'gptq-hmse': 'GPTQ act-order, H_jj-weighted clipping search (the defaults now)'}


def table_clip():
    "The clipping-search layer study (results/study/clip-layers.json): each configuration's objective over QuantEase's default."
    f = RESULTS / 'study' / 'clip-layers.json'
    if not f.exists(): return '(no layer study committed yet)'
    r = json.loads(f.read_text())
    recs = r['study']
    mean = ratio_to(recs, 'default')
    rows = []
    for cfg, what in CLIP_CONFIGS.items():
        of = lambda **k: [x for x in recs if x['config'] == cfg and all(x[a] == b for a, b in k.items())]
        cells = [fmt(mean(of(source='smollm2', bits=b, groupsize=g), 'held'), 3) for b in (3, 4) for g in (-1, 64)]
        rows.append([what, *cells, fmt(mean(of(source='synthetic'), 'held'), 3)])
    head = ['configuration', *(f'SmolLM2 {b}-bit {"per channel" if g < 0 else "g64"}' for b in (3, 4) for g in (-1, 64)),
            'synthetic, all cells']
    return markdown(head, rows) + source([r], 'results/study/clip-layers.json')


REFIT_CONFIGS = {'pipeline': "QuantEase, the pipeline's default at 16 x 512 tokens", 'sweeps+10': 'the same, 10 more sweeps',
                 'refit 1': 'refit 1: least-squares scales, 5 sweeps', 'refit 2': 'refit 2: twice that',
                 'refit 3': 'refit 3: three times'}


def table_refit():
    """The refit layer study (results/study/refit-layers.json): each configuration's held-out objective over the pipeline
    default's on the same SmolLM2 layer and cell (mean over the six layers), and its solve time over the default's."""
    f = RESULTS / 'study' / 'refit-layers.json'
    if not f.exists(): return '(no refit study committed yet)'
    r = json.loads(f.read_text())
    recs = [x for x in r['study'] if x['source'] == 'smollm2']
    mean = ratio_to(recs, 'pipeline')
    rows = []
    for cfg, what in REFIT_CONFIGS.items():
        of = lambda **k: [x for x in recs if x['config'] == cfg and all(x[a] == b for a, b in k.items())]
        rows.append([what, *(fmt(mean(of(bits=b, groupsize=g), 'held'), 3) for b in (3, 4) for g in (-1, 64)),
                     fmt(mean(of(), 'cal'), 3), fmt(mean(of(), 'seconds'), 2)])
    head = ['configuration', *(f'held-out {b}-bit {"per channel" if g < 0 else "g64"}' for b in (3, 4) for g in (-1, 64)),
            'calibration, all cells', 'solve time']
    return markdown(head, rows) + source([r], 'results/study/refit-layers.json')


def table_refit_ppl():
    """QuantEase with `--refit 2` beside its default on the same cell and calibration seed (results/peers): perplexities
    and their ratio (refit over default; the geometric mean over the three test sets)."""
    import peers                                     # its geometric mean, as for the side-by-side's ratios
    rs = runs('peers')
    rows, used = [], []
    for cell in ('w4-g64', 'w4-ch', 'w3-g64', 'w3-ch'):
        for seed in (0, 1):
            a, b = rs.get(f'quantease-{cell}-s{seed}'), rs.get(f'quantease-refit-{cell}-s{seed}')
            if not (a and b): continue
            used += [a, b]
            ratios = [b['ppl'][d] / a['ppl'][d] for d in DATASETS]
            rows.append([cell, seed, ' / '.join(fmt(a['ppl'][d]) for d in DATASETS), ' / '.join(fmt(b['ppl'][d]) for d in DATASETS),
                         ' / '.join(fmt(x, 3) for x in ratios), fmt(peers.geomean(ratios), 3)])
    if not rows: return '(no refit runs committed yet)'
    return markdown(['cell', 'seed', 'default (WikiText-2 / PTB / C4)', 'refit 2', 'refit / default', 'geometric mean'], rows) + \
        source(used, 'results/peers')


def table_calibration():
    "Defaults against calibration size (results/study/calibration.json): held-out error over the best configuration's."
    f = RESULTS / 'study' / 'calibration.json'
    if not f.exists(): return '(no calibration-size study committed yet)'
    r = json.loads(f.read_text())
    rs, sizes, cells = r['study'], r['sizes'], r['cells']
    best = {}
    for x in rs:
        k = (x['cell'], x['size'], x['layer'])
        best[k] = min(best.get(k, math.inf), x['held'])
    def ratios(name, size=None):
        return [x['held'] / best[(x['cell'], x['size'], x['layer'])] for x in rs if x['config'] == name and size in (None, x['size'])]
    def cell_means(name):          # one figure per (cell, size): the mean over layers
        out = []
        for c in cells:
            for sz in sizes:
                v = [x['held'] / best[(c, sz, x['layer'])] for x in rs if x['config'] == name and x['cell'] == c and x['size'] == sz]
                if v: out.append(sum(v) / len(v))
        return out
    rows = []
    for name, what in r['configs'].items():
        per = [ratios(name, sz) for sz in sizes]
        secs = sum(x['seconds'] for x in rs if x['config'] == name)
        rows.append([f'{name}: {what}', *(fmt(sum(v) / len(v), 3) if v else '-' for v in per), fmt(max(cell_means(name)), 3), fmt(secs, 0)])
    head = ['configuration', *(f'{sz * 512 // 1024}k tokens' for sz in sizes), 'worst (cell, size)', 'solve s (all)']
    passes = [dict(provenance=p['provenance']) for p in r.get('passes', [r])]      # one per pass of added configurations
    return markdown(head, rows) + source(passes, 'results/study/calibration.json')


def table_small():
    "The issue's small-calibration example (bench/small.txt, results/small): damping, ranges and sweeps at 2k tokens."
    t = runs('small')
    if not t: return '(no small-calibration runs committed yet)'
    what = {'old-5': 'min/max ranges, shrink 0.02 (the default before), 5 sweeps', 'ldamp-5': 'min/max ranges, 1% λI, 5 sweeps',
            'tokens-5': 'min/max ranges, shrink by tokens (0.5 here), 5 sweeps', 'new-5': 'the new defaults (H-weighted ranges, shrink by tokens), 5 sweeps',
            'new': 'the new defaults, 20 sweeps'}
    rows, used = [], []
    for n, w in what.items():
        r = t.get(n)
        if not r: continue
        used.append(r)
        q = r.get('quantization') or {}
        rows.append([n, w, *(fmt(ppl(r, d)) for d in DATASETS), fmt(q.get('mean_relative_error'), 4)])
    return markdown(['run', 'settings', 'WikiText-2', 'PTB', 'C4', 'mean layer error'], rows) + source(used, 'results/small')


TABLES = dict(small=table_small, refit=table_refit, refit_ppl=table_refit_ppl, calibration=table_calibration, clip=table_clip, peers=table_peers, head=table_head, decode=table_decode, interleaved=table_interleaved, perplexity=table_perplexity, methods=table_methods, lambada=table_lambada, serve=table_serve, resume=table_resume,
              moe=table_moe, micro=table_micro, attention=table_attention, roofline=table_roofline, kernel_ppl=table_kernel_ppl)


def value(key):
    """A figure for the prose: 'ppl:RUN:DATASET', 'time:RUN', 'bits:RUN', 'err:RUN', 'lambada:RUN', or
    'ratio:RUN_A:RUN_B:DATASET' (percent by which A is below B)."""
    kind, *a = key.split(':')
    t = runs('table')
    if kind == 'ppl': return fmt(ppl(t.get(a[0]), a[1]))
    if kind == 'time': return fmt(qtime(t.get(a[0])), 0)
    if kind == 'bits': return fmt((t[a[0]]['quantization'] or {}).get('avg_bits'), 2) if a[0] in t else '-'
    if kind == 'err': return fmt((t[a[0]]['quantization'] or {}).get('mean_relative_error'), 4) if a[0] in t else '-'
    if kind == 'chain':        # 'chain:A,B,C:DATASET': the runs' perplexities joined by the relation that holds
        vals = [ppl(t.get(n), a[1]) for n in a[0].split(',')]
        if any(v is None for v in vals): return '-'
        out = short(vals[0])
        for x, y in zip(vals, vals[1:]): out += f" {'<' if x < y else '>' if x > y else '='} {short(y)}"
        return out
    if kind == 'ratio':
        x, y = ppl(t.get(a[0]), a[2]), ppl(t.get(a[1]), a[2])
        return '-' if x is None or y is None else f'{100 * (1 - x / y):.0f}%'
    raise SystemExit(f'unknown value key {key!r}')


# ----------------------------------------------------------------------------- the front page
# a table's body may be empty, but never holds another table's opening marker (an empty one once swallowed the next)
TABLE_RE = re.compile(r'(<!-- results:(\w+) -->)((?:(?!<!-- results:).)*?)(<!-- /results -->)', re.S)
VALUE_RE = re.compile(r'(<!--v:([^>]+?)-->)(.*?)(<!--/v-->)')


def fill(text):
    "`text` with every marked table and value replaced by what the results say."
    text = TABLE_RE.sub(lambda m: m.group(1) + '\n' + TABLES[m.group(2)]() + '\n' + m.group(4), text)
    return VALUE_RE.sub(lambda m: m.group(1) + value(m.group(2)) + m.group(4), text)


def readme(check=False):
    """Fill the marked tables and values of every notebook under nbs/ (the front page among them) from results/, then
    write README.md from the front page; `check`: change nothing, return 1 if anything would change."""
    stale = []
    for path in sorted((ROOT / 'nbs').rglob('*.ipynb')):
        nb = json.loads(path.read_text())
        changed = False
        for c in nb['cells']:
            if c['cell_type'] != 'markdown': continue
            src = ''.join(c['source'])
            new = fill(src)
            if new != src:
                changed = True
                lines = new.split('\n')
                c['source'] = [l + '\n' for l in lines[:-1]] + [lines[-1]]
        if changed:
            stale.append(path.relative_to(ROOT).as_posix())
            if not check: path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'readme.py'), '--stdout'], capture_output=True, text=True)
    if r.returncode: raise SystemExit(r.stderr)
    if r.stdout != (ROOT / 'README.md').read_text(): stale.append('README.md')
    if check:
        if stale: print(f"{', '.join(stale)}: figures differ from what results/ says: run python bench/report.py readme"); return 1
        print('README.md and the notebooks agree with results/'); return 0
    (ROOT / 'README.md').write_text(r.stdout)
    print('updated:', ', '.join(stale) or 'nothing')
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    c = sub.add_parser('collect'); c.add_argument('src'); c.add_argument('dest')
    r = sub.add_parser('readme'); r.add_argument('--check', action='store_true')
    sub.add_parser('tables')
    a = ap.parse_args()
    if a.cmd == 'collect': return collect(a.src, a.dest)
    if a.cmd == 'readme': sys.exit(readme(a.check))
    for name, f in TABLES.items(): print(f'## {name}\n\n{f()}\n')


if __name__ == '__main__':
    main()
