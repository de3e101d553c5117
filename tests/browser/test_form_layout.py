"""Layout of the start forms on the generation and training pages, measured in
Chromium: every control fills its field and has the same height as its row
neighbours (no select narrower or shorter than the inputs beside it), and the
form card keeps clear of the jobs/runs table above it."""

import pytest

from annotation.models import Role
from generation.models import GenerationJob, JobStatus, ModelRole
from generation.services.registry import model_spec_register
from tests.browser.helpers import log_in, pairs, project_with_items, user
from tests.factories import member_add
from tests.training.factories import backbone_make, snapshot_make
from training.models import RunStatus, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)

MEASURE = """([formSelector, tableSelector]) => {
    const form = document.querySelector(formSelector);
    const box = (el) => el.getBoundingClientRect();
    const fields = Array.from(form.querySelectorAll('.fields label')).map((label) => {
        const control = label.querySelector('input, select');
        const l = box(label), c = box(control);
        return {name: control.name, height: c.height, top: Math.round(c.top), bottom: c.bottom,
                left: c.left - l.left, right: l.right - c.right};
    });
    const style = getComputedStyle(form);
    const px = (name) => parseFloat(style[name]);
    const inner = {left: box(form).left + px('paddingLeft') + px('borderLeftWidth'),
                   right: box(form).right - px('paddingRight') - px('borderRightWidth')};
    const wide = Array.from(form.querySelectorAll(':scope > select, :scope > input:not([type=hidden])'))
        .map((c) => ({name: c.name, left: box(c).left - inner.left, right: inner.right - box(c).right}));
    return {fields, wide, gap: box(form).top - box(document.querySelector(tableSelector)).bottom};
}"""


def _check(layout):
    fields = layout["fields"]
    assert len(fields) >= 8
    heights = {round(f["height"]) for f in fields}
    assert max(heights) - min(heights) <= 1, f"controls of unequal height: {fields}"
    for f in fields:
        assert abs(f["left"]) <= 1 and abs(f["right"]) <= 1, f"{f['name']} does not fill its field: {f}"
    rows: dict[int, list] = {}
    for f in fields:
        rows.setdefault(f["top"], []).append(f["bottom"])
    for bottoms in rows.values():
        assert max(bottoms) - min(bottoms) <= 1, f"a row of controls is not aligned: {fields}"
    for c in layout["wide"]:
        assert abs(c["left"]) <= 1 and abs(c["right"]) <= 1, f"{c['name']} is not full width: {c}"
    assert layout["gap"] >= 16, f"the form card touches the table above ({layout['gap']} px)"


def test_generation_form_is_aligned_and_clear_of_the_jobs_table(page, live_app, tmp_path):
    owner, engineer = user("lay_gen_admin"), user("lay_gen_erin")
    project = project_with_items(admin=owner, labelers=[], rows=pairs(2), name="Layout gen")
    member_add(project, engineer, Role.ENGINEER)
    model_spec_register(name="tiny", role=ModelRole.POLICY, path=str(tmp_path))
    GenerationJob.objects.create(project=project, status=JobStatus.SUCCEEDED, progress_total=2,
                                 progress_done=2, sampling={"n": 2})
    log_in(page, live_app, "lay_gen_erin", next_path=f"/projects/{project.pk}/generation/")
    _check(page.evaluate(MEASURE, ["#start form.card", "#jobs table"]))
    assert page.evaluate("window.__cspViolations") == []


def test_training_form_is_aligned_and_clear_of_the_runs_table(page, live_app, tmp_path):
    owner, engineer = user("lay_tr_admin"), user("lay_tr_erin")
    project = project_with_items(admin=owner, labelers=[], rows=pairs(2), name="Layout train")
    member_add(project, engineer, Role.ENGINEER)
    snapshot = snapshot_make(project, train=4, test=2)
    TrainingRun.objects.create(project=project, snapshot=snapshot, base_model=backbone_make(tmp_path),
                               status=RunStatus.FAILED, error="for the layout test")
    log_in(page, live_app, "lay_tr_erin", next_path=f"/projects/{project.pk}/training/")
    _check(page.evaluate(MEASURE, ["#start form.card", "#runs table"]))
    assert page.evaluate("window.__cspViolations") == []
