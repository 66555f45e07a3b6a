"""Training a segmenter (:mod:`tagger.model.segmenter`) from a corpus that has each sentence's raw text and its words.

CoNLL-U gives both (``# text`` and the surface tokens: multiword tokens as written), as do Universal NER
files (``# text``). Each sentence's words are found in its text; consecutive sentences of a document
are joined into training texts of one to three sentences, so that the model also sees where sentences
start. The network is a :class:`~tagger.nn.model.SequenceTagger` over the units, trained by the same
loop as any tagger (:func:`tagger.training.train` with the units as its data).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from tagger.core.config import CharLMConfig, EmbeddingsConfig, EncoderConfig, MaskedLMConfig, TaggerConfig, TaskConfig
from tagger.core.errors import ConfigError, ModelFormatError, writing
from tagger.core.tasks import SEGMENT
from tagger.core.types import Sentence
from tagger.data import load_sentences
from tagger.files.atomic import write_atomic
from tagger.model.segmenter import FEATURES, Lexicon, Segmentation, Segmenter, unit_sentence
from tagger.training.loop import Splits, TrainResult, train
from tagger.training.monitor import TrainingMonitor

SENTENCES_PER_TEXT = (1, 2, 3)  # training texts join this many consecutive sentences of a document
SPACED_JOINS = 0.2  # where a corpus writes nothing between sentences, this share of its texts put a space there


@dataclass(frozen=True)
class Document:
    """A text and its words (character offsets), with the indices of the words that start a sentence."""

    text: str
    words: list[tuple[int, int]]
    sentence_starts: list[int]

    @property
    def segmentation(self) -> Segmentation:
        return Segmentation(self.words, self.sentence_starts)


def surface_tokens(sentence: Sentence) -> list[str]:
    """The tokens as the text writes them: a CoNLL-U multiword token (``meta["multiword"]``) in place of its words."""
    tokens, merged = list(sentence.tokens), sorted(sentence.meta.get("multiword", []), reverse=True)
    for first, last, form in merged:
        tokens[first:last] = [form]
    return tokens


def find_words(text: str, tokens: Sequence[str]) -> list[tuple[int, int]] | None:
    """Each token's character offsets in ``text``, in order, whitespace between them skipped; a token's own
    spaces match any whitespace run. None when the tokens are not the text."""
    offsets, position = [], 0
    for token in tokens:
        while position < len(text) and text[position].isspace():
            position += 1
        start = position
        for n, part in enumerate(token.split()):
            if n:
                if position >= len(text) or not text[position].isspace():
                    return None
                while position < len(text) and text[position].isspace():
                    position += 1
            if not text.startswith(part, position):
                return None
            position += len(part)
        if position == start:
            return None
        offsets.append((start, position))
    return offsets


def join(sentences: Sequence[Document], separator: str) -> Document:
    """Consecutive sentences as one text, ``separator`` between them."""
    text, words, starts = "", [], []
    for sentence in sentences:
        if text:
            text += separator
        starts.append(len(words))
        words.extend((start + len(text), end + len(text)) for start, end in sentence.words)
        text += sentence.text
    return Document(text, words, starts)


@dataclass
class SegmentationCorpus:
    """A split's sentences (each its own Document) grouped by the document they come from."""

    documents: list[list[Document]]
    skipped: int  # sentences without text, or whose words are not their text

    @property
    def sentences(self) -> list[Document]:
        return [s for document in self.documents for s in document]


def read_corpus(sentences: Iterable[Sentence]) -> SegmentationCorpus:
    """Sentences with text -> Documents; a new document at ``# newdoc`` or another source file."""
    documents: list[list[Document]] = []
    skipped, last_source = 0, None
    for sentence in sentences:
        words = find_words(sentence.text, surface_tokens(sentence)) if sentence.text else None
        if words is None:
            skipped += 1
            continue
        source = sentence.meta.get("source")
        if not documents or source != last_source or any(key.startswith("newdoc") for key in sentence.meta):
            documents.append([])
        last_source = source
        documents[-1].append(Document(sentence.text, words, [0]))  # type: ignore[arg-type]
    return SegmentationCorpus(documents, skipped)


def separator_of(corpus: SegmentationCorpus) -> str:
    """How the corpus's sentences join into a text: with a space, or with nothing where its texts hardly
    hold spaces (Chinese, Japanese)."""
    texts = [s.text for s in corpus.sentences]
    spaces = sum(text.count(" ") for text in texts)
    return " " if spaces > 0.02 * sum(map(len, texts)) else ""


