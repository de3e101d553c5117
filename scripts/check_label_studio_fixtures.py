"""Checks the Label Studio migration fixtures (tests/integrations/fixtures) with
Label Studio's own SDK: each task's data against the object tags, and each
annotation's results (control names, target names, result types) against the
"Human Preference collection for RLHF" (Pairwise) and ranker templates.

label-studio-sdk pins opencv, which wants numpy<2.3, so it cannot live beside
the project's numpy: `make check-ls-fixtures` runs this in a virtualenv of its own.
The SDK does not check the values of pairwise and ranker results; the importer's
tests (tests/integrations/test_migration.py) do.
"""

import json
import sys
from pathlib import Path

from label_studio_sdk.label_interface import LabelInterface

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "integrations" / "fixtures"

# The templates as Label Studio ships them, styling left out.
PAIRWISE = """<View className="root">
  <View className="container">
    <View className="prompt"><Text name="prompt" value="$prompt"/></View>
    <View className="answers">
      <Pairwise name="comparison" toName="answer1,answer2" selectionStyle="background-color: #27ae60"/>
      <View className="answer"><Header value="Answer 1"/><Text name="answer1" value="$answer1"/></View>
      <View className="answer"><Header value="Answer 2"/><Text name="answer2" value="$answer2"/></View>
    </View>
  </View>
</View>"""
RANKER = """<View>
  <Text name="prompt" value="$prompt"/>
  <List name="answers" value="$items" title="Answers"/>
  <Ranker name="rank" toName="answers"/>
</View>"""


def main() -> int:
    failures = 0
    for name, config in (("label_studio_pairwise.json", PAIRWISE), ("label_studio_ranker.json", RANKER)):
        interface = LabelInterface(config)
        interface.validate()
        for task in json.loads((FIXTURES / name).read_text()):
            if not interface.validate_task({"data": task["data"]}):
                print(f"{name} task {task['id']}: data does not fit the template")
                failures += 1
            for annotation in task.get("annotations", []):
                errors = interface._validate_object(annotation, return_errors=True)
                for error in errors:
                    print(f"{name} task {task['id']} annotation {annotation['id']}: {error}")
                failures += len(errors)
    print("label studio fixtures:", "ok" if not failures else f"{failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
