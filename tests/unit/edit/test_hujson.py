"""Splicing entries into HuJSON: comments, trailing commas and layout of the file are kept."""

from __future__ import annotations

import json5.loader
from json5.model import JSONArray, JSONObject

from ingress2tailscale.edit.hujson import (
    Style,
    append_entries,
    apply_splices,
    detect_style,
    find_member,
    render_inline,
)

POLICY = """\
// the home tailnet
{
  // who may do what
  "acls": [
    {"action": "accept", "src": ["autogroup:admin"], "dst": ["*:*"]}, // admins
  ],
  "tagOwners": {"tag:k8s-operator": []},
}
"""


def _root(text: str) -> JSONObject:
    node = json5.loader.loads(text, loader=json5.loader.ModelLoader()).value
    assert isinstance(node, JSONObject)
    return node


def _acls(text: str) -> JSONArray:
    node = find_member(_root(text), "acls")
    assert isinstance(node, JSONArray)
    return node


def test_the_style_is_read_from_the_file() -> None:
    assert detect_style(POLICY, _root(POLICY)) == Style("  ", True)


def test_an_entry_appended_to_a_multi_line_list_keeps_comments_and_the_trailing_comma() -> None:
    entry = render_inline({"action": "accept", "src": ["tag:tazpod"], "dst": ["tag:k8s:5432"]})
    style = detect_style(POLICY, _root(POLICY))
    after = apply_splices(POLICY, append_entries(POLICY, _acls(POLICY), [entry], style), "\n")
    assert after == POLICY.replace(
        "// admins\n",
        '// admins\n    {"action": "accept", "src": ["tag:tazpod"], "dst": ["tag:k8s:5432"]},\n',
    )


def test_an_owner_appended_to_a_one_line_list_stays_on_one_line() -> None:
    text = '{"tagOwners": {"tag:k8s": ["tag:k8s-operator"]}}\n'
    owners = find_member(find_member(_root(text), "tagOwners"), "tag:k8s")
    after = apply_splices(text, append_entries(text, owners, ['"autogroup:admin"']), "\n")
    assert after == '{"tagOwners": {"tag:k8s": ["tag:k8s-operator", "autogroup:admin"]}}\n'


def test_crlf_files_get_crlf_splices() -> None:
    text = POLICY.replace("\n", "\r\n")
    entry = render_inline({"action": "accept", "src": ["a"], "dst": ["b:1"]})
    style = detect_style(text, _root(text))
    after = apply_splices(text, append_entries(text, _acls(text), [entry], style), "\r\n")
    assert "\n" not in after.replace("\r\n", "")
    assert '{"action": "accept", "src": ["a"], "dst": ["b:1"]},\r\n  ],' in after
