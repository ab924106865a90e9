"""agent_runtime.uniter.hook against the reference (uniter-reference §1).

TestValidate is §1.4's table; the rest pins the kinds, their classes and the
YAML round trip of Info (§1.2), including bad YAML.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime.uniter import hook
from agent_runtime.uniter.hook import RELATION_HOOKS, UNIT_HOOKS, HookError, Info, Kind

VALIDATE = [  # TestValidate, in the reference's order
    (Info(Kind.RELATION_JOINED), '"relation-joined" hook requires a remote unit'),
    (Info(Kind.RELATION_CHANGED), '"relation-changed" hook requires a remote unit'),
    (Info(Kind.RELATION_DEPARTED), '"relation-departed" hook requires a remote unit'),
    (Info("grok"), 'unknown hook kind "grok"'),
    (Info(Kind.INSTALL), None),
    (Info(Kind.START), None),
    (Info(Kind.CONFIG_CHANGED), None),
    (Info(Kind.UPGRADE_CHARM), None),
    (Info(Kind.STOP), None),
    (Info(Kind.RELATION_JOINED, remote_unit="x"), None),
    (Info(Kind.RELATION_CHANGED, remote_unit="x"), None),
    (Info(Kind.RELATION_DEPARTED, remote_unit="x"), None),
    (Info(Kind.RELATION_BROKEN), None),
]


@pytest.mark.parametrize(("info", "error"), VALIDATE, ids=[str(i) for i in range(1, 14)])
def test_validate(info, error):  # TestValidate
    if error is None:
        assert info.validate() is None
    else:
        with pytest.raises(HookError) as raised:
            info.validate()
        assert str(raised.value) == error


def test_kinds_and_their_values():
    assert [k.value for k in UNIT_HOOKS] == [
        "install",
        "start",
        "config-changed",
        "upgrade-charm",
        "stop",
    ]
    assert [k.value for k in RELATION_HOOKS] == [
        "relation-joined",
        "relation-changed",
        "relation-departed",
        "relation-broken",
    ]
    assert set(Kind) == set(UNIT_HOOKS) | set(RELATION_HOOKS)
    assert len(Kind) == 9


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_kind_classes(kind):
    assert kind.is_unit() == (kind in UNIT_HOOKS)
    assert kind.is_relation() == (kind in RELATION_HOOKS)
    assert kind.is_unit() != kind.is_relation()
    assert kind.needs_remote_unit() == (kind in RELATION_HOOKS[:3])


def test_kind_is_a_str():
    assert Kind.RELATION_JOINED == "relation-joined"
    assert str(Kind.CONFIG_CHANGED) == "config-changed"
    assert f"{Kind.STOP}" == "stop"
    assert Kind("upgrade-charm") is Kind.UPGRADE_CHARM


def test_info_turns_a_known_str_into_a_kind():
    info = Info("relation-changed", 3, "u/0", 7)
    assert info.kind is Kind.RELATION_CHANGED
    assert info == Info(Kind.RELATION_CHANGED, 3, "u/0", 7)
    assert Info("grok").kind == "grok" and not isinstance(Info("grok").kind, Kind)


def test_info_defaults():
    info = Info(Kind.INSTALL)
    assert (info.relation_id, info.remote_unit, info.change_version) == (None, "", 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": 3},
        {"kind": "install", "relation_id": "12"},
        {"kind": "install", "relation_id": True},
        {"kind": "install", "remote_unit": None},
        {"kind": "install", "change_version": 1.5},
    ],
)
def test_info_refuses_wrong_types(kwargs):
    with pytest.raises(HookError):
        Info(**kwargs)


# -- YAML --------------------------------------------------------------------------


def test_yaml_keys_and_omitempty():
    full = Info(Kind.RELATION_CHANGED, 21345, "u/0", 7)
    assert full.as_dict() == {
        "kind": "relation-changed",
        "relation-id": 21345,
        "remote-unit": "u/0",
        "change-version": 7,
    }
    assert full.to_yaml() == (
        "kind: relation-changed\nrelation-id: 21345\nremote-unit: u/0\nchange-version: 7\n"
    )
    assert Info(Kind.START).to_yaml() == "kind: start\n"
    assert Info(Kind.RELATION_BROKEN, 0).as_dict() == {"kind": "relation-broken", "relation-id": 0}


@pytest.mark.parametrize(
    "info",
    [
        Info(Kind.INSTALL),
        Info(Kind.RELATION_JOINED, 0, "foo-bar/12", 0),
        Info(Kind.RELATION_DEPARTED, 5, "u/1", 2**62),
        Info(Kind.RELATION_BROKEN, 7),
    ],
)
def test_yaml_round_trip(info):
    assert Info.from_yaml(info.to_yaml()) == info
    assert Info.from_dict(info.as_dict()) == info


@given(
    kind=st.sampled_from(list(Kind)),
    relation_id=st.none() | st.integers(min_value=0, max_value=2**31),
    unit=st.from_regex(r"[a-z][a-z0-9-]{0,10}/[0-9]{1,4}", fullmatch=True),
    version=st.integers(min_value=0, max_value=2**63 - 1),
)
def test_yaml_round_trip_property(kind, relation_id, unit, version):
    remote = unit if kind.needs_remote_unit() else ""
    info = Info(kind, relation_id, remote, version)
    assert Info.from_yaml(info.to_yaml()) == info


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("kind: grok\n", 'unknown hook kind "grok"'),
        ("kind: 12\n", 'unknown hook kind "12"'),
        ("relation-id: 1\n", "hook info has no kind"),
        ("kind: relation-joined\nrelation-id: abc\nremote-unit: u/0\n", "relation-id must be"),
        ("kind: relation-joined\nrelation-id: 1.5\nremote-unit: u/0\n", "relation-id must be"),
        ("kind: relation-joined\nrelation-id: 1\n", '"relation-joined" hook requires a remote'),
        ("kind: install\nchange-version: x\n", "change-version must be an integer"),
        ("kind: install\nremote-unit: [1]\n", "remote-unit must be a string"),
        ("kind: install\nstatus: started\n", "unknown keys: ['status']"),
        ("- kind: install\n", "hook info must be a mapping, not list"),
        ("", "hook info must be a mapping, not NoneType"),
        ("kind: 'install\n", "YAML error: "),
    ],
)
def test_bad_yaml(text, error):
    with pytest.raises(HookError) as raised:
        Info.from_yaml(text)
    assert error in str(raised.value)
    assert "\n" not in str(raised.value)


def test_quote_is_like_go():
    assert hook.quote("grok") == '"grok"'
    assert hook.quote('a"b\\c') == '"a\\"b\\\\c"'
    assert hook.quote("a\nb\x00") == '"a\\nb\\x00"'
