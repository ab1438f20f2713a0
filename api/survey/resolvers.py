"""Survey operations: tasks for the caller, answers, the caller's view and service stats."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from api.context import Context
from api.errors import BadInput
from api.survey import answering, store, tasks
from api.survey.questions import Answer, QuestionKind, normalise_tags
from api.survey.types import (
    AnswerInput,
    Label,
    LeaseNotFound,
    Me,
    Question,
    ReleaseTaskResult,
    Stats,
    SubmitAnswerInput,
    SubmitAnswerResult,
    Task,
    TaskReason,
    TaskReleased,
    submit_result,
)

MAX_IDEMPOTENCY_KEY = 128


@strawberry.type
class SurveyQuery:
    @strawberry.field(description="The caller, from its bearer token.")
    async def me(self, info: Info[Context, None]) -> Me:
        caller = await info.context.contributor()
        return Me(
            id=strawberry.ID(caller.id),
            name=caller.name,
            is_admin=caller.is_admin,
            answer_count=caller.answer_count,
        )

    @strawberry.field(description="Counts across the service; any contributor may read them.")
    async def stats(self, info: Info[Context, None]) -> Stats:
        await info.context.contributor()
        return Stats(**await store.read_stats(info.context.db))


@strawberry.type
class SurveyMutation:
    @strawberry.mutation(
        description="Lease up to `count` (1-20) photos to the caller, most needed first. "
        "Never a photo the caller answered or holds; fewer (or none) when the pool runs dry."
    )
    async def next_tasks(self, info: Info[Context, None], count: int = 5) -> list[Task]:
        if not 1 <= count <= tasks.MAX_TASKS_PER_REQUEST:
            raise BadInput(f"count must be 1-{tasks.MAX_TASKS_PER_REQUEST}; got {count}")
        context = info.context
        caller = await context.contributor()
        leased = await tasks.next_tasks(
            context.db,
            contributor_id=caller.id,
            count=count,
            policy=context.policy,
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
        lease = await store.find_lease(context.db, str(lease_id))
        if lease is None or lease["contributor_id"] != caller.id or lease["state"] != "active":
            return LeaseNotFound(lease_id=lease_id, message="no active lease of yours has this id")
        await tasks.release_task(context.db, lease, now=datetime.now(UTC))
        return TaskReleased(lease_id=lease_id)

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
            lease_id=str(input.lease_id),
            answer=_answer(input.answer),
            idempotency_key=key,
        )
        outcome = await answering.submit_answer(
            context.db,
            submission,
            answers_per_photo=context.settings.answers_per_photo,
            now=datetime.now(UTC),
        )
        return submit_result(outcome)


def _answer(given: AnswerInput) -> Answer:
    if given.verify:
        return Answer(verdict=given.verify)
    if given.choose:
        if given.choose.none is False:
            raise BadInput("choose.none must be true when given; to pick a label use labelId")
        label_id = given.choose.label_id
        return Answer(none_of_these=True) if label_id is None else Answer(choice=str(label_id))
    assert given.describe  # @oneOf guarantees exactly one member
    return Answer(tags=normalise_tags(given.describe.tags))


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
        photo_url=context.photo_url(task.photo_id),
        question=Question(kind=kind, prompt=prompt, labels=labels),
        reason=TaskReason(policy=task.policy, score=task.score, model_version=task.model_version),
    )
