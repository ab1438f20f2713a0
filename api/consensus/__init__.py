"""Consensus: answers to labels, contributor reliability and retirement, on plain data.

Pure domain logic (no database, no schema). The service keeps these states in MongoDB
documents (`to_document` / `from_document`) and applies an answer as two `$inc` updates
(`AnswerUpdate.photo_inc`, `AnswerUpdate.contributor_inc`); a periodic `reestimate` (EM)
refreshes reliabilities and rescores every photo. `ConsensusEngine` is the in-memory
reference of that wiring, used by the benchmarks and tests.

Errors: `InvalidAnswer` (an answer that does not fit its question, a `ValueError`) and
`AlreadyAnswered` (a second answer by one contributor on one photo, a `ValueError`).
"""

from api.consensus.aggregation import (
    AnswerUpdate,
    Consensus,
    ConsensusMethod,
    PhotoState,
    Posterior,
    answer_update,
    apply_update,
    consensus,
    log_odds_of,
    majority,
    posterior,
    posterior_from,
    updated_photo,
)
from api.consensus.em import Reestimate, VoteRecord, reestimate
from api.consensus.engine import (
    AlreadyAnswered,
    ConsensusEngine,
    EngineSettings,
    reestimate_due,
)
from api.consensus.evidence import (
    Answer,
    ChooseAnswer,
    DescribeAnswer,
    Evidence,
    InvalidAnswer,
    LabelIndex,
    VerifyAnswer,
    VerifyResponse,
    Vote,
    evidence_of,
    normalise_tag,
)
from api.consensus.keys import decode_key, encode_key
from api.consensus.priors import LabelPrior, ModelPrior, Prior
from api.consensus.reliability import (
    ContributorState,
    ErrorPattern,
    ReliabilityPrior,
    agreement_rate,
    reliability,
    typical_accuracy,
)
from api.consensus.retirement import (
    Demand,
    RetirementPolicy,
    RetirementReason,
    answers_still_needed,
    demand,
    retirement_reason,
)

__all__ = [
    "AlreadyAnswered",
    "Answer",
    "AnswerUpdate",
    "ChooseAnswer",
    "Consensus",
    "ConsensusEngine",
    "ConsensusMethod",
    "ContributorState",
    "Demand",
    "DescribeAnswer",
    "EngineSettings",
    "ErrorPattern",
    "Evidence",
    "InvalidAnswer",
    "LabelIndex",
    "LabelPrior",
    "ModelPrior",
    "PhotoState",
    "Posterior",
    "Prior",
    "Reestimate",
    "ReliabilityPrior",
    "RetirementPolicy",
    "RetirementReason",
    "VerifyAnswer",
    "VerifyResponse",
    "Vote",
    "VoteRecord",
    "agreement_rate",
    "answer_update",
    "answers_still_needed",
    "apply_update",
    "consensus",
    "decode_key",
    "demand",
    "encode_key",
    "evidence_of",
    "log_odds_of",
    "majority",
    "normalise_tag",
    "posterior",
    "posterior_from",
    "reestimate",
    "reestimate_due",
    "reliability",
    "retirement_reason",
    "typical_accuracy",
    "updated_photo",
]
