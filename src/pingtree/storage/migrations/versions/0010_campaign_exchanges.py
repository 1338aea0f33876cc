"""campaign rollups: distinct leads posted (per campaign and per buyer), exchange durations

The console's buyer and campaign tables read them instead of counting the raw exchanges.
The exchanges stored before this revision are added to them here, from the attempt rows,
in the slot their lead was received in (as the roller counts a lead's event).

Revision ID: 0010_campaign_exchanges
Revises: 0009_console
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import pingtree.storage.types

revision: str = "0010_campaign_exchanges"
down_revision: str | None = "0009_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000
ALL = "*"

COLUMNS = (
    ("leads_posted", sa.Integer(), "0"),
    ("buyer_leads_posted", sa.Integer(), "0"),
    ("exchange_ms", sa.Float(), "0"),
)


def upgrade() -> None:
    with op.batch_alter_table("campaign_rollups") as batch:
        for name, kind, default in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=sa.text(default)))
    _add_stored_exchanges()


def _add_stored_exchanges() -> None:
    """The distinct leads posted and exchange durations of the attempts stored before."""
    from pingtree.storage.db import dialect_insert_for

    bind = op.get_bind()
    leads = sa.table(
        "leads",
        sa.column("id", sa.String),
        sa.column("publisher", sa.String),
        sa.column("vertical", sa.String),
        sa.column("test", sa.Boolean),
        sa.column("received_at", pingtree.storage.types.UTCDateTime(timezone=True)),
    )
    attempts = sa.table(
        "attempts",
        sa.column("id", sa.Integer),
        sa.column("lead_id", sa.String),
        sa.column("campaign", sa.String),
        sa.column("buyer", sa.String),
        sa.column("kind", sa.String),
        sa.column("duration_ms", sa.Float),
    )
    added: dict[tuple[int, str, int, str], dict[str, Any]] = {}
    after = ""
    while True:
        batch = bind.execute(
            sa.select(leads.c.id, leads.c.publisher, leads.c.vertical, leads.c.received_at)
            .where(leads.c.id > after, leads.c.test.is_(False))
            .order_by(leads.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            break
        after = batch[-1][0]
        of_lead: dict[str, list[Any]] = defaultdict(list)
        for row in bind.execute(
            sa.select(
                attempts.c.lead_id,
                attempts.c.campaign,
                attempts.c.buyer,
                attempts.c.kind,
                attempts.c.duration_ms,
            )
            .where(attempts.c.lead_id.in_([b[0] for b in batch]))
            .order_by(attempts.c.lead_id, attempts.c.id)
        ):
            of_lead[row[0]].append(row)
        for lead_id, publisher, vertical, received_at in batch:
            _add_lead(added, of_lead.get(lead_id, []), publisher, vertical, received_at)
    if not added:
        return
    table = sa.table(
        "campaign_rollups",
        *(sa.column(n) for n in ("grain", "publisher", "bucket", "campaign", "buyer")),
        sa.column("vertical"),
        *(sa.column(name) for name, _, _ in COLUMNS),
    )
    insert = dialect_insert_for(bind.dialect.name)(table)
    statement = insert.on_conflict_do_update(
        index_elements=["grain", "publisher", "bucket", "campaign"],
        set_={n: table.c[n] + insert.excluded[n] for n, _, _ in COLUMNS},
    )
    rows = [
        {"grain": g, "publisher": p, "bucket": b, "campaign": c, **f}
        for (g, p, b, c), f in sorted(added.items())
    ]
    for start in range(0, len(rows), BATCH):
        bind.execute(statement, rows[start : start + BATCH])


def _add_lead(
    added: dict[tuple[int, str, int, str], dict[str, Any]],
    rows: list[Any],
    publisher: str,
    vertical: str,
    received_at: datetime,
) -> None:
    """One lead's attempts, added at both grains for its publisher and for all (`*`)."""
    if not rows:
        return
    at = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    slot = int(at.timestamp()) // 900
    figures: dict[str, dict[str, Any]] = {}
    for _, campaign, buyer, kind, duration_ms in rows:
        f = figures.setdefault(campaign, {"buyer": buyer, **{n: 0 for n, _, _ in COLUMNS}})
        f["exchange_ms"] += float(duration_ms or 0)
        if kind == "post":
            f["leads_posted"] = 1
    posted_to: set[str] = set()
    for f in figures.values():
        if f["leads_posted"] and f["buyer"] not in posted_to:
            posted_to.add(f["buyer"])
            f["buyer_leads_posted"] = 1
    for campaign, f in figures.items():
        for grain, bucket in ((15, slot), (60, slot // 4)):
            for who in (publisher, ALL):
                found = added.setdefault(
                    (grain, who, bucket, campaign),
                    {"buyer": f["buyer"], "vertical": vertical, **{n: 0 for n, _, _ in COLUMNS}},
                )
                for name, _, _ in COLUMNS:
                    found[name] += f[name]


def downgrade() -> None:
    with op.batch_alter_table("campaign_rollups") as batch:
        for name, _, _ in COLUMNS:
            batch.drop_column(name)