def training_texts(corpus: SegmentationCorpus, separator: str, sentences: bool, rng: random.Random) -> list[Document]:
    """Runs of one to three consecutive sentences of each document (one, without ``sentences``), joined with
    ``separator``; with a space in some of them when that is nothing, as text from elsewhere (the web) often
    has one between sentences in Chinese too."""
    texts = []
    for document in corpus.documents:
        position = 0
        while position < len(document):
            size = rng.choice(SENTENCES_PER_TEXT) if sentences else 1
            joint = separator or (" " if rng.random() < SPACED_JOINS else "")
            texts.append(join(document[position : position + size], joint))
            position += size
    return texts


def segmenter_config(config: TaggerConfig) -> TaggerConfig:
    """The config of the segmenter's own network: a tagger of units (see :mod:`tagger.model.segmenter`)."""
    settings = config.segmenter
    features = dict(zip(FEATURES, (settings.bigram_dim, settings.lexicon_dim, settings.lexicon_dim, settings.kind_dim)))
    return replace(
        config,
        init_from="",
        tasks={SEGMENT: TaskConfig(decoder="crf", scheme="BIOES")},
        masked_lm=MaskedLMConfig(),
        char_lm=CharLMConfig(),
        embeddings=EmbeddingsConfig(word_dim=settings.unit_dim, min_freq=settings.min_freq, lowercase=False, char_encoder="none",
                                    word_dropout=settings.unit_dropout,
                                    features=features, dropout=settings.dropout, max_vectors=0),
        encoder=EncoderConfig(kind="lstm", hidden_size=settings.hidden_size, num_layers=settings.num_layers, dropout=settings.dropout),
        training=replace(config.training, batch_size=settings.batch_size, learning_rate=settings.learning_rate,
                         max_epochs=settings.max_epochs, patience=settings.patience, select_by=[]),
        segmenter=replace(settings, train=False, model=""),
    )


def word_scores(gold: Sequence[Segmentation], predicted: Sequence[Segmentation]) -> dict[str, float]:
    """Word precision, recall and F1 (percent) by character offsets, and sentence F1 where ``gold`` has
    several sentences: a sentence is the stretch from its first word's start to its last word's end."""
    def counts(found: Sequence[set[Any]], wanted: Sequence[set[Any]]) -> tuple[int, int, int]:
        return sum(len(f & w) for f, w in zip(found, wanted)), sum(map(len, found)), sum(map(len, wanted))

    def f1(right: int, made: int, due: int) -> dict[str, float]:
        precision, recall = right / made if made else 0.0, right / due if due else 0.0
        return {"precision": 100 * precision, "recall": 100 * recall,
                "f1": 200 * precision * recall / (precision + recall) if precision + recall else 0.0}

    scores = {f"words_{k}": v for k, v in f1(*counts([set(p.words) for p in predicted], [set(g.words) for g in gold])).items()}
    if any(len(g.sentence_starts) > 1 for g in gold):
        sentences = f1(*counts([sentence_spans(p) for p in predicted], [sentence_spans(g) for g in gold]))
        scores.update({f"sentences_{k}": v for k, v in sentences.items()})
    return scores


def sentence_spans(segmentation: Segmentation) -> set[tuple[int, int]]:
    bounds = [*segmentation.sentence_starts, len(segmentation.words)]
    return {(segmentation.words[a][0], segmentation.words[b - 1][1]) for a, b in itertools.pairwise(bounds) if b > a}


def score(segmenter: Segmenter, corpus: SegmentationCorpus, separator: str) -> dict[str, dict[str, float]]:
    """Word F1 sentence by sentence (each sentence's text given alone) and from whole documents (each
    document's sentences joined, sentences found by the segmenter: also sentence F1)."""
    sentences = corpus.sentences
    documents = [join(document, separator) for document in corpus.documents]
    return {
        "sentences": word_scores([s.segmentation for s in sentences], segmenter.segment([s.text for s in sentences])),
        "documents": word_scores([d.segmentation for d in documents], segmenter.segment([d.text for d in documents])),
    }


