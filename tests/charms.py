"""Charm metadata the state tests deploy."""

from __future__ import annotations

from agent_runtime.state.charm import Charm

WORDPRESS = Charm.from_metadata(
    {
        "name": "wordpress",
        "requires": {"db": {"interface": "mysql"}, "cache": {"interface": "memcache"}},
    },
    {
        "options": {
            "title": {"type": "string", "default": "My blog"},
            "port": {"type": "int", "default": 80},
            "ratio": {"type": "float"},
            "debug": {"type": "boolean", "default": False},
        }
    },
)
MYSQL = Charm.from_metadata({"name": "mysql", "provides": {"server": {"interface": "mysql"}}})
MEMCACHED = Charm.from_metadata(
    {"name": "memcached", "provides": {"cache": {"interface": "memcache"}}}
)
RIAK = Charm.from_metadata({"name": "riak", "peers": {"ring": {"interface": "riak"}}})


def deploy(state, *services: tuple[str, Charm]) -> None:
    """Add the standard services (or those given) to ``state``. RIAK, whose
    peer relation is made when it is deployed, is not one of them."""
    for name, charm in services or (
        ("wordpress", WORDPRESS),
        ("mysql", MYSQL),
        ("memcached", MEMCACHED),
    ):
        state.add_service(name, charm)
