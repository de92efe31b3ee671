"""Development tooling, not shipped in the production image: the local stack (``devtools.devstack``:
embedded broker, redis-server, process runner, capture replay, config table) and the AI Horde
stand-in (``devtools.horde_standin``). Production code never imports it
(tests/unit/test_dev_tools_apart.py)."""
