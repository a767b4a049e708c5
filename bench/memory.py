"""Peak inference memory of a model at several bit widths, measured side by side in one run.

Each configuration (float32, bfloat16, and packed quantized checkpoints at 8/4/3/2 bits made with RTN and
`quantease.export.save`) runs in a fresh Python process (`quantease.memory.measure_peak`), so no configuration counts
another's memory. The workload follows optimum-benchmark's text-generation scenario: batch 2, a 512-token prompt,
prefill (= generating 1 token) and generation of N new tokens. Prints a table, writes JSON (for
`quantease.plots.plot_memory`).

    python bench/memory.py [--model smollm2-135m] [--batch 2] [--prompt 512] [--new-tokens 32]
                           [--bits 8,4,3,2] [--groupsize 64] [--json runs/memory.json]

Without `quantease.export` the quantized rows are analytic only (marked so in the table and the JSON).
"""
import argparse, json, sys, tempfile, time
from pathlib import Path
import torch
from quantease.memory import MB, measure_peak, split_measured, memory_budget, weight_bytes


def make_checkpoints(model_name, bits_list, groupsize, dest):
    "RTN-quantize every block linear layer at each bit width and save packed checkpoints; {bits: folder}."
    from quantease.models import load_model, find_blocks, find_linears
    from quantease.grid import Grid
    from quantease.rtn import rtn
    from quantease.export import save
    out = {}
    for bits in bits_list:
        model, tok = load_model(model_name)
        path, blocks = find_blocks(model)
        results = {}
        for i, b in enumerate(blocks):
            for k, lin in find_linears(b).items():
                q = rtn(lin.weight.data, None, Grid(bits=bits, groupsize=groupsize))
                lin.weight.data.copy_(q.weight)
                results[f'{path}.{i}.{k}'] = q
        d = Path(dest) / f'rtn{bits}'
        save(model, results, tok, d)
        out[bits] = d
        del model
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='smollm2-135m')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--prompt', type=int, default=512)
    p.add_argument('--new-tokens', type=int, default=32)
    p.add_argument('--bits', default='8,4,3,2', help='bit widths of the quantized rows (RTN, packed)')
    p.add_argument('--groupsize', type=int, default=64, help='columns per group (must divide every layer: 64 for SmolLM2)')
    p.add_argument('--quant-dtype', default='bfloat16', help='dtype of activations and unquantized parts of packed models')
    p.add_argument('--device', default=None)
    p.add_argument('--json', default='runs/memory.json', help='where to write the results')
    a = p.parse_args(argv)
    bits_list = [int(b) for b in a.bits.split(',') if b.strip()]
    work = dict(batch=a.batch, prompt=a.prompt, new_tokens=a.new_tokens)
    if a.device: work['device'] = a.device
    try:
        import quantease.export  # noqa: F401
        have_export = True
    except ImportError:
        have_export = False
    from quantease.models import load_model
    ref, _ = load_model(a.model)          # for the analytic budget (shapes and parameter counts)
    configs = [dict(label='float32', bits=32, spec=dict(model=a.model, dtype='float32'), dtype_bytes=4, qbits=None),
               dict(label='bfloat16', bits=16, spec=dict(model=a.model, dtype='bfloat16'), dtype_bytes=2, qbits=None)]
    tmp = tempfile.TemporaryDirectory()
    ckpts = make_checkpoints(a.model, bits_list, a.groupsize, tmp.name) if have_export else {}
    qb = 2 if a.quant_dtype in ('bfloat16', 'float16') else 4
    for b in bits_list:
        spec = dict(load=str(ckpts[b]), dtype=a.quant_dtype) if b in ckpts else None
        configs.append(dict(label=f'{b}-bit g{a.groupsize} ({a.quant_dtype})', bits=b, spec=spec, dtype_bytes=qb, qbits=b))
    rows, t_all = [], time.time()
    for c in configs:
        budget = memory_budget(ref, a.batch, a.prompt, a.new_tokens, bits=c['qbits'], groupsize=a.groupsize,
                               dtype_bytes=c['dtype_bytes'])
        row = dict(label=c['label'], bits=c['bits'], avg_bits=budget['weights']['avg_bits'],
                   analytic_weights=budget['weights']['total'], analytic=budget, measured=c['spec'] is not None)
        if c['spec'] is not None:
            t0 = time.time()
            r = measure_peak(dict(c['spec'], **work))
            s = split_measured(r)
            row.update(raw=r, runtime=s['runtime'], weights_rss=s['weights_rss'], seconds=round(time.time() - t0, 1),
                       prefill=dict(weights=s['weights'], **s['prefill']), generate=dict(weights=s['weights'], **s['generate']))
        else:
            row.update(runtime=0, prefill=budget['prefill'], generate=budget['generate'])
        rows.append(row)
        print(f"measured {c['label']}" if row['measured'] else f"analytic {c['label']}", file=sys.stderr, flush=True)
    ref_row = next(r for r in rows if r['bits'] == 16)
    hdr = (f"{'configuration':<28}{'bits/w':>7}{'weights':>9}{'(rss)':>8}{'KV':>7}{'act pre':>9}{'act gen':>9}"
           f"{'peak pre':>10}{'peak gen':>10}{'process':>9}{'W/W16':>7}{'gen/gen16':>10}")
    lines = [f"{a.model}, batch {a.batch}, prompt {a.prompt}, {a.new_tokens} new tokens; MB; peaks above the "
             f"process before loading (runtime), 'process' = whole resident peak", hdr]
    for r in rows:
        g, pf = r['generate'], r['prefill']
        peak_g = g.get('peak', g['weights'] + g['kv_cache'] + g['activations'])
        peak_p = pf.get('peak', pf['weights'] + pf['kv_cache'] + pf['activations'])
        ref_g = ref_row['generate'].get('peak', 0) or 1
        proc = (g.get('total_process') or 0) / MB
        lines.append(f"{r['label'] + ('' if r['measured'] else ' *'):<28}{r['avg_bits']:7.2f}{g['weights'] / MB:9.1f}"
                     f"{r.get('weights_rss', 0) / MB:8.1f}{g['kv_cache'] / MB:7.1f}{pf['activations'] / MB:9.1f}"
                     f"{g['activations'] / MB:9.1f}{peak_p / MB:10.1f}{peak_g / MB:10.1f}{proc:9.0f}"
                     f"{g['weights'] / ref_row['generate']['weights']:7.2f}{peak_g / ref_g:10.2f}")
    if not have_export: lines.append("* analytic only: quantease.export is not available, no packed model was measured")
    print('\n'.join(lines))
    out = dict(settings=dict(model=a.model, groupsize=a.groupsize, quant_dtype=a.quant_dtype, seconds=round(time.time() - t_all, 1),
                             device=rows[0].get('raw', {}).get('device', 'cpu'), torch=torch.__version__, **work),
               rows=rows, table='\n'.join(lines))
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=1))
    print(f"saved {a.json}")
    return out


if __name__ == '__main__':
    main()
