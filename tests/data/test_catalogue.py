"""The corpus and vectors catalogues: every UD treebank, every Universal NER dataset and fastText's Common
Crawl vectors by name; pinned addresses, licenses and UNER commits recorded at download. Never the network:
downloads are served by a fake ``urlopen``."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.core.config import SourceConfig
from tagger.data import catalogue
from tagger.data.sources import read_source

RAW = "https://raw.githubusercontent.com"
CONLLU = "# sent_id = s1\n1\tHello\thello\tINTJ\tUH\t_\t0\troot\t_\t_\n2\t!\t!\tPUNCT\t.\t_\t1\tpunct\t_\t_\n\n"
IOB2 = "# sent_id = s1\n1\tAnna\tB-PER\t-\tx\n2\tvisits\tO\t-\tx\n3\tLegoland\tB-OTH\t-\tx\n4\tpark\tI-OTH\t-\tx\n5\ttoday\tB-O\t-\tx\n\n"
HU_README = ("# Summary\n\nThe Hungarian UD treebank.\n\n"
             "=== Machine-readable metadata (DO NOT REMOVE!) ===\nData available since: UD v1.0\nLicense: CC BY-NC-SA 3.0\n"
             "Includes text: yes\n===\n")
SHA = "0123456789abcdef0123456789abcdef01234567"
OTHER_SHA = "fedcba9876543210fedcba9876543210fedcba98"


class FakeWeb:
    """``urlopen`` serving ``pages`` (address -> bytes); any other address is a 404. ``asked`` lists the addresses."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        self.asked: list[str] = []

    def __call__(self, url: str, timeout: float | None = None) -> io.BytesIO:
        self.asked.append(url)
        if url not in self.pages:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]
        return io.BytesIO(self.pages[url])


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeWeb:
    """No data folder, an empty cache under tmp_path/cache, and a fake web."""
    fake = FakeWeb()
    monkeypatch.delenv(catalogue.DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(urllib.request, "urlopen", fake)
    return fake


def cache(name: str, tmp_path: Path) -> Path:
    return tmp_path / "cache" / "birnn-tagger" / "corpora" / name


def data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> Path:
    """A $BIRNN_TAGGER_DATA folder holding ``files`` (relative path -> text)."""
    root = tmp_path / "data"
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    monkeypatch.setenv(catalogue.DATA_ENV, str(root))
    return root


# --------------------------------------------------------------------------- names and addresses

@pytest.mark.parametrize(("name", "split", "address", "lang"), [
    ("ud-vi-vtb", "train", "UniversalDependencies/UD_Vietnamese-VTB/r2.16/vi_vtb-ud-train.conllu", "vi"),
    ("ud-zh-gsdsimp", "dev", "UniversalDependencies/UD_Chinese-GSDSimp/r2.16/zh_gsdsimp-ud-dev.conllu", "zh"),
    ("ud-grc-proiel", "test", "UniversalDependencies/UD_Ancient_Greek-PROIEL/r2.16/grc_proiel-ud-test.conllu", "grc"),
    ("ud-fr-gsd", "train", "UniversalDependencies/UD_French-GSD/r2.16/fr_gsd-ud-train.conllu", "fr"),
    ("ud-en-ewt", "train", "UniversalDependencies/UD_English-EWT/r2.16/en_ewt-ud-train.conllu", "en"),
    ("ud-no-bokmaal", "dev", "UniversalDependencies/UD_Norwegian-Bokmaal/r2.16/no_bokmaal-ud-dev.conllu", "nb"),
    ("uner-zh-gsdsimp", "train",
     "UniversalNER/UNER_Chinese-GSDSIMP/1f0307599dece7b83f4cba90ce9b63ef37a7b162/zh_gsdsimp-ud-train.iob2", "zh"),
    ("uner-da-ddt", "dev", "UniversalNER/UNER_Danish-DDT/983c4cdc09f8ece6069d2b692b60dc4b3649ec6e/da_ddt-ud-dev.iob2", "da"),
    ("uner-pt-bosque", "test", "UniversalNER/UNER_Portuguese-Bosque/f2c2ad67aed900385fbe5d655af41f439c9b3333/pt_bosque-ud-test.iob2", "pt"),
    ("uner-sv-talbanken", "train",
     "UniversalNER/UNER_Swedish-Talbanken/dbb692085267da83a35d1e1d2c111671b3c7c46b/sv_talbanken-ud-train.iob2", "sv"),
])
def test_names_resolve_to_their_pinned_addresses(name: str, split: str, address: str, lang: str, web: FakeWeb, tmp_path: Path) -> None:
    entry = catalogue.entry(name)
    assert entry.download[split] == f"{RAW}/{address}" and entry.lang == lang
    assert catalogue.is_reference(f"{name}:{split}")
    web.pages[f"{RAW}/{address}"] = (CONLLU if entry.family == "ud" else IOB2).encode()
    path, resolved = catalogue.resolve(f"{name}:{split}")
    assert web.asked[0] == f"{RAW}/{address}"  # the data first, then the files that say its license
    assert path == cache(name, tmp_path) / Path(address).name and path.read_bytes() == web.pages[f"{RAW}/{address}"]
    assert not [url for url in web.asked if "api.github.com" in url]  # pinned: no question about a branch


def test_the_families_cover_ud_and_every_uner_dataset() -> None:
    entries = catalogue.catalogue()
    ud = {n: e for n, e in entries.items() if e.family == "ud"}
    uner = {n: e for n, e in entries.items() if e.family == "uner"}
    assert len(ud) > 350 and all(e.format == "conllu" and e.tasks == ("upos", "xpos") for e in ud.values())
    assert all(e.download[split].split("/")[5] == catalogue.UD_RELEASE for e in ud.values() for split in e.files)
    assert set(uner) == {f"uner-{short}" for short in (
        "ceb-gja", "zh-gsd", "zh-gsdsimp", "zh-pud", "hr-set", "da-ddt", "en-ewt", "en-pud", "de-pud", "pt-bosque", "pt-pud",
        "ru-pud", "sr-set", "sk-snk", "sv-pud", "sv-talbanken", "tl-trg", "tl-ugnayan", "qaf-arabizi")}
    assert all(e.format == "iob2" and e.columns == {"ner": 2} and e.token_column == 1 and e.license == "CC BY-SA 4.0"
               for e in uner.values())
    assert set(uner["uner-ceb-gja"].files) == {"test"} and set(uner["uner-hr-set"].files) == {"train", "dev", "test"}
    assert (uner["uner-hr-set"].branch, uner["uner-hr-set"].revision, uner["uner-en-ewt"].branch) == ("main", "", "master")
    assert set(entries["ud-en-pud"].files) == {"test"}  # the Parallel UD treebanks are test sets
    assert entries["sample"].lang == entries["conll2003"].lang == "en" and not entries["sample"].family


def test_the_catalogue_imports_without_torch_or_spacy() -> None:
    code = ("import sys; from tagger.data import catalogue; catalogue.catalogue(); catalogue.vectors_catalogue(); "
            "print(sorted(m for m in ('torch', 'spacy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- local files

def test_a_family_name_the_table_lacks_is_read_from_local_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: FakeWeb) -> None:
    root = data_folder(tmp_path, monkeypatch, {"ud-xx-newbank/xx_newbank-ud-train.conllu": CONLLU,
                                               "uner-xx-newbank/xx_newbank-ud-test.iob2": IOB2})
    assert "ud-xx-newbank" not in catalogue.catalogue() and catalogue.is_reference("ud-xx-newbank:train")
    path, entry = catalogue.resolve("ud-xx-newbank:train")
    assert path == root / "ud-xx-newbank" / "xx_newbank-ud-train.conllu" and (entry.lang, entry.format) == ("xx", "conllu")
    [sentence] = read_source(SourceConfig(path="ud-xx-newbank:train"))
    assert sentence.tags == {"upos": ["INTJ", "PUNCT"], "xpos": ["UH", "."]}
    [sentence] = read_source(SourceConfig(path="uner-xx-newbank:test"))  # columns of the family: token 1, ner 2
    assert sentence.tokens[0] == "Anna" and sentence.tags["ner"][0] == "B-PER"
    with pytest.raises(catalogue.CorpusError) as info:
        catalogue.resolve("ud-xx-newbank:dev")
    message = str(info.value)
    assert "not in the catalogue's table" in message and "xx_newbank-ud-dev.conllu" in message and catalogue.DATA_ENV in message
    assert web.asked == []  # nothing to download it from
    assert "ud-xx-newbank" in [e.name for e in catalogue.entries("newbank")]  # listed since its folder is here


def test_the_license_is_read_from_a_local_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: FakeWeb) -> None:
    data_folder(tmp_path, monkeypatch, {
        "ud-hu-szeged/hu_szeged-ud-dev.conllu": CONLLU, "ud-hu-szeged/README.md": HU_README,
        "ud-hu-szeged/LICENSE.txt": "Creative Commons BY-NC-SA 3.0\n",
        "ud-af-afribooms/af_afribooms-ud-test.conllu": CONLLU,
        "ud-af-afribooms/LICENSE.txt": "The treebank is licensed under the Creative Commons License Attribution-ShareAlike 4.0 International.\n",
    })
    _, entry = catalogue.resolve("ud-hu-szeged:dev", download=False)
    assert entry.license == catalogue.entry("ud-hu-szeged").license == "CC BY-NC-SA 3.0"  # the README's metadata
    _, entry = catalogue.resolve("ud-af-afribooms:test", download=False)
    assert entry.license == "CC BY-SA 4.0"  # no README: LICENSE.txt's words
    assert catalogue.entry("ud-fr-gsd").license == catalogue.UD_LICENSE  # not here: not known yet


