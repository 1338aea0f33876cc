"""Where pingtree calls a publisher or a buyer back: the URL, its signing secret, the events."""

from pingtree.webhooks.model import Webhook, WebhookEvent

__all__ = ["Webhook", "WebhookEvent"]
