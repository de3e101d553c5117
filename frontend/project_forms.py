"""The project settings form of the "New project" and settings pages.

It only parses what the browser sends into the keyword arguments of
``project_create`` / ``project_update``; the rules (K per task type, criteria
names, locked fields) live in those services, which the API calls too.
"""

import json

from django import forms

from annotation.models import ConsensusMethod, TaskType
from annotation.task_types import TASK_TYPES

CRITERIA_HELP = ("One criterion a line: name, label, lowest, highest — for example "
                 "“helpfulness, Helpful, 1, 7”. Leave empty for no ratings.")


def criteria_to_text(criteria: list[dict]) -> str:
    return "\n".join(f"{c['name']}, {c.get('label') or c['name']}, {c['min']}, {c['max']}"
                     for c in criteria or [])


def criteria_from_text(text: str) -> list[dict]:
    """Lines of ``name, label, min, max`` (label, min and max optional) into the
    criteria list; a bad line is named by its number."""
    criteria = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) not in (1, 2, 4):
            raise forms.ValidationError(
                f"line {number}: write name, label, lowest, highest (or just a name)")
        entry: dict = {"name": cells[0], "label": cells[1] if len(cells) > 1 else cells[0]}
        if len(cells) == 4:
            try:
                entry["min"], entry["max"] = int(cells[2]), int(cells[3])
            except ValueError:
                raise forms.ValidationError(
                    f"line {number}: the lowest and highest scores must be whole numbers") from None
        criteria.append(entry)
    return criteria


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=80, help_text="Short name in exports and commands.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    task_type = forms.ChoiceField(choices=TaskType.choices, label="Task")
    num_responses = forms.IntegerField(min_value=1, max_value=16, initial=2,
                                       label="Responses per item (K)",
                                       help_text="2 for pairwise; 3 to 16 for a ranking; "
                                                 "1 for single-response feedback.")
    overlap = forms.IntegerField(min_value=1, max_value=50, initial=3,
                                 help_text="Labelers per item.")
    lease_seconds = forms.IntegerField(min_value=30, max_value=86400, initial=900,
                                       label="Lease (seconds)",
                                       help_text="How long an item stays reserved for a labeler.")
    gold_rate = forms.FloatField(min_value=0, max_value=1, initial=0.0,
                                 help_text="Share of served items that are gold questions.")
    test_fraction = forms.FloatField(min_value=0, max_value=1, initial=0.1,
                                     help_text="Share of prompts in the test split.")
    consensus_method = forms.ChoiceField(
        choices=[("", "The task type's default"), *ConsensusMethod.choices], required=False,
        initial="", label="Consensus",
        help_text="Used by the dashboard, the stored consensus and new snapshots "
                  "(pairwise: Dawid–Skene, majority or mean; ranking: weighted or mean rank; "
                  "feedback: majority or Dawid–Skene).")
    adjudicate_below = forms.FloatField(
        min_value=0, max_value=1, required=False, label="Adjudicate below",
        help_text="Items whose agreement is below this need an admin's decision; "
                  "blank: the task type's default.")
    daily_label_cap = forms.IntegerField(
        min_value=1, required=False, label="Labels per labeler per day",
        help_text="A labeler at the cap gets no new item until tomorrow; blank: no cap.")
    total_label_cap = forms.IntegerField(
        min_value=1, required=False, label="Labels per labeler in all",
        help_text="Blank: no cap.")
    allow_ties = forms.BooleanField(required=False, initial=True, label="Allow ties")
    disagreement_first = forms.BooleanField(required=False,
                                            label="Disputed items first",
                                            help_text="Items whose labels disagree get their "
                                                      "remaining labels first.")
    criteria = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                               label="Rating criteria", help_text=CRITERIA_HELP)
    guidelines = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 10}),
                                 help_text="Markdown, shown to labelers (preview beside it).")

    def __init__(self, *args, locked: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.locked = locked or {}
        # What K each task type takes, for the page's script (project_form.js):
        # {type: [fewest, most, default]}, from the task type registry. The
        # browser's own bound starts at the shown type's fewest (the service
        # checks K per type whatever the browser sends).
        self.fields["task_type"].widget.attrs["data-task-k"] = json.dumps({
            name: [*task.num_responses_range, task.default_num_responses()]
            for name, task in TASK_TYPES.items()})
        shown = TASK_TYPES.get(self.data.get("task_type") or self.initial.get("task_type")
                               or TaskType.PAIRWISE)
        if shown is not None:
            self.fields["num_responses"].widget.attrs["min"] = str(shown.num_responses_range[0])
        for name, reason in self.locked.items():
            # Disabled fields keep their initial value whatever the browser sends.
            self.fields[name].disabled = True
            self.fields[name].help_text = f"Locked: {reason}."

    def clean_criteria(self):
        value = self.cleaned_data["criteria"]
        return value if isinstance(value, list) else criteria_from_text(value)

    def values(self) -> dict:
        """The service's keyword arguments (locked fields are left out)."""
        return {name: value for name, value in self.cleaned_data.items() if name not in self.locked}

    @classmethod
    def initial_for(cls, project) -> dict:
        initial = {name: getattr(project, name) for name in cls.base_fields}
        initial["criteria"] = criteria_to_text(project.criteria)
        return initial