# --------------------------------------------------------------------------- downloads

@pytest.mark.parametrize("readme", ["README.md", "README.txt"])
def test_a_ud_download_records_the_license(readme: str, web: FakeWeb, tmp_path: Path) -> None:
    base = f"{RAW}/UniversalDependencies/UD_Hungarian-Szeged/r2.16"
    web.pages[f"{base}/hu_szeged-ud-train.conllu"] = CONLLU.encode()
    web.pages[f"{base}/LICENSE.txt"] = b"Creative Commons BY-NC-SA 3.0\n"
    web.pages[f"{base}/{readme}"] = HU_README.replace("3.0", "3.0 (research use)").encode()
    assert catalogue.entry("ud-hu-szeged").license == catalogue.UD_LICENSE
    path, entry = catalogue.resolve("ud-hu-szeged:train")
    folder = cache("ud-hu-szeged", tmp_path)
    assert path == folder / "hu_szeged-ud-train.conllu"
    assert (folder / "LICENSE.txt").read_bytes() == web.pages[f"{base}/LICENSE.txt"] and (folder / readme).is_file()
    assert entry.license == catalogue.entry("ud-hu-szeged").license == "CC BY-NC-SA 3.0 (research use)"
    [listed] = catalogue.entries("ud-hu-szeged")
    assert listed.license == "CC BY-NC-SA 3.0 (research use)" and catalogue.locate(listed, "train") == ("cached", str(path))
    assert catalogue.locate(listed, "dev") == ("downloadable", f"{base}/hu_szeged-ud-dev.conllu")


