from annotation.models.content import (
    ComparisonItem,
    ItemResponse,
    Prompt,
    Response,
    ResponseSource,
    Split,
)
from annotation.models.datasets import (
    DatasetExport,
    DatasetSnapshot,
    ExportStatus,
    SnapshotCompletion,
    SnapshotPair,
    SnapshotStatus,
)
from annotation.models.invites import Invite
from annotation.models.labels import (
    Annotation,
    AnnotationSource,
    Assignment,
    AssignmentStatus,
)
from annotation.models.projects import Membership, Project, Role, TaskType, default_criteria
from annotation.models.quality import Adjudication, ConsensusMethod, ItemConsensus, ProjectQuality
from annotation.models.tokens import ApiToken
from annotation.models.uploads import UploadJob

__all__ = [
    "Adjudication",
    "Annotation",
    "AnnotationSource",
    "ApiToken",
    "Assignment",
    "AssignmentStatus",
    "ComparisonItem",
    "ConsensusMethod",
    "DatasetExport",
    "DatasetSnapshot",
    "ExportStatus",
    "ItemConsensus",
    "Invite",
    "ItemResponse",
    "Membership",
    "Project",
    "ProjectQuality",
    "Prompt",
    "Response",
    "ResponseSource",
    "Role",
    "SnapshotCompletion",
    "SnapshotPair",
    "SnapshotStatus",
    "UploadJob",
    "Split",
    "TaskType",
    "default_criteria",
]
