"""The install split the README describes: the web tier (requirements-web.txt) runs
without the training stack. Every URL pattern loads, Django's system checks pass
and the Celery app imports with torch, transformers, peft and accelerate blocked."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("torch", "transformers", "peft", "accelerate", "safetensors", "tokenizers", "mlflow", "wandb")

SCRIPT = f"""
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError("blocked on the web tier: " + name)

sys.meta_path.insert(0, Block())
import django
django.setup()
from django.core.management import call_command
from django.urls import get_resolver
import config.celery  # noqa: F401
import training.services.runs  # noqa: F401  (creating runs, resources, the memory planner)
import training.distributed.memory  # noqa: F401

def walk(patterns):
    for p in patterns:
        if hasattr(p, "url_patterns"):
            walk(p.url_patterns)
        else:
            p.callback

walk(get_resolver().url_patterns)
call_command("check")
print("web tier ok")
"""


def test_the_web_tier_loads_without_the_training_stack():
    lines = (ROOT / "requirements-web.txt").read_text().splitlines()
    names = {line.split("[")[0].strip().lower() for line in lines
             if line.strip() and not line.startswith(("#", "-"))}
    assert not names & {"torch", "transformers", "peft", "accelerate"}
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings_test")
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,  # noqa: S603
                         text=True, timeout=120)
    assert out.returncode == 0 and "web tier ok" in out.stdout, out.stderr[-3000:]
