"""GraphQL types of the survey: tasks, questions, answers and their outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from api.consensus import RetirementReason
from api.survey import answering
from api.survey.questions import QuestionKind, Verdict

# The domain's enums, exposed as they are (strawberry.enum registers them in place).
strawberry.enum(
    QuestionKind,
    description=(
        "VERIFY: does the photo show one label (YES / NO / NOT_SURE)? CHOOSE: which of a few "
        "candidate labels, or none? DESCRIBE: free-text tags."
    ),
)
strawberry.enum(Verdict, description="An answer to a VERIFY question.")
strawberry.enum(
    RetirementReason,
    description=(
        "Why a photo takes no more answers. CONFIDENT: its consensus reached the confidence "
        "target. CAP: it reached the answer cap. MODEL: the model was confident enough to "
        "label it (auto-accept)."
    ),
)


@strawberry.type(description="A label of the model's label set.")
class Label:
    id: strawberry.ID = strawberry.field(description="Stable id, e.g. a WordNet id.")
    name: str = strawberry.field(description="Display name; not unique.")


@strawberry.type(description="What a task asks about its photo.")
class Question:
    kind: QuestionKind = strawberry.field(description="Which kind of answer is expected.")
    prompt: str = strawberry.field(description="The question in words, for display.")
    labels: list[Label] = strawberry.field(
        description="VERIFY: the label asked about; CHOOSE: the candidates; DESCRIBE: empty."
    )


@strawberry.type(description="Why this photo was chosen for this task.")
class TaskReason:
    policy: str = strawberry.field(
        description="The selection that chose it: e.g. `uncertainty:least_confidence`, "
        "`random` or `exploration`."
    )
    score: float = strawberry.field(description="The photo's policy score in [0, 1).")
    model_version: str | None = strawberry.field(
        description="The model whose prediction the question comes from."
    )


@strawberry.type(description="A photo leased to the caller with a question to answer.")
class Task:
    lease_id: strawberry.ID = strawberry.field(description="Give this back with the answer.")
    expires_at: datetime = strawberry.field(description="The lease ends then; answer before.")
    photo_id: strawberry.ID = strawberry.field(description="The photo's id.")
    photo_url: str = strawberry.field(
        description="Signed URL of the photo (small copy), valid without a token until it expires."
    )
    question: Question = strawberry.field(description="What to answer about the photo.")
    reason: TaskReason = strawberry.field(description="Why this photo, now.")


@strawberry.input(one_of=True, description="A CHOOSE answer: one candidate, or none of them.")
class ChoiceInput:
    label_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="The chosen candidate's label id."
    )
    none: bool | None = strawberry.field(
        default=strawberry.UNSET, description="True: none of the candidates fits."
    )


@strawberry.input(description="A DESCRIBE answer.")
class DescribeInput:
    tags: list[str] = strawberry.field(
        description="Free-text tags, 1-20 of at most 64 characters as sent; normalised."
    )


@strawberry.input(one_of=True, description="Exactly one, matching the question kind.")
class AnswerInput:
    verify: Verdict | None = strawberry.field(
        default=strawberry.UNSET, description="For VERIFY questions."
    )
    choose: ChoiceInput | None = strawberry.field(
        default=strawberry.UNSET, description="For CHOOSE questions."
    )
    describe: DescribeInput | None = strawberry.field(
        default=strawberry.UNSET, description="For DESCRIBE questions."
    )


@strawberry.input(description="An answer to a leased task.")
class SubmitAnswerInput:
    lease_id: strawberry.ID = strawberry.field(description="From the task.")
    answer: AnswerInput = strawberry.field(description="The answer.")
    idempotency_key: str = strawberry.field(
        description="Any unique string (1-128 characters) per answer; resending the same key "
        "with the same answer returns the first result and stores nothing new."
    )


@strawberry.type(description="The answer is stored.")
class AnswerAccepted:
    answer_id: strawberry.ID = strawberry.field(description="The stored answer's id.")
    photo_id: strawberry.ID = strawberry.field(description="The photo answered.")
    answers_still_needed: int = strawberry.field(
        description="How many more answers the photo needs; 0 when it is complete."
    )


@strawberry.type(description="The lease expired or was released; nothing was stored.")
class LeaseExpired:
    lease_id: strawberry.ID = strawberry.field(description="The lease.")
    expired_at: datetime = strawberry.field(description="When it ended.")
    message: str = strawberry.field(description="What happened and what to do.")


@strawberry.type(description="No lease of the caller's has this id.")
class LeaseNotFound:
    lease_id: strawberry.ID = strawberry.field(description="The id given.")
    message: str = strawberry.field(description="What was wrong.")


@strawberry.type(description="The caller already answered this photo; nothing new was stored.")
class AlreadyAnswered:
    photo_id: strawberry.ID = strawberry.field(description="The photo.")
    message: str = strawberry.field(description="What happened.")


@strawberry.type(description="The idempotency key was used before with another lease or answer.")
class IdempotencyKeyReused:
    idempotency_key: str = strawberry.field(description="The key.")
    message: str = strawberry.field(description="What was wrong.")


@strawberry.type(description="The answer does not fit the question; nothing was stored.")
class InvalidAnswer:
    reason: str = strawberry.field(description="What was wrong and what is accepted.")


SubmitAnswerResult = Annotated[
    AnswerAccepted
    | LeaseExpired
    | LeaseNotFound
    | AlreadyAnswered
    | IdempotencyKeyReused
    | InvalidAnswer,
    strawberry.union("SubmitAnswerResult", description="What became of an answer."),
]


@strawberry.type(description="The lease was given back; the photo returns to the pool.")
class TaskReleased:
    lease_id: strawberry.ID = strawberry.field(description="The lease.")


ReleaseTaskResult = Annotated[
    TaskReleased | LeaseExpired | LeaseNotFound,
    strawberry.union("ReleaseTaskResult", description="What became of a release."),
]


@strawberry.type(description="The caller.")
class Me:
    id: strawberry.ID = strawberry.field(description="Contributor id.")
    name: str = strawberry.field(description="Contributor name.")
    is_admin: bool = strawberry.field(description="Whether admin operations are allowed.")
    answer_count: int = strawberry.field(description="Answers given so far.")
    agreement_rate: float | None = strawberry.field(
        description="Share of votes that agreed with the consensus, as of the last "
        "re-estimation that counted the caller's answers; null before that."
    )
    reliability: float = strawberry.field(
        description="Estimated probability that an answer is right, in [0, 1], as of the last "
        "re-estimation that counted the caller's answers; the prior (0.7) before that."
    )


@strawberry.type(description="A contributor as admins see them.")
class ContributorView:
    id: strawberry.ID = strawberry.field(description="Contributor id.")
    name: str = strawberry.field(description="Contributor name.")
    is_admin: bool = strawberry.field(description="Whether admin operations are allowed.")
    answer_count: int = strawberry.field(description="Answers given so far.")
    agreement_rate: float | None = strawberry.field(
        description="Share of votes that agreed with the consensus at the time (live)."
    )
    reliability: float = strawberry.field(
        description="Estimated probability that an answer is right, in [0, 1] (live: it moves "
        "with every answer, where `me` shows it as of the last re-estimation)."
    )
    gold_answers: int = strawberry.field(description="Votes given on gold photos.")
    below_floor: bool = strawberry.field(
        description="Reliability below PHOTOSURVEY_RELIABILITY_FLOOR: their answers weigh "
        "nothing in consensus until reviewed."
    )


@strawberry.type(description="What the answers (and the model) say about a photo.")
class PhotoConsensus:
    label: Label | None = strawberry.field(description="The most probable label, if any.")
    confidence: float = strawberry.field(description="Posterior probability of that label.")
    answer_count: int = strawberry.field(description="Answers counted.")
    method: str = strawberry.field(
        description="WEIGHTED (reliability-weighted), MAJORITY, MODEL (no votes: the model) "
        "or GOLD."
    )
    retirement_reason: RetirementReason | None = strawberry.field(
        description="Why the photo retired; null while it takes answers."
    )

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PhotoConsensus | None:
        """From a photo's survey fields; None before its first consensus."""
        summary = state.get("consensus")
        if summary is None:
            return None
        label = summary["label"]
        reason = state.get("retirement_reason")
        return cls(
            label=None
            if label is None
            else Label(id=strawberry.ID(label["id"]), name=label["name"]),
            confidence=summary["confidence"],
            answer_count=int(state.get("answer_count", 0)),
            method=summary["method"],
            retirement_reason=None if reason is None else RetirementReason(reason),
        )


