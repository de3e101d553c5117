"""Imports from Label Studio and Argilla, and the Label Studio export, as
services the API and the commands share (audited, all or nothing)."""

from dataclasses import replace
from pathlib import Path

from django.db import transaction

from annotation.models import Project
from annotation.services.preference_import import PreferenceImportResult, raw_annotations_import
from audit.services import audit_record
from integrations.migration.argilla import ArgillaMapping, argilla_parse
from integrations.migration.label_studio import label_studio_export, label_studio_parse


def label_studio_import(*, project: Project, raw: bytes, actor=None, relabel: bool = False
                        ) -> PreferenceImportResult:
    rows = label_studio_parse(raw, project=project)
    with transaction.atomic():
        result = replace(raw_annotations_import(project=project, records=rows, relabel=relabel),
                         format="label-studio")
        audit_record(actor, "project.import", project, format="label-studio", items=result.items,
                     annotations=result.annotations)
    return result


def argilla_import(*, project: Project, path: Path, mapping: ArgillaMapping, actor=None,
                   relabel: bool = False) -> PreferenceImportResult:
    rows = argilla_parse(path, project=project, mapping=mapping)
    with transaction.atomic():
        result = replace(raw_annotations_import(project=project, records=rows, relabel=relabel),
                         format="argilla")
        audit_record(actor, "project.import", project, format="argilla", items=result.items,
                     annotations=result.annotations)
    return result


def label_studio_tasks(*, project: Project, actor=None) -> list[dict]:
    tasks = label_studio_export(project=project)
    audit_record(actor, "project.export", project, format="label-studio", tasks=len(tasks))
    return tasks
