"""Masked-token prediction: masking, the head, the auxiliary loss, fill-mask, pretraining, resume, init_from."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import SAMPLE, tiny_config_dict
from safetensors.torch import load_file
from torch.nn import functional as F
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.batching import IGNORE, MASKED_LM, BatchEncoder
from tagger.core.config import MaskedLMConfig, TaggerConfig, from_dict
from tagger.core.errors import ConfigError, TaggerError
from tagger.core.masking import UNLABELLED, mask_sentences
from tagger.core.types import Sentence
from tagger.core.vocab import MASK, SPECIALS, Vocab
from tagger.data import load_sentences
from tagger.data.configs import load_config
from tagger.model.predict import Tagger
from tagger.model.serialize import load_model, save_model
from tagger.nn.masked_lm import MaskedWordHead
from tagger.nn.model import build_model
from tagger.training import TrainingMonitor, train
from tagger.training.pretrain import pretrain, stream_sentences
from tagger.training.step import TrainStep, build_scheduler
from tagger.training.transfer import copy_pretrained, take_architecture

runner = CliRunner()

MAX_STEPS = 40
STOP_AT = 15  # the interrupted run stops here: after its first checkpoint (step 12), before its second

# /tmp/pt.toml's tiny pretraining setup, plus: a capped vocabulary with small adaptive-softmax
# clusters (so the pretrained head takes the adaptive path) and frequent small checkpoints.
PRETRAIN_TOML = """
seed = 3
[data]
train = "{train}"
dev = "{dev}"
[embeddings]
word_dim = 32
char_encoder = "cnn"
char_dim = 8
char_hidden = 16
min_freq = 1
max_words = 300
[encoder]
hidden_size = 32
num_layers = 1
[masked_lm]
cutoffs = [50, 150]
[training]
batch_size = 16
max_epochs = 3
threads = 1
[pretrain]
max_steps = {max_steps}
checkpoint_every = 10
shuffle_buffer = 64
"""


class Recorder(TrainingMonitor):
    """Counts steps and keeps messages; raises Interrupted on step ``stop_at`` (1-based, this run's count)."""

    def __init__(self, stop_at: int = 0) -> None:
        self.steps = 0
        self.messages: list[str] = []
        self.stop_at = stop_at

    def step(self, tokens: int, loss: float) -> None:
        self.steps += 1
        if self.stop_at and self.steps == self.stop_at:
            raise Interrupted

    def message(self, text: str) -> None:
        self.messages.append(text)


class Interrupted(Exception):
    pass


def masked_tagger_dict(**masked_lm: object) -> dict:
    raw = tiny_config_dict(limit=60)
    raw["encoder"]["num_layers"] = 2  # so "every layer" means more than one
    raw["training"]["max_epochs"] = 2
    raw["masked_lm"] = {"weight": 0.5, **masked_lm}
    return raw


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def pretrain_toml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pretrain-config") / "pt.toml"
    path.write_text(PRETRAIN_TOML.format(train=SAMPLE / "train.conll", dev=SAMPLE / "dev.conll", max_steps=MAX_STEPS))
    return path


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory, pretrain_toml: Path) -> tuple[Path, str]:
    """``tagger pretrain CONFIG -o DIR`` run once: the model directory and the command's output."""
    directory = tmp_path_factory.mktemp("pretrained") / "model"
    result = runner.invoke(app, ["pretrain", str(pretrain_toml), "-o", str(directory)])
    assert result.exit_code == 0, result.output
    return directory, result.output


