"""Tiny causal models whose behaviour a test can predict, for the policy tests.

The trick: embedding column 0 is a large constant, so after the final RMSNorm
every hidden state is ≈ (+√d, ~0, …, ~0) whatever the context. A logit is
then ≈ √d × lm_head[token, 0], i.e. the head's column 0 sets a fixed
next-token distribution. The head is untied from the embeddings for this.
"""

from pathlib import Path

from tests.generation.tiny_model import tiny_model_save


def steered_model_save(base: Path, folder: Path, *, column, dominant: float = 20.0) -> Path:
    """A copy of ``base`` whose next-token logits ≈ √d × ``column(vocab_size, eos_id)``."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    with torch.no_grad():
        head = model.model.embed_tokens.weight.detach().clone()
        head[:, 0] = torch.as_tensor(column(head.shape[0], tokenizer.eos_token_id), dtype=head.dtype)
        model.model.embed_tokens.weight[:, 0] = dominant
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(head)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def eos_column(weight: float):
    """Only the end token is steered: +1 stops at once, −1 never stops."""
    def column(vocab: int, eos: int):
        values = [0.0] * vocab
        values[eos] = weight
        return values
    return column


def random_column(seed: int, scale: float):
    def column(vocab: int, eos: int):
        import torch

        generator = torch.Generator().manual_seed(seed)
        return (torch.randn(vocab, generator=generator) * scale).tolist()
    return column


def policy_models(root: Path) -> dict[str, Path]:
    base = tiny_model_save(root / "base")
    return {
        "base": base,
        "talker": steered_model_save(base, root / "talker", column=eos_column(-1.0)),
        "quiet": steered_model_save(base, root / "quiet", column=eos_column(1.0)),
        "p": steered_model_save(base, root / "p", column=random_column(1, 0.25)),
        "q": steered_model_save(base, root / "q", column=random_column(2, 0.25)),
    }
