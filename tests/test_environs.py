"""environs: Config validation, the provider registry, entry points, ``new``."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from agent_runtime import environs
from agent_runtime.environs import (
    Config,
    ConfigError,
    DummyEnviron,
    DummyProvider,
    EnvironError,
    describe,
    new,
    provider,
    providers,
    register_provider,
    unregister_provider,
)
from agent_runtime.environs import registry as registry_module
from agent_runtime.interfaces import IEnviron, IEnvironProvider

VALID = {"name": "test-env", "type": "dummy", "secret": "pork", "uuid": "1234", "extra": [1, 2]}


@pytest.fixture(autouse=True)
def clean_registry():
    """Whatever a test registers (or loads from an entry point) is forgotten after it."""
    saved = dict(registry_module._registered)
    yield
    registry_module._registered.clear()
    registry_module._registered.update(saved)


# -- Config -------------------------------------------------------------------------


def test_config_is_an_immutable_mapping_of_its_attributes():
    config = Config(VALID)
    assert config == VALID
    assert dict(config) == VALID
    assert config.name == "test-env" and config.type == "dummy"
    assert config["extra"] == [1, 2] and len(config) == len(VALID)
    assert "secret" in config and "nope" not in config
    with pytest.raises(TypeError):
        config["name"] = "other"  # type: ignore[index]
    copy = config.as_dict()
    copy["name"] = "other"
    assert config.name == "test-env"
    assert Config(config) == config
    assert "pork" not in repr(config)


def test_config_does_not_alias_its_input():
    attrs = dict(VALID)
    config = Config(attrs)
    attrs["name"] = "changed"
    assert config.name == "test-env"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"secret": 999}, "secret: expected string, got int(999)"),
        ({"secret": 1.5}, "secret: expected string, got float64(1.5)"),
        ({"secret": True}, "secret: expected string, got bool(true)"),
        ({"secret": None}, "secret: expected string, got nothing"),
        ({"uuid": 7}, "uuid: expected string, got int(7)"),
        ({"default-series": ["precise"]}, "default-series: expected string, got []interface {}"),
        ({"authorized-keys": {"a": 1}}, "authorized-keys: expected string, got map[string]"),
        ({"development": "yes"}, 'development: expected bool, got string("yes")'),
        ({"development": 1}, "development: expected bool, got int(1)"),
        ({"name": 5}, "name: expected string, got int(5)"),
        ({"type": False}, "type: expected string, got bool(false)"),
        ({"name": ""}, "empty name in environment configuration"),
        ({"type": ""}, "empty type in environment configuration"),
    ],
)
def test_config_errors_name_the_attribute(changes, message):
    with pytest.raises(ConfigError) as raised:
        Config({**VALID, **changes})
    assert str(raised.value).startswith(message)


def test_the_reference_error_text_exactly():
    with pytest.raises(ConfigError) as raised:
        Config({**VALID, "secret": 999})
    assert str(raised.value) == "secret: expected string, got int(999)"


@pytest.mark.parametrize("missing", ["name", "type"])
def test_config_requires_name_and_type(missing):
    attrs = dict(VALID)
    del attrs[missing]
    with pytest.raises(ConfigError) as raised:
        Config(attrs)
    assert str(raised.value) == f"{missing}: expected string, got nothing"


def test_required_attributes_are_checked_first():
    with pytest.raises(ConfigError) as raised:
        Config({"secret": 999})
    assert str(raised.value) == "name: expected string, got nothing"


def test_unknown_attributes_pass_through():
    config = Config({"name": "n", "type": "t", "anything": {"x": [None, 1.5]}, "n": None})
    assert config["anything"] == {"x": [None, 1.5]} and config["n"] is None


@pytest.mark.parametrize("bad", [None, [("name", "x")], "name=x", 42, {"name", "type"}])
def test_a_config_that_is_not_a_mapping_is_refused(bad):
    with pytest.raises(ConfigError) as raised:
        Config(bad)
    assert "environment config must be a mapping" in str(raised.value)


def test_keys_must_be_str():
    with pytest.raises(ConfigError) as raised:
        Config({**VALID, 3: "x"})
    assert str(raised.value) == "environment config keys must be str, got int(3)"


def test_errors_are_value_errors():
    assert issubclass(ConfigError, EnvironError)
    assert issubclass(EnvironError, ValueError)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "nothing"),
        (999, "int(999)"),
        (-1, "int(-1)"),
        (1.5, "float64(1.5)"),
        (2.0, "float64(2)"),
        (True, "bool(true)"),
        (False, "bool(false)"),
        ("x", 'string("x")'),
        ('a"b', 'string("a\\"b")'),
    ],
)
def test_values_are_described_as_go_does(value, text):
    assert describe(value) == text


# -- the registry ---------------------------------------------------------------------


def test_dummy_is_built_in():
    assert "dummy" in providers()
    dummy = provider("dummy")
    assert isinstance(dummy, DummyProvider)
    verifyObject(IEnvironProvider, dummy)


def test_new_opens_a_dummy_environ():
    environ = new(VALID)
    verifyObject(IEnviron, environ)
    assert isinstance(environ, DummyEnviron)
    assert environ.name() == "test-env"
    assert environ.config() == VALID
    environ.config()["name"] = "mutated"
    assert environ.config() == VALID
    assert new(Config(VALID)) == environ


def test_new_with_an_unknown_type():
    with pytest.raises(EnvironError) as raised:
        new({**VALID, "type": "unknown"})
    assert str(raised.value) == 'no registered provider for "unknown"'


def test_new_checks_the_config_first():
    with pytest.raises(ConfigError) as raised:
        new({"type": "unknown"})
    assert str(raised.value) == "name: expected string, got nothing"
    with pytest.raises(ConfigError):
        new("name=x")  # type: ignore[arg-type]


def test_the_dummy_refuses_broken():
    with pytest.raises(ConfigError) as raised:
        new({**VALID, "broken": "Bootstrap"})
    assert str(raised.value).startswith("broken: ")
    with pytest.raises(ConfigError):
        DummyProvider().open(Config({**VALID, "broken": True}))


@implementer(IEnvironProvider)
class RecordingProvider:
    """A provider whose Environs are DummyEnvirons; records what it was asked."""

    def __init__(self, open_error=None, returns=None):
        self.calls = []
        self.open_error = open_error
        self.returns = returns

    def validate(self, config):
        self.calls.append(("validate", config.name))

    def open(self, config):
        self.calls.append(("open", config.name))
        if self.open_error is not None:
            raise self.open_error
        return self.returns if self.returns is not None else DummyEnviron(config)


def test_register_a_provider():
    recorder = RecordingProvider()
    register_provider("recorder", recorder)
    assert "recorder" in providers()
    assert provider("recorder") is recorder
    environ = new({"name": "r", "type": "recorder"})
    assert environ.name() == "r"
    assert recorder.calls == [("validate", "r"), ("open", "r")]
    unregister_provider("recorder")
    assert "recorder" not in providers()
    unregister_provider("recorder")  # unknown: ignored


def test_duplicate_types_are_refused_unless_replaced():
    with pytest.raises(ValueError, match="duplicate provider type 'dummy'"):
        register_provider("dummy", RecordingProvider())
    replacement = RecordingProvider()
    register_provider("dummy", replacement, replace=True)
    assert provider("dummy") is replacement


@pytest.mark.parametrize("bad_type", ["", None, 3])
def test_register_checks_the_type(bad_type):
    with pytest.raises(ValueError):
        register_provider(bad_type, RecordingProvider())


def test_register_checks_the_provider():
    with pytest.raises(TypeError, match="must provide IEnvironProvider"):
        register_provider("thing", object())


def test_a_failing_provider_gives_an_environ_error():
    cause = KeyError("region")
    register_provider("failing", RecordingProvider(open_error=cause))
    with pytest.raises(EnvironError) as raised:
        new({"name": "f", "type": "failing"})
    assert str(raised.value) == (
        'provider "failing" cannot open environment "f": KeyError: \'region\''
    )
    assert raised.value.__cause__ is cause


def test_a_provider_error_passes_through():
    error = ConfigError("region: expected string, got nothing")
    register_provider("picky", RecordingProvider(open_error=error))
    with pytest.raises(ConfigError) as raised:
        new({"name": "p", "type": "picky"})
    assert raised.value is error


def test_a_provider_must_return_an_ienviron():
    register_provider("odd", RecordingProvider(returns=object()))
    with pytest.raises(EnvironError, match="does not provide IEnviron"):
        new({"name": "o", "type": "odd"})


# -- entry points ---------------------------------------------------------------------


@pytest.fixture
def distribution(tmp_path, monkeypatch):
    """Install (on sys.path) a distribution declaring ``entry_points`` in the
    ``agent_runtime.providers`` group, with a module of the given source.
    Returns the module's name."""
    module = f"ar_test_providers_{uuid.uuid4().hex}"

    def install(source: str, entry_points: dict[str, str]) -> str:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        lines = [f"{name} = {value.format(module=module)}" for name, value in entry_points.items()]
        (info / "entry_points.txt").write_text(
            "[agent_runtime.providers]\n" + "\n".join(lines) + "\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.invalidate_caches()
        return module

    yield install
    sys.modules.pop(module, None)


PROVIDER_SOURCE = """
    from zope.interface import implementer
    from agent_runtime.environs import DummyEnviron
    from agent_runtime.interfaces import IEnvironProvider

    @implementer(IEnvironProvider)
    class Provider:
        def validate(self, config):
            pass

        def open(self, config):
            return DummyEnviron(config)

    INSTANCE = Provider()
    NOT_A_PROVIDER = object()
"""


def test_entry_point_providers_are_listed_and_loaded_lazily(distribution):
    module = distribution(
        PROVIDER_SOURCE,
        {"ep-instance": "{module}:INSTANCE", "ep-class": "{module}:Provider"},
    )
    assert {"ep-instance", "ep-class", "dummy"} <= set(providers())
    assert module not in sys.modules, "listing providers must not load them"
    environ = new({"name": "e", "type": "ep-instance"})
    assert environ.name() == "e"
    assert module in sys.modules
    loaded = provider("ep-instance")
    assert provider("ep-instance") is loaded is sys.modules[module].INSTANCE
    # a class implementing IEnvironProvider is instantiated
    assert isinstance(provider("ep-class"), sys.modules[module].Provider)
    assert new({"name": "c", "type": "ep-class"}).name() == "c"


def test_a_registered_provider_wins_over_an_entry_point(distribution):
    module = distribution(PROVIDER_SOURCE, {"both": "{module}:INSTANCE"})
    recorder = RecordingProvider()
    register_provider("both", recorder)
    assert provider("both") is recorder
    assert module not in sys.modules


def test_an_entry_point_that_fails_to_import(distribution):
    distribution("raise RuntimeError('no cloud today')\n", {"cloudy": "{module}:Provider"})
    with pytest.raises(EnvironError) as raised:
        new({"name": "c", "type": "cloudy"})
    message = str(raised.value)
    assert message.startswith("cannot load provider 'cloudy' from entry point 'cloudy' (")
    assert "agent_runtime.providers" in message
    assert message.endswith("RuntimeError: no cloud today")
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_an_entry_point_naming_a_missing_module(distribution):
    distribution("", {"gone": "ar_no_such_module_anywhere:Provider"})
    with pytest.raises(EnvironError) as raised:
        provider("gone")
    assert "cannot load provider 'gone'" in str(raised.value)
    assert "ar_no_such_module_anywhere" in str(raised.value)
    assert "ModuleNotFoundError" in str(raised.value)


def test_an_entry_point_naming_a_missing_attribute(distribution):
    distribution(PROVIDER_SOURCE, {"typo": "{module}:INSTANSE"})
    with pytest.raises(EnvironError, match=r"cannot load provider 'typo'.*AttributeError"):
        provider("typo")


def test_an_entry_point_that_is_not_a_provider(distribution):
    distribution(PROVIDER_SOURCE, {"odd": "{module}:NOT_A_PROVIDER"})
    with pytest.raises(EnvironError) as raised:
        provider("odd")
    assert "cannot load provider 'odd'" in str(raised.value)
    assert str(raised.value).endswith("does not provide IEnvironProvider")


def test_a_failed_load_is_not_remembered(distribution):
    distribution(PROVIDER_SOURCE, {"typo": "{module}:INSTANSE"})
    for _ in range(2):
        with pytest.raises(EnvironError):
            provider("typo")
    assert "typo" not in registry_module._registered


def test_the_package_exports():
    for name in environs.__all__:
        assert getattr(environs, name) is not None
