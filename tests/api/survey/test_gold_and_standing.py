"""Gold photos, contributors' standing and re-estimation, through GraphQL and the CLI."""

from datetime import UTC, datetime

import httpx
import pytest

from api.database import Database
from api.settings import Settings
from api.survey import consensus_store
from api.survey.aggregating import ConsensusConfig
from api.survey.operations import NEXT_TASKS, SUBMIT
from api.survey.reestimation import (
    QUIET_SECONDS,
    AnswerWatch,
    is_due,
    reestimate_if_due,
    reestimate_now,
)
from tests.api.survey.builders import add_open_photos, graphql, record_test_model, token_for
from tests.processes import run_photosurvey

MARK_GOLD = """mutation($photo: ID!, $label: ID!) {
  markGold(photoId: $photo, labelId: $label) {
    __typename ... on GoldMarked { label { id name } } ... on PhotoNotReady { message } } }"""
CONTRIBUTORS = "query($first: Int!) { contributors(first: $first) { name reliability belowFloor } }"
CONSENSUS = """query($id: ID!) { photo(id: $id) { consensus {
  label { id } confidence answerCount method retirementReason } } }"""


async def _answer_all(http: httpx.AsyncClient, token: str, choice: str) -> int:
    answered = 0
    for task in (await graphql(http, NEXT_TASKS, token, count=10))["data"]["nextTasks"]:
        answer = {"choose": {"labelId": choice}}
        payload = {"leaseId": task["leaseId"], "answer": answer, "idempotencyKey": task["leaseId"]}
        result = (await graphql(http, SUBMIT, token, input=payload))["data"]["submitAnswer"]
        assert result["__typename"] == "AnswerAccepted", result
        answered += 1
    return answered


async def test_only_admins_mark_gold_and_only_pre_labelled_photos(
    http: httpx.AsyncClient, db: Database
) -> None:
    (photo_id,) = await add_open_photos(db, [0.3])
    contributor = await token_for(db)
    refused = await graphql(http, MARK_GOLD, contributor, photo=photo_id, label="n1")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    admin = await token_for(db, role="admin")
    missing = await graphql(http, MARK_GOLD, admin, photo="f" * 24, label="n1")
    assert missing["data"]["markGold"]["__typename"] == "PhotoNotReady"
    marked = (await graphql(http, MARK_GOLD, admin, photo=photo_id, label="n1"))["data"]
    assert marked["markGold"] == {
        "__typename": "GoldMarked",
        "label": {"id": "n1", "name": "label 1"},
    }
    photo = await db.photos.find_one({"_id": photo_id})
    assert photo is not None
    assert (photo["status"], photo["bucket"]) == ("gold", None)


async def test_a_gold_label_must_be_one_of_the_models_labels(
    http: httpx.AsyncClient, db: Database
) -> None:
    (photo_id,) = await add_open_photos(db, [0.3])
    admin = await token_for(db, role="admin")
    # The model's label set unknown: only the labels it predicted for the photo.
    unknown = await graphql(http, MARK_GOLD, admin, photo=photo_id, label="n7")
    assert unknown["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert (
        "'n7' is not a label of the labels model test-model@1 predicted"
        in (unknown["errors"][0]["message"])
    )
    await record_test_model(db)
    by_name = await graphql(http, MARK_GOLD, admin, photo=photo_id, label="lable 7")
    assert by_name["errors"][0]["message"] == (
        "labelId: 'lable 7' is not a label of model test-model@1, which pre-labelled the "
        "photo; the nearest is 'n7' (label 7)"
    )
    assert (await db.photos.find_one({"_id": photo_id}) or {})["status"] == "open"
    marked = await graphql(http, MARK_GOLD, admin, photo=photo_id, label="n7")
    assert marked["data"]["markGold"]["__typename"] == "GoldMarked"


async def test_a_photo_not_yet_pre_labelled_gets_no_gold_label(
    http: httpx.AsyncClient, db: Database
) -> None:
    (photo_id,) = await add_open_photos(db, [0.3])
    await db.photos.update_one({"_id": photo_id}, {"$set": {"status": "new"}})
    admin = await token_for(db, role="admin")
    refused = await graphql(http, MARK_GOLD, admin, photo=photo_id, label="n1")
    assert refused["data"]["markGold"]["__typename"] == "PhotoNotReady"
    assert (await consensus_store.read_photo_state(db, photo_id)).gold_label is None


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (" ", "must not be empty"),
        ("n" * 201, "201 characters; at most 200"),
        ("n1\x00", "must not contain control characters"),
    ],
)
async def test_a_bad_gold_label_id_is_refused_and_the_photo_left_as_it_was(
    http: httpx.AsyncClient, db: Database, label: str, message: str
) -> None:
    (photo_id,) = await add_open_photos(db, [0.3])
    before = await db.photos.find_one({"_id": photo_id})
    admin = await token_for(db, role="admin")
    refused = await graphql(http, MARK_GOLD, admin, photo=photo_id, label=label)
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert message in refused["errors"][0]["message"]
    assert await db.photos.find_one({"_id": photo_id}) == before


