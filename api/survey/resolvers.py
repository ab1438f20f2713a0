"""Survey operations: tasks for the caller, answers, the caller's view and service stats."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from api.consensus import RetirementReason
from api.context import Context
from api.errors import BadInput, id_argument
from api.photos.signing import signed_photo_url
from api.survey import answering, gold, standing, store, tasks
from api.survey.aggregating import label_name
from api.survey.questions import Answer, QuestionKind
from api.survey.types import (
    AnswerInput,
    ContributorView,
    GoldMarked,
    Label,
    LeaseExpired,
    LeaseNotFound,
    MarkGoldResult,
    Me,
    PhotoNotReady,
    Question,
    ReleaseTaskResult,
    RetiredCount,
    Stats,
    SubmitAnswerInput,
    SubmitAnswerResult,
    Task,
    TaskReason,
    TaskReleased,
    submit_result,
)

MAX_IDEMPOTENCY_KEY = 128
MAX_CONTRIBUTORS_PAGE = 500


@strawberry.type
class SurveyQuery:
    @strawberry.field(description="The caller, from its bearer token, with its standing.")
    async def me(self, info: Info[Context, None]) -> Me:
        caller = await info.context.contributor()
        mine = await standing.own_standing(
            info.context.db, caller.id, info.context.consensus.reliability
        )
        return Me(
            id=strawberry.ID(mine.id),
            name=mine.name,
            is_admin=mine.is_admin,
            answer_count=mine.answer_count,
            agreement_rate=mine.agreement_rate,
            reliability=mine.reliability,
        )

    @strawberry.field(description="Counts across the service; any contributor may read them.")
    async def stats(self, info: Info[Context, None]) -> Stats:
        await info.context.contributor()
        return _stats(await store.read_stats(info.context.db))

    @strawberry.field(
        description="Admin: contributors, least reliable first, with those below the "
        "reliability floor flagged. `first` is 1-500."
    )
    async def contributors(
        self, info: Info[Context, None], first: int = 50
    ) -> list[ContributorView]:
        await info.context.admin()
        if not 1 <= first <= MAX_CONTRIBUTORS_PAGE:
            raise BadInput(f"first must be 1-{MAX_CONTRIBUTORS_PAGE}; got {first}")
        views = await standing.by_reliability(
            info.context.db, info.context.consensus.reliability, first=first
        )
        return [ContributorView(**{**asdict(v), "id": strawberry.ID(v.id)}) for v in views]


@strawberry.type
class SurveyMutation:
    @strawberry.mutation(
        description="Lease up to `count` (1-20) photos to the caller, most needed first. "
        "Never a photo the caller answered or holds; fewer (or none) when the pool runs dry, "
        f"and fewer when the caller would hold more than {tasks.MAX_HELD_LEASES} at once "
        f"(LIMIT_REACHED once they hold {tasks.MAX_HELD_LEASES})."
    )
    async def next_tasks(self, info: Info[Context, None], count: int = 5) -> list[Task]:
        context = info.context
        caller = await context.contributor()
        if not 1 <= count <= tasks.MAX_TASKS_PER_REQUEST:
            raise BadInput(f"count must be 1-{tasks.MAX_TASKS_PER_REQUEST}; got {count}")
        leased = await tasks.next_tasks(
            context.db,
            contributor_id=caller.id,
            count=count,
            policy=context.policy,
            gold_rate=context.consensus.gold_rate,
            lease_seconds=context.settings.lease_seconds,
            now=datetime.now(UTC),
            rng=context.rng,
        )
        return [_task(task, context) for task in leased]

    @strawberry.mutation(description="Give a leased task back before answering it.")
    async def release_task(
        self, info: Info[Context, None], lease_id: strawberry.ID
    ) -> ReleaseTaskResult:
        context = info.context
        caller = await context.contributor()
        released = await tasks.release_task(
            context.db,
            id_argument("leaseId", lease_id),
            contributor_id=caller.id,
            now=datetime.now(UTC),
        )
        match released:
            case tasks.Released():
                return TaskReleased(lease_id=lease_id)
            case tasks.AlreadyEnded(ended_at):
                return LeaseExpired(
                    lease_id=lease_id,
                    expired_at=ended_at,
                    message="the lease had already ended; its photo is back in the pool",
                )
            case tasks.NoSuchLease():
                return LeaseNotFound(
                    lease_id=lease_id, message="no unanswered lease of yours has this id"
                )

    @strawberry.mutation(description="Answer a leased task; safe to retry with the same key.")
    async def submit_answer(
        self, info: Info[Context, None], input: SubmitAnswerInput
    ) -> SubmitAnswerResult:
        context = info.context
        caller = await context.contributor()
        key = input.idempotency_key
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise BadInput(f"idempotencyKey must be 1-{MAX_IDEMPOTENCY_KEY} characters")
        submission = answering.Submission(
            contributor_id=caller.id,
            lease_id=id_argument("leaseId", input.lease_id),
            answer=_answer(input.answer),
            idempotency_key=key,
        )
        outcome = await answering.submit_answer(
            context.db,
            submission,
            config=context.consensus,
            now=datetime.now(UTC),
            rng=context.rng,
        )
        return submit_result(outcome)

    @strawberry.mutation(
        description="Admin: make a pre-labelled photo gold with its known label. Gold photos "
        "are mixed into tasks, never revealed, and grade contributors instead of retiring."
    )
    async def mark_gold(
        self, info: Info[Context, None], photo_id: strawberry.ID, label_id: strawberry.ID
    ) -> MarkGoldResult:
        await info.context.admin()
        problem = gold.label_id_problem(str(label_id))
        if problem is not None:
            raise BadInput(f"labelId: {problem}")
        try:
            photo = await gold.mark_gold(
                info.context.db,
                id_argument("photoId", photo_id),
                str(label_id),
                now=datetime.now(UTC),
                rng=info.context.rng,
            )
        except gold.UnknownLabel as exc:
            raise BadInput(f"labelId: {exc}") from None
        if photo is None:
            return PhotoNotReady(
                photo_id=photo_id,
                message="no pre-labelled photo has this id; import it and let the model "
                "pre-label it first",
            )
        label = Label(id=label_id, name=label_name(photo, str(label_id)))
        return GoldMarked(photo_id=photo_id, label=label)


def _stats(counts: dict[str, Any]) -> Stats:
    retired = counts["retired"]
    total = sum(retired.values())
    return Stats(
        photos=counts["photos"],
        prelabelled=counts["prelabelled"],
        unreadable=counts["unreadable"],
        model_faulted=counts["model_faulted"],
        retired=total,
        retired_by_reason=[
            RetiredCount(reason=reason, photos=retired.get(reason.value, 0))
            for reason in RetirementReason
        ],
        mean_answers_per_retired=counts["retired_answers"] / total if total else None,
        answers=counts["answers"],
        contributors=counts["contributors"],
        queue_depth=counts["queue_depth"],
    )


def _answer(given: AnswerInput) -> Answer:
    if given.verify:
        return Answer(verdict=given.verify)
    if given.choose:
        if given.choose.none is False:
            raise BadInput("choose.none must be true when given; to pick a label use labelId")
        label_id = given.choose.label_id
        # @oneOf: the member not given is UNSET. An empty id is a choice, refused as no
        # candidate, never read as "none of these".
        if label_id is strawberry.UNSET or label_id is None:
            return Answer(none_of_these=True)
        return Answer(choice=str(label_id))
    assert given.describe  # @oneOf guarantees exactly one member
    return Answer(tags=tuple(given.describe.tags))


_PROMPTS = {
    QuestionKind.CHOOSE: "Which of these does this photo show?",
    QuestionKind.DESCRIBE: "Describe this photo in a few words.",
}


def _task(task: tasks.Task, context: Context) -> Task:
    labels = [Label(id=strawberry.ID(label.id), name=label.name) for label in task.question.labels]
    kind = task.question.kind
    prompt = (
        f"Does this photo show {labels[0].name}?" if kind is QuestionKind.VERIFY else _PROMPTS[kind]
    )
    return Task(
        lease_id=strawberry.ID(task.lease_id),
        expires_at=task.expires_at,
        photo_id=strawberry.ID(task.photo_id),
        photo_url=signed_photo_url(task.photo_id, settings=context.settings),
        question=Question(kind=kind, prompt=prompt, labels=labels),
        reason=TaskReason(policy=task.policy, score=task.score, model_version=task.model_version),
    )
