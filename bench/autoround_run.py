"""Quantize a model folder with Intel's auto-round (SignRound; run in auto-round's own environment, never ours), on
calibration windows we hand it as token ids, on the CPU, and save a checkpoint `quantease.load` reads.

    /path/to/ar-venv/bin/python bench/autoround_run.py --model DIR --ids IDS.safetensors --out OUT --bits 4 --group 64 [--sym]
        [--iters 200] [--lr LR] [--minmax-lr LR] [--batch-size 8] [--seed 42] [--no-amp] [--no-minmax-tuning]
        [--format auto_gptq|dense] [--threads 2]

IDS.safetensors holds `input_ids` [windows, tokens] (e.g. `quantease.data.calibration('c4', tok, 16, 512, seed=0)`);
auto-round calibrates on exactly those windows (nsamples = windows, seqlen = tokens), each handed over as
{'input_ids': [1, tokens], 'attention_mask': None}: a plain causal window, as auto-round's own datasets are.
`--group -1` is per channel; grids are asymmetric unless `--sym`. Unset flags keep auto-round's defaults (lr and
minmax lr 1/iters, batch 8, seed 42, min-max tuning on, lm_head left alone, amp: bfloat16 tuning where auto-round
finds CPU bfloat16 support, else float32; --no-amp forces float32; scales are kept in float16 either way).

Format: 'auto_gptq' (default) is auto-round's GPTQ export (quant_method 'gptq', v1 zero points stored minus one),
which quantease.load reads. v1 cannot hold a zero point of 0 (auto-round clamps it to 1, shifting that group one step):
if an asymmetric run has any, the runner saves 'dense' instead and says so. 'dense' is a plain float32 model
(quantease.load and transformers read it) whose quantized layers hold (q - zero) * scale, the values auto-round's
packed export stands for, everything else the original model's tensors. It is written here, not by auto-round's
'fake' export: auto-round tunes in bfloat16 and keeps only bfloat16 rounded weights in memory, and its 'fake' save
(0.16.1, model loaded in float32) then restores the *original* float32 weights over the quantized ones (its log:
"Restored 272 tensor(s) from FP16/BF16 to their original FP32 values", the linear layers among them): a checkpoint of
the unquantized model. The codes q are recovered from the bfloat16 weights (exact: bfloat16's error is under 1/32 of
a step at 4 bits) and checked to lie on the grid.
Either way the runner records each quantized layer's fingerprint (sum of |w| and of w^2, float64, of the dense
weights (q - zero) * scale) in the run file; `peers.py` compares them with the weights it reads back.
Writes OUT/autoround_run.json (time of `quantize()` alone, peak RSS, settings used) and prints it.
"""
import argparse, json, time
from pathlib import Path
from provenance import fingerprint, peak_rss     # bench/ is on the path: this script runs from it


def quantized_layers(model):
    "{name: layer} of the linear layers auto-round quantized (they carry its `scale` and `zp`)."
    return {n: m for n, m in model.named_modules()
            if hasattr(m, 'scale') and getattr(m, 'bits', 16) <= 8 and getattr(m, 'weight', None) is not None and m.weight.dim() == 2}


def dequantized(m, bits, torch):
    """The float32 weights (q - zero) * scale that layer `m`'s packed export stands for: codes q recovered from the
    in-memory (bfloat16, fake-quantized) weights with its float16 scales and zero points; raises if any weight is off
    the grid by more than a quarter step (the recovery would then be guesswork)."""
    w = m.weight.detach().float()
    rows, cols = w.shape
    g = m.group_size if m.group_size and m.group_size > 0 else cols
    s = m.scale.float().reshape(rows, -1, 1)
    z = m.zp.float().reshape(rows, -1, 1) if torch.is_tensor(m.zp) else float(m.zp)   # symmetric grids: one number
    x = w.reshape(rows, cols // g, g) / s + z
    q = x.round().clamp(0, 2 ** bits - 1)
    off = (x - q).abs().max().item()
    if off > 0.25: raise SystemExit(f'{m.global_name}: a weight lies {off:.2f} steps off its grid')
    return ((q - z) * s).reshape(rows, cols)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True); ap.add_argument('--ids', required=True); ap.add_argument('--out', required=True)
    ap.add_argument('--bits', type=int, default=4); ap.add_argument('--group', type=int, default=64); ap.add_argument('--sym', action='store_true')
    ap.add_argument('--iters', type=int, default=200); ap.add_argument('--lr', type=float); ap.add_argument('--minmax-lr', type=float)
    ap.add_argument('--batch-size', type=int, default=8); ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--no-amp', action='store_true', help='tune in float32 (auto-round tunes in bfloat16 on the CPU)')
    ap.add_argument('--no-minmax-tuning', action='store_true'); ap.add_argument('--format', default='auto_gptq', choices=('auto_gptq', 'dense'))
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
    layers = quantized_layers(ar.model)
    if not layers: raise SystemExit('auto-round quantized no layer')
    ref = {n: dequantized(m, a.bits, torch) for n, m in layers.items()}
    fmt, check = a.format, dict(layers=len(ref))
    if fmt == 'auto_gptq' and not a.sym:
        check['zero_point_0_groups'] = sum(int((m.zp == 0).sum()) for m in layers.values() if torch.is_tensor(m.zp))
        if check['zero_point_0_groups']: fmt = 'dense'; print(f"{check['zero_point_0_groups']} zero points of 0, which GPTQ v1 cannot store: saving 'dense'")
    if fmt == 'dense':
        plain = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)   # every other tensor as it was
        for n, w in ref.items(): plain.get_submodule(n).weight.data.copy_(w)
        plain.save_pretrained(a.out); tok.save_pretrained(a.out)
    else:
        ar.save_quantized(a.out, format=fmt, inplace=True)
    info = dict(tool='auto-round', version=auto_round.__version__, args=vars(a), seconds=seconds, peak_rss=peak,
                threads=torch.get_num_threads(), settings=settings, format=fmt, check=check,
                weights={n: fingerprint(w) for n, w in ref.items()})
    (Path(a.out) / 'autoround_run.json').write_text(json.dumps(info, indent=1, default=str))
    print(json.dumps(info, default=str))


if __name__ == '__main__':
    main()
