"""`make audit` (also run by `make test`): pip-audit over requirements.txt.

Every pin is exact, so pip-audit checks the listed versions directly
(--no-deps --disable-pip: no throwaway virtualenv, no resolver). Exit 1 when a
known vulnerability affects a pin that EXCEPTIONS below does not explain.

pip-audit reports a package it could not look up as skipped and still says
"No known vulnerabilities found". From a machine that cannot reach the
vulnerability service (PyPI's JSON API) every package is skipped: this script
says so plainly instead of passing as clean, and fails only when
PALATE_AUDIT_REQUIRED=1 (set it where the service is reachable, so an outage
cannot hide a finding). A run where only some packages are skipped fails.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Advisory id -> why it does not apply (or what is done about it). Keep each
# reason specific; remove the entry once the pin moves past the advisory.
EXCEPTIONS: dict[str, str] = {}


def main() -> int:
    audit = [str(Path(sys.executable).parent / "pip-audit"), "-r", str(ROOT / "requirements.txt"),
             "--no-deps", "--disable-pip", "--progress-spinner", "off", "-f", "json"]
    result = subprocess.run(audit, capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit gave no report (exit {result.returncode}):\n{result.stderr}", file=sys.stderr)
        return 1
    deps = report["dependencies"]
    skipped = [d for d in deps if d.get("skip_reason")]
    findings = [(d["name"], d["version"], v["id"], v.get("fix_versions", []))
                for d in deps for v in d.get("vulns", [])]
    required = os.environ.get("PALATE_AUDIT_REQUIRED", "") == "1"
    if skipped and len(skipped) == len(deps):
        print(f"pip-audit: NOT AUDITED - none of the {len(deps)} pins could be looked up "
              f"({skipped[0]['skip_reason']}). The vulnerability service is unreachable from this "
              "machine; see README, 'Security and operations'.",
              file=sys.stderr)
        return 1 if required else 0
    if skipped:
        for dep in skipped:
            print(f"pip-audit: could not audit {dep['name']}: {dep['skip_reason']}", file=sys.stderr)
        return 1
    unexplained = [f for f in findings if f[2] not in EXCEPTIONS]
    for name, version, vuln, fixes in findings:
        note = EXCEPTIONS.get(vuln, f"fixed in {', '.join(fixes) or 'no release yet'}: bump the pin")
        print(f"{name}=={version}: {vuln} - {note}")
    print(f"pip-audit: {len(deps)} pins audited, {len(findings)} known vulnerabilities, "
          f"{len(unexplained)} unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
