#!/usr/bin/env python
"""Make the tiny third-party checkpoints that `nbs/20_export.ipynb` reads (`nbs/fixtures/`), with the tools that
write them, each in its own scratch environment (never a dependency of quantease):

    # llm-compressor 0.14.0.1 (pip install torch==2.13.0 llmcompressor==0.14.0.1 in a fresh venv)
    /path/to/llmc-venv/bin/python tools/fixtures.py llmcompressor nbs/fixtures
    # GPTQModel 7.7.0 on the CPU torch: a venv with --system-site-packages (torch 2.13.0+cpu, transformers), then
    # pip install optimum --no-deps; pip install "setuptools>=77" wheel; BUILD_CUDA_EXT=0 pip install
    # --no-build-isolation --no-deps gptqmodel==7.7.0; pip install pypcre tokenicer logbar device-smi defuser threadpoolctl dill
    /path/to/gq-venv/bin/python tools/fixtures.py gptqmodel nbs/fixtures

Each fixture is a 2-block Llama of width 64 (random weights, seed 0) quantized by the tool from random token ids;
`fixture.json` beside it records the tool, its version, the recipe and this command. The notebook checks that
`quantease.load` reproduces the tool's own reading of the folder: compressed-tensors' decompression for
llm-compressor's, and logits GPTQModel itself computed (`reference/logits.safetensors`) for GPTQModel's."""
import json, sys, tempfile
from pathlib import Path
import torch


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)
    return LlamaForCausalLM(cfg).eval()


def _tokenizer():
    "A 300-word word-level tokenizer: oneshot wants a processor, though the calibration data are token ids already."
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.WordLevel({f'w{i}': i for i in range(300)}, unk_token='w0'))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token='w0', pad_token='w0')


def llmcompressor(out):
    "GPTQ (llm-compressor's default actorder 'static'), 4-bit asymmetric groups of 32, and 8-bit symmetric per channel."
    import llmcompressor as lc, compressed_tensors as ct
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import GPTQModifier
    from compressed_tensors.quantization import QuantizationArgs, QuantizationScheme
    g = torch.Generator().manual_seed(1)
    data = Dataset.from_dict({'input_ids': [torch.randint(0, 300, (64,), generator=g).tolist() for _ in range(16)]})
    recipes = {'llmc-w4-asym-g32': dict(num_bits=4, symmetric=False, strategy='group', group_size=32),
               'llmc-w8-sym-channel': dict(num_bits=8, symmetric=True, strategy='channel')}
    src = Path(tempfile.mkdtemp()) / 'tiny-llama'          # oneshot wants a model with a name or path
    tiny_llama().save_pretrained(src); _tokenizer().save_pretrained(src)
    for name, args in recipes.items():
        model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
        scheme = QuantizationScheme(targets=['Linear'], weights=QuantizationArgs(type='int', **args))
        oneshot(model=model, dataset=data, processor=str(src), recipe=GPTQModifier(config_groups={'group_0': scheme}, ignore=['lm_head']),
                num_calibration_samples=16, max_seq_length=64)
        d = Path(out) / name
        model.save_pretrained(d, save_compressed=True)
        (d / 'fixture.json').write_text(json.dumps(dict(tool='llmcompressor', version=lc.__version__, compressed_tensors=ct.__version__,
                                                        recipe=f'GPTQModifier(config_groups={{group_0: {args}}}, ignore=[lm_head]), 16 x 64 random ids',
                                                        command='python tools/fixtures.py llmcompressor nbs/fixtures'), indent=1))
        print(d, sorted(p.name for p in d.iterdir()))


IDS = torch.arange(24).reshape(2, 12) * 7 % 300     # fixed token ids for the reference logits


def gptqmodel(out):
    """GPTQModel's GPTQ, 4-bit: asymmetric groups of 32 (v1: GPTQModel stores zero - 1), symmetric groups of 32 with
    desc_act (a permuted g_idx), and asymmetric groups of 32 saved as gptq_v2. `reference/logits.safetensors` holds the
    logits of IDS from the saved folder loaded back by transformers + optimum + GPTQModel itself (float32)."""
    import gptqmodel as gq
    gq._default_cpu_workers = lambda: 2   # 7.7 on a 2-core machine: its CPU pool gets 1 worker, its model-loader pool asks for 2
    from gptqmodel import GPTQModel, QuantizeConfig
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM
    src = Path(tempfile.mkdtemp()) / 'tiny-llama'
    tiny_llama().save_pretrained(src); _tokenizer().save_pretrained(src)
    g = torch.Generator().manual_seed(1)
    calib = [{'input_ids': torch.randint(0, 300, (1, 64), generator=g), 'attention_mask': torch.ones(1, 64, dtype=torch.long)} for _ in range(16)]
    recipes = {'gptqmodel-w4-asym-g32-v1': (dict(bits=4, group_size=32, sym=False, desc_act=False), {}),
               'gptqmodel-w4-sym-g32-descact': (dict(bits=4, group_size=32, sym=True, desc_act=True, act_group_aware=False), {}),
               'gptqmodel-w4-asym-g32-v2': (dict(bits=4, group_size=32, sym=False, desc_act=False), dict(format='gptq_v2'))}
    for name, (args, extra) in recipes.items():
        model = GPTQModel.load(str(src), QuantizeConfig(**args, **extra), device='cpu')
        model.quantize(calib, batch_size=1)
        d = Path(out) / name
        model.save(str(d))
        (d / 'quant_log.csv').unlink(missing_ok=True)
        hf = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, device_map='cpu')
        (d / 'reference').mkdir(exist_ok=True)
        with torch.no_grad(): save_file({'ids': IDS, 'logits': hf(IDS).logits.contiguous()}, str(d / 'reference' / 'logits.safetensors'))
        (d / 'fixture.json').write_text(json.dumps(dict(tool='gptqmodel', version=gq.__version__, recipe=f'QuantizeConfig({args}, {extra}), 16 x 64 random ids',
                                                        reference='logits of ids from transformers + optimum + gptqmodel loading this folder',
                                                        command='python tools/fixtures.py gptqmodel nbs/fixtures'), indent=1))
        print(d, sorted(p.name for p in d.iterdir()))


if __name__ == '__main__':
    {'llmcompressor': llmcompressor, 'gptqmodel': gptqmodel}[sys.argv[1]](sys.argv[2])
