"""Turning survey answers into votes: the evidence each question kind gives about a label.

Every question kind maps onto one shape, a categorical `Vote`: the contributor was shown a
few `options` (label ids) and picked one of them, or NONE (`choice is None`) when the
question offers it. A truth outside the options makes NONE the correct pick.

- `VERIFY` "does it show L?": YES is a vote for `L` among `(L,)` + NONE, NO a vote for
  NONE; NOT_SURE gives no vote (it says the photo is hard, not what it shows).
- `CHOOSE` one of the top-k candidates or NONE: a vote among the candidates + NONE.
  The crowd benchmarks use closed questions (`none_allowed=False`) over all labels.
- `DESCRIBE` free-text tags: each tag is normalised and matched to one label by id or
  display name; each matched label becomes a YES-style vote on that label, weighted
  `1 / matched` so that one description never outweighs one verify answer. Tags that match
  nothing, or more than one label, stay tags: they are kept, not counted as votes.

Nothing here knows about contributors or reliabilities; see `reliability.py`.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class VerifyResponse(enum.Enum):
    YES = "YES"
    NO = "NO"
    NOT_SURE = "NOT_SURE"


@dataclass(frozen=True, slots=True)
class VerifyAnswer:
    """An answer to "does this photo show `label`?"."""

    label: str
    response: VerifyResponse


@dataclass(frozen=True, slots=True)
class ChooseAnswer:
    """A pick among `options`; `choice=None` is NONE (only when `none_allowed`)."""

    options: tuple[str, ...]
    choice: str | None
    none_allowed: bool = True


@dataclass(frozen=True, slots=True)
class DescribeAnswer:
    """Free-text tags describing the photo."""

    tags: tuple[str, ...]


Answer = VerifyAnswer | ChooseAnswer | DescribeAnswer


@dataclass(frozen=True, slots=True)
class Vote:
    """One categorical vote: `choice` (a label id, or None for NONE) among `options`.

    `weight` scales the vote's log-likelihood (1 for a plain vote).
    """

    options: tuple[str, ...]
    choice: str | None
    none_allowed: bool = True
    weight: float = 1.0

    @property
    def alphabet_size(self) -> int:
        """How many different picks the contributor had."""
        return len(self.options) + (1 if self.none_allowed else 0)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one answer says: its votes, whether it was NOT_SURE, and tags kept as tags."""

    votes: tuple[Vote, ...] = ()
    not_sure: bool = False
    unmatched_tags: tuple[str, ...] = ()


class InvalidAnswer(ValueError):
    """An answer that does not fit its question (e.g. a choice outside the options)."""


_SEPARATORS = re.compile(r"[\s_\-]+")
_EDGE_PUNCTUATION = " .,;:!?'\"()[]{}"


def normalise_tag(text: str) -> str:
    """Case-, width- and separator-insensitive form of a tag or label name."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SEPARATORS.sub(" ", folded).strip(_EDGE_PUNCTUATION)


@dataclass(frozen=True)
class LabelIndex:
    """Finds the label a free-text tag names, by label id or by any display name."""

    _by_name: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_names(cls, names: Mapping[str, Iterable[str]]) -> LabelIndex:
        """Build from `{label_id: display names}`; ImageNet-style "a, b" names are split."""
        by_name: dict[str, set[str]] = {}
        for label, label_names in names.items():
            keys = {normalise_tag(label)}
            for name in label_names:
                keys.update(normalise_tag(part) for part in name.split(","))
            for key in keys - {""}:
                by_name.setdefault(key, set()).add(label)
        return cls({key: frozenset(labels) for key, labels in by_name.items()})

    def match(self, tag: str) -> str | None:
        """The one label `tag` names, or None when it names none or several."""
        labels = self._by_name.get(normalise_tag(tag), frozenset())
        return next(iter(labels)) if len(labels) == 1 else None


def evidence_of(answer: Answer, labels: LabelIndex | None = None) -> Evidence:
    """Map one answer to the votes it gives. Raises `InvalidAnswer` for a malformed one."""
    if isinstance(answer, VerifyAnswer):
        return _verify_evidence(answer)
    if isinstance(answer, ChooseAnswer):
        return _choose_evidence(answer)
    return _describe_evidence(answer, labels or LabelIndex())


def _verify_evidence(answer: VerifyAnswer) -> Evidence:
    if answer.response is VerifyResponse.NOT_SURE:
        return Evidence(not_sure=True)
    choice = answer.label if answer.response is VerifyResponse.YES else None
    return Evidence(votes=(Vote(options=(answer.label,), choice=choice),))


def _choose_evidence(answer: ChooseAnswer) -> Evidence:
    if len(set(answer.options)) != len(answer.options) or not answer.options:
        raise InvalidAnswer("CHOOSE needs one or more distinct options")
    if answer.choice is None and not answer.none_allowed:
        raise InvalidAnswer("NONE is not one of this question's options")
    if answer.choice is not None and answer.choice not in answer.options:
        raise InvalidAnswer(f"choice {answer.choice!r} is not one of the options")
    vote = Vote(answer.options, answer.choice, none_allowed=answer.none_allowed)
    return Evidence(votes=(vote,))


def _describe_evidence(answer: DescribeAnswer, labels: LabelIndex) -> Evidence:
    matched: list[str] = []
    unmatched: list[str] = []
    for tag in answer.tags:
        label = labels.match(tag)
        if label is None:
            if normalise_tag(tag):
                unmatched.append(normalise_tag(tag))
        elif label not in matched:
            matched.append(label)
    weight = 1.0 / len(matched) if matched else 0.0
    votes = tuple(Vote(options=(label,), choice=label, weight=weight) for label in matched)
    return Evidence(votes=votes, unmatched_tags=tuple(unmatched))
