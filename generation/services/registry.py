"""The model registry: what can generate, judge or serve as a reward backbone."""

from django.db import transaction

from annotation.errors import Invalid, NotFound
from generation.models import BackendName, ModelRole, ModelSpec

DEFAULT_POLICY = "smollm2-135m-instruct"


@transaction.atomic
def model_spec_register(*, name: str, role: str, path: str = "", backend: str = BackendName.TRANSFORMERS,
                        endpoint_url: str = "", served_name: str = "", base_model: str = "",
                        source: str = "", metadata: dict | None = None) -> tuple[ModelSpec, bool]:
    """Create or update the spec called ``name`` (idempotent)."""
    if role not in ModelRole.values:
        raise Invalid(f"role must be one of {', '.join(ModelRole.values)}", field="role")
    if backend not in BackendName.values:
        raise Invalid(f"backend must be one of {', '.join(BackendName.values)}", field="backend")
    if not path and not endpoint_url:
        raise Invalid("a model needs a checkpoint path or an endpoint URL", field="path")
    spec, created = ModelSpec.objects.update_or_create(name=name, defaults={
        "role": role, "path": path, "backend": backend, "endpoint_url": endpoint_url,
        "served_name": served_name, "base_model": base_model, "source": source,
        "metadata": metadata or {}, "is_active": True,
    })
    spec.full_clean()
    return spec, created


def model_spec_get(*, name: str, roles: tuple[str, ...] | None = None) -> ModelSpec:
    spec = ModelSpec.objects.filter(name=name, is_active=True).first()
    if spec is None:
        known = ", ".join(ModelSpec.objects.filter(is_active=True).values_list("name", flat=True))
        raise NotFound(f"no active model named '{name}' (registered: {known or 'none'}; "
                       "`python manage.py bootstrap_models` registers the defaults)", field="models")
    if roles is not None and spec.role not in roles:
        raise Invalid(f"model '{name}' is a {spec.role} model; this needs {' or '.join(roles)}",
                      field="models")
    return spec


def model_spec_default(*, roles: tuple[str, ...] = (ModelRole.POLICY,)) -> ModelSpec:
    """The default policy when registered, otherwise the oldest active model of the role."""
    specs = ModelSpec.objects.filter(is_active=True, role__in=roles)
    spec = specs.filter(name=DEFAULT_POLICY).first() or specs.order_by("created_at", "pk").first()
    if spec is None:
        raise NotFound("no model is registered: run `python manage.py bootstrap_models`",
                       field="models")
    return spec


def model_spec_set_endpoint(*, spec: ModelSpec, endpoint_url: str) -> ModelSpec:
    ModelSpec.objects.filter(pk=spec.pk).update(endpoint_url=endpoint_url)
    spec.endpoint_url = endpoint_url
    return spec
