"""Quantize a model folder with llm-compressor (run in llm-compressor's own environment, never ours), on calibration
windows we hand it as token ids, and save its compressed-tensors checkpoint.

    /path/to/llmc-venv/bin/python bench/llmc_run.py --model DIR --ids IDS.safetensors --out OUT --bits 4 --group 64 [--sym]
        [--recipe gptq|awq|autoround] [--actorder static|none] [--observer minmax|mse] [--damp 0.01] [--iters 200]

Recipes, each with llm-compressor's own defaults unless a flag says otherwise: `gptq` (GPTQModifier: static activation
ordering, 1% damping), `awq` (AWQModifier, then QuantizationModifier rounds the scaled weights), `autoround`
(AutoRoundModifier: 200 sign-gradient steps per block; torch.compile off, as on a CPU without a compiler cache it
only adds minutes). `--group -1` = one scale per output channel.

IDS.safetensors holds `input_ids` [windows, tokens] (e.g. `quantease.data.calibration('c4', tok, 16, 512, seed=0)`),
so both tools see the same calibration text. Prints the wall time of `oneshot` and the peak RSS.
"""
import argparse, json, time
from pathlib import Path
from provenance import peak_rss     # bench/ is on the path: this script runs from it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True); ap.add_argument('--ids', required=True); ap.add_argument('--out', required=True)
    ap.add_argument('--bits', type=int, default=4); ap.add_argument('--group', type=int, default=64); ap.add_argument('--sym', action='store_true')
    ap.add_argument('--actorder', default='static', choices=('static', 'none')); ap.add_argument('--observer', default='minmax')
    ap.add_argument('--damp', type=float, default=0.01)
    ap.add_argument('--recipe', default='gptq', choices=('gptq', 'awq', 'autoround')); ap.add_argument('--iters', type=int, default=200)
    a = ap.parse_args()
    import torch, llmcompressor
    from datasets import Dataset
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
    ids = load_file(a.ids)['input_ids']
    data = Dataset.from_dict({'input_ids': ids.tolist()})
    args = dict(num_bits=a.bits, type='int', symmetric=a.sym, observer=a.observer,
                **(dict(strategy='group', group_size=a.group) if a.group > 0 else dict(strategy='channel')))
    scheme = QuantizationScheme(targets=['Linear'], weights=QuantizationArgs(**args))
    groups = {'group_0': scheme}
    if a.recipe == 'gptq':
        recipe = GPTQModifier(config_groups=groups, ignore=['lm_head'], actorder=None if a.actorder == 'none' else a.actorder,
                              dampening_frac=a.damp)
    elif a.recipe == 'awq':
        from llmcompressor.modifiers.transform import AWQModifier
        if not torch.cuda.is_available():   # 0.14's AWQ pins its cached CPU tensors for host-to-device copies, which
            from llmcompressor.pipelines.cache import IntermediatesCache      # raises without an accelerator; pinning
            IntermediatesCache.pin_memory = lambda self, *args, **kw: None    # only speeds those copies: skipped here
        recipe = [AWQModifier(), QuantizationModifier(config_groups=groups, ignore=['lm_head'])]
    else:
        from llmcompressor.modifiers.autoround import AutoRoundModifier
        recipe = AutoRoundModifier(config_groups=groups, ignore=['lm_head'], iters=a.iters, enable_torch_compile=False)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    t = time.time()
    oneshot(model=model, dataset=data, processor=a.model, recipe=recipe, num_calibration_samples=len(ids), max_seq_length=ids.shape[1])
    seconds = time.time() - t
    model.save_pretrained(a.out, save_compressed=True)
    from transformers import AutoTokenizer
    AutoTokenizer.from_pretrained(a.model).save_pretrained(a.out)
    info = dict(tool='llmcompressor', version=llmcompressor.__version__, args=vars(a), oneshot_seconds=seconds,
                peak_rss=peak_rss(), threads=torch.get_num_threads())
    (Path(a.out) / 'llmc_run.json').write_text(json.dumps(info, indent=1))
    print(json.dumps(info))


if __name__ == '__main__':
    main()
