"""Static check verdicts kept between runs: reused only while every input is the same (the planned
texts, and every answer the disk gave the checks); any change runs the checks again."""

from __future__ import annotations

import json
from pathlib import Path

from ingress2tailscale.checks.manifests import check_files
from ingress2tailscale.checks.verdicts import CHECKS_STORE, verdict_store
from ingress2tailscale.model import Notice

SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: web\n"
SERVICE += "spec:\n  ports:\n    - port: 80\n"
DEPLOYMENT = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: web\n"
NEW_SERVICE = SERVICE.replace("name: web\n", "name: web-tailnet\n", 1)
KUSTOMIZATION = "resources:\n  - service.yaml\n  - config.yaml\n"
MARKER = Notice("warning", "apps/web/service.yaml:1", "a verdict kept from an earlier run")


def make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    files = {
        "apps/kustomization.yaml": "resources:\n  - web\n",
        "apps/web/kustomization.yaml": KUSTOMIZATION,
        "apps/web/service.yaml": SERVICE,
        "apps/web/config.yaml": DEPLOYMENT,
    }
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text, encoding="utf-8")
    (repo / ".git").mkdir()  # the store lives in .git, as in a real repo
    return repo


def planned() -> dict[str, str | None]:
    return {
        "apps/web/kustomization.yaml": KUSTOMIZATION + "  - tailnet.yaml\n",
        "apps/web/tailnet.yaml": NEW_SERVICE,
    }


def stored_verdicts(repo: Path) -> list[Path]:
    store = verdict_store(repo, CHECKS_STORE)
    assert store is not None
    return sorted(p for p in store.iterdir() if not p.name.startswith("."))


def plant_marker(repo: Path) -> None:
    """Replace the kept verdict by one no check can produce: seeing it proves it was reused."""
    (kept,) = stored_verdicts(repo)
    data = json.loads(kept.read_text(encoding="utf-8"))
    data["notices"] = [MARKER.to_json()]
    kept.write_text(json.dumps(data), encoding="utf-8")


def static_only(notices: list[Notice]) -> list[Notice]:
    return [n for n in notices if "kubectl kustomize" not in n.message]


def test_the_same_inputs_reuse_the_kept_verdict(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    assert static_only(check_files(repo, planned())) == []
    plant_marker(repo)
    assert MARKER in check_files(repo, planned())


def test_a_file_removed_from_disk_runs_the_checks_again(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    assert static_only(check_files(repo, planned())) == []
    plant_marker(repo)
    (repo / "apps/web/config.yaml").unlink()  # listed by the edited kustomization
    notices = check_files(repo, planned())
    assert MARKER not in notices
    assert [n.subject for n in notices if "`config.yaml`" in n.message] == [
        "apps/web/kustomization.yaml:3"
    ]


def test_an_unchanged_kustomization_edited_on_disk_runs_the_checks_again(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    changed: dict[str, str | None] = {"apps/web/tailnet.yaml": NEW_SERVICE}
    (warning,) = check_files(repo, changed)  # not listed by apps/web/kustomization.yaml
    assert "not listed" in warning.message
    plant_marker(repo)
    listed = KUSTOMIZATION + "  - tailnet.yaml\n"
    (repo / "apps/web/kustomization.yaml").write_text(listed, encoding="utf-8")
    assert static_only(check_files(repo, changed)) == []


def test_a_changed_planned_text_runs_the_checks_again(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    assert static_only(check_files(repo, planned())) == []
    plant_marker(repo)
    broken = {**planned(), "apps/web/tailnet.yaml": NEW_SERVICE.replace("spec:", "  spec:")}
    notices = check_files(repo, broken)
    assert MARKER not in notices
    assert any("indentation of `spec`" in n.message for n in notices)
    assert len(stored_verdicts(repo)) == 2


def test_a_damaged_kept_verdict_runs_the_checks_again(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    check_files(repo, planned())
    (kept,) = stored_verdicts(repo)
    kept.write_text('{"probes": [["read", "x"', encoding="utf-8")
    assert static_only(check_files(repo, planned())) == []
