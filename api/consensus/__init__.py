"""Consensus: answers to labels, contributor reliability and retirement, on plain data.

Pure domain logic (no database, no schema): the service keeps these states in MongoDB
documents (`to_document` / `from_document`) and applies an answer as two `$inc` updates
(`AnswerUpdate.photo_inc`, `AnswerUpdate.contributor_inc`). `ConsensusEngine` is the
in-memory reference of that wiring, used by the benchmarks and tests.
"""