def train_segmenter(config: TaggerConfig, output_dir: Path, *, resume: bool = False, overwrite: bool = False,
                    monitor: TrainingMonitor | None = None) -> TrainResult:
    """Train the segmenter ``config.segmenter`` describes on the raw text of ``config.data`` into
    ``output_dir`` (a model directory of its own). Its meta.json also records, under ``segmentation``, its
    word (and sentence) scores on the dev and test text, sentence by sentence and from whole documents."""

    monitor = monitor or TrainingMonitor()
    settings = config.segmenter
    limits = {"train": config.data.max_train_sentences}
    splits = {split: read_corpus(load_sentences(sources, {}, limits.get(split, 0))) if sources else None
              for split, sources in (("train", config.data.train), ("dev", config.data.dev), ("test", config.data.test))}
    train_corpus = splits["train"]
    if train_corpus is None or not train_corpus.sentences:
        raise ConfigError("segmenter.train", "no training sentence has its raw text and words (CoNLL-U `# text`, or a `# text` "
                          "comment in column files) to learn a segmenter from")
    separator = separator_of(train_corpus)
    rng = random.Random(config.seed)
    texts = training_texts(train_corpus, separator, settings.sentences, rng)
    words = [[text.text[start:end] for start, end in text.words] for text in texts]
    fold_of = [rng.randrange(settings.folds) for _ in texts]
    lexicon = Lexicon(word for text_words in words for word in text_words)
    fold_lexicons = [Lexicon(word for text_words, fold in zip(words, fold_of) if fold != k for word in text_words)
                     for k in range(settings.folds)]
    train_units = [unit_sentence(text.text, fold_lexicons[fold], text.words, text.sentence_starts) for text, fold in zip(texts, fold_of)]
    held_out = {split: [unit_sentence(t.text, lexicon, t.words, t.sentence_starts)
                        for t in training_texts(corpus, separator, settings.sentences, random.Random(config.seed))]
                for split, corpus in splits.items() if split != "train" and corpus is not None}
    monitor.message(f"segmenter: {len(train_corpus.sentences)} training sentences with their text ({train_corpus.skipped} without), "
                    f"lexicon of {len(lexicon)} words, sentences joined with {separator!r}")
    result = train(segmenter_config(config), output_dir, resume=resume, overwrite=overwrite, monitor=monitor,
                   data=Splits(train_units, held_out.get("dev", []), held_out.get("test", []), tuple(lexicon.words)))
    segmenter = Segmenter.load(output_dir, threads=torch.get_num_threads())  # training's threads, as it scores
    record = {"separator": separator, "lexicon": len(lexicon), "skipped": {s: c.skipped for s, c in splits.items() if c},
              "scores": {split: score(segmenter, corpus, separator) for split, corpus in splits.items() if split != "train" and corpus}}
    meta = json.loads((output_dir / "meta.json").read_text(encoding="utf-8"))
    with writing(output_dir / "meta.json", f"The segmenter and its checkpoint are saved in {output_dir}: free space (or fix the cause), "
                                           "then rerun with --resume to finish"):
        write_atomic(output_dir / "meta.json", json.dumps({**meta, "segmentation": record}, indent=2))
    monitor.message("segmenter: " + "; ".join(f"{split} words F1 {s['sentences']['words_f1']:.2f} sentence by sentence, "
                                                f"{s['documents']['words_f1']:.2f} from documents"
                                                for split, s in record["scores"].items()) + f" ({result.seconds / 60:.1f} min)")
    return result


def refuse_distributed_segmenter(config: TaggerConfig) -> None:
    """ConfigError for ``segmenter.train`` under torchrun: every process would train and write it."""
    if config.segmenter.train and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("segmenter.train", "train the segmenter in a run of its own (without torchrun; a config without tasks "
                          "trains it alone), then name it as segmenter.model for the distributed run")


def prepare_segmenter(config: TaggerConfig, output_dir: Path, resume: bool, monitor: TrainingMonitor) -> dict[str, bytes]:
    """The files of the segmenter that the tagger trained into ``output_dir`` carries: read from
    ``segmenter.model``, or trained into ``output_dir/segmenter`` (kept when a resumed run finds it
    finished, continued from its checkpoint when it was stopped)."""
    from tagger.model.serialize import SEGMENTER, describe, read_files
    from tagger.training.checkpoint import has_checkpoint

    if config.segmenter.model:
        given = Path(config.segmenter.model)
        source = given / SEGMENTER if (given / SEGMENTER).is_dir() else given
        try:
            tasks = describe(source).config.tasks
        except ModelFormatError as error:
            raise ConfigError("segmenter.model", str(error)) from None
        if SEGMENT not in tasks:
            raise ConfigError("segmenter.model", f"{given} is neither a segmenter nor a model that holds one ({SEGMENTER}/)")
        return read_files(source)
    target = output_dir / SEGMENTER
    finished = (target / "meta.json").is_file() and "segmentation" in json.loads((target / "meta.json").read_text(encoding="utf-8"))
    if not (resume and finished):
        monitor.message(f"training the segmenter ({target})")
        train_segmenter(config, target, resume=resume and has_checkpoint(target), overwrite=True, monitor=monitor)
    return read_files(target)
