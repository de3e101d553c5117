"""The import contracts' own contract type (scripts/import_contracts.py) follows
only the imports that run when a module loads, and the scorer generation asks
for is the one training registers (so generation never imports training)."""

import importlib.util

from django.conf import settings

from generation.scorers import reward_scorer
from training.reward.scorer import ActiveRewardModelScorer

_spec = importlib.util.spec_from_file_location(
    "import_contracts", settings.BASE_DIR / "scripts" / "import_contracts.py")
import_contracts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_contracts)

SOURCE = '''\
import os
from typing import TYPE_CHECKING
try:
    import numpy
except ImportError:
    numpy = None
if TYPE_CHECKING:
    import torch
else:
    import json


class Model:
    from pathlib import Path


def train():
    import transformers


async def serve():
    from vllm import (
        LLM,
    )
'''


def test_only_imports_that_run_at_load_time_are_followed():
    assert import_contracts.load_time_import_lines(SOURCE) == {1, 2, 4, 10, 14}


def test_the_training_app_registers_the_reward_scorer_generation_uses():
    assert isinstance(reward_scorer(), ActiveRewardModelScorer)
