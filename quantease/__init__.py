"""Post-training quantization of LLMs by coordinate descent (QuantEase), with GPTQ, OBQ, SpQR, RTN and ternary baselines under one interface

Modules:

- `quantease.export`: Packed integer codes in the GPTQ layout, a `QuantLinear` that dequantizes on the fly, and `save` / `load` of complete model folders in the GPTQ and compressed-tensors formats that transformers, GPTQModel and vLLM read."""

__version__ = "0.2.0"

def __getattr__(name):
    # `load` is imported on first use: `import quantease` stays light (no torch/transformers at import)
    if name == 'load':
        from quantease.export import load
        return load
    raise AttributeError(f"module 'quantease' has no attribute {name!r}")
