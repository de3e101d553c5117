"""Build the backend a job runs on from a ModelSpec and the settings."""

import threading
from pathlib import Path

from django.conf import settings

from annotation.errors import Invalid
from generation.backends.base import GenerationBackend
from generation.backends.transformers_backend import TransformersBackend
from generation.backends.vllm_engine import VllmEngineBackend
from generation.backends.vllm_pool import VllmServerPool, server_urls
from generation.backends.vllm_server import VllmServerBackend
from generation.models import BackendName, ModelSpec

_cache: dict[tuple, GenerationBackend] = {}
_cache_lock = threading.Lock()


def spec_path(spec: ModelSpec) -> Path:
    """The checkpoint folder; a relative path is read under PALATE_MODELS_DIR."""
    path = Path(spec.path)
    return path if path.is_absolute() else Path(settings.PALATE_MODELS_DIR) / path


def backend_name_for(spec: ModelSpec, backend: str = "") -> str:
    name = backend or spec.backend or settings.PALATE_GENERATION_BACKEND
    if name not in BackendName.values:
        raise Invalid(f"backend must be one of {', '.join(BackendName.values)}", field="backend")
    return name


def backend_for(spec: ModelSpec, backend: str = "", *, timeout: float | None = None,
                retries: int | None = None) -> GenerationBackend:
    """A backend for ``spec``. In-process engines are cached per process (a
    worker loads a model once, not once per job); HTTP clients are not."""
    name = backend_name_for(spec, backend)
    if name == BackendName.VLLM_SERVER:
        # Several URLs (comma- or space-separated): a pool, each server capped at
        # PALATE_VLLM_MAX_CONCURRENCY requests in flight.
        servers = [VllmServerBackend(
            url, model=spec.served_name or spec.name, api_key=settings.PALATE_VLLM_API_KEY or "",
            timeout=timeout or settings.PALATE_VLLM_TIMEOUT_S,
            max_concurrency=settings.PALATE_VLLM_MAX_CONCURRENCY,
            retries=settings.PALATE_VLLM_RETRIES if retries is None else retries)
            for url in server_urls(spec.endpoint_url or settings.PALATE_VLLM_URL or "") or [""]]
        return servers[0] if len(servers) == 1 else VllmServerPool(servers)
    if not spec.path:
        raise Invalid(f"model '{spec.name}' has no local checkpoint; use the vllm-server backend",
                      field="backend")
    key = (name, str(spec_path(spec)), spec.name)
    with _cache_lock:
        if key not in _cache:
            if name == BackendName.VLLM:
                _cache[key] = VllmEngineBackend(spec_path(spec), model_name=spec.name)
            else:
                _cache[key] = TransformersBackend(spec_path(spec), model_name=spec.name)
        return _cache[key]


def backend_release(backend: GenerationBackend) -> None:
    """Close per-job backends (HTTP clients); cached engines stay loaded."""
    if backend not in _cache.values():
        backend.close()