@strawberry.type(description="The photo is now a gold photo.")
class GoldMarked:
    photo_id: strawberry.ID = strawberry.field(description="The photo.")
    label: Label = strawberry.field(description="Its known label.")


@strawberry.type(description="The photo cannot be a gold photo yet.")
class PhotoNotReady:
    photo_id: strawberry.ID = strawberry.field(description="The photo.")
    message: str = strawberry.field(description="What is missing.")


MarkGoldResult = Annotated[
    GoldMarked | PhotoNotReady,
    strawberry.union("MarkGoldResult", description="What became of markGold."),
]


@strawberry.type(description="Retired photos of one reason.")
class RetiredCount:
    reason: RetirementReason = strawberry.field(description="Why they retired.")
    photos: int = strawberry.field(description="How many photos.")


@strawberry.type(description="Counts across the whole service.")
class Stats:
    photos: int = strawberry.field(description="Photos stored.")
    prelabelled: int = strawberry.field(description="Photos the model has pre-labelled.")
    unreadable: int = strawberry.field(
        description="Photos the model cannot read: not images, or not usable ones."
    )
    model_faulted: int = strawberry.field(
        description="Photos a model failed on (no usable scores); they wait for another model "
        "file. `photo.prelabelProblem` says which model and why."
    )
    retired: int = strawberry.field(description="Photos that take no more answers.")
    retired_by_reason: list[RetiredCount] = strawberry.field(
        description="Retired photos by reason (every reason listed, zeros included)."
    )
    mean_answers_per_retired: float | None = strawberry.field(
        description="Mean answers a retired photo took; null while none has retired."
    )
    answers: int = strawberry.field(description="Answers stored.")
    contributors: int = strawberry.field(description="Contributors registered.")
    queue_depth: int = strawberry.field(
        description="Photos available for a task now (open, with a free lease slot)."
    )


