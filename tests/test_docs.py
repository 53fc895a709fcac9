"""The documentation stays true: docs/config.md is what the options classes generate, every relative link of
the README, the changelog and docs/ resolves, and the README stays a short front door whose test command is
CI's."""

import re
from pathlib import Path

import pytest

from advnets.config_reference import markdown_reference

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200  # the front door is read in five minutes; findings and history live in docs/

# [text](target) and ![alt](target), with an optional "title"; the target ends at whitespace or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def relative_links(text: str) -> list[str]:
    """Targets of the markdown links and images in `text` that point at files: code is skipped, and so are
    web addresses, mail addresses and anchors within the page; a #fragment is dropped."""
    targets = []
    for target in LINK.findall(CODE.sub("", text)):
        if re.match(r"(https?:|mailto:|#)", target):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_config_reference_page_is_current():
    page = ROOT / "docs" / "config.md"
    assert page.exists(), "docs/config.md is missing: run python -m advnets.config_reference > docs/config.md"
    assert page.read_text(encoding="utf-8") == markdown_reference(), (
        "docs/config.md is stale: run python -m advnets.config_reference > docs/config.md"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = [t for t in relative_links(page.read_text(encoding="utf-8")) if not (page.parent / t).exists()]
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_link_finder_sees_links_and_images_but_not_code_or_web_addresses():
    text = (
        "See [a](docs/a.md#part), ![pic](img.png) and [web](https://x.org), [m](mailto:a@b.org)\n"
        '[anchor](#here) ![t](../t.png "title") `[not](code.md)`\n```\n[nor](block.md)\n```\n'
    )
    assert relative_links(text) == ["docs/a.md", "img.png", "../t.png"]


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move findings to docs/, release "
        "notes to CHANGELOG.md and keep the README a front door"
    )


def test_readme_test_command_is_the_one_ci_runs():
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    ci_commands = [line for line in ci_lines if "pip install" in line and "pytest" in line]
    assert len(ci_commands) == 1, f".ci/run should hold one install-and-test line, found {ci_commands}"
    readme_lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert ci_commands[0] in readme_lines, (
        f"README.md must show CI's test command verbatim, on a line of its own: {ci_commands[0]}"
    )
