"""Pick where a run trains: CUDA with bf16 when a GPU is there, else CPU float32."""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype  # autocast dtype for the forward pass; weights stay float32
    description: str

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        """bf16 autocast on CUDA; a no-op context on CPU (float32 throughout)."""
        return torch.autocast(device_type=self.device.type, dtype=self.dtype,
                              enabled=self.dtype != torch.float32)


def placement_choose(preference: str = "auto") -> Placement:
    """``auto`` takes CUDA (bf16 if the GPU supports it) when available, else CPU.
    ``cpu`` forces the CPU (deterministic tests); ``cuda`` fails without a GPU."""
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {preference!r}")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda asked for, but no CUDA device is available")
    if preference != "cpu" and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
        bf16 = torch.cuda.is_bf16_supported()
        name = torch.cuda.get_device_name(device)
        dtype = torch.bfloat16 if bf16 else torch.float32
        return Placement(device, dtype, f"cuda:{device.index} ({name}) {'bf16' if bf16 else 'float32'}")
    return Placement(torch.device("cpu"), torch.float32, "cpu float32")


def load_options(placement: Placement | None, *, lora: bool, qlora: bool = False,
                 attn_implementation: str = "auto") -> dict:
    """``from_pretrained`` keyword arguments for a model trained on ``placement``.

    - Weights: float32 when every weight trains (AdamW's updates are smaller
      than bf16 can resolve: fp32 master weights, bf16 autocast for the math).
      Under LoRA the base is frozen: on a bf16 GPU it loads in bf16 (half the
      memory) and only the adapters (and a reward head) stay float32
      (``trainable_to_float32``).
    - QLoRA: the frozen base in 4-bit NF4 (bitsandbytes, CUDA only), computing
      in bf16, placed on the GPU by the load itself.
    - ``attn_implementation``: passed through unless 'auto' (transformers then
      picks SDPA where the model supports it).
    """
    bf16 = placement is not None and placement.dtype == torch.bfloat16
    options: dict = {"dtype": torch.bfloat16 if (lora or qlora) and bf16 else torch.float32}
    if qlora:
        if placement is None or not placement.is_cuda:
            raise RuntimeError("qlora: 4-bit QLoRA needs a CUDA GPU (bitsandbytes); this worker has none")
        try:
            import bitsandbytes  # noqa: F401 - only its presence is checked here
        except ImportError as error:
            raise RuntimeError("qlora: the bitsandbytes package is not installed on this worker "
                               "(requirements-worker-cuda.txt)") from error
        # transformers: slow to import, so loaded on first use (never in the web process).
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=placement.dtype)
        options["device_map"] = {"": placement.device.index or 0}
    if attn_implementation != "auto":
        options["attn_implementation"] = attn_implementation
    return options


def trainable_to_float32(model: torch.nn.Module) -> None:
    """Trainable parameters in float32 whatever the base's dtype: the optimizer's
    master weights (a bf16 LoRA base keeps its frozen weights in bf16)."""
    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()


def adapters_onto_full_base(model: torch.nn.Module, fresh) -> torch.nn.Module:
    """A QLoRA model's trained adapters (and head) put onto ``fresh()``, the same
    peft model over the base loaded in full precision: merging into the 4-bit
    base would ship a quantized model that vLLM and plain transformers cannot load
    as the base was."""
    trained = {name: p.detach().float().cpu() for name, p in model.named_parameters() if p.requires_grad}
    copy = fresh()
    unknown = sorted(set(trained) - {name for name, _ in copy.named_parameters()})
    if unknown:
        raise ValueError(f"qlora: the full-precision model lacks trained parameters {unknown[:3]}")
    copy.load_state_dict(trained, strict=False)
    return copy
