"""Pretrained word vectors: GloVe and word2vec/fastText text, word2vec binary, compressed or not,
and spaCy's static vectors; found by path, catalogue name or ``spacy:PIPELINE``.

The format is told by the file's bytes, not its name: compression by its magic number, a
word2vec header by its first line (``count dim``), binary by what follows that header.
Only the vectors a model will use are parsed as numbers (``wanted`` words and the ``top``
first ones); the others are still checked for their number of values.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import time
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from tagger.core.errors import DataFormatError, TaggerError
from tagger.core.vocab import word_key

SPACY_PREFIX = "spacy:"
_MAGIC = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
_CHUNK = 20_000  # kept lines parsed together


@dataclass
class WordVectors:
    """The vectors read from one source, in its order (most frequent first for the usual files)."""

    words: list[str]
    matrix: np.ndarray  # [len(words), dim] float32
    source: str
    total: int  # vectors in the source, kept or not
    seconds: float = 0.0
    _exact: dict[str, int] = field(default_factory=dict, repr=False)
    _folded: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for row, word in enumerate(self.words):
            self._exact.setdefault(word, row)  # the first of duplicates wins, as it is the most frequent
            self._folded.setdefault(word_key(word, True), row)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def find(self, word: str) -> int | None:
        """The row of ``word``: its exact key first, then its lower-cased, digit-folded key
        (exactly, else the first vector whose own key folds to it: "Apple" for "APPLE" when
        there is no "apple")."""
        row = self._exact.get(word)
        if row is None:
            folded = word_key(word, True)
            row = self._exact.get(folded)
            if row is None:
                row = self._folded.get(folded)
        return row


def read_vectors(source: str, wanted: Collection[str] = (), top: int | None = None) -> WordVectors:
    """Read vectors from a file path, a catalogue name (``glove-6b-100d``) or ``spacy:NAME_OR_PATH``.

    Args:
        wanted: words whose vectors to keep wherever they are (matched exactly or folded).
        top: keep the first ``top`` vectors too; None keeps every vector.
    """
    started = time.perf_counter()
    if source.startswith(SPACY_PREFIX):
        vectors = _read_spacy(source[len(SPACY_PREFIX):], source)
    else:
        path = _locate(source)
        if path.is_dir():
            vectors = _read_spacy(str(path), source)
        else:
            vectors = _read_file(path, _Selection(wanted, top))
    vectors.seconds = time.perf_counter() - started
    return vectors


def _locate(source: str) -> Path:
    path = Path(source).expanduser()
    if path.exists():
        return path
    from tagger.data.catalogue import CorpusError, resolve_vectors, vectors_catalogue

    if source in vectors_catalogue():
        try:
            return resolve_vectors(source)
        except CorpusError as error:
            raise TaggerError(str(error)) from None
    raise DataFormatError(source, None, "no such vectors file or directory, and no such name in the vectors catalogue "
                          f"({', '.join(vectors_catalogue())}); for a spaCy pipeline write spacy:NAME")


class _Selection:
    """Which vectors to parse: the first ``top`` and those of ``wanted`` words (exact or folded)."""

    def __init__(self, wanted: Collection[str], top: int | None) -> None:
        self.top = top
        self.exact = set(wanted)
        self.folded = {word_key(w, True) for w in wanted}

    def keeps(self, rank: int, word: str) -> bool:
        return self.top is None or rank < self.top or word in self.exact or word_key(word, True) in self.folded


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as handle:
        head = handle.read(6)
    if head.startswith(b"PK\x03\x04"):
        raise DataFormatError(path, None, "a zip archive: take the vectors file out of it first "
                              "(catalogue names do that for their own downloads)")
    for magic, opener in _MAGIC.items():
        if head.startswith(magic):
            return opener(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _read_file(path: Path, selection: _Selection) -> WordVectors:
    try:
        with _open(path) as handle:
            first = handle.readline().removeprefix(b"\xef\xbb\xbf")
            if not first:
                raise DataFormatError(path, None, "no vectors: the file is empty")
            header = _header(first)
            if header is not None and _looks_binary(handle.peek(1 << 16), header[1]):
                return _read_binary(path, handle, header, len(first), selection)
            lines = _numbered(handle, first, header is not None)
            return _read_text(path, lines, header, selection)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:  # a damaged archive
        raise DataFormatError(path, None, f"cannot be read: {error}") from None


def _header(line: bytes) -> tuple[int, int] | None:
    fields = line.split()
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[0]), int(fields[1])
    return None


def _looks_binary(sample: bytes, dim: int) -> bool:
    """Whether word2vec binary (raw float32s) follows the header, rather than lines of text.

    Told by structure: a text line is a word and ``dim`` numbers. Only when the sample holds no
    whole line, by its bytes: raw floats soon give control bytes or invalid UTF-8.
    """
    line, newline, _ = sample.partition(b"\n")
    if newline:
        fields = line.split()
        numbers = [_is_number(f) for f in fields]
        # a word and numbers, however many (a wrong count is then reported as such), or a word with spaces
        return not (len(fields) > 1 and (all(numbers[1:]) or (len(fields) > dim and all(numbers[-dim:]))))
    if any(byte < 0x20 and byte not in b"\t\r" for byte in sample):
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start < len(sample) - 4  # not just a character cut by the sample's end
    return False


def _numbered(handle: IO[bytes], first: bytes, skip_first: bool) -> Iterator[tuple[int, bytes]]:
    if not skip_first:
        yield 1, first
    for number, line in enumerate(handle, start=2):
        yield number, line


def _read_text(path: Path, lines: Iterator[tuple[int, bytes]], header: tuple[int, int] | None,
               selection: _Selection) -> WordVectors:
    words: list[str] = []
    blocks: list[np.ndarray] = []
    pending: list[tuple[int, bytes]] = []
    dim, dim_line = (header[1], 0) if header else (0, 0)  # dim_line 0: the header set it
    rank = 0
    blank = 0  # a blank line, an error unless only blank lines follow it
    for number, raw in lines:
        body = raw.rstrip()  # the newline, CR, and fastText's trailing space
        if not body:
            blank = blank or number
            continue
        if blank:
            raise DataFormatError(path, blank, "an empty line; expected a word and its vector")
        if b"\t" in body:
            body = b" ".join(body.split())  # tab-separated: one space apart, as usual
        if not dim:
            dim, dim_line = len(body.split()) - 1, number
            if not dim:
                raise DataFormatError(path, number, "expected a word followed by its vector, separated by spaces")
        word, values = _split(path, number, body, dim, dim_line)
        if selection.keeps(rank, word):
            words.append(word)
            pending.append((number, values))
            if len(pending) == _CHUNK:
                blocks.append(_parse(path, pending, dim))
                pending = []
        rank += 1
    if pending:
        blocks.append(_parse(path, pending, dim))
    if not rank:
        raise DataFormatError(path, None, "no vectors: the file is empty" + (" after its header" if header else ""))
    if header and header[0] != rank:
        raise DataFormatError(path, 1, f"the header announces {header[0]} vectors, the file has {rank}")
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
    return WordVectors(words, matrix, str(path), rank)


def _split(path: Path, number: int, body: bytes, dim: int, dim_line: int) -> tuple[str, bytes]:
    """A line's word and its ``dim`` values (one space apart)."""
    word, _, values = body.partition(b" ")
    if values.count(b" ") + 1 != dim or b"  " in values:
        fields = body.split()
        if len(fields) > dim + 1 and not _is_number(fields[-dim - 1]):  # a word with spaces (GloVe 840B has some)
            fields = [b" ".join(fields[:-dim]), *fields[-dim:]]
        if len(fields) - 1 != dim:
            where = f"as on line {dim_line}" if dim_line else "as the header says"
            raise DataFormatError(path, number, f"{len(fields) - 1} values, but the vectors have {dim} ({where})")
        word, values = fields[0], b" ".join(fields[1:])
    try:
        return word.decode("utf-8"), values
    except UnicodeDecodeError as error:
        raise DataFormatError(path, number, f"the word is not valid UTF-8 (byte {error.start})") from None


