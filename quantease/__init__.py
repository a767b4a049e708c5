"""Post-training quantization of LLMs by coordinate descent (QuantEase), with GPTQ, OBQ, SpQR, RTN and ternary baselines under one interface

Modules:

- `quantease.export`: `save` and `CheckpointWriter`: complete model folders (weights, config, generation config, tokenizer) in the GPTQ and compressed-tensors formats that transformers, GPTQModel and vLLM read, written at once or block by block while the pipeline runs.
- `quantease.formats`: The two public layouts of a packed checkpoint (GPTQ and compressed-tensors), each one entry of a table: its tensors, its `quantization_config`, how to read it back, its own writing rules, and which consumers serve what it writes.
- `quantease.loading`: `quantease.load`: a packed checkpoint folder (ours, llm-compressor's, GPTQModel's) into a transformers model whose quantized layers are `QuantLinear`s on the fastest kernel that serves them. It never imports a solver.
- `quantease.qlinear`: Packed integer codes in the GPTQ layout, and `QuantLinear`, a linear layer that keeps them and dequantizes on the fly (or hands them to a weight-only kernel).
- `quantease.system`: What the library asks of the operating system, each written once: one-line errors, files that are never half-written, the cache folder, crash injection for the resume tests, memory figures, thread and precision settings that are always restored, a C compiler, and the small registry behind the method, format and kernel tables."""

__version__ = "0.2.0"

def __getattr__(name):
    # `load` is imported on first use: `import quantease` stays light (no torch/transformers at import)
    if name == 'load':
        from quantease.loading import load
        return load
    raise AttributeError(f"module 'quantease' has no attribute {name!r}")
