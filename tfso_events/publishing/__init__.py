"""Publishers. The clients import their I/O stacks (aiohttp, aioboto3) lazily, so
``import tfso_events`` stays cheap for consumers that only parse events."""