async def test_gold_answers_grade_contributors_and_never_retire_the_photo(
    http: httpx.AsyncClient, db: Database
) -> None:
    (photo_id,) = await add_open_photos(db, [0.3])
    admin = await token_for(db, role="admin")
    await graphql(http, MARK_GOLD, admin, photo=photo_id, label="n1")
    right, wrong = await token_for(db, "right"), await token_for(db, "wrong")
    # gold_rate 0.1 doubled for new contributors: ask until the gold photo is served.
    for token, choice in ((right, "n1"), (wrong, "n2")):
        for _ in range(60):
            if await _answer_all(http, token, choice):
                break
    photo = await db.photos.find_one({"_id": photo_id})
    assert photo is not None
    assert (photo["status"], photo["answer_count"]) == ("gold", 2)
    ids = {doc["name"]: doc["_id"] async for doc in db.contributors.find()}
    states = {name: await consensus_store.read_contributor_state(db, ids[name]) for name in ids}
    assert (states["right"].gold_votes, states["right"].gold_correct) == (1, 1)
    assert (states["wrong"].gold_votes, states["wrong"].gold_correct) == (1, 0)
    consensus = await consensus_store.read_photo_state(db, photo_id)
    assert consensus.log_odds == {}, "gold answers must not move the photo's consensus"