def _is_number(text: bytes) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return b"_" not in text  # Python reads 1_000; vector files never mean it


def _parse(path: Path, lines: list[tuple[int, bytes]], dim: int) -> np.ndarray:
    """Parse the values of many lines at once (Arrow's CSV reader: C speed, no Python float per value)."""
    import pyarrow as pa
    import pyarrow.csv as csv

    names = [str(i) for i in range(dim)]
    try:
        table = csv.read_csv(
            io.BytesIO(b"\n".join(values for _, values in lines)),
            read_options=csv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 26),
            parse_options=csv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False, newlines_in_values=False),
            convert_options=csv.ConvertOptions(column_types=dict.fromkeys(names, pa.float32()), strings_can_be_null=False,
                                               quoted_strings_can_be_null=False, null_values=[]),
        )
    except (pa.ArrowInvalid, ValueError) as error:
        for number, values in lines:  # find the culprit, once, the slow way
            for position, value in enumerate(values.split(b" "), start=1):
                if not _is_number(value):
                    raise DataFormatError(path, number, f"value {position} ({value[:20].decode('utf-8', 'replace')!r}) is not a number") from None
        raise DataFormatError(path, lines[0][0], f"the values from here on cannot be read as numbers: {error}") from None
    block = np.column_stack([column.to_numpy() for column in table.columns]).astype(np.float32, copy=False)
    _check_finite(path, block, [number for number, _ in lines])
    return block