def submit_result(outcome: answering.Outcome) -> SubmitAnswerResult:
    """The GraphQL member for a domain outcome."""
    match outcome:
        case answering.Accepted(answer_id, photo_id, still_needed):
            return AnswerAccepted(
                answer_id=strawberry.ID(answer_id),
                photo_id=strawberry.ID(photo_id),
                answers_still_needed=still_needed,
            )
        case answering.LeaseExpired(lease_id, expired_at):
            return LeaseExpired(
                lease_id=strawberry.ID(lease_id),
                expired_at=expired_at,
                message="the lease has ended; ask for new tasks with nextTasks",
            )
        case answering.LeaseNotFound(lease_id):
            return LeaseNotFound(
                lease_id=strawberry.ID(lease_id), message="no lease of yours has this id"
            )
        case answering.AlreadyAnswered(photo_id):
            return AlreadyAnswered(
                photo_id=strawberry.ID(photo_id), message="you have answered this photo already"
            )
        case answering.KeyReused(key):
            return IdempotencyKeyReused(
                idempotency_key=key,
                message="this key was used with another lease or answer; use a new key per answer",
            )
        case answering.Invalid(reason):
            return InvalidAnswer(reason=reason)


@strawberry.type(description="A label and the model's probability for it.")
class LabelScore:
    label: Label = strawberry.field(description="The label.")
    probability: float = strawberry.field(
        description="The model's softmax probability in [0, 1], not recalibrated."
    )


@strawberry.type(
    description="How unsure the model is; each measure in [0, 1], higher is less sure."
)
class Uncertainty:
    least_confidence: float = strawberry.field(description="1 - top probability.")
    margin: float = strawberry.field(description="1 - (top - second probability).")
    entropy: float = strawberry.field(description="Entropy of the probabilities, normalised.")


@strawberry.type(description="One model version's prediction for a photo.")
class Prediction:
    model_version: str = strawberry.field(description="The model file that made it.")
    top_k: list[LabelScore] = strawberry.field(description="Most probable labels, best first.")
    uncertainty: Uncertainty = strawberry.field(description="How unsure the model is.")
    created_at: datetime = strawberry.field(description="When it was made (UTC).")

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Prediction:
        return cls(
            model_version=doc["model_version"],
            top_k=[
                LabelScore(
                    label=Label(id=strawberry.ID(s["label_id"]), name=s["name"]),
                    probability=s["probability"],
                )
                for s in doc["top_k"]
            ],
            uncertainty=Uncertainty(**doc["uncertainty"]),
            created_at=doc["created_at"],
        )