async def test_a_gold_photo_looks_like_any_photo_to_its_contributors(
    http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    gold_id, plain_id = await add_open_photos(db, [0.3, 0.3])
    admin = await token_for(db, role="admin")
    await graphql(http, MARK_GOLD, admin, photo=gold_id, label="n1")
    told: dict[str, list[int]] = {gold_id: [], plain_id: []}
    reasons: dict[str, set[str]] = {gold_id: set(), plain_id: set()}
    for n in range(settings.answer_cap + 1):  # past the cap, where an ordinary photo retires
        token = await token_for(db, f"c{n}")
        for _ in range(60):  # the gold photo is mixed in at random: ask until both are served
            if len(told[gold_id]) > n and len(told[plain_id]) >= min(n + 1, 2):
                break
            for task in (await graphql(http, NEXT_TASKS, token, count=2))["data"]["nextTasks"]:
                reasons[task["photoId"]].add(task["reason"]["policy"])
                answer = {"choose": {"labelId": "n1"}}
                payload = {"leaseId": task["leaseId"], "answer": answer,
                           "idempotencyKey": task["leaseId"]}  # fmt: skip
                body = await graphql(http, SUBMIT, token, input=payload)
                told[task["photoId"]].append(body["data"]["submitAnswer"]["answersStillNeeded"])
        peek = await graphql(http, CONSENSUS, token, id=gold_id)
        assert peek["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert peek["data"] == {"photo": None}

    # Counting down like an ordinary photo's, never the internal "always open" figure.
    assert told[gold_id][: settings.answer_cap] == sorted(
        told[gold_id][: settings.answer_cap], reverse=True
    )
    assert 1 <= told[gold_id][0] < settings.answer_cap
    assert told[gold_id][settings.answer_cap - 1 :] == [0, 0]
    assert told[plain_id][-1] == 0  # it retired
    assert reasons[gold_id] == reasons[plain_id] == {"uncertainty:least_confidence"}
    photo = await db.photos.find_one({"_id": gold_id})
    assert photo is not None
    assert photo["status"] == "gold"


async def test_contributors_see_their_standing_as_of_the_last_re_estimation(
    http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    # Live, a gold answer moves reliability by exactly one answer's worth: shown live, it
    # would tell a contributor which photo was gold and whether they got it right.
    (photo_id,) = await add_open_photos(db, [0.3])
    admin = await token_for(db, role="admin")
    await graphql(http, MARK_GOLD, admin, photo=photo_id, label="n1")
    token = await token_for(db, "wrong")
    me = "{ me { reliability agreementRate answerCount } }"
    for _ in range(60):  # the gold photo is mixed in at random
        if await _answer_all(http, token, "n2"):
            break

    shown = (await graphql(http, me, token))["data"]["me"]
    live = (await graphql(http, CONTRIBUTORS, admin, first=10))["data"]["contributors"]
    assert shown == {"reliability": 0.7, "agreementRate": None, "answerCount": 1}
    assert next(row["reliability"] for row in live if row["name"] == "wrong") < 0.7

    await reestimate_now(db, ConsensusConfig.from_settings(settings))
    after = (await graphql(http, me, token))["data"]["me"]
    assert after["reliability"] < 0.7
    assert after["agreementRate"] == 0.0


async def test_admins_see_contributors_least_reliable_first(
    http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    await add_open_photos(db, [0.3] * 6)
    # "odd" answers first, so it sees every photo before they retire.
    tokens = {name: await token_for(db, name) for name in ("odd", "a", "b", "c")}
    for name, token in tokens.items():
        await _answer_all(http, token, "n2" if name == "odd" else "n0")
    # Online, a photo's first answer is graded against the model's prior alone; the
    # re-estimation grades every answer against all the others.
    await reestimate_now(db, ConsensusConfig.from_settings(settings))
    contributor_view = await graphql(http, CONTRIBUTORS, tokens["a"], first=10)
    assert contributor_view["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    admin = await token_for(db, "boss", role="admin")
    rows = (await graphql(http, CONTRIBUTORS, admin, first=10))["data"]["contributors"]
    assert rows[0]["name"] == "odd", rows
    assert [r["reliability"] for r in rows] == sorted(r["reliability"] for r in rows)
    assert all(isinstance(r["belowFloor"], bool) for r in rows)
    too_many = await graphql(http, CONTRIBUTORS, admin, first=501)
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_photos_show_their_consensus_to_admins(http: httpx.AsyncClient, db: Database) -> None:
    (photo_id,) = await add_open_photos(db, [0.3])
    token = await token_for(db, "admin", role="admin")
    assert (await graphql(http, CONSENSUS, token, id=photo_id))["data"]["photo"][
        "consensus"
    ] is None
    for name in ("x", "y", "z"):
        await _answer_all(http, await token_for(db, name), "n0")
    consensus = (await graphql(http, CONSENSUS, token, id=photo_id))["data"]["photo"]["consensus"]
    assert consensus["label"] == {"id": "n0"}
    assert consensus["method"] == "WEIGHTED"
    assert consensus["answerCount"] >= 2
    if consensus["retirementReason"] == "CONFIDENT":
        assert consensus["confidence"] >= 0.95


async def test_reestimation_refreshes_reliabilities_and_rescoring(
    http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    await add_open_photos(db, [0.3] * 8)
    # "odd" answers first, so it sees every photo before they retire.
    tokens = {name: await token_for(db, name) for name in ("odd", "a", "b", "c")}
    for name, token in tokens.items():
        await _answer_all(http, token, "n2" if name == "odd" else "n0")
    config = ConsensusConfig.from_settings(settings)
    await reestimate_now(db, config)
    estimates = await consensus_store.read_estimates(db)
    assert estimates.typical_accuracy is not None
    assert estimates.answers_at == (await db.answers.count_documents({}))
    me = "{ me { reliability } }"
    odd = (await graphql(http, me, tokens["odd"]))["data"]["me"]["reliability"]
    good = (await graphql(http, me, tokens["a"]))["data"]["me"]["reliability"]
    assert odd < 0.5 < good


async def test_answers_a_re_estimation_left_out_are_taken_in_once_answers_stop(
    http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    await add_open_photos(db, [0.3] * 4)
    config = ConsensusConfig.from_settings(settings)
    await _answer_all(http, await token_for(db, "a"), "n0")
    await reestimate_now(db, config)
    assert (await consensus_store.read_estimates(db)).answers_at == 4
    watch = AnswerWatch()
    await reestimate_if_due(db, config, holder="test", watch=watch, now=0.0)
    await _answer_all(http, await token_for(db, "b"), "n0")  # 4 more: not yet on schedule
    for now, answers_at in ((1.0, 4), (QUIET_SECONDS, 4), (1.0 + QUIET_SECONDS, 8)):
        await reestimate_if_due(db, config, holder="test", watch=watch, now=now)
        assert (await consensus_store.read_estimates(db)).answers_at == answers_at


def test_a_re_estimation_is_due_on_schedule_or_once_answers_left_out_stop_coming() -> None:
    assert is_due(64, 32, quiet_for=0.0)  # the answers doubled
    assert not is_due(40, 32, quiet_for=QUIET_SECONDS - 1)
    assert is_due(40, 32, quiet_for=QUIET_SECONDS)
    assert not is_due(32, 32, quiet_for=QUIET_SECONDS)  # none left out
    watch = AnswerWatch()
    assert watch.quiet_for(5, now=100.0) == 0.0
    assert watch.quiet_for(5, now=160.0) == 60.0
    assert watch.quiet_for(6, now=170.0) == 0.0  # an answer came: quiet starts again


async def test_reestimation_runs_in_one_process_at_a_time(db: Database) -> None:
    now = datetime.now(UTC)
    assert await consensus_store.take_reestimation_lease(db, holder="p1", now=now, seconds=60)
    assert not await consensus_store.take_reestimation_lease(db, holder="p2", now=now, seconds=60)
    await consensus_store.release_reestimation_lease(db, holder="p1", now=now)
    assert await consensus_store.take_reestimation_lease(db, holder="p2", now=now, seconds=60)


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["gold", "f" * 24, "n1"], 1, "no pre-labelled photo"),
        (["gold", "only-one-argument"], 2, "usage: photosurvey gold"),
        (["gold", "f" * 24, "n1\x07"], 2, "must not contain control characters"),
        (["gold", "f" * 23 + "\udcff", "n1"], 2, "a photo id must not contain"),  # not UTF-8
        (["gold", "f" * 24, "n1\udcff"], 2, "must not contain control characters"),
    ],
)
def test_gold_command_line_refuses_bad_input(
    settings: Settings, arguments: list[str], code: int, message: str
) -> None:
    result = run_photosurvey(settings, *arguments)
    assert result.returncode == code
    assert message in result.stderr
