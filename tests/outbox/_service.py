"""An order service for the crash tests, run as its own process: it commits orders
numbered from where the table's last committed one left off up to N, each order row
and its event (tfso_events.outbox, the blocking form) in one transaction, at about
``rate`` orders per second. Killed at any moment, it leaves whole orders only; started
again, it goes on.

    python tests/outbox/_service.py DB_URL OUTBOX_TABLE ORDERS_TABLE N [RATE]
"""

from __future__ import annotations

import sys
import time

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, func, select

from tfso_events.models.bank_test_created_v1 import BankTestCreatedV1Event
from tfso_events.outbox import Outbox
from tfso_events.testing import build


def orders_table(metadata: MetaData, name: str) -> Table:
    """The service's own table: one row per committed order."""
    return Table(name, metadata, Column("id", Integer, primary_key=True, autoincrement=False))


def main() -> None:
    url, outbox_name, orders_name, total = sys.argv[1:5]
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    metadata = MetaData()
    orders = orders_table(metadata, orders_name)
    outbox = Outbox(metadata, table_name=outbox_name)
    with engine.connect() as conn:
        start = int(conn.scalar(select(func.coalesce(func.max(orders.c.id), 0))) or 0) + 1
    began = time.monotonic()
    for n in range(start, int(total) + 1):
        event = build(BankTestCreatedV1Event, content__first_name=f"order-{n}")
        with engine.begin() as conn:
            conn.execute(orders.insert().values(id=n))
            outbox.add_sync(conn, event)
        if rate:
            ahead = (n - start + 1) / rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)
    print("done", flush=True)


if __name__ == "__main__":
    main()