def test_a_split_the_treebank_lacks_is_a_clear_error(web: FakeWeb, tmp_path: Path) -> None:
    with pytest.raises(catalogue.CorpusError, match=r"'ud-sq-tsa' has no train split at r2\.16: .*UD_Albanian-TSA/r2\.16/sq_tsa-ud-train\.conllu"):
        catalogue.resolve("ud-sq-tsa:train")  # 404: a test-only treebank
    assert not cache("ud-sq-tsa", tmp_path).exists() or not list(cache("ud-sq-tsa", tmp_path).iterdir())  # no half file
    with pytest.raises(catalogue.CorpusError, match=r"corpus 'ud-en-pud' has no split 'train'; it has: test"):
        catalogue.resolve("ud-en-pud:train")
    with pytest.raises(catalogue.CorpusError, match=r"corpus 'uner-tl-trg' has no split 'dev'; it has: test"):
        catalogue.resolve("uner-tl-trg:dev")
    assert len(web.asked) == 1


def test_an_unpinned_uner_dataset_keeps_the_commit_of_its_first_download(web: FakeWeb, tmp_path: Path) -> None:
    api = "https://api.github.com/repos/UniversalNER/UNER_English-EWT/commits/master"
    web.pages[api] = json.dumps({"sha": SHA, "commit": {"committer": {"date": "2024-08-02T10:11:12Z"}}}).encode()
    for split in ("dev", "test"):
        web.pages[f"{RAW}/UniversalNER/UNER_English-EWT/{SHA}/en_ewt-ud-{split}.iob2"] = IOB2.encode()
    web.pages[f"{RAW}/UniversalNER/UNER_English-EWT/{SHA}/LICENSE.txt"] = b"Attribution-ShareAlike 4.0 International\n"
    path, entry = catalogue.resolve("uner-en-ewt:dev")
    folder = cache("uner-en-ewt", tmp_path)
    assert path == folder / "en_ewt-ud-dev.iob2" and entry.license == "CC BY-SA 4.0"
    assert (folder / "SOURCE_COMMIT").read_text() == f"{SHA} 2024-08-02\n" and (folder / "LICENSE.txt").is_file()
    assert web.asked[:2] == [api, f"{RAW}/UniversalNER/UNER_English-EWT/{SHA}/en_ewt-ud-dev.iob2"]
    web.pages[api] = json.dumps({"sha": OTHER_SHA}).encode()  # the branch moved on
    web.asked.clear()
    catalogue.resolve("uner-en-ewt:test")
    assert web.asked == [f"{RAW}/UniversalNER/UNER_English-EWT/{SHA}/en_ewt-ud-test.iob2"]  # the recorded commit, no API


