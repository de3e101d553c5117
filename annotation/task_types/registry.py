"""The task types by name. Looking up a name that is not registered raises:
no caller falls back to another type's behaviour."""

from annotation.errors import Invalid
from annotation.task_types.base import TaskTypeBase
from annotation.task_types.feedback import Feedback
from annotation.task_types.pairwise import Pairwise
from annotation.task_types.ranking import Ranking

TASK_TYPES: dict[str, TaskTypeBase] = {t.name: t for t in (Pairwise(), Ranking(), Feedback())}


class UnknownTaskType(LookupError):
    pass


def task_type(name: str) -> TaskTypeBase:
    try:
        return TASK_TYPES[name]
    except KeyError:
        raise UnknownTaskType(f"unknown task type '{name}' (registered: "
                              f"{', '.join(TASK_TYPES)})") from None


def task_type_of(project) -> TaskTypeBase:
    """The task type object of ``project``."""
    return task_type(project.task_type)


def consensus_method_for(project, method: str | None = None) -> str:
    """``method``, else the project's own default, else the task type's; checked
    against what the task type offers (a 400 naming ``method`` otherwise)."""
    measures = task_type_of(project).measures
    method = method or project.consensus_method or measures.default_consensus
    if method not in measures.consensus:
        raise Invalid(f"{project.get_task_type_display()} projects offer "
                      f"{', '.join(measures.consensus)}", field="method")
    return method


def adjudicate_below_for(project, method: str) -> float:
    """The project's threshold, else the task type's default for ``method``."""
    if project.adjudicate_below is not None:
        return float(project.adjudicate_below)
    return task_type_of(project).measures.adjudicate_below[method]


def consensus_choices(project) -> list[tuple[str, str, bool]]:
    """(method, what it computes for this task type, whether it is the project's
    default) for the selectors of the quality and datasets pages."""
    chosen = consensus_method_for(project)
    return [(value, label, value == chosen)
            for value, label in task_type_of(project).measures.consensus.items()]