def _check_finite(path: Path, block: np.ndarray, numbers: list[int] | None = None, offsets: list[int] | None = None) -> None:
    """nan and inf (or 1e400, which overflows) would turn the first loss they touch into nan."""
    finite = np.isfinite(block).all(axis=1)
    if finite.all():
        return
    row = int(np.argmin(finite))
    column = int(np.argmin(np.isfinite(block[row])))
    message = f"value {column + 1} ({block[row, column]}) is not a finite number"
    if numbers is not None:
        raise DataFormatError(path, numbers[row], message)
    raise DataFormatError(path, None, f"byte {offsets[row] if offsets else '?'}: vector {row + 1}: {message}")


def _read_binary(path: Path, handle: IO[bytes], header: tuple[int, int], offset: int, selection: _Selection) -> WordVectors:
    """word2vec's binary format: after the header, per vector a word, a space and ``dim`` float32s.

    Words that are not valid UTF-8 (the C tool cuts long words by bytes, through a character)
    are read with the replacement character, as nothing else in them is wrong.
    """
    count, dim = header
    data = handle.read()
    width = 4 * dim
    words: list[str] = []
    starts: list[int] = []  # where each kept vector's values begin
    offsets: list[int] = []  # where each kept vector's record begins, for messages
    position = 0
    for rank in range(count):
        end = data.find(b" ", position, position + 4096)
        if end < 0 or end + 1 + width > len(data):
            raise DataFormatError(path, None, f"byte {offset + position}: the file ends inside vector {rank + 1} of the "
                                  f"{count} its header announces (cut short?)")
        word = data[position:end].lstrip(b"\n").decode("utf-8", errors="replace")
        if selection.keeps(rank, word):
            words.append(word)
            starts.append(end + 1)
            offsets.append(offset + position)
        position = end + 1 + width
    if data[position:].strip():
        raise DataFormatError(path, None, f"byte {offset + position}: data after the {count} vectors its header announces")
    matrix = np.empty((len(starts), dim), dtype=np.float32)
    for row, start in enumerate(starts):
        matrix[row] = np.frombuffer(data, dtype="<f4", count=dim, offset=start)
    _check_finite(path, matrix, offsets=offsets)
    return WordVectors(words, matrix, str(path), count)


def _read_spacy(name: str, source: str) -> WordVectors:
    """Static vectors of an installed spaCy package, a pipeline directory or a vocab directory."""
    import spacy
    from spacy.vocab import Vocab as SpacyVocab

    path = Path(name)
    try:
        if path.is_dir() and (path / "strings.json").is_file() and not (path / "config.cfg").is_file():
            vocab = SpacyVocab().from_disk(path)
        else:
            vocab = spacy.load(name, exclude=_pipeline_names(name)).vocab
    except OSError as error:
        raise DataFormatError(source, None, f"not a spaCy pipeline or vocab directory: {error}") from None
    vectors = vocab.vectors
    if vectors.mode != "default":
        raise DataFormatError(source, None, f"spaCy {vectors.mode} vectors (hashed subwords) have no word list to read; "
                              "use a pipeline with a vectors table, such as en_core_web_lg")
    rows = sorted((row, vocab.strings[key]) for key, row in vectors.key2row.items() if key in vocab.strings)
    if not rows:
        raise DataFormatError(source, None, "the spaCy pipeline has no word vectors")
    table = vectors.data  # numpy, or cupy on a GPU
    matrix = np.asarray(table.get() if hasattr(table, "get") else table, dtype=np.float32)
    return WordVectors([word for _, word in rows], matrix[[row for row, _ in rows]], source, len(rows))


def _pipeline_names(name: str) -> list[str]:
    """Every component of a pipeline, so that only its vocabulary (and vectors) is loaded."""
    import spacy

    try:
        path = Path(name) if Path(name).is_dir() else spacy.util.get_package_path(name)
        config_file = path / "config.cfg"
        if not config_file.is_file():  # an installed package keeps its data one folder down
            config_file = next(p / "config.cfg" for p in path.iterdir() if (p / "config.cfg").is_file())
        return list(spacy.util.load_config(config_file)["nlp"]["pipeline"])
    except Exception:  # unknown here: spacy.load says why
        return []
