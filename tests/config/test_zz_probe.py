import asyncio

from pingtree.config.store import current_version
from pingtree.storage.db import create_engine, sessions


def test_probe(database_url: str) -> None:
    async def go() -> int:
        engine = create_engine(database_url)
        try:
            async with sessions(engine)() as s:
                return await current_version(s)
        finally:
            await engine.dispose()

    assert asyncio.run(go()) == 0
