import io

import pytest
from django.core.management import CommandError, call_command

from generation.server import client_url, is_loopback, vllm_command, vllm_env
from generation.services.registry import model_spec_register


def dry_run(*args) -> str:
    out = io.StringIO()
    call_command("serve_generation", *args, "--dry-run", "--python", __file__, stdout=out)
    return out.getvalue()


def test_the_server_binds_to_loopback_with_the_api_module_and_no_remote_code(tiny_spec):
    out = dry_run("tiny", "--device", "cpu", "--api-key", "k-secret-123")
    command = out.strip().splitlines()[-1]
    assert "-m vllm.entrypoints.openai.api_server" in command
    assert "--host 127.0.0.1" in command and "--port 8001" in command
    assert "--served-model-name tiny" in command
    assert "trust-remote-code" not in command
    assert "k-secret-123" not in command  # the key goes in the environment, not argv


def test_cpu_servers_get_an_explicit_kv_cache_and_a_lowered_memory_share(tiny_spec):
    command = dry_run("tiny", "--device", "cpu", "--kv-cache-gib", "1", "--api-key", "k-1234567")
    assert "--kv-cache-memory-bytes 1073741824" in command
    assert "--gpu-memory-utilization 0.4" in command and "--enforce-eager" in command


def test_gpu_servers_use_the_gpu_share(tiny_spec):
    command = dry_run("tiny", "--device", "cuda", "--api-key", "k-1234567")
    assert "--gpu-memory-utilization 0.9" in command and "kv-cache-memory-bytes" not in command


def test_gpu_servers_take_tensor_and_pipeline_parallel_sizes(tiny_spec):
    command = dry_run("tiny", "--device", "cuda", "--api-key", "k-1234567", "--tensor-parallel-size", "4",
                      "--pipeline-parallel-size", "2")
    assert "--tensor-parallel-size 4" in command and "--pipeline-parallel-size 2" in command
    assert "--tensor-parallel-size" not in dry_run("tiny", "--device", "cuda", "--api-key", "k-1234567")
    with pytest.raises(CommandError, match="CPU server runs one"):
        dry_run("tiny", "--device", "cpu", "--api-key", "k-1234567", "--tensor-parallel-size", "2")


def test_without_a_key_one_is_generated_and_shown_once(tiny_spec, settings):
    settings.PALATE_VLLM_API_KEY = ""
    assert "export PALATE_VLLM_API_KEY=" in dry_run("tiny", "--device", "cpu")


def test_remote_code_cannot_be_switched_on(tiny_spec):
    with pytest.raises(CommandError, match="remote code"):
        dry_run("tiny", "--device", "cpu", "--api-key", "k-1234567",
                "--vllm-arg=--trust-remote-code")


def test_an_unknown_model_is_refused(db):
    with pytest.raises(CommandError, match="no active model named 'nope'"):
        dry_run("nope")


def test_a_model_without_a_checkpoint_is_refused(db, tmp_path):
    model_spec_register(name="empty", role="policy", path=str(tmp_path))
    with pytest.raises(CommandError, match="bootstrap_models"):
        dry_run("empty")


def test_a_missing_vllm_environment_says_how_to_build_it(tiny_spec):
    with pytest.raises(CommandError, match="make vllm-env"):
        call_command("serve_generation", "tiny", "--dry-run", "--python", "/nonexistent/python",
                     stdout=io.StringIO())


def test_environment_carries_the_key_and_stays_offline():
    env = vllm_env(api_key="abc", base={})
    assert env["VLLM_API_KEY"] == "abc" and env["HF_HUB_OFFLINE"] == "1"


def test_client_urls_and_loopback():
    assert client_url("0.0.0.0", 9000) == "http://127.0.0.1:9000/v1"  # noqa: S104
    assert client_url("::1", 9000) == "http://[::1]:9000/v1"
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and not is_loopback("10.0.0.1")


def test_vllm_command_refuses_remote_code_however_spelled():
    with pytest.raises(ValueError):
        vllm_command(python="p", model_path="m", served_name="s", host="127.0.0.1", port=1,
                     device="cpu", extra=["--trust-remote-code=true"])
