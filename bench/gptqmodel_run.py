"""Quantize a model folder with GPTQModel's GPTQ on CPU (run in GPTQModel's own environment, never ours), on calibration
windows we hand it as token ids, and save its GPTQ checkpoint plus the tokenizer.

    /path/to/gptqmodel-venv/bin/python bench/gptqmodel_run.py --model DIR --ids IDS.safetensors --out OUT --bits 4 --group 64
        [--sym] [--desc-act] [--damp 0.05] [--act-group-aware on|off] [--mse 0] [--gptaq-alpha A] [--format gptq|gptq_v2]

IDS.safetensors holds `input_ids` [windows, tokens] (e.g. `quantease.data.calibration('c4', tok, 16, 512, seed=0)`),
so all tools see the same calibration text. --group -1 is per channel. Recipe flags left out keep GPTQModel's own
defaults (7.7: damp 0.05, act_group_aware on, desc_act off, mse 0, no GPTAQ); act_group_aware is turned off for --desc-act
and for --group -1, which GPTQModel refuses with it on. Times `quantize` only, records peak RSS.
GPTQModel sizes its CPU worker pool as ceil(cores/2), but always asks for a 2-worker 'model_loader:cpu' sub-pool, so
on a 2-core machine it refuses to start; GPTQMODEL_CPU_WORKERS=2 (set below unless given) fixes that.
"""
import argparse, json, os, time
from pathlib import Path
from provenance import peak_rss     # bench/ is on the path: this script runs from it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True); ap.add_argument('--ids', required=True); ap.add_argument('--out', required=True)
    ap.add_argument('--bits', type=int, default=4); ap.add_argument('--group', type=int, default=64); ap.add_argument('--sym', action='store_true')
    ap.add_argument('--desc-act', action='store_true'); ap.add_argument('--damp', type=float, default=None)
    ap.add_argument('--act-group-aware', choices=('on', 'off'), default=None); ap.add_argument('--mse', type=float, default=None)
    ap.add_argument('--gptaq-alpha', type=float, default=None); ap.add_argument('--format', default='gptq', choices=('gptq', 'gptq_v2'))
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    os.environ.setdefault('GPTQMODEL_CPU_WORKERS', str(max(2, a.threads)))
    import torch
    torch.set_num_threads(a.threads)
    import gptqmodel
    from gptqmodel import GPTQModel, QuantizeConfig
    from safetensors.torch import load_file
    from transformers import AutoTokenizer
    ids = load_file(a.ids)['input_ids']
    data = [dict(input_ids=row.tolist(), attention_mask=[1] * len(row)) for row in ids]
    kw = dict(bits=a.bits, group_size=a.group, sym=a.sym, desc_act=a.desc_act, format=a.format)
    if a.damp is not None: kw['damp_percent'] = a.damp
    if a.act_group_aware is not None: kw['act_group_aware'] = a.act_group_aware == 'on'
    elif a.desc_act or a.group <= 0: kw['act_group_aware'] = False    # its default (on) refuses desc_act and group -1
    if a.mse is not None: kw['mse'] = a.mse
    if a.gptaq_alpha is not None: kw['gptaq'] = dict(alpha=a.gptaq_alpha, device='cpu')
    cfg = QuantizeConfig(**kw)
    model = GPTQModel.load(a.model, cfg, device='cpu', dtype=torch.float32)
    t = time.time()
    model.quantize(data, batch_size=1)
    seconds = time.time() - t
    model.save(a.out)
    AutoTokenizer.from_pretrained(a.model).save_pretrained(a.out)
    info = dict(tool='gptqmodel', version=gptqmodel.__version__, args=vars(a), seconds=seconds,
                peak_rss=peak_rss(), threads=torch.get_num_threads(),
                cpu_workers=int(os.environ['GPTQMODEL_CPU_WORKERS']), config=cfg.to_dict())
    (Path(a.out) / 'gptqmodel_run.json').write_text(json.dumps(info, indent=1, default=str))
    print(json.dumps(info, default=str))


if __name__ == '__main__':
    main()
