"""Quantize a model folder with Intel's auto-round (SignRound; run in auto-round's own environment, never ours), on
calibration windows we hand it as token ids, on the CPU, and save a checkpoint `quantease.load` reads.

    /path/to/ar-venv/bin/python bench/autoround_run.py --model DIR --ids IDS.safetensors --out OUT --bits 4 --group 64 [--sym]
        [--iters 200] [--lr LR] [--minmax-lr LR] [--batch-size 8] [--seed 42] [--no-amp] [--no-minmax-tuning]
        [--format auto_gptq|fake] [--threads 2]

IDS.safetensors holds `input_ids` [windows, tokens] (e.g. `quantease.data.calibration('c4', tok, 16, 512, seed=0)`);
auto-round calibrates on exactly those windows (nsamples = windows, seqlen = tokens), each handed over as
{'input_ids': [1, tokens], 'attention_mask': None}: a plain causal window, as auto-round's own datasets are.
`--group -1` is per channel; grids are asymmetric unless `--sym`. Unset flags keep auto-round's defaults (lr and
minmax lr 1/iters, batch 8, seed 42, min-max tuning on, lm_head left alone, amp: bfloat16 tuning where auto-round
finds CPU bfloat16 support, else float32; --no-amp forces float32; scales are kept in float16 either way).

Format: 'auto_gptq' (default) is auto-round's GPTQ export (quant_method 'gptq', v1 zero points stored minus one),
which quantease.load reads back to exactly the weights auto-round tuned. v1 cannot hold a zero point of 0 (auto-round
clamps it to 1, shifting that group one step): if an asymmetric run has any, the runner saves 'fake' instead and says
so. 'fake' saves dense weights (each the dequantized grid value) that quantease.load and transformers read as a plain
model; the runner then checks every group of every quantized row holds at most 2**bits distinct values.
('auto_round' format is not offered: its quant_method 'auto-round' is not one quantease.load reads.)
Writes OUT/autoround_run.json (time of `quantize()` alone, peak RSS, settings used) and prints it.
"""
import argparse, json, time
from pathlib import Path
from provenance import peak_rss     # bench/ is on the path: this script runs from it


def grid_check(model, bits):
    "(layers, max distinct values in one group of one row, groups over 2**bits) of the fake-quantized linear layers."
    layers, worst, bad = 0, 0, 0
    for n, m in model.named_modules():
        g = getattr(m, 'group_size', None)
        if not hasattr(m, 'scale') or getattr(m, 'bits', 16) > 8 or m.weight.dim() != 2: continue
        w = m.weight.detach().float()
        w = w.reshape(-1, g if g and g > 0 else w.shape[1])
        s = w.sort(1).values
        k = 1 + (s[:, 1:] != s[:, :-1]).sum(1)
        layers, worst, bad = layers + 1, max(worst, int(k.max())), bad + int((k > 2 ** bits).sum())
    return layers, worst, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True); ap.add_argument('--ids', required=True); ap.add_argument('--out', required=True)
    ap.add_argument('--bits', type=int, default=4); ap.add_argument('--group', type=int, default=64); ap.add_argument('--sym', action='store_true')
    ap.add_argument('--iters', type=int, default=200); ap.add_argument('--lr', type=float); ap.add_argument('--minmax-lr', type=float)
    ap.add_argument('--batch-size', type=int, default=8); ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--no-amp', action='store_true', help='tune in float32 (auto-round tunes in bfloat16 on the CPU)')
    ap.add_argument('--no-minmax-tuning', action='store_true'); ap.add_argument('--format', default='auto_gptq', choices=('auto_gptq', 'fake'))
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    import auto_round
    from auto_round import AutoRound
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    ids = load_file(a.ids)['input_ids'].long()
    n, seqlen = ids.shape
    data = [{'input_ids': ids[i:i + 1], 'attention_mask': None} for i in range(n)]
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    ar = AutoRound(model, tok, scheme='W4A16', bits=a.bits, group_size=a.group, sym=a.sym, dataset=data, nsamples=n, seqlen=seqlen,
                   iters=a.iters, lr=a.lr, minmax_lr=a.minmax_lr, batch_size=a.batch_size, seed=a.seed, amp=not a.no_amp,
                   enable_minmax_tuning=not a.no_minmax_tuning, device_map='cpu', enable_torch_compile=False)
    t = time.time()
    ar.quantize()
    seconds = time.time() - t
    peak = peak_rss()   # before saving: the quantize step's peak
    qc, cc = ar.quantize_config, ar.calibration_context
    keys = ('bits', 'group_size', 'sym', 'data_type', 'iters', 'enable_minmax_tuning', 'nblocks', 'gradient_accumulate_steps',
            'momentum', 'enable_quanted_input', 'not_use_best_mse', 'dynamic_max_gap', 'enable_alg_ext', 'enable_norm_bias_tuning')
    settings = {k: getattr(qc, k, None) for k in keys}
    settings.update(lr=qc.compute_lr(a.bits), minmax_lr=qc.compute_minmax_lr(a.bits), optimizer='sign SGD', lr_schedule='linear to 0',
                    batch_size=cc.batch_size, nsamples=cc.nsamples, seqlen=cc.seqlen, seed=a.seed, amp=ar.model_context.amp,
                    tune_dtype=str(ar.model_context.amp_dtype), scale_dtype=str(ar.scale_dtype),
                    low_cpu_mem_usage=ar.compress_context.low_cpu_mem_usage,
                    pad_tokens_in_ids=int((ids == tok.pad_token_id).sum()) if tok.pad_token_id is not None else 0)
    fmt, check = a.format, {}
    if fmt == 'auto_gptq' and not a.sym:
        check['zero_point_0_groups'] = sum(int((m.zp == 0).sum()) for m in ar.model.modules() if isinstance(getattr(m, 'zp', None), torch.Tensor))
        if check['zero_point_0_groups']: fmt = 'fake'; print(f"{check['zero_point_0_groups']} zero points of 0, which GPTQ v1 cannot store: saving 'fake'")
    if fmt == 'fake':
        layers, worst, bad = grid_check(ar.model, a.bits)
        check.update(layers=layers, max_values_per_group=worst, groups_over=bad)
        if layers == 0 or bad: raise SystemExit(f"grid check failed: {check}")
    ar.save_quantized(a.out, format=fmt, inplace=True)
    info = dict(tool='auto-round', version=auto_round.__version__, args=vars(a), seconds=seconds, peak_rss=peak,
                threads=torch.get_num_threads(), settings=settings, format=fmt, check=check)
    (Path(a.out) / 'autoround_run.json').write_text(json.dumps(info, indent=1, default=str))
    print(json.dumps(info, default=str))


if __name__ == '__main__':
    main()
