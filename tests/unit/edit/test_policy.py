"""The HuJSON policy edits: golden before/after files, written by hand, and the edge cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingress2tailscale.edit.policy import PolicyEdit, diff_policy, edit_policy, parse_policy
from ingress2tailscale.errors import ConfigError

GOLDEN = Path(__file__).parents[2] / "golden" / "policy"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())

# the seed's tailnet, as configured in DESIGN.md 2.2
TAG_OWNERS = {"tag:k8s": ["tag:k8s-operator"], "tag:internal-apps": ["tag:k8s-operator"]}
ACLS = [
    {"action": "accept", "src": ["tag:tazpod"], "dst": ["tag:k8s:5432"]},
    {"action": "accept", "src": ["tag:tazpod"], "dst": ["tag:internal-apps:443"]},
]
TESTS = [{"src": "tag:tazpod", "accept": ["tag:k8s:5432", "tag:internal-apps:443"]}]

# lines a careful human changes rather than adds: an owner appended to an existing list, or the
# comma after the previous last item when the file has no trailing commas (in the spaces case
# difflib shows the `}` that gains a comma as an unchanged `}` after the new block, so 2, not 3)
CHANGED_LINES = {
    "tabs-trailing-commas": 0,
    "grants": 1,
    "no-tagowners": 0,
    "spaces-no-trailing-commas": 2,
    "complete": 0,
}


def seed_edit(text: str) -> PolicyEdit:
    return edit_policy(text, TAG_OWNERS, ACLS, TESTS)


def read_case(case: str) -> tuple[str, str]:
    folder = GOLDEN / case
    return (folder / "before.hujson").read_text(), (folder / "after.hujson").read_text()


def same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    norm = {k: sorted(v) if isinstance(v, list) else v for k, v in a.items()}
    return norm == {k: sorted(v) if isinstance(v, list) else v for k, v in b.items()}


def removed_and_added(diff: str) -> tuple[list[str], list[str]]:
    lines = [ln for ln in diff.splitlines() if not ln.startswith(("---", "+++"))]
    return [ln[1:] for ln in lines if ln[:1] == "-"], [ln[1:] for ln in lines if ln[:1] == "+"]


def is_insertion(old: str, new: str) -> bool:
    """`new` is `old` with text inserted (every character of `old` kept, in order)."""
    rest = iter(new)
    return len(new) > len(old) and all(char in rest for char in old)


@pytest.mark.parametrize("case", CASES)
def test_golden_edit_gives_the_hand_written_result(case: str) -> None:
    before, after = read_case(case)
    edit = seed_edit(before)
    assert edit.after == after
    assert bool(edit.added) == (before != after)


@pytest.mark.parametrize("case", CASES)
def test_golden_edit_of_its_own_result_changes_nothing(case: str) -> None:
    _, after = read_case(case)
    again = seed_edit(after)
    assert again.after == after
    assert again.added == ()
    assert diff_policy(again) == ""


@pytest.mark.parametrize("case", CASES)
def test_golden_result_contains_what_was_configured(case: str) -> None:
    data = parse_policy(seed_edit(read_case(case)[0]).after)
    for tag, owners in TAG_OWNERS.items():
        assert set(owners) <= set(data["tagOwners"][tag])
    if "grants" in data and "acls" not in data:
        wanted: list[dict[str, Any]] = [
            {"src": ["tag:tazpod"], "dst": ["tag:k8s"], "ip": ["tcp:5432"]}
        ]
        wanted.append({"src": ["tag:tazpod"], "dst": ["tag:internal-apps"], "ip": ["tcp:443"]})
    else:
        wanted = ACLS
    for rule in wanted:
        assert any(same_rule(rule, have) for have in data.get("grants", data.get("acls", [])))
    assert any(same_rule(TESTS[0], have) for have in data["tests"])


@pytest.mark.parametrize("case", CASES)
def test_golden_diff_only_adds_lines_or_inserts_into_them(case: str) -> None:
    edit = seed_edit(read_case(case)[0])
    removed, added = removed_and_added(diff_policy(edit, "policy.hujson"))
    assert len(removed) == CHANGED_LINES[case]
    for old in removed:  # every changed line keeps its text and gains an insertion
        assert any(is_insertion(old, new) for new in added), old


def test_diff_names_the_file() -> None:
    diff = diff_policy(seed_edit(read_case("no-tagowners")[0]), "tailnet/policy.hujson")
    assert diff.startswith("--- a/tailnet/policy.hujson\n+++ b/tailnet/policy.hujson\n")


def test_syntax_error_names_source_line_and_column() -> None:
    text = '{\n\t"acls": [\n\t\t{"action": "accept"}\n\t\n}\n'
    with pytest.raises(ConfigError) as caught:
        parse_policy(text, source="tailnet.hujson")
    message = str(caught.value)
    assert "tailnet.hujson: line 5, column 1" in message
    assert "Fix the syntax there" in message


def test_edit_of_broken_policy_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"api policy: line 1, column 10"):
        edit_policy('{"acls": ]}', TAG_OWNERS, ACLS, TESTS, source="api policy")


@pytest.mark.parametrize("text", ["[]", '"policy"', ""])
def test_policy_that_is_not_an_object_is_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match="policy"):
        parse_policy(text)


def test_section_of_the_wrong_kind_is_rejected() -> None:
    with pytest.raises(ConfigError, match="`tagOwners` must be an object"):
        seed_edit('{"tagOwners": []}')


def test_empty_policy_gets_every_section_in_tabs_with_trailing_commas() -> None:
    after = seed_edit("{}\n").after
    assert after == (
        "{\n"
        '\t"tagOwners": {\n'
        '\t\t"tag:k8s": ["tag:k8s-operator"],\n'
        '\t\t"tag:internal-apps": ["tag:k8s-operator"],\n'
        "\t},\n"
        '\t"acls": [\n'
        '\t\t{"action": "accept", "src": ["tag:tazpod"], "dst": ["tag:k8s:5432"]},\n'
        '\t\t{"action": "accept", "src": ["tag:tazpod"], "dst": ["tag:internal-apps:443"]},\n'
        "\t],\n"
        '\t"tests": [\n'
        '\t\t{"src": "tag:tazpod", "accept": ["tag:k8s:5432", "tag:internal-apps:443"]},\n'
        "\t],\n"
        "}\n"
    )
    assert seed_edit(after).after == after


def test_empty_sections_are_opened_over_several_lines() -> None:
    before = '{\n  "tagOwners": {},\n  "acls": [],\n  "tests": [\n  ],\n}\n'
    after = seed_edit(before).after
    assert after.splitlines()[1:4] == [
        '  "tagOwners": {',
        '    "tag:k8s": ["tag:k8s-operator"],',
        '    "tag:internal-apps": ["tag:k8s-operator"],',
    ]
    assert (
        '    {"src": "tag:tazpod", "accept": ["tag:k8s:5432", "tag:internal-apps:443"]},' in after
    )
    assert seed_edit(after).after == after


def test_one_line_policy_stays_on_one_line() -> None:
    before = '{"tagOwners": {"tag:k8s": []}, "acls": [{"src": ["*"], "dst": ["*:*"]}]}'
    after = seed_edit(before).after
    assert "\n" not in after
    assert parse_policy(after)["tagOwners"]["tag:k8s"] == ["tag:k8s-operator"]
    assert len(parse_policy(after)["acls"]) == 3
    assert seed_edit(after).after == after


def test_windows_line_endings_are_kept() -> None:
    before = read_case("tabs-trailing-commas")[0].replace("\n", "\r\n")
    after = seed_edit(before).after
    assert after.count("\n") == after.count("\r\n")
    assert after == read_case("tabs-trailing-commas")[1].replace("\n", "\r\n")


def test_owner_list_over_several_lines_gets_a_new_line() -> None:
    before = '{\n\t"tagOwners": {\n\t\t"tag:k8s": [\n\t\t\t"group:admins",\n\t\t],\n\t},\n}\n'
    after = edit_policy(before, {"tag:k8s": ["tag:k8s-operator"]}, [], []).after
    assert after == before.replace(
        '"group:admins",\n', '"group:admins",\n\t\t\t"tag:k8s-operator",\n'
    )


def test_grants_merge_ports_of_one_tag_and_keep_tags_apart() -> None:
    acls = [
        {"action": "accept", "src": ["group:ops"], "dst": ["tag:k8s:5432", "tag:web:80,443"]},
        {"action": "accept", "src": ["group:ops"], "dst": ["tag:k8s:22"]},
    ]
    before = '{\n  "grants": [\n    {"src": ["*"], "dst": ["*"], "ip": ["*"]},\n  ],\n}\n'
    grants = parse_policy(edit_policy(before, {}, acls, []).after)["grants"]
    assert grants[1:] == [
        {"src": ["group:ops"], "dst": ["tag:k8s"], "ip": ["tcp:5432", "tcp:22"]},
        {"src": ["group:ops"], "dst": ["tag:web"], "ip": ["tcp:80", "tcp:443"]},
    ]


def test_acl_destination_without_a_port_cannot_become_a_grant() -> None:
    acls = [{"action": "accept", "src": ["*"], "dst": ["tag:k8s"]}]
    with pytest.raises(ConfigError, match="tag:name:port"):
        edit_policy('{"grants": []}', {}, acls, [])


def test_rules_in_legacy_spelling_count_as_present() -> None:
    before = (
        '{"acls": [{"action": "accept", "users": ["tag:tazpod"], "ports": ["tag:k8s:5432"]}],'
        ' "tests": [{"user": "tag:tazpod", "allow": ["tag:internal-apps:443", "tag:k8s:5432"]}]}'
    )
    edit = edit_policy(before, {}, ACLS[:1], TESTS)
    assert edit.after == before
    assert edit.added == ()


def test_added_describes_each_addition() -> None:
    edit = seed_edit(read_case("grants")[0])
    assert edit.added == (
        "tagOwners: tag:k8s-operator may now own tag:k8s",
        "tagOwners: tag:internal-apps owned by tag:k8s-operator",
        "grants: tag:tazpod -> tag:k8s (tcp:5432)",
        "grants: tag:tazpod -> tag:internal-apps (tcp:443)",
        "tests: tag:tazpod must accept tag:k8s:5432, tag:internal-apps:443",
    )


def test_empty_list_holding_only_a_comment_keeps_the_comment() -> None:
    before = '{\n  "acls": [\n    /* none yet */ ],\n}\n'
    edit = edit_policy(before, {}, ACLS[:1], [])
    assert "/* none yet */" in edit.after
    assert parse_policy(edit.after)["acls"] == ACLS[:1]
    assert edit_policy(edit.after, {}, ACLS[:1], []).after == edit.after
