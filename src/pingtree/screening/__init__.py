"""Screening: checks, scores, dedup and suppression lists before a lead is routed.

Import what you need from its modules (checks, model, normalize, score, service,
repository); the package itself imports nothing, so the light ones (model) do not pull in
the phone, ZIP and e-mail data the checks load.
"""