def test_a_pinned_uner_dataset_records_its_commit_and_a_bad_api_answer_is_an_error(web: FakeWeb, tmp_path: Path) -> None:
    pinned = "983c4cdc09f8ece6069d2b692b60dc4b3649ec6e"
    web.pages[f"{RAW}/UniversalNER/UNER_Danish-DDT/{pinned}/da_ddt-ud-test.iob2"] = IOB2.encode()
    catalogue.resolve("uner-da-ddt:test")
    assert (cache("uner-da-ddt", tmp_path) / "SOURCE_COMMIT").read_text().split() == [pinned]
    web.pages["https://api.github.com/repos/UniversalNER/UNER_Croatian-SET/commits/main"] = b'{"message": "API rate limit exceeded"}'
    with pytest.raises(catalogue.CorpusError, match="named no commit"):
        catalogue.resolve("uner-hr-set:train")


def test_uner_oth_entities_and_stray_b_o_tags_read_as_o(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = data_folder(tmp_path, monkeypatch, {"uner-en-ewt/en_ewt-ud-train.iob2": IOB2})
    [sentence] = read_source(SourceConfig(path="uner-en-ewt:train"))
    assert sentence.tags == {"ner": ["B-PER", "O", "O", "O", "O"]}
    [as_is] = read_source(SourceConfig(path=str(root / "uner-en-ewt" / "en_ewt-ud-train.iob2")))  # a path: no relabelling
    assert as_is.tags["ner"] == ["B-PER", "O", "B-OTH", "I-OTH", "B-O"]


def test_an_unknown_name_names_close_matches(web: FakeWeb) -> None:
    with pytest.raises(catalogue.CorpusError) as info:
        catalogue.resolve("en_ewt:train")
    message = str(info.value)
    assert message.startswith("unknown corpus 'en_ewt'; the catalogue has:") and "Close matches: ud-en-ewt, uner-en-ewt" in message
    with pytest.raises(catalogue.CorpusError, match=r"not in the catalogue's table of Universal Dependencies .* Close matches: ud-en-ewt"):
        catalogue.resolve("ud-en-ewtt:train", download=True)
    with pytest.raises(catalogue.CorpusError, match="Close matches: fasttext-cc-fr-300d"):
        catalogue.resolve_vectors("fasttext-cc-fr-300")
    assert web.asked == []


# --------------------------------------------------------------------------- fastText vectors

def test_fasttext_common_crawl_vectors_by_language_code(web: FakeWeb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tagger.data.vectors import read_vectors

    entries = catalogue.vectors_catalogue()
    codes = {e.lang for n, e in entries.items() if n.startswith("fasttext-cc-")}
    assert len(codes) >= 157 and {"en", "fr", "zh", "vec", "diq", "ckb", "no", "nn"} <= codes
    french = entries["fasttext-cc-fr-300d"]
    assert (french.file, french.license) == ("cc.fr.300.vec.gz", "CC BY-SA 3.0")
    assert french.download == "https://dl.fbaipublicfiles.com/fasttext/vectors-crawl/cc.fr.300.vec.gz" and "Grave" in french.note
    web.pages[french.download] = gzip.compress(b"2 3\nle 0.1 0.2 0.3\nla 0.4 0.5 0.6\n")
    path = catalogue.resolve_vectors("fasttext-cc-fr-300d")
    assert path == tmp_path / "cache" / "birnn-tagger" / "vectors" / "cc.fr.300.vec.gz"
    assert read_vectors(str(path)).words == ["le", "la"]  # read compressed, as downloaded
    root = data_folder(tmp_path, monkeypatch, {"vectors/README": ""})
    (root / "vectors" / "cc.de.300.vec.gz").write_bytes(gzip.compress(b"1 2\nder 1 2\n"))
    assert catalogue.resolve_vectors("fasttext-cc-de-300d", download=False) == root / "vectors" / "cc.de.300.vec.gz"


# --------------------------------------------------------------------------- tagger corpora

def test_the_corpora_command_lists_matches_and_where_their_files_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, web: FakeWeb) -> None:
    from tagger.cli import app

    data_folder(tmp_path, monkeypatch, {"ud-vi-vtb/vi_vtb-ud-dev.conllu": CONLLU, "ud-vi-vtb/README.md": "License: CC BY-SA 4.0\n"})
    result = CliRunner().invoke(app, ["corpora", "vi", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert {"ud-vi-vtb", "ud-vi-tuecl"} <= set(listed) and all(e["lang"] == "vi" or "vi" in n for n, e in listed.items())
    vtb = listed["ud-vi-vtb"]
    assert (vtb["family"], vtb["format"], vtb["tasks"], vtb["license"]) == ("ud", "conllu", ["upos", "xpos"], "CC BY-SA 4.0")
    assert vtb["splits"]["dev"]["where"] == "local" and vtb["splits"]["train"] == {
        "where": "downloadable", "file": f"{RAW}/UniversalDependencies/UD_Vietnamese-VTB/r2.16/vi_vtb-ud-train.conllu"}
    result = CliRunner().invoke(app, ["corpora", "uner-en"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "uner-en-ewt" in result.stdout and "uner-en-pud" in result.stdout and "ud-en-ewt" not in result.stdout
    assert CliRunner().invoke(app, ["corpora", "nosuchthing"]).exit_code == 1
    assert web.asked == []
