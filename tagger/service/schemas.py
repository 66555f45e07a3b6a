"""The service's JSON bodies: the response models, and the request models made for an app's limits and tasks."""

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, StrictBool, StringConstraints, Tag, WithJsonSchema, create_model

from tagger.core.tasks import check_task_selection
from tagger.core.tokenize import encodable
from tagger.core.types import token_problem
from tagger.model.predict import BLANK
from tagger.service.settings import ServiceSettings

# ---------------------------------------------------------------------------------------------
# Response bodies (request bodies depend on the app's limits and tasks: see request_models)


class SpanOut(BaseModel):
    start: int = Field(description="First token of the span.")
    end: int = Field(description="Token after the span (exclusive).")
    label: str
    start_char: int | None = Field(None, description="Character offsets, for raw-text input.")
    end_char: int | None = None


class PredictionOut(BaseModel):
    tokens: list[str]
    text: str | None = Field(None, description="The input text (raw-text input only).")
    offsets: list[tuple[int, int]] | None = Field(None, description="Each token's [start, end) characters (raw text only).")
    tags: dict[str, list[str]] = Field(description="Task -> one label per token (span tasks in BIO).")
    spans: dict[str, list[SpanOut]] = Field(description="Span task -> its spans.")
    scores: dict[str, list[float]] | None = Field(None, description="Task -> each token's probability of its label.")


class AnnotateResponse(BaseModel):
    results: list[PredictionOut]


class CandidateOut(BaseModel):
    word: str
    probability: float


class BlankOut(BaseModel):
    position: int = Field(description="Token index of the blank.")
    candidates: list[CandidateOut]


class FilledOut(BaseModel):
    tokens: list[str]
    blanks: list[BlankOut]


class FillMaskResponse(BaseModel):
    results: list[FilledOut]


class TaskInfo(BaseModel):
    decoder: str
    spans: bool = Field(description="A span task (tags in BIO, spans listed).")
    labels: list[str]


class InfoResponse(BaseModel):
    model: str = Field(description="The model directory's name.")
    lang: str
    tasks: dict[str, TaskInfo]
    fill_mask: bool = Field(description="Whether POST /fill-mask is available.")
    scores: dict[str, Any] = Field(description="Scores recorded at training time (meta.json).")
    versions: dict[str, str]
    created: str | None = None
    parameters: int | None = None
    limits: dict[str, Union[int, float, None]] = Field(description="Request limits; request_timeout_s null: none.")


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


# ---------------------------------------------------------------------------------------------
# Request bodies


def _not_blank(text: str) -> str:
    """The rule ``tagger annotate`` follows too: a text with nothing but spaces has nothing to label."""
    if not text.strip():
        raise ValueError("empty text: nothing to label")
    return text


def _a_token(token: str) -> str:
    """The rule ``Tagger.predict`` follows too: some text that is not only whitespace, no tab or line break."""
    problem = token_problem(token)
    if problem is not None:
        raise ValueError(problem)
    return token


def _item_kind(item: Any) -> str | None:
    return "text" if isinstance(item, str) else "tokens" if isinstance(item, list) else None


def request_models(tasks: list[str], settings: ServiceSettings) -> tuple[type[BaseModel], type[BaseModel]]:
    """AnnotateRequest and FillMaskRequest for these settings' limits and these tasks (so /docs shows them)."""

    def tokens_fit(tokens: list[str]) -> list[str]:
        if sum(map(len, tokens)) > settings.max_chars:
            raise ValueError(f"the tokens have more than {settings.max_chars} characters together")
        return tokens

    def selected(names: list[str]) -> list[str]:
        check_task_selection(names, tasks)
        return names

    text = Annotated[str, StringConstraints(max_length=settings.max_chars), AfterValidator(encodable), AfterValidator(_not_blank)]
    token = Annotated[str, StringConstraints(min_length=1, max_length=settings.max_chars), AfterValidator(encodable), AfterValidator(_a_token)]
    token_list = Annotated[list[token], Field(min_length=1, max_length=settings.max_tokens), AfterValidator(tokens_fit)]  # type: ignore[valid-type]
    item = Annotated[
        Union[Annotated[text, Tag("text")], Annotated[token_list, Tag("tokens")]],  # type: ignore[valid-type]
        Discriminator(_item_kind, custom_error_type="text_or_tokens", custom_error_message="each text is a string or a list of token strings"),
    ]
    texts = Annotated[list[item], Field(min_length=1, max_length=settings.max_texts)]  # type: ignore[valid-type]
    task = Annotated[str, WithJsonSchema({"type": "string", "enum": tasks})]
    config = ConfigDict(extra="forbid")
    annotate = create_model(
        "AnnotateRequest",
        __config__=config,
        texts=(texts, Field(description=f"Raw texts (tokenized by the service) or token lists; 1 to {settings.max_texts}.")),
        tasks=(Union[Annotated[list[task], Field(max_length=100, json_schema_extra={"minItems": 1, "uniqueItems": True}),  # type: ignore[valid-type]
                               AfterValidator(selected)], None],
               Field(None, description="Tasks to return, each once (default: all).")),
        scores=(StrictBool, Field(False, description="Also give each token's probability of its label (true or false).")),
    )
    fill_mask = create_model(
        "FillMaskRequest",
        __config__=config,
        texts=(texts, Field(description=f'Texts or token lists with "{BLANK}" for each missing word.')),
        top_k=(int, Field(5, ge=1, le=100, description="Candidates per blank.")),
    )
    return annotate, fill_mask
