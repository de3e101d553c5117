"""An arena's settings and pool."""

from django.db import transaction

from annotation.errors import Invalid, NotFound
from annotation.models import Project
from annotation.task_types import task_type_of
from arena.models import Arena, PoolModel
from audit.services import audit_record
from generation.backends.base import SamplingParams
from generation.models import ModelRole, ModelSpec
from generation.services.registry import model_spec_get, model_specs_usable

MAX_SUGGESTED = 50
MAX_SUGGESTED_CHARS = 20_000  # the longest prompt an arena can allow
MAX_POOL = 50
SAMPLING_KEYS = {"temperature", "top_p", "seed"}
LIMIT_FIELDS = ("max_turns", "max_input_chars", "max_output_tokens", "battles_per_hour",
                "tokens_per_hour")


def arena_for_project(*, project: Project) -> Arena:
    arena = Arena.objects.filter(project=project, is_enabled=True).first()
    if arena is None:
        raise NotFound("this project has no arena", field="arena")
    return arena


def _sampling_clean(sampling) -> dict:
    if not isinstance(sampling, dict) or set(sampling) - SAMPLING_KEYS:
        raise Invalid(f"must be an object with only {', '.join(sorted(SAMPLING_KEYS))}",
                      field="sampling")
    try:
        SamplingParams.from_dict(sampling)
    except (TypeError, ValueError) as error:
        raise Invalid(str(error), field="sampling") from None
    return dict(sampling)


def _suggested_clean(prompts) -> list[str]:
    if not isinstance(prompts, list) or len(prompts) > MAX_SUGGESTED:
        raise Invalid(f"must be a list of at most {MAX_SUGGESTED} prompts", field="suggested_prompts")
    cleaned = []
    for index, text in enumerate(prompts):
        if not isinstance(text, str) or not text.strip():
            raise Invalid("must be a non-empty text", field=f"suggested_prompts[{index}]")
        if len(text) > MAX_SUGGESTED_CHARS:
            raise Invalid(f"must be at most {MAX_SUGGESTED_CHARS} characters",
                          field=f"suggested_prompts[{index}]")
        cleaned.append(text.strip())
    return cleaned


@transaction.atomic
def arena_configure(*, project: Project, **fields) -> Arena:
    """Turn arena mode on for a pairwise project (idempotent) and set its fields."""
    if not task_type_of(project).head_to_head:
        raise Invalid("an arena needs a pairwise project", field="task_type")
    arena, _ = Arena.objects.select_for_update().get_or_create(project=project)
    unknown = set(fields) - {*LIMIT_FIELDS, "sampling", "suggested_prompts", "is_enabled",
                             "join_promoted"}
    if unknown:
        raise Invalid(f"unknown arena settings: {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    if "sampling" in fields:
        fields["sampling"] = _sampling_clean(fields["sampling"])
    if "suggested_prompts" in fields:
        fields["suggested_prompts"] = _suggested_clean(fields["suggested_prompts"])
    for name, value in fields.items():
        setattr(arena, name, value)
    try:
        arena.full_clean(exclude=["project"])
    except Exception as error:  # ValidationError: name the first field
        detail = getattr(error, "message_dict", {})
        name = next(iter(detail), "arena")
        raise Invalid("; ".join(detail.get(name, [str(error)])), field=name) from None
    arena.save()
    return arena


def pool_add(*, arena: Arena, name: str, weight: float = 1.0) -> PoolModel:
    """Add (or re-weight) a usable policy model of the project by name."""
    spec = model_spec_get(name=name, project=arena.project, roles=(ModelRole.POLICY,))
    return pool_add_spec(arena=arena, spec=spec, weight=weight)


def pool_add_spec(*, arena: Arena, spec: ModelSpec, weight: float = 1.0) -> PoolModel:
    if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
        raise Invalid("must be a non-negative number", field="weight")
    entry, _ = PoolModel.objects.update_or_create(arena=arena, spec=spec,
                                                  defaults={"weight": float(weight), "is_active": True})
    return entry


def pool_remove(*, arena: Arena, name: str) -> None:
    PoolModel.objects.filter(arena=arena, spec__name=name).update(is_active=False)


def arena_settings(arena: Arena) -> dict:
    """The arena's settings and active pool, as the API and the page show them."""
    return {
        "is_enabled": arena.is_enabled, **{name: getattr(arena, name) for name in LIMIT_FIELDS},
        "sampling": arena.sampling, "suggested_prompts": arena.suggested_prompts,
        "join_promoted": arena.join_promoted,
        "pool": [{"model": entry.spec.name, "weight": entry.weight}
                 for entry in arena.pool.filter(is_active=True).select_related("spec")
                 .order_by("spec__name")],
    }


def pool_candidates(*, project: Project):
    """Policy models the project may put in its pool (base, shared and its own)."""
    return model_specs_usable(project=project).filter(role=ModelRole.POLICY).order_by("name")


def _pool_clean(pool, *, project: Project) -> dict[ModelSpec, float]:
    if not isinstance(pool, list) or len(pool) > MAX_POOL:
        raise Invalid(f"must be a list of at most {MAX_POOL} models", field="pool")
    chosen: dict[ModelSpec, float] = {}
    for index, entry in enumerate(pool):
        where = f"pool[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("model"), str) \
                or set(entry) - {"model", "weight"}:
            raise Invalid('must be an object {"model": name, "weight": number}', field=where)
        weight = entry.get("weight", 1.0)
        if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 <= weight <= 1e6:
            raise Invalid("must be a number from 0 to 1000000", field=f"{where}.weight")
        try:
            spec = model_spec_get(name=entry["model"], project=project, roles=(ModelRole.POLICY,))
        except (Invalid, NotFound) as error:  # in a body, an unknown name is bad input
            raise Invalid(error.message, field=f"{where}.model") from None
        if spec in chosen:
            raise Invalid(f"model '{spec.name}' is listed twice", field=f"{where}.model")
        chosen[spec] = float(weight)
    return chosen


@transaction.atomic
def arena_settings_update(*, project: Project, settings: dict, pool: list | None = None,
                          actor=None, via: str = "") -> Arena:
    """Change an arena's settings (turning arena mode on if it was off) and,
    when ``pool`` is given, make it the whole active pool: listed models with
    their weights, the others set aside (their battles and ratings stay).
    All or nothing, with one audit event naming what changed."""
    before = (arena_settings(Arena.objects.select_for_update().get(project=project))
              if Arena.objects.filter(project=project).exists() else None)
    chosen = _pool_clean(pool, project=project) if pool is not None else None
    arena = arena_configure(project=project, **settings)
    if chosen is not None:
        for spec, weight in chosen.items():
            pool_add_spec(arena=arena, spec=spec, weight=weight)
        arena.pool.exclude(spec__in=list(chosen)).update(is_active=False)
    after = arena_settings(arena)
    changed = sorted(name for name in after if before is None or before[name] != after[name])
    audit_record(actor, "arena.configure", arena, project=project, changed=changed,
                 pool=[spec.pk for spec in chosen] if chosen is not None else None, via=via)
    return arena
