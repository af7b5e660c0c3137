"""The package's version, on the ground floor: modules that name it (the EventBridge
client's User-Agent, ``tfso-events --version``) import it from here rather than from
``tfso_events``, whose ``__init__`` imports them (for the type checker) in turn."""

__all__ = ["__version__"]

#: The version of this package, as in pyproject.toml.
__version__ = "0.1.0"
