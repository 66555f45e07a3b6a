"""Tag schemes: detection, span decoding/encoding, conversion and allowed transitions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.core.schemes import (
    SchemeError,
    allowed_transition,
    convert,
    detect_scheme,
    is_span_tagset,
    normalize_scheme,
    span_labels,
    spans_to_tags,
    split_tag,
    tags_to_spans,
)
from tagger.core.types import Span

LABELS = ["PER", "LOC", "ORG"]
SETTINGS = settings(max_examples=100, deadline=None)


# --------------------------------------------------------------------------- strategies

@st.composite
def spans_and_length(draw):
    """Sorted non-overlapping spans (adjacent ones allowed, same label too) and a sentence length."""
    length = draw(st.integers(0, 12))
    spans, position = [], 0
    while position < length:
        position += draw(st.integers(0, 2))
        if position >= length:
            break
        size = draw(st.integers(1, min(4, length - position)))
        spans.append(Span(position, position + size, draw(st.sampled_from(LABELS))))
        position += size
    return spans, length


@st.composite
def valid_bio(draw):
    """A BIO sequence built token by token: I-X only right after B-X or I-X."""
    tags: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        options = ["O"] + [f"B-{label}" for label in LABELS]
        if tags and tags[-1] != "O":
            options.append("I-" + tags[-1][2:])
        tags.append(draw(st.sampled_from(options)))
    return tags


@st.composite
def valid_iob1(draw):
    """An IOB1 sequence: spans open with I-X; B-X only right after a token of an X span."""
    tags: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        options = ["O"] + [f"I-{label}" for label in LABELS]
        if tags and tags[-1] != "O":
            options.append("B-" + tags[-1][2:])
        tags.append(draw(st.sampled_from(options)))
    return tags


any_bio_tags = st.lists(st.sampled_from(["O"] + [f"{p}-{label}" for p in "BI" for label in LABELS]), max_size=12)


# --------------------------------------------------------------------------- split_tag and friends

@pytest.mark.parametrize("tag,expected", [
    ("O", ("O", "")),
    ("B-PER", ("B", "PER")),
    ("I-LOC", ("I", "LOC")),
    ("E-ORG", ("E", "ORG")),
    ("S-MISC", ("S", "MISC")),
    ("L-PER", ("E", "PER")),  # BILOU read as BIOES
    ("U-PER", ("S", "PER")),
    ("B-WORK_OF-ART", ("B", "WORK_OF-ART")),
])
def test_split_tag(tag, expected):
    assert split_tag(tag) == expected


@pytest.mark.parametrize("tag", ["", "PER", "B-", "X-PER", "o", "B_PER", "-PER", "BPER"])
def test_split_tag_rejects(tag):
    with pytest.raises(ValueError, match="not a span tag"):
        split_tag(tag)


def test_is_span_tagset_and_span_labels():
    assert is_span_tagset(["O", "B-PER", "I-PER"])
    assert not is_span_tagset(["O"])
    assert not is_span_tagset(["NOUN", "B-PER"])
    assert span_labels(["O", "B-PER", "I-PER", "S-LOC", "B-ORG"]) == ["LOC", "ORG", "PER"]


@pytest.mark.parametrize("name,expected", [("bio", "BIO"), ("IOB2", "BIO"), ("iobes", "BIOES"),
                                           ("BILOU", "BIOES"), ("iob1", "IOB1"), ("BIOES", "BIOES")])
def test_normalize_scheme(name, expected):
    assert normalize_scheme(name) == expected


def test_normalize_scheme_unknown():
    with pytest.raises(ValueError, match="unknown tag scheme"):
        normalize_scheme("BMEWO")


# --------------------------------------------------------------------------- detect_scheme

def test_detect_bio():
    assert detect_scheme([["B-PER", "I-PER", "O"], ["O", "B-LOC", "B-LOC"], []]) == "BIO"


def test_detect_iob1():
    assert detect_scheme([["I-PER", "I-PER", "O"], ["O", "I-LOC", "I-LOC", "B-LOC"]]) == "IOB1"


def test_detect_iob1_when_inside_follows_other_label():
    assert detect_scheme([["I-PER", "I-LOC"]]) == "IOB1"


def test_detect_bio_with_stray_inside_tags():
    # B- opening a span after O is never IOB1: the stray I-LOC is an error in BIO data.
    assert detect_scheme([["B-PER", "I-PER", "O"], ["O", "I-LOC"]]) == "BIO"


@pytest.mark.parametrize("tags", [["B-PER", "E-PER"], ["S-LOC"], ["I-PER", "U-PER"], ["B-PER", "L-PER"]])
def test_detect_bioes(tags):
    assert detect_scheme([["O", "B-ORG"], tags]) == "BIOES"


def test_detect_scheme_of_no_tags_is_bio():
    assert detect_scheme([]) == "BIO"
    assert detect_scheme([["O", "O"]]) == "BIO"


def test_detect_scheme_rejects_non_span_tags():
    with pytest.raises(ValueError):
        detect_scheme([["NOUN", "VERB"]])


def test_detect_scheme_accepts_a_generator():
    assert detect_scheme(t for t in [["O"], ["S-PER"]]) == "BIOES"


# --------------------------------------------------------------------------- tags_to_spans / spans_to_tags

def test_tags_to_spans_bio():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
    assert tags_to_spans(tags, "BIO") == [Span(0, 2, "PER"), Span(3, 4, "LOC"), Span(4, 6, "LOC"), Span(7, 8, "ORG")]


def test_tags_to_spans_bio_label_change_inside():
    assert tags_to_spans(["B-PER", "I-LOC"], "BIO") == [Span(0, 1, "PER"), Span(1, 2, "LOC")]


def test_tags_to_spans_iob1():
    tags = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert tags_to_spans(tags, "IOB1") == [Span(0, 2, "PER"), Span(2, 3, "PER"), Span(4, 5, "LOC"), Span(5, 6, "ORG")]


def test_tags_to_spans_bioes():
    tags = ["B-PER", "I-PER", "E-PER", "S-LOC", "S-LOC", "O", "B-ORG", "E-ORG"]
    assert tags_to_spans(tags, "BIOES") == [Span(0, 3, "PER"), Span(3, 4, "LOC"), Span(4, 5, "LOC"), Span(6, 8, "ORG")]


def test_tags_to_spans_lenient_repairs_stray_inside():
    assert tags_to_spans(["O", "I-PER", "I-PER", "O"], "BIO") == [Span(1, 3, "PER")]
    assert tags_to_spans(["O", "I-PER", "E-PER"], "BIOES") == [Span(1, 3, "PER")]


def test_tags_to_spans_strict_rejects_stray_inside():
    with pytest.raises(SchemeError) as info:
        tags_to_spans(["O", "B-PER", "O", "I-PER"], "BIO", strict=True)
    assert info.value.index == 3
    with pytest.raises(SchemeError) as info:
        tags_to_spans(["B-PER", "E-LOC"], "BIOES", strict=True)
    assert info.value.index == 1


def test_tags_to_spans_rejects_bioes_prefix_in_bio():
    with pytest.raises(SchemeError) as info:
        tags_to_spans(["O", "S-PER"], "BIO")
    assert info.value.index == 1


def test_tags_to_spans_bad_tag_names_index():
    with pytest.raises(SchemeError) as info:
        tags_to_spans(["O", "O", "NOUN"], "BIO")
    assert info.value.index == 2
    assert isinstance(info.value, ValueError)


def test_spans_to_tags_each_scheme():
    spans = [Span(0, 2, "PER"), Span(2, 3, "PER"), Span(4, 5, "LOC")]
    assert spans_to_tags(spans, 6, "BIO") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "O"]
    assert spans_to_tags(spans, 6, "BIOES") == ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "O"]
    assert spans_to_tags(spans, 6, "IOB1") == ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "O"]


def test_spans_to_tags_unsorted_input():
    spans = [Span(3, 4, "LOC"), Span(0, 1, "PER")]
    assert spans_to_tags(spans, 4, "BIO") == ["B-PER", "O", "O", "B-LOC"]


def test_convert_examples():
    assert convert(["B-PER", "I-PER", "O", "B-LOC"], "BIO", "BIOES") == ["B-PER", "E-PER", "O", "S-LOC"]
    assert convert(["I-ORG", "O", "I-MISC", "B-MISC"], "IOB1", "BIO") == ["B-ORG", "O", "B-MISC", "B-MISC"]
    assert convert(["S-PER", "B-LOC", "E-LOC"], "BIOES", "IOB1") == ["I-PER", "I-LOC", "I-LOC"]
    assert convert(["O", "I-PER"], "BIO", "BIO") == ["O", "B-PER"]  # repaired when lenient
    with pytest.raises(SchemeError):
        convert(["O", "I-PER"], "BIO", "BIOES", strict=True)


# --------------------------------------------------------------------------- properties

@SETTINGS
@given(spans_and_length(), st.sampled_from(["BIO", "BIOES", "IOB1"]))
def test_spans_tags_spans_round_trip(case, scheme):
    spans, length = case
    tags = spans_to_tags(spans, length, scheme)
    assert len(tags) == length
    assert tags_to_spans(tags, scheme) == spans
    assert tags_to_spans(tags, scheme, strict=True) == spans


@SETTINGS
@given(spans_and_length(), st.sampled_from(["BIO", "BIOES", "IOB1"]))
def test_encoded_tags_only_make_allowed_moves(case, scheme):
    spans, length = case
    tags = spans_to_tags(spans, length, scheme)
    path = ["", *tags, ""]
    for previous, current in zip(path, path[1:]):
        assert allowed_transition(previous, current, scheme), (previous, current, tags)


@SETTINGS
@given(valid_bio())
def test_bio_bioes_bio_is_identity(tags):
    bioes = convert(tags, "BIO", "BIOES", strict=True)
    assert len(bioes) == len(tags)
    assert detect_scheme([bioes]) in ("BIOES", "BIO")  # BIO only when there is no span at all
    assert convert(bioes, "BIOES", "BIO", strict=True) == tags


@SETTINGS
@given(valid_iob1())
def test_iob1_bio_iob1_is_identity(tags):
    bio = convert(tags, "IOB1", "BIO")
    assert all(not t.startswith("I-") or i > 0 and bio[i - 1][2:] == t[2:] and bio[i - 1] != "O"
               for i, t in enumerate(bio))
    assert convert(bio, "BIO", "IOB1") == tags


@SETTINGS
@given(any_bio_tags, st.sampled_from(["BIO", "BIOES"]))
def test_lenient_conversion_always_gives_a_valid_sequence(tags, target):
    out = convert(tags, "BIO", target)
    path = ["", *out, ""]
    assert all(allowed_transition(a, b, target) for a, b in zip(path, path[1:]))
    # Every non-O input token stays inside some span; O stays O.
    assert [t == "O" for t in out] == [t == "O" for t in tags]


@SETTINGS
@given(valid_bio())
def test_valid_bio_is_detected_as_bio(tags):
    assert detect_scheme([tags]) == "BIO"


# --------------------------------------------------------------------------- allowed_transition

@pytest.mark.parametrize("previous,current,scheme", [
    ("O", "I-PER", "BIO"),
    ("B-PER", "I-LOC", "BIO"),
    ("", "I-PER", "BIO"),
    ("B-PER", "O", "BIOES"),
    ("", "I-PER", "BIOES"),
    ("", "E-PER", "BIOES"),
    ("B-PER", "", "BIOES"),
    ("I-PER", "", "BIOES"),
    ("I-PER", "B-LOC", "BIOES"),
    ("E-PER", "I-PER", "BIOES"),
    ("S-PER", "E-PER", "BIOES"),
    ("B-PER", "E-LOC", "BIOES"),
    ("O", "B-PER", "IOB1"),
    ("I-LOC", "B-PER", "IOB1"),
    ("", "B-PER", "IOB1"),
])
def test_forbidden_moves(previous, current, scheme):
    assert not allowed_transition(previous, current, scheme)


@pytest.mark.parametrize("previous,current,scheme", [
    ("", "B-PER", "BIO"),
    ("B-PER", "I-PER", "BIO"),
    ("I-PER", "B-LOC", "BIO"),
    ("I-PER", "", "BIO"),
    ("B-PER", "E-PER", "BIOES"),
    ("E-PER", "S-LOC", "BIOES"),
    ("S-PER", "", "BIOES"),
    ("", "O", "BIOES"),
    ("", "I-PER", "IOB1"),
    ("I-PER", "B-PER", "IOB1"),
    ("I-PER", "I-LOC", "IOB1"),
])
def test_allowed_moves(previous, current, scheme):
    assert allowed_transition(previous, current, scheme)
