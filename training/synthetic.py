"""A tiny random reward backbone and a learnable synthetic preference, offline.

For tests and benchmarks: the tokenizer is a WordLevel vocabulary built with
`tokenizers` and the model a ~50K-parameter BERT built from a config — no
download, a second to train. The pairs are learnable: chosen responses carry
"good" words, rejected ones "bad" words.
"""

import random
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from training.reward.data import PreferencePair

GOOD = [f"good{i}" for i in range(12)]
BAD = [f"bad{i}" for i in range(12)]
FILLER = [f"word{i}" for i in range(40)]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def tiny_backbone(folder: Path, *, hidden: int = 32, layers: int = 2, dropout: float = 0.0,
                  seed: int = 0) -> Path:
    """Write a tokenizer and a random BERT with a scalar head into ``folder``."""
    import torch  # the torch stack: loaded where a model is used, never in the web process

    vocab = {token: i for i, token in enumerate(SPECIAL + GOOD + BAD + FILLER + ["question", "?"])}
    unk, pad, cls, sep = SPECIAL[1], SPECIAL[0], SPECIAL[2], SPECIAL[3]
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token=unk, pad_token=pad, cls_token=cls,
        sep_token=sep, model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=128,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, num_labels=1,
                        pad_token_id=0)
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def synthetic_pairs(n: int, *, seed: int = 0, ties: int = 0) -> list[PreferencePair]:
    """Chosen responses carry "good" words, rejected ones "bad" words, both among filler."""
    rng = random.Random(seed)

    def text(words: list[str]) -> str:
        picked = rng.sample(FILLER, 4) + rng.sample(words, 2)
        rng.shuffle(picked)
        return " ".join(picked)

    pairs = []
    for i in range(n):
        prompt = [{"role": "user", "content": " ".join(["question"] + rng.sample(FILLER, 3) + ["?"])}]
        pairs.append(PreferencePair(prompt_messages=prompt, chosen=text(GOOD), rejected=text(BAD),
                                    margin=rng.choice([0.0, 0.5, 1.0]), weight=1.0, is_tie=i < ties))
    return pairs
