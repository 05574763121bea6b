"""The OAuth client's `scopes` edit: golden before/after .tf files written by hand, the errors,
and `terraform fmt -check` on every result (skipped, with the reason, without a terraform)."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from ingress2tailscale.edit.terraform import check_terraform_fmt, edit_scopes, find_oauth_client
from ingress2tailscale.errors import ConfigError

GOLDEN = Path(__file__).parents[2] / "golden" / "terraform"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
RESOURCE = "tailscale_oauth_client.k8s_operator"
WANTED = ["devices:core", "auth_keys", "services"]  # DESIGN.md 2.2
HAS_TERRAFORM = shutil.which("terraform") is not None or shutil.which("tofu") is not None
NEEDS_TERRAFORM = pytest.mark.skipif(not HAS_TERRAFORM, reason="no terraform/tofu on PATH")

# (removed, added) lines in the unified diff of each golden edit
DIFF_LINES = {"seed": (1, 1), "multiline": (0, 1), "two-resources": (1, 1)}


def read_case(case: str) -> tuple[str, str]:
    return (GOLDEN / case / "before.tf").read_text(), (GOLDEN / case / "after.tf").read_text()


def client_text(name: str, scopes: str) -> str:
    return f'resource "tailscale_oauth_client" "{name}" {{\n  scopes = {scopes}\n}}\n'


def diff_counts(before: str, after: str) -> tuple[int, int]:
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm=""))[2:]
    return sum(ln[:1] == "-" for ln in lines), sum(ln[:1] == "+" for ln in lines)


@pytest.mark.parametrize("case", CASES)
def test_golden_edit_gives_the_hand_written_result(case: str) -> None:
    before, after = read_case(case)
    edit = edit_scopes(before, RESOURCE, WANTED, f"{case}/before.tf")
    assert edit.after == after
    assert diff_counts(before, edit.after) == DIFF_LINES[case]


@pytest.mark.parametrize("case", CASES)
def test_golden_edit_of_its_own_result_changes_nothing(case: str) -> None:
    after = read_case(case)[1]
    again = edit_scopes(after, RESOURCE, WANTED, f"{case}/after.tf")
    assert again.after == after
    assert again.added == ()


@pytest.mark.parametrize("case", CASES)
def test_golden_edit_changes_only_the_scopes_value(case: str) -> None:
    before = read_case(case)[0]
    after = edit_scopes(before, RESOURCE, WANTED, "main.tf").after
    old = find_oauth_client(before, RESOURCE, "main.tf").scopes_span
    new = find_oauth_client(after, RESOURCE, "main.tf").scopes_span
    assert old[0] == new[0]
    assert after[: new[0]] == before[: old[0]]
    assert after[new[1] :] == before[old[1] :]


@NEEDS_TERRAFORM
@pytest.mark.parametrize("case", CASES)
def test_golden_results_pass_terraform_fmt_check(case: str) -> None:
    assert check_terraform_fmt(read_case(case)[1]) is None


def test_legacy_devices_scope_stands_for_devices_core_with_a_note() -> None:
    edit = edit_scopes(read_case("seed")[0], RESOURCE, WANTED, "infra/oauth.tf")
    assert edit.added == ("services",)
    assert len(edit.notes) == 1
    assert "infra/oauth.tf line 4" in edit.notes[0]
    assert "`devices`" in edit.notes[0] and "`devices:core`" in edit.notes[0]
    assert edit_scopes(edit.after, RESOURCE, WANTED, "infra/oauth.tf").notes == edit.notes


def test_find_reads_the_named_resource() -> None:
    client = find_oauth_client(read_case("two-resources")[0], RESOURCE, "main.tf")
    assert client.name == "k8s_operator"
    assert client.description == "tazlab-k8s-operator"
    assert client.scopes == ("auth_keys",)
    assert client.tags == ("tag:k8s-operator",)
    assert client.line == 8


def test_missing_resource_names_the_file_and_the_resource() -> None:
    text = client_text("ci", '["auth_keys"]')
    with pytest.raises(ConfigError) as caught:
        edit_scopes(text, RESOURCE, WANTED, "../infra/tailscale/oauth.tf")
    message = str(caught.value)
    assert "../infra/tailscale/oauth.tf" in message
    assert 'resource "tailscale_oauth_client" "k8s_operator"' in message


def test_file_that_does_not_parse_names_file_and_line() -> None:
    text = client_text("k8s_operator", '["auth_keys"]').replace("]\n}", "\n}")
    with pytest.raises(ConfigError, match=r"oauth\.tf: line 3, column 1: not valid HCL"):
        find_oauth_client(text, RESOURCE, "oauth.tf")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (client_text("k8s_operator", "var.scopes"), "not a list of quoted strings"),
        (client_text("k8s_operator", '["auth_keys", "${var.x}"]'), "not a plain quoted scope"),
        ('resource "tailscale_oauth_client" "k8s_operator" {\n}\n', "has no `scopes`"),
    ],
)
def test_scopes_we_cannot_edit_safely_are_refused(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        edit_scopes(text, RESOURCE, WANTED, "oauth.tf")


def test_resource_address_must_have_type_and_name() -> None:
    with pytest.raises(ConfigError, match=r"TYPE\.NAME"):
        find_oauth_client(client_text("k8s_operator", "[]"), "k8s_operator", "oauth.tf")


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        ("[]", '["devices:core", "auth_keys", "services"]'),
        ('["auth_keys"]', '["auth_keys", "devices:core", "services"]'),
        (
            '[\n    "auth_keys"\n  ]',
            '[\n    "auth_keys",\n    "devices:core",\n    "services"\n  ]',
        ),
        (
            "[\n  ]",
            '[\n    "devices:core",\n    "auth_keys",\n    "services",\n  ]',
        ),
    ],
)
def test_list_layouts_are_kept(scopes: str, expected: str) -> None:
    after = edit_scopes(client_text("k8s_operator", scopes), RESOURCE, WANTED, "x.tf").after
    assert after == client_text("k8s_operator", expected)


@NEEDS_TERRAFORM
def test_fmt_check_reports_the_line_of_a_syntax_error() -> None:
    message = check_terraform_fmt(client_text("k8s_operator", "[").replace("[\n}", "[\n\n}"))
    assert message is not None
    assert "line 4" in message


@NEEDS_TERRAFORM
def test_fmt_check_reports_unformatted_text() -> None:
    message = check_terraform_fmt('resource "a" "b" {\n  x= 1\n}\n')
    assert message is not None and "terraform fmt" in message


def test_fmt_check_without_terraform_on_path_says_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no terraform, no tofu
    assert check_terraform_fmt('resource "a" "b" {\n  x= 1\n}\n') is None