@pytest.fixture(scope="module")
def masked_tagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny upos + ner tagger trained with the masked-token auxiliary loss."""
    directory = tmp_path_factory.mktemp("masked-tagger")
    train(from_dict(masked_tagger_dict()), directory)
    return directory


@pytest.fixture(scope="module")
def sample_sentences() -> list[Sentence]:
    config = from_dict(tiny_config_dict())
    return load_sentences(config.data.train, config.tasks, 120)


@pytest.fixture(scope="module")
def sample_vocab(sample_sentences: list[Sentence]) -> Vocab:
    return Vocab.build(sample_sentences, ("upos", "ner"), 1)


@pytest.fixture(scope="module")
def headless_model(tmp_path_factory: pytest.TempPathFactory, sample_sentences: list[Sentence], sample_vocab: Vocab) -> Path:
    """An (untrained) model directory without a masked-token head."""
    directory = tmp_path_factory.mktemp("headless")
    config = from_dict(tiny_config_dict())
    torch.manual_seed(0)
    save_model(directory, build_model(config, sample_vocab), sample_vocab, config)
    return directory


def layer_states(model: torch.nn.Module, batch) -> list[torch.Tensor]:  # noqa: ANN001
    """The embeddings, every encoder layer's (both directions') output, and the final states.

    Run layer by layer (the training path, with every dropout off) so each layer can be watched;
    in evaluation mode the encoder runs all layers in one call.
    """
    captured: list[torch.Tensor] = []
    hooks = [model.embeddings.register_forward_hook(lambda m, i, o: captured.append(o.detach().clone()))]
    hooks += [layer.register_forward_hook(lambda m, i, o: captured.append(o.detach().clone())) for layer in model.encoder.layers]
    dropouts = {module: module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)}
    word_dropout = model.embeddings.word_dropout
    try:
        model.train()
        model.embeddings.word_dropout = 0.0
        for module in dropouts:
            module.p = 0.0
        with torch.no_grad():
            final = model.encode(batch)
    finally:
        model.eval()
        model.embeddings.word_dropout = word_dropout
        for module, p in dropouts.items():
            module.p = p
        for hook in hooks:
            hook.remove()
    return [*captured, final]


# ---------------------------------------------------------------------------------------------
# 1. masking never reveals the target


def _swap_then_mask(sentences: list[Sentence], position: int, replacement: str, vocab: Vocab, config: MaskedLMConfig, seed: int):
    swapped = copy.deepcopy(sentences)
    swapped[0].tokens[position] = replacement
    results = []
    for source in (sentences, swapped):
        masked, targets = mask_sentences(source, vocab, config, torch.Generator().manual_seed(seed))
        results.append((masked, targets))
    return results


def test_masked_prediction_does_not_depend_on_the_masked_word(masked_tagger: Path) -> None:
    tagger = Tagger.load(masked_tagger)
    model, vocab = tagger.model, tagger.vocab
    assert model.masked_lm is not None and len(model.encoder.layers) == 2
    config = from_dict(masked_tagger_dict()).data.dev
    sentences = [Sentence(list(s.tokens)) for s in load_sentences(config, {})[:6]]
    position = 2
    original = sentences[0].tokens[position]
    assert vocab.word_id(original) != vocab.words.unk_id
    # another in-vocabulary word, the longest one (so the batch's character width may change too)
    words = [w for w in vocab.words.items[len(SPECIALS):] if w != vocab.words.items[vocab.word_id(original)]]
    replacement = max(words, key=len)
    masking = MaskedLMConfig(weight=1.0, rate=0.3, mask=1.0, random=0.0)
    seed = next(s for s in range(200) if mask_sentences(sentences, vocab, masking, torch.Generator().manual_seed(s))[1][0][position] != IGNORE)
    (masked_a, targets_a), (masked_b, targets_b) = _swap_then_mask(sentences, position, replacement, vocab, masking, seed)

    assert masked_a[0].tokens[position] == MASK == masked_b[0].tokens[position]
    assert targets_a[0][position] == vocab.word_id(original) and targets_b[0][position] == vocab.word_id(replacement)
    assert targets_a[0][position] != targets_b[0][position]
    assert [s.tokens for s in masked_a] == [s.tokens for s in masked_b]
    assert original not in masked_a[0].tokens or sentences[0].tokens.count(original) > 1

    encoder = BatchEncoder(vocab)
    batch_a = encoder.encode(masked_a, with_targets=False, masked_targets=targets_a)
    batch_b = BatchEncoder(vocab).encode(masked_b, with_targets=False, masked_targets=targets_b)
    for name in ("word_ids", "char_ids", "char_index", "lengths", "mask"):
        assert torch.equal(getattr(batch_a, name), getattr(batch_b, name)), name
    # the blank's word is the mask word and its characters are only the mask character
    assert int(batch_a.word_ids[0, position]) == vocab.words.ids[MASK]
    chars = batch_a.char_ids[batch_a.char_index[0, position]]
    assert chars[0] == vocab.chars.ids[MASK] and not bool(chars[1:].any())

    states_a, states_b = layer_states(model, batch_a), layer_states(model, batch_b)
    assert len(states_a) == 1 + 2 + 1
    for a, b in zip(states_a, states_b):
        assert torch.equal(a[0, position], b[0, position])
        assert torch.equal(a, b)
    with torch.no_grad():
        chosen = batch_a.targets[MASKED_LM] != IGNORE
        dist_a = model.masked_lm.log_probs(model.encode(batch_a)[chosen])
        dist_b = model.masked_lm.log_probs(model.encode(batch_b)[chosen])
    assert torch.equal(dist_a, dist_b)


def test_random_replacement_does_not_depend_on_the_masked_word(sample_sentences: list[Sentence], sample_vocab: Vocab) -> None:
    sentences = [Sentence(list(s.tokens)) for s in sample_sentences[:4]]
    position = 1
    masking = MaskedLMConfig(rate=0.5, mask=0.0, random=1.0)
    vocab = sample_vocab
    seed = next(s for s in range(200) if mask_sentences(sentences, vocab, masking, torch.Generator().manual_seed(s))[1][0][position] != IGNORE)
    other = next(w for w in vocab.words.items[len(SPECIALS):] if w != vocab.words.items[vocab.word_id(sentences[0].tokens[position])])
    (masked_a, targets_a), (masked_b, targets_b) = _swap_then_mask(sentences, position, other, vocab, masking, seed)
    assert [s.tokens for s in masked_a] == [s.tokens for s in masked_b]
    assert targets_a[0][position] != targets_b[0][position]
    assert masked_a[0].tokens[position] in vocab.words.items[len(SPECIALS):]


# ---------------------------------------------------------------------------------------------
# 2. masking statistics and bookkeeping


def _random_text(vocab: Vocab, tokens: int, length: int = 20, seed: int = 0) -> list[Sentence]:
    words = vocab.words.items[len(SPECIALS):]
    ids = torch.randint(0, len(words), (tokens,), generator=torch.Generator().manual_seed(seed)).tolist()
    flat = [words[i] for i in ids]
    return [Sentence(flat[i : i + length], {"upos": ["X"] * len(flat[i : i + length])}) for i in range(0, tokens, length)]


def _within(observed: int, total: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(observed / total - p) <= sigmas * math.sqrt(p * (1 - p) / total)


def test_mask_rates_follow_the_config(sample_vocab: Vocab) -> None:
    vocab = sample_vocab
    sentences = _random_text(vocab, 20_000)
    masking = MaskedLMConfig(rate=0.15, mask=0.8, random=0.1)
    masked, targets = mask_sentences(sentences, vocab, masking, torch.Generator().manual_seed(1))
    total = sum(len(s) for s in sentences)
    chosen = masks = unchanged = replaced = 0
    for source, blanked, row in zip(sentences, masked, targets):
        assert len(blanked.tokens) == len(source.tokens) == len(row)
        for original, token, target in zip(source.tokens, blanked.tokens, row):
            if target == IGNORE:
                assert token == original  # nothing chosen, nothing changed
                continue
            chosen += 1
            assert target == vocab.word_id(original)
            if token == MASK:
                masks += 1
            elif token == original:
                unchanged += 1
            else:
                replaced += 1
                assert token in vocab.words.ids and token not in SPECIALS
    words = len(vocab.words) - len(SPECIALS)
    assert _within(chosen, total, 0.15), chosen / total
    assert _within(masks, chosen, 0.8), masks / chosen
    assert _within(replaced, chosen, 0.1 * (1 - 1 / words)), replaced / chosen
    assert _within(unchanged, chosen, 0.1 + 0.1 / words), unchanged / chosen


def test_masking_is_configurable_and_skips_unknown_words(sample_vocab: Vocab) -> None:
    vocab = sample_vocab
    sentences = _random_text(vocab, 4000, seed=2)
    masked, targets = mask_sentences(sentences, vocab, MaskedLMConfig(rate=0.5, mask=1.0, random=0.0), torch.Generator().manual_seed(3))
    changed = [(o, t) for s, m in zip(sentences, masked) for o, t in zip(s.tokens, m.tokens) if o != t]
    chosen = sum(t != IGNORE for row in targets for t in row)
    assert _within(chosen, 4000, 0.5)
    assert len(changed) == chosen and all(t == MASK for _, t in changed)

    unknown = "qqzxunknownword"
    assert vocab.word_id(unknown) == vocab.words.unk_id
    mixed = [Sentence([w if i % 3 else unknown for i, w in enumerate(s.tokens)], {"upos": ["X"] * len(s)}) for s in sentences[:50]]
    masked, targets = mask_sentences(mixed, vocab, MaskedLMConfig(rate=1.0, mask=1.0, random=0.0), torch.Generator().manual_seed(4))
    for source, blanked, row in zip(mixed, masked, targets):
        for original, token, target in zip(source.tokens, blanked.tokens, row):
            if original == unknown:
                assert target == IGNORE and token == unknown
            else:
                assert target == vocab.word_id(original) and token == MASK


def test_chosen_tokens_lose_their_tags_and_inputs_are_untouched(sample_sentences: list[Sentence], sample_vocab: Vocab) -> None:
    sentences = sample_sentences[:40]
    before = copy.deepcopy(sentences)
    masking = MaskedLMConfig(rate=0.3)
    masked, targets = mask_sentences(sentences, sample_vocab, masking, torch.Generator().manual_seed(5))
    assert [(s.tokens, s.tags) for s in sentences] == [(s.tokens, s.tags) for s in before]  # copies, not edits
    seen_chosen = 0
    for source, blanked, row in zip(sentences, masked, targets):
        assert set(blanked.tags) == set(source.tags)
        for task, tags in blanked.tags.items():
            for i, (tag, target) in enumerate(zip(tags, row)):
                if target == IGNORE:
                    assert tag == source.tags[task][i] != UNLABELLED
                else:
                    assert tag == UNLABELLED
                    seen_chosen += 1
    assert seen_chosen > 0
    # unlabelled tags never reach the tagging targets
    batch = BatchEncoder(sample_vocab).encode(masked, masked_targets=targets)
    chosen = batch.targets[MASKED_LM] != IGNORE
    for task in ("upos", "ner"):
        assert bool((batch.targets[task][chosen] == IGNORE).all())
        assert bool((batch.targets[task][~chosen & batch.mask] != IGNORE).all())


def test_same_seed_same_masking(sample_sentences: list[Sentence], sample_vocab: Vocab) -> None:
    masking = MaskedLMConfig(rate=0.2)

    def run(seed: int):  # noqa: ANN202
        masked, targets = mask_sentences(sample_sentences[:60], sample_vocab, masking, torch.Generator().manual_seed(seed))
        return [s.tokens for s in masked], targets

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_softmax_task_loss_excludes_unlabelled_tokens(sample_sentences: list[Sentence], sample_vocab: Vocab) -> None:
    config = from_dict(tiny_config_dict())
    torch.manual_seed(0)
    model = build_model(config, sample_vocab).eval()
    encoder = BatchEncoder(sample_vocab)
    sentence = sample_sentences[1]
    tags = {task: list(labels) for task, labels in sentence.tags.items()}
    tags["upos"][2] = UNLABELLED
    with torch.no_grad():
        full = model(encoder.encode([sentence]))
        partial = model(encoder.encode([Sentence(sentence.tokens, tags)]))
        logits = full["upos"].scores[0]
        gold = torch.tensor([sample_vocab.labels["upos"].ids[t] for t in sentence.tags["upos"]])
        per_token = F.cross_entropy(logits, gold, reduction="none")
    keep = torch.ones(len(sentence), dtype=torch.bool)
    keep[2] = False
    assert torch.allclose(partial["upos"].loss, per_token[keep].mean(), atol=1e-6)
    assert not torch.allclose(full["upos"].loss, partial["upos"].loss)


def test_crf_task_loss_leaves_unlabelled_tokens_free(sample_sentences: list[Sentence], sample_vocab: Vocab) -> None:
    config = from_dict(tiny_config_dict())
    torch.manual_seed(0)
    model = build_model(config, sample_vocab).eval()
    encoder = BatchEncoder(sample_vocab)
    sentence = next(s for s in sample_sentences if len(s) > 4 and set(s.tags["ner"]) == {"O"})

    def ner_loss(label: str) -> float:
        tags = {task: list(labels) for task, labels in sentence.tags.items()}
        tags["ner"][2] = label
        with torch.no_grad():
            return float(model(encoder.encode([Sentence(sentence.tokens, tags)]))["ner"].loss)

    # Leaving a token out of the loss means summing over its labels: never worse than any one label.
    free = ner_loss(UNLABELLED)
    per_label = [ner_loss(label) for label in sample_vocab.labels["ner"].items]
    assert free <= min(per_label) + 1e-4, (free, min(per_label))
    # Exactly: the loss (NLL per token) of the paths that agree with the known labels, summed over the free token.
    n = len(sentence)
    summed = -float(torch.logsumexp(torch.tensor([-n * loss for loss in per_label], dtype=torch.double), 0)) / n
    assert free == pytest.approx(summed, abs=1e-4)


def test_training_step_masks_batches_only_with_a_positive_weight(sample_sentences: list[Sentence], sample_vocab: Vocab) -> None:
    for weight in (0.5, 0.0):
        config = from_dict({**tiny_config_dict(), "masked_lm": {"weight": weight, "rate": 0.5}})
        torch.manual_seed(0)
        model = build_model(config, sample_vocab)
        seen = []
        model.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        step = TrainStep(model, BatchEncoder(sample_vocab), optimizer, build_scheduler(optimizer, config.training, total_steps=10 * config.training.max_epochs), config,
                     torch.device("cpu"), TrainingMonitor(), torch.Generator().manual_seed(0))
        loss = step.batch(sample_sentences[:8])
        assert loss is not None and bool(torch.isfinite(loss))
        batch = seen[0]
        mask_id = sample_vocab.words.ids[MASK]
        if weight:
            assert MASKED_LM in batch.targets and bool((batch.targets[MASKED_LM] != IGNORE).any())
            assert bool((batch.word_ids == mask_id).any())
        else:
            assert MASKED_LM not in batch.targets and not bool((batch.word_ids == mask_id).any())
            assert model.masked_lm is None


# ---------------------------------------------------------------------------------------------
# 3. the head


@pytest.mark.parametrize("cutoffs, adaptive", [([20, 60], True), ([2000, 10000], False), ([], False)])
def test_head_distributions_and_gradients(sample_sentences: list[Sentence], sample_vocab: Vocab, cutoffs: list[int], adaptive: bool) -> None:
    config = from_dict({**tiny_config_dict(), "masked_lm": {"weight": 1.0, "cutoffs": cutoffs}})
    torch.manual_seed(0)
    model = build_model(config, sample_vocab)
    head = model.masked_lm
    assert isinstance(head, MaskedWordHead)
    assert (head.adaptive is not None) is adaptive and (head.projection is None) is adaptive
    assert len(sample_vocab.words) > 61

    masked, targets = mask_sentences(sample_sentences[:16], sample_vocab, MaskedLMConfig(rate=0.3), torch.Generator().manual_seed(0))
    batch = BatchEncoder(sample_vocab).encode(masked, masked_targets=targets)
    model.eval()  # no dropout: the loss must agree with log_probs
    with torch.no_grad():
        states = model.encode(batch)
        chosen = batch.targets[MASKED_LM] != IGNORE
        log_probs = head.log_probs(states[chosen])
        assert log_probs.shape == (int(chosen.sum()), len(sample_vocab.words))
        assert torch.allclose(log_probs.exp().sum(-1), torch.ones(log_probs.shape[0]), atol=1e-5)
        nll = -log_probs.gather(1, batch.targets[MASKED_LM][chosen][:, None]).mean()
        assert torch.allclose(head.loss(states[chosen], batch.targets[MASKED_LM][chosen]), nll, atol=1e-5)

    model.train()
    output = model(batch)[MASKED_LM]
    assert output.loss is not None and bool(torch.isfinite(output.loss))
    output.loss.backward()
    for name, parameter in [("embeddings.words.weight", model.embeddings.words.weight),
                            ("embeddings.chars.conv.weight", model.embeddings.chars.conv.weight),
                            *((f"encoder.{n}", p) for n, p in model.encoder.named_parameters())]:
        assert parameter.grad is not None and bool(parameter.grad.abs().sum() > 0), name


# ---------------------------------------------------------------------------------------------
# 4. the auxiliary loss and config validation


def test_tagger_trained_with_the_auxiliary_loss(masked_tagger: Path) -> None:
    state = load_file(str(masked_tagger / "model.safetensors"))
    assert any(name.startswith("masked_lm.") for name in state)
    saved = json.loads((masked_tagger / "config.json").read_text())
    assert saved["masked_lm"]["weight"] == 0.5
    tagger = Tagger.load(masked_tagger)
    prediction = tagger.predict("The pasta was fresh and the sauce was rich .")
    assert set(prediction.tags) == {"upos", "ner"}
    assert all(len(tags) == len(prediction.tokens) for tags in prediction.tags.values())
    assert all(tag in tagger.vocab.labels["upos"].ids for tag in prediction.tags["upos"])
    assert all(tag == "O" or tag[:2] in ("B-", "I-") for tag in prediction.tags["ner"])  # spans come out in BIO
    filled = tagger.fill_mask("The pasta was [MASK] .", top_k=2)
    assert len(filled) == 1 and [b.position for b in filled[0].blanks] == [3]


def test_fill_mask_without_a_head_is_an_error(headless_model: Path) -> None:
    tagger = Tagger.load(headless_model)
    assert tagger.model.masked_lm is None
    with pytest.raises(TaggerError, match="masked-token head"):
        tagger.fill_mask("The [MASK] was fresh .")
    result = runner.invoke(app, ["fill-mask", str(headless_model), "The [MASK] was fresh ."])
    assert result.exit_code == 1
    assert "no masked-token head" in result.output


@pytest.mark.parametrize("masked_lm, key", [
    ({"weight": 1.0, "mask": 0.9, "random": 0.2}, "masked_lm.random"),
    ({"weight": 1.0, "rate": 1.5}, "masked_lm.rate"),
    ({"weight": 1.0, "rate": -0.1}, "masked_lm.rate"),
    ({"weight": -0.5}, "masked_lm.weight"),
])
def test_config_rejects_bad_masking(masked_lm: dict, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        from_dict({**tiny_config_dict(), "masked_lm": masked_lm})
    assert raised.value.key == key and key in str(raised.value)


def test_config_without_tasks_needs_the_masked_lm() -> None:
    raw = {**tiny_config_dict(), "tasks": {}}
    with pytest.raises(ConfigError) as raised:
        from_dict(raw)
    assert raised.value.key == "tasks"
    assert from_dict({**raw, "masked_lm": {"weight": 0.5}}).tasks == {}
    assert from_dict({**tiny_config_dict(), "masked_lm": {"weight": 1.0, "mask": 0.5, "random": 0.5, "rate": 1.0}}).masked_lm.rate == 1.0


# ---------------------------------------------------------------------------------------------
# 5. fill-mask output


def test_fill_mask_blanks_and_candidates(pretrained: tuple[Path, str]) -> None:
    tagger = Tagger.load(pretrained[0])
    assert tagger.model.masked_lm is not None and tagger.model.masked_lm.adaptive is not None
    filled = tagger.fill_mask("The [MASK] was fresh and the [MASK] was rich .", top_k=3)
    assert len(filled) == 1
    sentence = filled[0]
    assert [b.position for b in sentence.blanks] == [1, 6]
    assert sentence.tokens[1] == sentence.tokens[6] == MASK and sentence.tokens[0] == "The"
    for blank in sentence.blanks:
        assert len(blank.candidates) == 3
        words = [w for w, _ in blank.candidates]
        probabilities = [p for _, p in blank.candidates]
        assert len(set(words)) == 3
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0.0 < p <= 1.0 for p in probabilities) and sum(probabilities) <= 1.0 + 1e-6
        assert not set(words) & set(SPECIALS)
        assert all(w in tagger.vocab.words.ids for w in words)

    # the first candidate is the likeliest non-special word of the model's distribution
    batch = tagger.batch_encoder.encode([Sentence(sentence.tokens)], with_targets=False)
    with torch.no_grad():
        probabilities = tagger.model.masked_lm.log_probs(tagger.model.encode(batch)[0, [1, 6]]).exp()
    probabilities[:, [tagger.vocab.words.ids[s] for s in SPECIALS]] = 0
    best = probabilities.max(-1)
    for row, blank in enumerate(sentence.blanks):
        assert blank.candidates[0][0] == tagger.vocab.words.items[int(best.indices[row])]
        assert blank.candidates[0][1] == pytest.approx(float(best.values[row]), rel=1e-5)

    tokens = tagger.fill_mask([["The", "[MASK]", "was", "fresh", "."], ["No", "blank", "here"]], top_k=2)
    assert [b.position for b in tokens[0].blanks] == [1] and tokens[0].tokens[1] == MASK
    assert len(tokens[0].blanks[0].candidates) == 2
    assert tokens[1].blanks == [] and tokens[1].tokens == ["No", "blank", "here"]
    plain = tagger.fill_mask("Nothing is missing here .")
    assert plain[0].blanks == [] and plain[0].tokens[0] == "Nothing"


def test_fill_mask_never_offers_special_tokens_even_for_a_large_top_k(pretrained: tuple[Path, str]) -> None:
    tagger = Tagger.load(pretrained[0])
    size = len(tagger.vocab.words)
    candidates = tagger.fill_mask("The [MASK] was fresh .", top_k=size)[0].blanks[0].candidates
    assert len(candidates) <= size - len(SPECIALS)
    assert not {w for w, _ in candidates} & set(SPECIALS)
    assert all(p > 0.0 for _, p in candidates)


def test_fill_mask_command(pretrained: tuple[Path, str]) -> None:
    directory = pretrained[0]
    text = "The pasta was [MASK] ."
    result = runner.invoke(app, ["fill-mask", str(directory), text, "--top-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["text"] == text
    assert record["tokens"][3] == MASK
    assert [b["position"] for b in record["blanks"]] == [3]
    candidates = record["blanks"][0]["candidates"]
    assert len(candidates) == 2 and all(set(c) == {"word", "probability"} for c in candidates)
    assert candidates[0]["probability"] >= candidates[1]["probability"] > 0

    result = runner.invoke(app, ["fill-mask", str(directory), text, "--top-k", "2"])
    assert result.exit_code == 0, result.output
    for candidate in candidates:
        assert candidate["word"] in result.stdout
    assert "blank 1 (token 3)" in result.stdout


# ---------------------------------------------------------------------------------------------
# 6. pretraining


def test_pretrain_command_writes_a_model_and_checkpoint(pretrained: tuple[Path, str], pretrain_toml: Path) -> None:
    directory, output = pretrained
    assert {"config.json", "vocab.json", "model.safetensors", "meta.json"} <= {p.name for p in directory.iterdir()}
    assert {"trainer.pt", "last.safetensors", "vocab.json"} <= {p.name for p in (directory / "checkpoint").iterdir()}
    assert "model saved to" in output and f"{MAX_STEPS} steps" in output
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["pretraining"]["steps"] == MAX_STEPS
    assert meta["pretraining"]["tokens"] > 0
    scores = meta["scores"]["dev"]["masked_lm"]
    assert 0.0 <= scores["accuracy"] <= 1.0 and scores["perplexity"] > 1.0 and scores["tokens"] > 0
    config = json.loads((directory / "config.json").read_text())
    assert config["tasks"] == {} and config["masked_lm"]["weight"] == 1.0
    vocab = json.loads((directory / "vocab.json").read_text())
    assert vocab["words"][: len(SPECIALS)] == list(SPECIALS) and len(vocab["words"]) == 300 + len(SPECIALS)

    # the recorded dev scores are what masked_token_scores gives for the saved model
    loaded = Tagger.load(directory)
    dev = list(stream_sentences(loaded.config, "dev"))
    again = loaded.masked_token_scores(dev, loaded.config.masked_lm)
    assert again["accuracy"] == pytest.approx(scores["accuracy"]) and again["perplexity"] == pytest.approx(scores["perplexity"], rel=1e-6)
    other_seed = loaded.masked_token_scores(dev, loaded.config.masked_lm, seed=1)
    assert 0.0 <= other_seed["accuracy"] <= 1.0 and other_seed["perplexity"] > 1.0
    assert other_seed["tokens"] != again["tokens"] or other_seed["perplexity"] != again["perplexity"]

    loaded.model.masked_lm = None  # a model without the head
    with pytest.raises(TaggerError, match="no masked-token head"):
        loaded.masked_token_scores(dev, loaded.config.masked_lm)


# ---------------------------------------------------------------------------------------------
# 7. resume


def test_resumed_pretraining_matches_an_uninterrupted_run(pretrained: tuple[Path, str], pretrain_toml: Path, tmp_path: Path) -> None:
    def config() -> TaggerConfig:
        return load_config(pretrain_toml, ["masked_lm.weight=1.0"])  # as the command loads it

    directory = tmp_path / "interrupted"
    stopper = Recorder(stop_at=STOP_AT)
    with pytest.raises(Interrupted):
        pretrain(config(), directory, monitor=stopper)
    checkpointed = json.loads((directory / "meta.json").read_text())["pretraining"]["steps"]
    assert 0 < checkpointed < STOP_AT

    resumed = Recorder()
    result = pretrain(config(), directory, resume=True, monitor=resumed)
    assert any(m.startswith(f"resuming at step {checkpointed} ") for m in resumed.messages), resumed.messages
    assert resumed.steps == MAX_STEPS - checkpointed  # picks up at checkpointed + 1
    assert result.steps == MAX_STEPS

    uninterrupted = load_file(str(pretrained[0] / "model.safetensors"))
    continued = load_file(str(directory / "model.safetensors"))
    assert set(uninterrupted) == set(continued)
    different = [name for name in uninterrupted if not torch.equal(uninterrupted[name], continued[name])]
    assert not different
    meta_a = json.loads((pretrained[0] / "meta.json").read_text())
    meta_b = json.loads((directory / "meta.json").read_text())
    for key in ("steps", "epoch", "tokens"):
        assert meta_a["pretraining"][key] == meta_b["pretraining"][key], key
    assert meta_a["scores"] == meta_b["scores"]


# ---------------------------------------------------------------------------------------------
# 8. init_from


def test_init_from_copies_the_pretrained_embeddings_and_encoder(pretrained: tuple[Path, str], sample_sentences: list[Sentence]) -> None:
    base = load_model(pretrained[0])
    base_model, base_vocab, base_config = base.model, base.vocab, base.config
    raw = tiny_config_dict(limit=60)
    raw["init_from"] = str(pretrained[0])
    raw["encoder"]["num_layers"] = 2
    config = from_dict(raw)
    assert (config.embeddings.word_dim, config.encoder.hidden_size) != (base_config.embeddings.word_dim, base_config.encoder.hidden_size)
    config = take_architecture(config, base_config)
    assert config.embeddings.word_dim == 32 and config.encoder.hidden_size == 32 and config.encoder.num_layers == 1
    assert config.embeddings.dropout == 0.1  # not an architecture setting: stays

    vocab = Vocab.build(sample_sentences[:60], config.tasks, 1, base=base_vocab)
    known = len(base_vocab.words)
    assert vocab.words.items[:known] == base_vocab.words.items
    assert vocab.chars.items[: len(base_vocab.chars)] == base_vocab.chars.items
    assert len(vocab.words) > known  # the tagger's data brings words the capped pretrained vocabulary lacks

    torch.manual_seed(1)
    model = build_model(config, vocab)
    pretrained_encoder = base_model.encoder.state_dict()
    assert not all(torch.equal(t, pretrained_encoder[n]) for n, t in model.encoder.state_dict().items())
    fresh_new_rows = model.embeddings.words.weight[known:].detach().clone()
    copied = copy_pretrained(base_model, model)
    assert copied == len(base_model.embeddings.state_dict()) + len(pretrained_encoder)
    for name, tensor in model.encoder.state_dict().items():
        assert torch.equal(tensor, pretrained_encoder[name]), name
    words = model.embeddings.words.weight.detach()
    assert torch.equal(words[:known], base_model.embeddings.words.weight.detach())
    assert torch.equal(words[known:], fresh_new_rows)
    for name, tensor in base_model.embeddings.chars.state_dict().items():
        mine = model.embeddings.chars.state_dict()[name]
        assert torch.equal(mine[: tensor.shape[0]], tensor), name
    assert model.masked_lm is None


def test_training_with_init_from_end_to_end(pretrained: tuple[Path, str], tmp_path: Path) -> None:
    raw = tiny_config_dict(limit=60)
    raw["init_from"] = str(pretrained[0])
    raw["training"].update(max_epochs=1, learning_rate=0.0)  # no updates: the saved weights are the starting ones
    output = tmp_path / "tagger"
    monitor = Recorder()
    result = train(from_dict(raw), output, monitor=monitor)
    assert result.best_epoch == 1 and monitor.steps > 0

    saved = json.loads((output / "config.json").read_text())
    assert saved["init_from"] == str(pretrained[0])
    assert saved["embeddings"]["word_dim"] == 32 and saved["encoder"]["hidden_size"] == 32
    base_vocab = json.loads((pretrained[0] / "vocab.json").read_text())["words"]
    vocab = json.loads((output / "vocab.json").read_text())["words"]
    assert vocab[: len(base_vocab)] == base_vocab and len(vocab) > len(base_vocab)

    base = load_file(str(pretrained[0] / "model.safetensors"))
    mine = load_file(str(output / "model.safetensors"))
    encoder = [name for name in base if name.startswith("encoder.")]
    assert encoder and all(torch.equal(base[name], mine[name]) for name in encoder)
    assert torch.equal(mine["embeddings.words.weight"][: len(base_vocab)], base["embeddings.words.weight"])
    assert not any(name.startswith("masked_lm.") for name in mine)

    tagger = Tagger.load(output)
    prediction = tagger.predict([["The", "pasta", "was", "fresh", "."]])[0]
    assert len(prediction.tags["upos"]) == 5 and len(prediction.tags["ner"]) == 5


# ---------------------------------------------------------------------------------------------
# 9. vocabulary size


def test_vocab_max_words_keeps_the_most_frequent() -> None:
    counts = {"rare": 1, "common": 6, "mid": 3, "often": 5, "some": 2, "few": 4}
    tokens = [word for word, n in counts.items() for _ in range(n)]
    sentences = [Sentence(tokens[i : i + 5]) for i in range(0, len(tokens), 5)]
    vocab = Vocab.build(sentences, (), max_words=3)
    assert vocab.words.items == [*SPECIALS, "common", "often", "few"]
    assert vocab.word_id("mid") == vocab.words.unk_id
    assert Vocab.build(sentences, ()).words.items == [*SPECIALS, "common", "often", "few", "mid", "some", "rare"]
    assert Vocab.build(sentences, (), min_freq=5, max_words=3).words.items == [*SPECIALS, "common", "often"]

    base = Vocab.build([Sentence(["rare", "zebra", "zebra"])], ())
    extended = Vocab.build(sentences, (), max_words=2, base=base)
    assert extended.words.items == [*SPECIALS, "zebra", "rare", "common", "often"]
    assert all(extended.word_id(w) == base.word_id(w) for w in base.words.items)


def test_pretraining_learns_from_the_masked_token_loss_alone_whatever_its_weight(pretrained: tuple[Path, str], pretrain_toml: Path,
                                                                                  tmp_path: Path) -> None:
    # The weight says there is a masked-token head; in pretraining it is the only loss, so it is not scaled.
    result = pretrain(load_config(pretrain_toml, ["masked_lm.weight=0.5"]), tmp_path / "half")
    assert result.steps == MAX_STEPS
    assert json.loads((tmp_path / "half" / "config.json").read_text())["masked_lm"]["weight"] == 0.5
    reference = load_file(str(pretrained[0] / "model.safetensors"))
    assert all(torch.equal(tensor, reference[name]) for name, tensor in load_file(str(tmp_path / "half" / "model.safetensors")).items())


def test_pretraining_refuses_to_resume_a_checkpoint_that_cut_the_text_another_way(pretrain_toml: Path, tmp_path: Path) -> None:
    config = load_config(pretrain_toml, ["masked_lm.weight=1.0"])
    with pytest.raises(Interrupted):
        pretrain(config, tmp_path / "old", monitor=Recorder(stop_at=STOP_AT))
    trainer_file = tmp_path / "old" / "checkpoint" / "trainer.pt"
    trainer = torch.load(trainer_file, weights_only=True)
    state = json.loads(trainer["state"])
    assert state["pieces"] == "sentences of at most 200 tokens"
    del state["pieces"]  # as versions that cut the stream every 128 tokens wrote it
    trainer["state"] = json.dumps(state)
    torch.save(trainer, trainer_file)
    with pytest.raises(TaggerError, match="its checkpoint cut the text every 128 tokens, this version cuts it into sentences"):
        pretrain(config, tmp_path / "old", resume=True)


def test_a_pretrained_model_says_it_has_no_tagging_task_wherever_it_is_asked_to_tag(pretrained: tuple[Path, str], tmp_path: Path) -> None:
    import spacy
    from fastapi.testclient import TestClient

    from tagger.core.tasks import NO_TASKS
    from tagger.service.app import create_app

    directory, _ = pretrained
    tagger = Tagger.load(directory)
    for call in (lambda: tagger.predict("I am very hungry ."), lambda: list(tagger.predict_sentences([Sentence(["a", "b"])]))):
        with pytest.raises(TaggerError, match="no tagging task"):
            call()
    source = tmp_path / "in.txt"
    source.write_text("I am very hungry .\n", encoding="utf-8")
    result = runner.invoke(app, ["annotate", str(directory), str(source), "-o", str(tmp_path / "out.jsonl")], env={"COLUMNS": "300"})
    assert result.exit_code == 1 and "no tagging task" in result.output and not list(tmp_path.glob("out.jsonl*"))
    with pytest.raises(TaggerError, match="no tagging task"):
        spacy.blank("en").add_pipe("birnn_tagger", config={"model": str(directory)})
    client = TestClient(create_app(directory, token=""))  # it serves what it can: /fill-mask
    refused = client.post("/annotate", json={"texts": ["I am very hungry ."]})
    assert refused.status_code == 404 and refused.json()["detail"] == NO_TASKS
    assert client.post("/fill-mask", json={"texts": ["I am [MASK] hungry ."]}).status_code == 200


def test_fill_mask_reads_one_token_list_when_told_it_is_pretokenized(pretrained: tuple[Path, str]) -> None:
    tagger = Tagger.load(pretrained[0])
    tokens = ["I", "am", "[MASK]", "hungry", "."]
    [one] = tagger.fill_mask(tokens, pretokenized=True)
    assert one.tokens[:2] == ["I", "am"] and [blank.position for blank in one.blanks] == [2]
    assert len(tagger.fill_mask(tokens)) == 5  # without it, five texts
    with pytest.raises(TaggerError, match="not a string"):
        tagger.fill_mask("I am [MASK] hungry .", pretokenized=True)
