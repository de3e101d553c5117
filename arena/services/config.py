"""An arena's settings and pool."""

from django.db import transaction

from annotation.errors import Invalid, NotFound
from annotation.models import Project
from annotation.task_types import task_type_of
from arena.models import Arena, PoolModel
from generation.backends.base import SamplingParams
from generation.models import ModelRole, ModelSpec
from generation.services.registry import model_spec_get

MAX_SUGGESTED = 50
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
