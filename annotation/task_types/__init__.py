"""Task types: one object per kind of judgement (pairwise, K-way ranking,
single-response feedback), looked up by name in ``registry``.

To add a task type: a module here with a TaskTypeBase subclass registered in
registry.TASK_TYPES, its choice on annotation.models.TaskType (a migration),
its labeling template under frontend/templates/frontend/task_types/ and its ES
module under frontend/static/frontend/js/task_types/.
"""

from annotation.task_types.base import ConsensusRow, TaskMeasures, TaskTypeBase
from annotation.task_types.registry import (
    TASK_TYPES,
    UnknownTaskType,
    adjudicate_below_for,
    consensus_choices,
    consensus_method_for,
    task_type,
    task_type_of,
)

__all__ = ["TASK_TYPES", "ConsensusRow", "TaskMeasures", "TaskTypeBase", "UnknownTaskType",
           "adjudicate_below_for", "consensus_choices", "consensus_method_for", "task_type",
           "task_type_of"]
