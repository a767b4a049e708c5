"""Post-training quantization of LLMs by coordinate descent (QuantEase), with GPTQ, OBQ, SpQR, RTN and ternary baselines under one interface

Modules:

- `quantease.export`: Packed integer codes in the GPTQ layout, a `QuantLinear` that dequantizes on the fly, and `save` / `load` of complete model folders in the GPTQ and compressed-tensors formats that transformers, GPTQModel and vLLM read."""

__version__ = "0.1.0"
