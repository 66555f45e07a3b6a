"""Tagger: the predictor every front end uses. Text or tokens in, Predictions out."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, overload

import torch

from tagger.core.batching import IGNORE, MASKED_LM, BatchEncoder, sorted_batches
from tagger.core.config import MaskedLMConfig, TaggerConfig, check_setting
from tagger.core.errors import InputError, TaggerError
from tagger.core.masking import mask_sentences
from tagger.core.model_info import ModelInfo
from tagger.core.runtime import RunOptions, ThreadPolicy, idle_cores
from tagger.core.schemes import tags_to_spans
from tagger.core.tasks import NO_TASKS, SEGMENT, TaskSpec
from tagger.core.tokenize import LONG_SENTENCE, Tokenizer, encodable, needs_spacy_tokenizer, pieces, spacy_tokenizer
from tagger.core.types import QUANTIZED, Blank, FilledSentence, Prediction, Sentence, Span, token_problem
from tagger.core.vocab import MASK, SPECIALS, Vocab
from tagger.model.serialize import LoadedModel
from tagger.nn.ensemble import EnsembleModel
from tagger.nn.heads import HeadOutput
from tagger.nn.model import SequenceTagger

logger = logging.getLogger(__name__)

# Padded tokens per forward pass at most: batches of long sentences get fewer rows.
MAX_BATCH_TOKENS = 2048
BLANK = "[MASK]"  # how a user writes a blank for fill_mask


class Tagger:
    """A trained model ready to label text.

    Args:
        model: the network (put in eval mode here).
        vocab: its vocabularies.
        config: the resolved config it was built from.
        meta: what ``meta.json`` recorded (scores, corpora, versions).
        segmenter: the model's own segmenter (a Tagger of characters, see :mod:`tagger.model.segmenter`),
            which then reads raw text in place of spaCy's tokenizer.
    """

    def __init__(self, model: SequenceTagger | EnsembleModel, vocab: Vocab, config: TaggerConfig, meta: dict[str, Any] | None = None,
                 segmenter: Tagger | None = None) -> None:
        from tagger.model.segmenter import Segmenter

        self.model = model.eval()
        self.vocab = vocab
        self.config = config
        self.info = ModelInfo.of("model", config, vocab, meta or {}, segmenter.meta if segmenter is not None else None)
        self.batch_encoder = BatchEncoder.for_embeddings(vocab, config.embeddings)  # Sentences -> Batches of ids
        self.segmenter = Segmenter(segmenter) if segmenter is not None else None
        self.tokenizer: Tokenizer | Segmenter = self.segmenter or Tokenizer(config.lang)
        if needs_spacy_tokenizer(config):
            spacy_tokenizer(config.lang)  # a package missing for it: an error now, not at the first text
        self.device = next(model.parameters()).device
        self.run = RunOptions(device=str(self.device))  # how it runs: set_run_options (Tagger.load) changes it
        self.threads: ThreadPolicy | None = None  # made directly (as training does): torch's threads are the caller's
        self.members: list[LoadedModel] = []  # an ensemble's models (model is then an EnsembleModel)

    @classmethod
    def load(cls, directory: str | Path | Sequence[str | Path], run: RunOptions | None = None, **options: Any) -> Tagger:
        """Load a model directory written by ``tagger train``, to run as ``run`` says, or as the
        RunOptions fields given as keywords say: ``Tagger.load(path, device="cuda", batch_size=64)``.

        An ensemble labels with several models at once (their mean label distributions; see
        :mod:`tagger.nn.ensemble`): a directory written by ``tagger ensemble`` or ``tagger train --seeds``
        (``DIR/ensemble``), or a list of model directories, ``Tagger.load([dir1, dir2, dir3])``.

        ``precision``: ``fp32`` (torch, the default); ``int8`` runs the LSTM encoder in ONNX Runtime
        with int8 weights on its second layer and above (about x1.5 words/s on CPU, accuracy within
        0.1 point), ``int8-all`` on every layer (faster still, costlier in NER F1). The int8 variants
        need ``device="cpu"``, an LSTM encoder and the onnx extra (``pip install 'birnn-tagger[onnx]'``);
        see ``tagger.nn.onnx_encoder``. A bad option is a ConfigError naming it, before the model is read.
        """
        from tagger.model.serialize import load_model

        run = run_options(run, options)  # before the (slower) load
        if not isinstance(directory, (str, Path)):
            from tagger.model.serialize import ensemble_of

            loaded, name = ensemble_of(list(directory), device=str(run.torch_device)), "ensemble"
        else:
            loaded, name = load_model(directory, str(run.torch_device)), Path(directory).resolve().name
        check_not_segmenter(loaded.config, str(directory))
        tagger = cls.from_loaded(loaded, str(directory), run)
        tagger.info = dataclasses.replace(tagger.info, name=name)
        return tagger

    @classmethod
    def from_files(cls, files: Mapping[str, bytes], source: str, run: RunOptions | None = None, **options: Any) -> Tagger:
        """A model from the bytes of its files (as ``files()`` gives them, e.g. inside a spaCy pipeline);
        ``source`` names where they came from in errors; ``run`` and ``options`` as for :meth:`load`."""
        from tagger.model.serialize import model_from_files

        run = run_options(run, options)
        loaded = model_from_files(files, source, str(run.torch_device))
        check_not_segmenter(loaded.config, source)
        return cls.from_loaded(loaded, source, run)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, source: str, run: RunOptions | None = None) -> Tagger:
        """A Tagger around a model read back from ``source``: warns if its training did not finish."""
        segmenter = loaded.segmenter
        own = cls(segmenter.model, segmenter.vocab, segmenter.config, segmenter.meta) if segmenter is not None else None
        tagger = cls(loaded.model, loaded.vocab, loaded.config, loaded.meta, own)  # type: ignore[arg-type]
        tagger.members = loaded.members
        warn_if_unfinished(tagger, source)
        tagger.set_run_options(run or tagger.run, source)
        return tagger

    def files(self) -> dict[str, bytes]:
        """The model as the bytes of its files (config.json, vocab.json, model.safetensors, meta.json, and
        its segmenter's in segmenter/; an ensemble's ensemble.json and its members' in member-N/)."""
        from tagger.model.serialize import ensemble_files, model_files

        if self.members:
            return ensemble_files([member.files() for member in self.members], self.meta["ensemble"]["crf"])
        segmenter = self.segmenter.model.files() if self.segmenter is not None else None
        return model_files(self.model, self.vocab, self.config, self.meta, segmenter)

    def set_run_options(self, run: RunOptions, source: str = "the model") -> None:
        """Run as ``run`` says from now on: its precision, threads and batch size. The device is the one the
        model was loaded on (:meth:`load` puts it there): TaggerError for another. The thread policy is
        applied before each batch; an int8 encoder's ONNX Runtime session is opened with ``threads``
        intra-op threads (0: one per core idle now), again when they change."""
        wanted = run.torch_device
        if (wanted.type, wanted.index or 0) != (self.device.type, self.device.index or 0):
            raise TaggerError(f"{source} is on {self.device}: load it with device={run.device!r} to run it there")
        self.threads = ThreadPolicy(run.threads)
        self.threads.apply()
        if run.precision != self.model.precision or (run.precision in QUANTIZED and run.threads != self.run.threads):
            self.model.set_precision(run.precision, threads=run.threads or idle_cores())
        self.run = run

    def set_precision(self, precision: str, source: str = "the model") -> None:
        """Run the encoder at ``precision`` from now on (see :meth:`load`)."""
        self.set_run_options(dataclasses.replace(self.run, precision=precision), source)

    @property
    def finished(self) -> bool:
        """False for a model whose training was stopped before its end (the best epoch so far, no test
        scores); True otherwise, also for models saved before this was recorded."""
        return self.info.finished

    @property
    def precision(self) -> str:
        """How the encoder runs: ``fp32`` (torch), or ``int8``/``int8-all`` (ONNX Runtime; see load)."""
        return self.model.precision

    @property
    def tasks(self) -> list[str]:
        """The model's task names, in its order."""
        return list(self.info.tasks)

    @property
    def task_specs(self) -> dict[str, TaskSpec]:
        """Task name -> what the task is (token or span task, scheme, decoder, labels), in the model's order."""
        return self.info.tasks

    @property
    def meta(self) -> dict[str, Any]:
        """What ``meta.json`` recorded (scores, corpora, versions, training); the same as ``info.meta``."""
        return self.info.meta

    @property
    def has_masked_lm(self) -> bool:
        """Whether the model has a masked-token head, so that :meth:`fill_mask` works."""
        return self.model.masked_lm is not None

    @overload
    def predict(self, inputs: str, batch_size: int | None = ..., scores: bool = ..., *, pretokenized: bool = ...) -> Prediction: ...
    @overload
    def predict(self, inputs: Sequence[str] | Sequence[Sequence[str]], batch_size: int | None = ..., scores: bool = ..., *,
                pretokenized: bool = ...) -> list[Prediction] | Prediction: ...

    def predict(self, inputs: Any, batch_size: int | None = None, scores: bool = False, *, pretokenized: bool = False
                ) -> Prediction | list[Prediction]:
        """Label raw text or pre-tokenized sentences.

        Args:
            inputs: one string (raw text, tokenized with spaCy's tokenizer for the model's
                language), a list of such strings, or a list of token lists. With
                ``pretokenized=True``: one token list, or a list of token lists.
            batch_size: sentences per forward pass (default: the RunOptions' the model was loaded with).
            scores: also give each token's probability of its label, per task (softmax
                probability, or the CRF's marginal probability for CRF tasks).
            pretokenized: the input is words, not text (as Hugging Face's ``is_split_into_words``):
                ``predict(["Pre", "-", "tokenized"], pretokenized=True)`` is one sentence of three
                tokens, where without it the list is three texts.

        Returns:
            A Prediction per input; one for a single string, or for a single token list with
            ``pretokenized``: tokens, a label per token for every task (span tasks in BIO), and
            spans with character offsets for text.
        """
        if pretokenized:
            items, single = token_lists(inputs)
            predictions = list(self.predict_sentences(as_sentences(items), batch_size, scores=scores))
            return predictions[0] if single else predictions
        if isinstance(inputs, str):
            return self.predict([inputs], batch_size, scores)[0]
        return list(self.predict_sentences(as_sentences(inputs), batch_size, scores=scores))

    def predict_sentences(
        self, sentences: Iterable[Sentence], batch_size: int | None = None, window: int = 16, scores: bool = False
    ) -> Iterator[Prediction]:
        """Stream Predictions in input order, reading ``batch_size * window`` sentences at a time."""
        batch_size = self._batch_size(batch_size)
        self.require_tasks()
        stream = self.tokenizer.tokenize(sentences)
        while chunk := list(islice(stream, batch_size * window)):
            yield from self.label_sentences(chunk, batch_size, scores)

    @torch.inference_mode()
    def label_sentences(
        self, sentences: list[Sentence], batch_size: int | None = None, scores: bool = False, max_tokens: int = MAX_BATCH_TOKENS,
        max_length: int = LONG_SENTENCE,
    ) -> list[Prediction]:
        """Label tokenized sentences in one go: sorted by length and cut into batches of at most
        ``batch_size`` sentences and ``max_tokens`` padded tokens. Predictions in input order.

        A sentence longer than ``max_length`` tokens (a whole document, say) is labelled in
        pieces split at its sentence starts (``meta["sentence_starts"]``, set by the tokenizer)
        or, lacking those, every ``LONG_SENTENCE`` tokens (:func:`tagger.core.tokenize.pieces`); the labels are joined back in order.
        The network is put in evaluation mode first (a model being trained is scored this way).
        """
        self.model.eval()
        batch_size = self._batch_size(batch_size)
        tasks = self.task_specs  # not the ``tasks`` property: it copies the names on every call
        ranges = [(index, start, end) for index, sentence in enumerate(sentences) for start, end in pieces(sentence, max_length)]
        inputs = [sentences[i] if end - start == len(sentences[i]) else sentences[i].piece(start, end) for i, start, end in ranges]
        tags: list[dict[str, list[str]]] = [{task: [] for task in tasks} for _ in sentences]
        token_scores: list[dict[str, list[float]]] = [{task: [] for task in tasks} if scores else {} for _ in sentences]
        found: dict[int, tuple[dict[str, list[str]], dict[str, list[float]]]] = {}
        for positions in sorted_batches([len(s) for s in inputs], batch_size, max_tokens):
            if self.threads is not None:
                self.threads.apply()  # cheap; looks at the CPUs again once a second at most
            batch = self.batch_encoder.encode([inputs[p] for p in positions], with_targets=False).to(self.device)
            outputs = self.model(batch, decode=True)
            ids = {task: out.ids.cpu().tolist() for task, out in outputs.items()}
            probabilities = {task: self._label_probabilities(task, out, batch.mask) for task, out in outputs.items()} if scores else {}
            for row, piece in enumerate(positions):
                length = len(inputs[piece])
                found[piece] = ({task: [self.vocab.labels[task].items[j] for j in ids[task][row][:length]] for task in tasks},
                                {task: values[row][:length] for task, values in probabilities.items()})
        for piece, (index, _, _) in enumerate(ranges):  # pieces are in input order: join them back
            piece_tags, piece_scores = found[piece]
            for task in tasks:
                tags[index][task].extend(piece_tags[task])
            for task, values in piece_scores.items():
                token_scores[index][task].extend(values)
        return [self._to_prediction(sentence, tags[i], token_scores[i]) for i, sentence in enumerate(sentences)]

    @torch.inference_mode()
    def label_distributions(self, sentences: list[Sentence], batch_size: int | None = None, tasks: Sequence[str] | None = None
                            ) -> list[dict[str, torch.Tensor]]:
        """Every token's distribution over each task's labels (softmax probabilities, CRF marginals), in the
        order of ``vocab.labels[task]``: per sentence, task -> [tokens, labels] on the CPU. Tokenized sentences in,
        whole (a teacher's soft labels for distillation: :mod:`tagger.training.distill`)."""
        self.model.eval()
        tasks = list(self.task_specs) if tasks is None else list(tasks)
        found: list[dict[str, torch.Tensor]] = [{} for _ in sentences]
        for positions in sorted_batches([len(s) for s in sentences], self._batch_size(batch_size), MAX_BATCH_TOKENS):
            if self.threads is not None:
                self.threads.apply()
            batch = self.batch_encoder.encode([sentences[p] for p in positions], with_targets=False).to(self.device)
            outputs = self.model(batch)
            for task in tasks:
                distribution = self.model.heads[task].probabilities(outputs[task].scores, batch.mask).float().cpu()
                for row, position in enumerate(positions):
                    found[position][task] = distribution[row, : len(sentences[position])].clone()
        return found

    @torch.inference_mode()
    def fill_mask(self, inputs: str | Sequence[str] | Sequence[Sequence[str]], top_k: int = 5, *, pretokenized: bool = False
                  ) -> list[FilledSentence]:
        """The ``top_k`` likeliest words for every blank.

        Args:
            inputs: text with ``[MASK]`` where words are missing (several per sentence are
                fine), a list of such texts, or token lists with ``[MASK]`` tokens.
            top_k: candidates per blank.
            pretokenized: ``inputs`` is one token list (or a list of them), as for :meth:`predict`.

        Words come as the vocabulary keeps them (lower-cased, digits as 0, for models with
        ``embeddings.lowercase``). Raises TaggerError for a model without a masked-token head.
        """
        self._require_masked_lm()
        self.model.eval()
        texts = token_lists(inputs)[0] if pretokenized else [inputs] if isinstance(inputs, str) else list(inputs)
        sentences = [Sentence(self._blank_tokens(item)) for item in texts]
        results = []
        specials = torch.tensor([self.vocab.words.ids[s] for s in SPECIALS if s in self.vocab.words])
        for sentence in sentences:
            positions = [i for i, token in enumerate(sentence.tokens) if token == MASK]
            blanks = []
            if positions:
                if self.threads is not None:
                    self.threads.apply()
                batch = self.batch_encoder.encode([sentence], with_targets=False).to(self.device)
                states = self.model.encode(batch)[0, positions]
                probabilities = self.model.masked_lm.log_probs(states).exp().cpu()
                probabilities[:, specials] = 0.0
                best = probabilities.topk(min(top_k, probabilities.shape[1] - len(specials)), dim=-1)
                for row, position in enumerate(positions):
                    words = [self.vocab.words.items[j] for j in best.indices[row].tolist()]
                    blanks.append(Blank(position, list(zip(words, best.values[row].tolist()))))
            results.append(FilledSentence(sentence.tokens, blanks))
        return results

    @torch.inference_mode()
    def masked_token_scores(self, sentences: Sequence[Sentence], masking: MaskedLMConfig, seed: int = 0,
                            batch_size: int = 64) -> dict[str, float]:
        """Accuracy and perplexity of masked-token prediction on ``sentences``, blanked with a fixed seed
        (``{}`` when none of their tokens is chosen).

        Every chosen token is scored (as in training, 80/10/10 replacement); words outside the
        vocabulary are never chosen, so the figures are over in-vocabulary words. Raises TaggerError
        for a model without a masked-token head.
        """
        self._require_masked_lm()
        self.model.eval()
        generator = torch.Generator().manual_seed(seed)
        total_nll, correct, count = 0.0, 0, 0
        for start in range(0, len(sentences), batch_size):
            masked, targets = mask_sentences(list(sentences[start : start + batch_size]), self.vocab, masking, generator)
            batch = self.batch_encoder.encode(masked, with_targets=False, masked_targets=targets).to(self.device)
            gold = batch.targets[MASKED_LM]
            chosen = gold != IGNORE
            if not bool(chosen.any()):
                continue
            log_probs = self.model.masked_lm.log_probs(self.model.encode(batch)[chosen])
            expected = gold[chosen]
            total_nll -= float(log_probs.gather(1, expected[:, None]).sum())
            correct += int((log_probs.argmax(-1) == expected).sum())
            count += int(expected.numel())
        if not count:
            return {}
        return {"accuracy": correct / count, "perplexity": math.exp(total_nll / count), "tokens": float(count)}

    def _batch_size(self, batch_size: int | None) -> int:
        """``batch_size`` as a RunOptions batch size is checked, else the one the model was loaded with."""
        return self.run.batch_size if batch_size is None else check_setting(RunOptions, "batch_size", batch_size)

    def require_tasks(self) -> None:
        """TaggerError for a model with no tagging task (a pretrained one: masked-token prediction only)."""
        if not self.task_specs:
            raise TaggerError(NO_TASKS)

    def _require_masked_lm(self) -> None:
        if not self.has_masked_lm:
            raise TaggerError("this model has no masked-token head: train it with masked_lm.weight > 0 or with tagger pretrain")

    def _blank_tokens(self, item: str | Sequence[str]) -> list[str]:
        """Tokens with ``[MASK]`` (in text or as a token) turned into the mask token."""
        if not isinstance(item, str):
            return [MASK if token == BLANK else token for token in item]
        tokens: list[str] = []
        for n, segment in enumerate(item.split(BLANK)):
            if n:
                tokens.append(MASK)
            if segment.strip():
                tokens.extend(self.tokenizer(segment).tokens)
        return tokens

    def _label_probabilities(self, task: str, output: HeadOutput, mask: torch.Tensor) -> list[list[float]]:
        """Each token's probability of the label it was given: [batch][seq]."""
        distribution = self.model.heads[task].probabilities(output.scores, mask)
        return distribution.gather(2, output.ids[..., None]).squeeze(-1).clamp(max=1.0).cpu().tolist()

    def _to_prediction(self, sentence: Sentence, tags: dict[str, list[str]], scores: dict[str, list[float]] | None = None) -> Prediction:
        spans: dict[str, list[Span]] = {}
        for task, spec in self.task_specs.items():
            if not spec.is_span:
                continue
            found = tags_to_spans(tags[task], spec.scheme)  # type: ignore[arg-type]
            tags[task] = spec.to_bio(tags[task])
            if sentence.offsets:
                found = [Span(s.start, s.end, s.label, sentence.offsets[s.start][0], sentence.offsets[s.end - 1][1]) for s in found]
            spans[task] = found
        return Prediction(sentence.tokens, tags, spans, sentence.text, sentence.offsets, sentence.meta, scores or {})


def check_not_segmenter(config: TaggerConfig, source: str) -> None:
    """TaggerError for a segmenter's own directory: it labels characters, not words."""
    if SEGMENT in config.tasks:
        raise TaggerError(f"{source} is a segmenter (it finds words in raw text), not a tagger: name it in a tagger's config "
                          "as segmenter.model, or load it with tagger.model.segmenter.Segmenter.load")


def warn_if_unfinished(tagger: Tagger, source: str) -> None:
    """Log a warning when the model's training was stopped before its end (:attr:`Tagger.finished`)."""
    training = tagger.meta.get("training", {})
    if not tagger.finished and tagger.members:
        logger.warning("%s: the training of one of its members did not finish (see tagger info on each of its member-N folders)", source)
    elif not tagger.finished:
        logger.warning("%s: its training did not finish: this is the best of the %s epochs it ran (epoch %s), with no "
                       "test scores; continue it with tagger train CONFIG -o %s --resume", source, training.get("epochs", "?"),
                       training.get("best_epoch", "?"), source)


def run_options(run: RunOptions | None, options: Mapping[str, Any]) -> RunOptions:
    """``run`` (default RunOptions()) with the fields in ``options`` replaced, checked."""
    if run is not None and not isinstance(run, RunOptions):
        raise TypeError(f"run options are a RunOptions, not {run!r}: name the field, e.g. Tagger.load(path, device={run!r})")
    unknown = sorted(set(options) - {item.name for item in dataclasses.fields(RunOptions)})
    if unknown:
        raise TypeError(f"unknown run option {unknown[0]!r}; RunOptions has {', '.join(f.name for f in dataclasses.fields(RunOptions))}")
    return dataclasses.replace(run or RunOptions(), **options) if options else run or RunOptions()


def token_lists(inputs: object) -> tuple[list[Any], bool]:
    """Pre-tokenized input (``pretokenized=True``) as a list of token lists, and whether it was one token
    list (one sentence); InputError for a string or a list that mixes tokens and token lists."""
    if isinstance(inputs, str):
        raise InputError("pretokenized=True takes a token list (or a list of them), not a string: split it into words, "
                         "or leave pretokenized out to tokenize the text")
    if inputs is None or isinstance(inputs, (bytes, bytearray, dict)) or not isinstance(inputs, Iterable):
        raise InputError(f"pretokenized=True takes a token list or a list of token lists, not {type(inputs).__name__}")
    items = list(inputs)
    if items and all(isinstance(item, str) for item in items):
        return [items], True  # one sentence's tokens
    if any(isinstance(item, str) for item in items):
        raise InputError("pretokenized=True takes one token list or a list of token lists; this list mixes strings and lists")
    return items, False


def as_sentences(inputs: object) -> list[Sentence]:
    """Raw texts or token lists -> Sentences; InputError for anything else, naming the item."""
    if inputs is None or isinstance(inputs, (bytes, bytearray, dict)) or not isinstance(inputs, Iterable):
        raise InputError(f"predict takes a string, a list of strings or a list of token lists, not {type(inputs).__name__}")
    sentences = []
    for number, item in enumerate(inputs):
        if isinstance(item, str):
            sentences.append(Sentence([], text=encodable(item, where=f"input {number}")))
        elif isinstance(item, (list, tuple)):
            for position, token in enumerate(item):
                if not isinstance(token, str):
                    raise InputError(f"input {number}, token {position}: a token is a string, not {type(token).__name__} ({token!r})")
                encodable(token, where=f"input {number}, token {position}")
                if (problem := token_problem(token)) is not None:
                    raise InputError(f"input {number}, token {position}: {problem}")
            sentences.append(Sentence(list(item)))
        else:
            raise InputError(f"input {number}: a text (string) or a token list, not {type(item).__name__}")
    return sentences

