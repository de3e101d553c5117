"""The model registry: what can generate, judge or serve as a reward backbone."""

from django.db import transaction
from django.db.models import Q, QuerySet

from annotation.errors import Invalid, NotFound
from annotation.models import Project
from generation.models import BackendName, ModelRole, ModelSpec

DEFAULT_POLICY = "smollm2-135m-instruct"


def model_specs_usable(*, project: Project | None) -> QuerySet[ModelSpec]:
    """Active models ``project`` may list and use: base models, shared ones and
    its own. ``project=None`` is the operator's view (management commands):
    every model. Every lookup by name goes through here, so another project's
    trained model is "no such model", not a usable one."""
    specs = ModelSpec.objects.filter(is_active=True)
    if project is None:
        return specs
    return specs.filter(Q(project__isnull=True) | Q(shared=True) | Q(project=project))


@transaction.atomic
def model_spec_register(*, name: str, role: str, path: str = "", backend: str = BackendName.TRANSFORMERS,
                        endpoint_url: str = "", served_name: str = "", base_model: str = "",
                        source: str = "", metadata: dict | None = None,
                        project: Project | None = None) -> tuple[ModelSpec, bool]:
    """Create or update the spec called ``name`` (idempotent); ``project`` owns
    a trained model (None: a base model every project may use)."""
    if role not in ModelRole.values:
        raise Invalid(f"role must be one of {', '.join(ModelRole.values)}", field="role")
    if backend not in BackendName.values:
        raise Invalid(f"backend must be one of {', '.join(BackendName.values)}", field="backend")
    if not path and not endpoint_url:
        raise Invalid("a model needs a checkpoint path or an endpoint URL", field="path")
    spec, created = ModelSpec.objects.update_or_create(name=name, defaults={
        "role": role, "path": path, "backend": backend, "endpoint_url": endpoint_url,
        "served_name": served_name, "base_model": base_model, "source": source,
        "metadata": metadata or {}, "is_active": True, "project": project,
    })
    spec.full_clean()
    return spec, created


def model_spec_get(*, name: str, project: Project | None,
                   roles: tuple[str, ...] | None = None) -> ModelSpec:
    usable = model_specs_usable(project=project)
    spec = usable.filter(name=name).first()
    if spec is None:
        known = ", ".join(usable.values_list("name", flat=True))
        raise NotFound(f"no active model named '{name}' (registered: {known or 'none'}; "
                       "`python manage.py bootstrap_models` registers the defaults)", field="models")
    if roles is not None and spec.role not in roles:
        raise Invalid(f"model '{name}' is a {spec.role} model; this needs {' or '.join(roles)}",
                      field="models")
    return spec


def model_spec_default(*, project: Project | None,
                       roles: tuple[str, ...] = (ModelRole.POLICY,)) -> ModelSpec:
    """The default policy when registered, otherwise the oldest usable model of the role."""
    specs = model_specs_usable(project=project).filter(role__in=roles)
    spec = specs.filter(name=DEFAULT_POLICY).first() or specs.order_by("created_at", "pk").first()
    if spec is None:
        raise NotFound("no model is registered: run `python manage.py bootstrap_models`",
                       field="models")
    return spec


def model_spec_set_endpoint(*, spec: ModelSpec, endpoint_url: str) -> ModelSpec:
    ModelSpec.objects.filter(pk=spec.pk).update(endpoint_url=endpoint_url)
    spec.endpoint_url = endpoint_url
    return spec
