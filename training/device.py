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
