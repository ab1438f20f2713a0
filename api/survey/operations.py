"""The GraphQL documents a contributor app sends to work through tasks: ask for tasks, then
answer each. The tests and the load benchmark send exactly these."""

NEXT_TASKS = """
mutation Next($count: Int!) {
  nextTasks(count: $count) {
    leaseId expiresAt photoId photoUrl
    question { kind prompt labels { id name } }
    reason { policy score modelVersion }
  }
}
"""

SUBMIT = """
mutation Submit($input: SubmitAnswerInput!) {
  submitAnswer(input: $input) {
    __typename
    ... on AnswerAccepted { answerId photoId answersStillNeeded }
    ... on LeaseExpired { leaseId message }
    ... on LeaseNotFound { leaseId message }
    ... on AlreadyAnswered { photoId message }
    ... on IdempotencyKeyReused { idempotencyKey message }
    ... on InvalidAnswer { reason }
  }
}
"""
