"""Postbacks and webhooks: calls to a publisher's postback URL or a buyer's webhook, queued
durably in the database, signed, retried with backoff, each try logged with its answer."""
