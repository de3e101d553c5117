import pytest

from training.synthetic import synthetic_pairs, tiny_backbone


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A ~50K-parameter random BERT and its WordLevel tokenizer on disk."""
    return tiny_backbone(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(scope="session")
def tiny_dropout_model_dir(tmp_path_factory):
    return tiny_backbone(tmp_path_factory.mktemp("tiny-dropout") / "base", dropout=0.1)


@pytest.fixture
def learnable_pairs():
    return synthetic_pairs(128, seed=0), synthetic_pairs(48, seed=1)


@pytest.fixture
def backbone(db, tiny_model_dir):
    from tests.training.factories import backbone_make

    return backbone_make(tiny_model_dir)


@pytest.fixture
def training_dir(settings, tmp_path):
    settings.PALATE_TRAINING_DIR = tmp_path / "training"
    settings.PALATE_TRAINING_HEARTBEAT_SECONDS = 0  # every progress call writes: deterministic tests
    return settings.PALATE_TRAINING_DIR
