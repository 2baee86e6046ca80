"""The report renderers: schema validation, stable JSON, escaped Markdown, safe self-contained HTML.

They render real engine output (tests/enginereport.py: a real organisation audited by the engine),
so every assertion is about the report model the engine actually builds."""

from __future__ import annotations

import ast
import copy
import json
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from enginereport import (
    GITHUB_URL,
    GITLAB_URL,
    XSS_EXCERPT,
    XSS_REPO,
    engine_report,
    repo_commit,
)

from mlaudit.reports import write_reports
from mlaudit.reports.html import git_web_link, render_html, safe_url
from mlaudit.reports.json_report import (
    ReportValidationError,
    _fast_validator,
    load_schema,
    render_json,
    validate_report,
)
from mlaudit.reports.markdown import md_code, md_line, md_text, render_markdown

REPORTS_DIR = Path(__file__).resolve().parent.parent / "reports"


# --- an HTML model built with html.parser, so tests assert structure and not only substrings ---


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.content: list[Node | str] = []  # children and text, in document order

    @property
    def text(self) -> str:
        return " ".join("".join(self._texts()).split())

    def _texts(self) -> list[str]:
        out: list[str] = []
        for part in self.content:
            out.extend([part] if isinstance(part, str) else part._texts())
        return out

    def add(self, child: Node) -> None:
        self.children.append(child)
        self.content.append(child)

    def iter(self, tag: str | None = None):
        for child in self.children:
            if tag is None or child.tag == tag:
                yield child
            yield from child.iter(tag)

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


VOID = {"meta", "link", "br", "img", "hr", "input", "source", "wbr", "area", "base", "col"}


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.current = self.root
        self.all_tags: list[tuple[str, dict[str, str | None]]] = []
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.all_tags.append((tag, dict(attrs)))
        self.current.add(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.all_tags.append((tag, dict(attrs)))
        self.current.add(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent  # tolerate implied closes (e.g. <p>) the way browsers do
        assert node is not self.root, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.content.append(data)


def parse(html: str) -> TreeBuilder:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, f"unclosed <{builder.current.tag}>"
    return builder


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return engine_report()


@pytest.fixture(scope="module")
def html(report: dict[str, Any]) -> str:
    return render_html(report)


@pytest.fixture(scope="module")
def doc(html: str) -> TreeBuilder:
    return parse(html)


def hrefs(doc: TreeBuilder) -> list[str]:
    return [a["href"] for t, a in doc.all_tags if "href" in a and a["href"] is not None]


def finding(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["check_id"] == check_id)


def evidence_by_signal(report: dict[str, Any], subject: str, signal: str) -> dict[str, Any]:
    return next(e for e in report["evidence"] if e["subject"] == subject and e["signal"] == signal)


# --- schema ---


def test_schema_is_valid_draft_2020_12() -> None:
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")


def test_engine_report_validates(report: dict[str, Any]) -> None:
    validate_report(report)
    assert _fast_validator() is not None and _fast_validator().is_valid(report)  # the fast path taken
    outcomes = {f["outcome"] for f in report["findings"]}
    assert outcomes == {"pass", "partial", "fail", "unknown", "waived"}  # every outcome is rendered
    assert {c["status"] for c in report["collectors"]} == {"ok", "failed", "not_configured"}


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda r: r.pop("summary"), "report"),
        (lambda r: r["findings"][2].pop("check_id"), "report.findings[2]"),
        (lambda r: r["findings"][3].update(outcome="maybe"), "report.findings[3].outcome"),
        (lambda r: r["evidence"][0].update(provenance="hearsay"), "report.evidence[0].provenance"),
        (lambda r: r["collectors"][1].update(status="broken"), "report.collectors[1].status"),
        (
            lambda r: r["summary"]["dimensions"]["process"]["levels"][0].update(status="meh"),
            "report.summary.dimensions.process.levels[0].status",
        ),
        (lambda r: r["summary"]["dimensions"].pop("technical"), "report.summary.dimensions"),
        (lambda r: r.update(extra=1), "report"),
        (lambda r: r["findings"][0].update(severity="high"), "report.findings[0]"),
        (lambda r: r["evidence"][0].update(secret="x"), "report.evidence[0]"),
        (lambda r: r["run"].update(exit_code=2), "report.run.exit_code"),
        (lambda r: r["summary"]["overall"].update(level=7), "report.summary.overall.level"),
        (lambda r: r["findings"][0].update(provenance="rumour"), "report.findings[0].provenance"),
        (lambda r: r.update(schema_version="3.0"), "report.schema_version"),
        (lambda r: r.update(generated_at="2026-13-45T99:00:00Z"), "report.generated_at"),
        (lambda r: r.update(generated_at="yesterday"), "report.generated_at"),
    ],
)
def test_schema_rejects_broken_reports(report: dict[str, Any], mutate: Any, path: str) -> None:
    broken = copy.deepcopy(report)
    mutate(broken)
    # the compiled validator (every run's check) rejects what jsonschema rejects, formats included
    assert not _fast_validator().is_valid(broken)
    with pytest.raises(ReportValidationError) as info:
        validate_report(broken)
    assert any(p == path for p, _ in info.value.problems), info.value.problems
    assert path in str(info.value)


def test_schema_accepts_nulls_where_documented(report: dict[str, Any]) -> None:
    r = copy.deepcopy(report)
    r["findings"][0]["provenance"] = None
    r["findings"][0]["framework"] = None
    r["run"]["fail_under"] = 3
    r["run"]["config_file"] = None
    r["evidence"][0]["excerpt"] = None
    r["findings"][0]["metrics"] = {"nested": {"any": ["thing", 1, None]}}
    validate_report(r)


def test_validation_checks_references(report: dict[str, Any]) -> None:
    dangling = copy.deepcopy(report)
    n = len(dangling["findings"][0]["evidence"])
    dangling["findings"][0]["evidence"].append("ev-000000000000")
    with pytest.raises(ReportValidationError, match=rf"report\.findings\[0\]\.evidence\[{n}\]"):
        validate_report(dangling)
    duplicate = copy.deepcopy(report)
    duplicate["evidence"].append(copy.deepcopy(duplicate["evidence"][0]))
    with pytest.raises(ReportValidationError, match="duplicate evidence id"):
        validate_report(duplicate)
    twice = copy.deepcopy(report)
    twice["findings"].append(copy.deepcopy(twice["findings"][0]))
    with pytest.raises(ReportValidationError, match="duplicate finding"):
        validate_report(twice)


def test_validation_error_message_is_readable(report: dict[str, Any]) -> None:
    broken = copy.deepcopy(report)
    broken["findings"][3]["outcome"] = "maybe"
    with pytest.raises(ReportValidationError) as info:
        validate_report(broken)
    assert str(info.value).startswith("invalid report: report.findings[3].outcome: 'maybe'")


# --- JSON ---


def test_render_json_is_stable(report: dict[str, Any]) -> None:
    first = render_json(report)
    assert first == render_json(copy.deepcopy(report))
    reordered = {k: report[k] for k in reversed(list(report))}
    reordered["run"] = {k: report["run"][k] for k in reversed(list(report["run"]))}
    assert render_json(reordered).encode() == first.encode()
    assert first.endswith("}\n") and not first.endswith("\n\n")
    assert json.loads(first) == report
    assert '\n  "collectors": [' in first  # two-space indent, keys sorted
    keys = [line.split('"')[1] for line in first.splitlines() if line.startswith('  "')]
    assert keys == sorted(keys)


def test_render_json_keeps_unicode_and_refuses_nan(report: dict[str, Any]) -> None:
    kept = copy.deepcopy(report)
    kept["organisation"] = "Acme — Zürich · 機械学習"
    assert '"organisation": "Acme — Zürich · 機械学習"' in render_json(kept)
    broken = copy.deepcopy(report)
    broken["run"]["duration_s"] = float("nan")
    with pytest.raises(ValueError):
        render_json(broken)


# --- Markdown ---


def test_markdown_summary(report: dict[str, Any]) -> None:
    md = render_markdown(report)
    assert md.startswith("# ML maturity of Acme \\& Co \\<ML\\>: Level 2 — Exploring\n")
    assert report["summary"]["overall"]["assessed_dimensions"] == list(report["summary"]["dimensions"])
    assert md_text(report["summary"]["overall"]["statement"]) in md
    conf = report["summary"]["confidence"]
    assert f"**Confidence:** {conf['assessed']} of {conf['checks']} checks assessed (" in md
    assert f"{round(conf['share_observed'] * 100)}% observed" in md
    tech = report["summary"]["dimensions"]["technical"]
    assert f"| Technical | {tech['level']} · {tech['name']} |" in md
    assert "## Next steps" in md
    first = report["next_steps"][0]
    assert f"1. **{first['title']}** (`{first['check_id']}`" in md
    assert f"   - Do: {md_text(first['remediation'])}" in md
    from mlaudit.reports.markdown import TOP_STEPS

    assert len(report["next_steps"]) > TOP_STEPS
    assert f"…and {len(report['next_steps']) - TOP_STEPS} more in report.html." in md
    assert "**aws** (A): failed" in md
    assert "Not configured: gx" in md
    n = report["summary"]["counts"]
    assert (f"{n['pass']} pass · {n['partial']} partial · {n['fail']} fail · {n['unknown']} unknown · "
            f"{n['waived']} waived ({len(report['findings'])} checks)") in md
    assert "report.html" in md and "report.json" in md


def test_markdown_escapes_audited_text(report: dict[str, Any]) -> None:
    r = copy.deepcopy(report)
    r["summary"]["dimensions"]["process"]["explanation"] = "a | b `c` <script>x</script>\n# head"
    r["summary"]["overall"]["statement"] = "# not a heading\n- nor a list"
    md = render_markdown(r)
    row = next(line for line in md.splitlines() if line.startswith("| Process |"))
    unescaped = [i for i, ch in enumerate(row) if ch == "|" and row[i - 1 : i] != "\\"]
    assert len(unescaped) == 4, row  # the row keeps exactly its three cells
    assert r"a \| b \`c\` \<script\>x\</script\> \# head" in row
    assert "\n\\# not a heading - nor a list\n" in md
    assert "<script>" not in md
    # remediation and collector errors are rendered escaped, whatever they hold
    r["next_steps"][0]["remediation"] = "Declare it in `terraform/` | or CDK <stacks>."
    aws = next(c for c in r["collectors"] if c["name"] == "aws")
    aws["errors"][0]["message"] = "AccessDenied: sts:AssumeRole | not authorized"
    md = render_markdown(r)
    assert r"in \`terraform/\` \| or CDK \<stacks\>." in md
    assert r"AccessDenied: sts:AssumeRole \| not authorized" in md


def test_markdown_helpers() -> None:
    assert md_text("a*b_c [x](y)") == r"a\*b\_c \[x\](y)"
    assert md_text("line\nbreak\tand  spaces") == "line break and spaces"
    assert md_line("1. first") == r"1\. first"
    assert md_line("> quote") == r"\> quote"
    assert md_line("+ plus") == r"\+ plus"
    assert md_code("plain") == "`plain`"
    assert md_code("has ` tick") == "``has ` tick``"
    assert md_code("`edge`") == "`` `edge` ``"


def test_markdown_not_assessed_and_empty(report: dict[str, Any]) -> None:
    r = minimal_report()
    md = render_markdown(r)
    assert "# ML maturity of Acme \\& Co \\<ML\\>: Level 0 — Not started" in md
    assert "Not assessed: product, organizational." in md
    assert "| Product | not assessed |" in md
    assert "No next steps" in md
    assert "## Collector problems" not in md


# --- HTML ---


def test_html_document_structure(doc: TreeBuilder) -> None:
    assert doc.doctype is not None and doc.doctype.lower() == "doctype html"
    html_el = next(doc.root.iter("html"))
    assert html_el.attrs.get("lang") == "en"
    metas = [n.attrs for n in doc.root.iter("meta")]
    assert {"charset": "utf-8"} in metas
    assert any(
        m.get("name") == "viewport" and "width=device-width" in (m.get("content") or "")
        for m in metas
    )
    assert "Level 2 Exploring" in next(doc.root.iter("title")).text
    h1s = list(doc.root.iter("h1"))
    assert len(h1s) == 1 and h1s[0].text == "ML maturity audit: Acme & Co <ML>"
    assert [n.attrs.get("id") for n in doc.root.iter("section") if n.attrs.get("id")] == [
        "summary",
        "ladder",
        "next-steps",  # the executive summary ends with the next steps (printed first)
        "repositories",
        "findings",
        "survey",
        "waivers",
        "frameworks",
        "framework-google-mlops",
        "framework-microsoft-mlops",
        "framework-ml-test-score",
        "collectors",
        "methodology",
    ]
    # headings never skip a level on the way down
    levels = [int(tag[1]) for tag, _ in doc.all_tags if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}]
    assert levels[0] == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels


def test_html_nesting_is_valid(doc: TreeBuilder) -> None:
    """Block elements inside <p> or <summary> would be split apart by a browser's parser."""
    block = {
        "div",
        "ul",
        "ol",
        "dl",
        "pre",
        "blockquote",
        "table",
        "section",
        "article",
        "details",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "p",
    }
    for container in ("p", "summary", "code"):
        for node in doc.root.iter(container):
            inner = {n.tag for n in node.iter()}
            assert not inner & block, (container, inner & block, node.text[:80])
    for details in doc.root.iter("details"):
        assert details.children and details.children[0].tag == "summary"


def test_html_is_self_contained(doc: TreeBuilder, html: str) -> None:
    tags = {t for t, _ in doc.all_tags}
    assert not tags & {
        "script",
        "link",
        "img",
        "iframe",
        "object",
        "embed",
        "frame",
        "audio",
        "video",
        "source",
        "base",
        "form",
        "image",
        "use",
        "foreignobject",
        "feimage",
    }
    # the inline SVG ladder may only reference paint servers inside this document
    assert "svg" in tags
    for tag, attrs in doc.all_tags:
        for name, value in attrs.items():
            if value and "url(" in value:
                assert value.startswith("url(#") and value.endswith(")"), (tag, name, value)
    for tag, attrs in doc.all_tags:
        assert "src" not in attrs, (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if "href" in attrs:
            assert tag == "a", (tag, attrs)
    styles = list(doc.root.iter("style"))
    assert len(styles) == 1
    css = styles[0].text
    assert "url(" not in css and "@import" not in css and "http" not in css
    assert "@media print" in css and "max-width: 40rem" in css
    # the stylesheet is included verbatim: nothing in it was taken for template syntax
    sheet = (REPORTS_DIR / "templates" / "report.css").read_text(encoding="utf-8")
    assert " ".join(css.split()) == " ".join(sheet.split())


def test_html_links_are_fragments_or_http(doc: TreeBuilder, report: dict[str, Any]) -> None:
    links = hrefs(doc)
    assert links
    for link in links:
        assert link.startswith("#") or link.startswith(("https://", "http://")), link
        assert "javascript" not in link.lower()
    ids = {a.get("id") for _, a in doc.all_tags}
    for link in links:
        if link.startswith("#"):
            assert link[1:] in ids, link


def test_html_escapes_audited_strings(doc: TreeBuilder, html: str) -> None:
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror=alert" not in html.replace("&lt;img src=x onerror=alert", "")
    texts = [n.text for n in doc.root.iter("code")]
    assert any(XSS_REPO in t for t in texts)  # shown as text, after the parser decodes it
    excerpts = [n.text for n in doc.root.iter("code") if n.parent and n.parent.tag == "pre"]
    assert any(" ".join(XSS_EXCERPT.split()) in e for e in excerpts)


def test_html_summary_section(doc: TreeBuilder, report: dict[str, Any]) -> None:
    summary = next(n for n in doc.root.iter("section") if n.attrs.get("id") == "summary")
    text = summary.text
    assert "Level 2 Exploring" in text
    assert report["summary"]["overall"]["statement"] in text
    conf = report["summary"]["confidence"]
    for label, share in (
        ("Observed", conf["share_observed"]),
        ("Self-reported", conf["share_self_reported"]),
        ("Not assessed", 1 - conf["share_assessed"]),
    ):
        assert f"{label}: {round(share * 100)}%" in text
    cards = [n for n in summary.iter("article")]
    assert [c.attrs["aria-labelledby"] for c in cards] == [
        "dim-product",
        "dim-process",
        "dim-technical",
        "dim-organizational",
    ]
    for card, key in zip(cards, ("product", "process", "technical", "organizational"), strict=True):
        dim = report["summary"]["dimensions"][key]
        assert dim["explanation"] in card.text
        assert f"Level {dim['level']} · {dim['name']}" in card.text
        dim_conf = report["summary"]["dimensions"][key]["confidence"]
        assert f"Confidence: {dim_conf['assessed']} of {dim_conf['checks']} checks" in card.text


def test_html_ladder_uses_text_not_only_colour(doc: TreeBuilder, report: dict[str, Any]) -> None:
    table = next(n for n in doc.root.iter("table") if "ladder" in (n.attrs.get("class") or ""))
    rows = list(next(table.iter("tbody")).iter("tr"))
    assert [r.children[0].text for r in rows] == [
        "5 · Advanced",
        "4 · Scaling",
        "3 · Building",
        "2 · Exploring",
        "1 · Getting Started",
    ]
    labels = {
        "Achieved",
        "Not achieved",
        "Insufficient evidence",
        "No checks (counts as achieved)",
        "Not reached",
    }
    for row in rows:
        cells = [c for c in row.children if c.tag == "td"]
        assert len(cells) == 4
        for cell in cells:
            assert any(cell.text.split(" ", 1)[1].startswith(label) for label in labels), cell.text
    level1 = [c.text for c in rows[-1].children if c.tag == "td"]
    assert level1[3].startswith("○ No checks")  # organizational has no level-1 checks
    dims = report["summary"]["dimensions"]
    for col, key in enumerate(("product", "process", "technical", "organizational")):
        level = dims[key]["level"]
        cell = [c for c in rows[5 - level].children if c.tag == "td"][col]
        assert "current" in cell.attrs["class"] and "current level" in cell.text, (key, cell.text)
        above = [c for c in rows[5 - level - 1].children if c.tag == "td"][col] if level < 5 else None
        if above is not None and dims[key]["stop_reason"] == "not_achieved":
            assert "Not achieved" in above.text, (key, above.text)
    current = [c for r in rows for c in r.children if c.tag == "td" and "current" in c.attrs.get("class", "")]
    assert len(current) == 4


def test_html_next_steps(doc: TreeBuilder, report: dict[str, Any]) -> None:
    section = next(n for n in doc.root.iter("section") if n.attrs.get("id") == "next-steps")
    items = list(next(section.iter("ol")).children)
    assert len(items) == len(report["next_steps"])
    for li, step in zip(items, report["next_steps"], strict=True):
        assert step["check_id"] in li.text
        assert step["remediation"] in li.text
        quote = next(li.iter("blockquote"))
        assert step["framework"] in quote.text
        for way in step["assess_with"]:
            assert way in li.text
        link = next(a for a in li.iter("a"))
        assert link.attrs["href"] == "#finding-" + step["check_id"]


def test_html_findings_grouped_in_details(doc: TreeBuilder, report: dict[str, Any]) -> None:
    section = next(n for n in doc.root.iter("section") if n.attrs.get("id") == "findings")
    details = [d for d in section.iter("details") if "finding" in d.attrs.get("class", "")]
    assert len(details) == len(report["findings"])
    by_anchor = {d.attrs["id"]: d for d in details}
    for f in report["findings"]:
        d = by_anchor["finding-" + f["check_id"]]
        summary = d.children[0]
        assert summary.tag == "summary"
        assert f["check_id"] in summary.text and f["outcome"] in summary.text
        siblings = d.parent.children
        heading = [h for h in siblings[: siblings.index(d)] if h.tag == "h4"][-1]
        assert heading.text == f["dimension"].capitalize()  # under its dimension's heading
        group = next(a for a in d.ancestors() if a.tag == "section")
        assert next(group.iter("h3")).text.startswith(f"Level {f['level']} —")
        assert len(list(d.iter("li"))) >= len(f["evidence"])
    groups = [next(s.iter("h3")).text for s in section.children if s.tag == "section"]
    assert groups == [
        "Level 1 — Getting Started",
        "Level 2 — Exploring",
        "Level 3 — Building",
        "Level 4 — Scaling",
        "Level 5 — Advanced",
    ]


def test_html_every_check_id_present(doc: TreeBuilder, report: dict[str, Any]) -> None:
    summaries = " ".join(n.text for n in doc.root.iter("summary"))
    for f in report["findings"]:
        assert f["check_id"] in summaries


def test_html_builds_github_and_gitlab_links(doc: TreeBuilder, report: dict[str, Any]) -> None:
    links = set(hrefs(doc))
    github, gitlab = repo_commit("churn-service"), repo_commit("ml-platform")
    ci = evidence_by_signal(report, "churn-service", "ci_pipeline")
    line = ci["locator"].split(":")[-1].split("@")[0]
    assert f"{GITHUB_URL}/blob/{github}/.github/workflows/ci.yml#L{line}" in links
    cited = {e["locator"] for e in report["evidence"] if e["subject"] == "ml-platform"}
    dag = next(x for x in cited if "features daily.py" in x)
    assert f"{GITLAB_URL}/-/blob/{gitlab}/dags/features%20daily.py#L{dag.split(':')[-1].split('@')[0]}" in links
    if f"ml-platform:requirements.txt@{gitlab[:12]}" in cited:
        assert f"{GITLAB_URL}/-/blob/{gitlab}/requirements.txt" in links  # no line, no #L
    assert f"{GITHUB_URL}/tree/{github}" in links  # repository-level fact
    # the link wraps the locator text
    anchor = next(n for n in doc.root.iter("a")
                  if n.attrs["href"] == f"{GITHUB_URL}/blob/{github}/.github/workflows/ci.yml#L{line}")
    assert anchor.text == ci["locator"]


def test_html_does_not_link_javascript_web_url(doc: TreeBuilder, report: dict[str, Any]) -> None:
    monitoring = evidence_by_signal(report, XSS_REPO, "model_monitoring")
    codes = [n for n in doc.root.iter("code") if n.text == monitoring["locator"]]
    assert codes
    assert all(a.tag != "a" for c in codes for a in c.ancestors())
    targets = next(n for n in doc.root.iter("section") if n.attrs.get("id") == "collectors")
    xss_target = next(li for li in targets.iter("li") if li.text.startswith(XSS_REPO))
    assert not list(xss_target.iter("a"))


@pytest.mark.parametrize(
    "web_url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "data:text/html,x",
        "vbscript:x",
        "//github.com/acme/x",
        "https://github.com/a b",
        'https://github.com/a"onx=1',
        "file:///etc/passwd",
        "",
    ],
)
def test_unsafe_web_urls_are_never_links(report: dict[str, Any], web_url: str) -> None:
    r = copy.deepcopy(report)
    for item in r["evidence"]:
        if item["signal"] == "repository":
            item["attributes"]["web_url"] = web_url
    for col in r["collectors"]:
        for target in col["targets"]:
            target.pop("url", None)
            if "web_url" in target:
                target["web_url"] = web_url
    doc = parse(render_html(r))
    external = [h for h in hrefs(doc) if not h.startswith("#")]
    assert all("github" not in h and "gitlab" not in h for h in external), external
    assert all(h.startswith(("http://", "https://")) for h in external)


def test_git_web_link_rules() -> None:
    sha = "a" * 40
    assert (
        git_web_link("https://github.com/o/r", sha, "src/a.py", 3)
        == f"https://github.com/o/r/blob/{sha}/src/a.py#L3"
    )
    assert (
        git_web_link("https://gitlab.example.com/g/sub/r.git/", sha, "a b.py", None)
        == f"https://gitlab.example.com/g/sub/r/-/blob/{sha}/a%20b.py"
    )
    assert git_web_link("https://github.com/o/r", sha) == f"https://github.com/o/r/tree/{sha}"
    assert (
        git_web_link("https://github.com/o/r", sha, "a.py", True)
        == f"https://github.com/o/r/blob/{sha}/a.py"
    )
    assert (
        git_web_link("https://github.com/o/r", sha, "p#q?.py", 0)
        == f"https://github.com/o/r/blob/{sha}/p%23q%3F.py"
    )
    assert git_web_link("https://bitbucket.org/o/r", sha, "a.py", 1) is None
    assert git_web_link("https://github.com/o/r", "main; rm", "a.py", 1) is None
    assert git_web_link("https://github.com/o/r", None, "a.py", 1) is None
    assert git_web_link("https://github.com/o/r", sha, "../../evil", 1) is None
    assert safe_url("http://mlflow.internal:5000/#/x") == "http://mlflow.internal:5000/#/x"
    assert safe_url("models:/churn/4") is None
    assert safe_url("arn:aws:sagemaker:eu-west-1:1:endpoint/x") is None


def test_html_collectors_and_methodology(doc: TreeBuilder, report: dict[str, Any]) -> None:
    section = next(n for n in doc.root.iter("section") if n.attrs.get("id") == "collectors")
    rows = list(next(section.iter("tbody")).iter("tr"))
    assert [r.children[0].text for r in rows] == [
        "git (G)",
        "mlflow (M)",
        "aws (A)",
        "survey (S)",
        "gx (X)",  # not configured: after the sources that ran
    ]
    aws = rows[2]
    assert "✘ Failed" in aws.text
    assert "The config profile (mlaudit-tests-no-such-profile) could not be found" in section.text
    assert "4 targets" in section.text
    assert "Not configured" in rows[4].text
    method = next(n for n in doc.root.iter("section") if n.attrs.get("id") == "methodology")
    for rule in report["methodology"]["rules"]:
        assert rule in method.text
    run = dict(
        zip([n.text for n in method.iter("dt")], [n.text for n in method.iter("dd")], strict=True)
    )
    assert run["Exit code"] == "3" and run["Threshold"] == "80%" and run["Scan path"] == "none"


def test_organisation_is_optional_and_escaped(report: dict[str, Any], html: str) -> None:
    assert "<h1>ML maturity audit: Acme &amp; Co &lt;ML&gt;</h1>" in html
    r = copy.deepcopy(report)
    del r["organisation"]
    validate_report(r)
    assert "<h1>ML maturity audit</h1>" in render_html(r)
    assert render_markdown(r).startswith("# ML maturity: Level 2 — Exploring\n")


def test_nothing_assessed_is_not_shown_as_not_started(report: dict[str, Any]) -> None:
    r = minimal_report()
    r["summary"]["overall"].update(
        level=None, name="Not assessed", assessed_dimensions=[],
        not_assessed=list(r["summary"]["dimensions"]),
    )
    for dim in r["summary"]["dimensions"].values():
        dim.update(assessed=False, level=None, name="Not assessed", stop_reason=None)
    validate_report(r)
    assert render_markdown(r).startswith("# ML maturity of Acme \\& Co \\<ML\\>: not assessed\n")
    doc = parse(render_html(r))
    summary = next(n for n in doc.root.iter("section") if n.attrs.get("id") == "summary")
    assert next(summary.iter("p")).text == "Not assessed"
    assert "Not started" not in next(doc.root.iter("title")).text


def test_html_is_deterministic(report: dict[str, Any], html: str) -> None:
    assert render_html(copy.deepcopy(report)) == html


def test_html_minimal_report_renders() -> None:
    r = minimal_report()
    doc = parse(render_html(r))
    text = doc.root.text
    assert "Level 0 Not started" in text
    assert "Not assessed: product, organizational" in text
    assert "No next steps" in text and "No findings." in text
    assert not [d for d in doc.root.iter("details") if "finding" in d.attrs.get("class", "")]


# --- write_reports and boundaries ---


def test_write_reports(tmp_path: Path, report: dict[str, Any]) -> None:
    out = tmp_path / "nested" / "out"
    written = write_reports(report, out)
    assert written == {
        "json": out / "report.json",
        "html": out / "report.html",
        "md": out / "report.md",
    }
    assert (out / "report.json").read_text(encoding="utf-8") == render_json(report)
    assert (out / "report.md").read_text(encoding="utf-8") == render_markdown(report)
    assert (out / "report.html").read_text(encoding="utf-8") == render_html(report)
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md"]


def test_write_reports_validates_first(tmp_path: Path, report: dict[str, Any]) -> None:
    broken = copy.deepcopy(report)
    broken["findings"][0]["outcome"] = "maybe"
    with pytest.raises(ReportValidationError):
        write_reports(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="unknown report format"):
        write_reports(report, tmp_path / "out", formats=("json", "pdf"))
    assert write_reports(report, tmp_path / "md", formats=("md",)) == {
        "md": tmp_path / "md" / "report.md"
    }


def test_renderers_import_nothing_from_collectors_or_checks() -> None:
    for path in REPORTS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("collectors", "checks")), (path.name, name)


def test_template_never_marks_data_safe() -> None:
    for path in (REPORTS_DIR / "templates").iterdir():
        text = path.read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", "") and "Markup(" not in text
        assert "autoescape false" not in text


# --- helpers ---


def minimal_report() -> dict[str, Any]:
    """No evidence, no findings, two dimensions not assessed: the renderers must still cope."""
    r = engine_report()
    r.update(findings=[], evidence=[], next_steps=[], collectors=[], repositories=[], survey=None,
             waivers=[])
    dims = r["summary"]["dimensions"]
    for key in dims:
        dims[key].update(
            level=0,
            name="Not started",
            stopped_at=1,
            stop_reason="not_achieved",
            explanation=f"{key}: level 1 not achieved.",
        )
        dims[key]["levels"] = [
            {
                "level": n,
                "status": "not_achieved" if n == 1 else "not_reached",
                "score": None,
                "checks": 0,
                "assessed": 0,
                "passing": [],
                "blocking": [],
            }
            for n in range(1, 6)
        ]
    for key in ("product", "organizational"):
        dims[key].update(assessed=False, level=None, name="Not assessed", stop_reason=None)
    r["summary"]["overall"].update(
        level=0,
        name="Not started",
        assessed_dimensions=["process", "technical"],
        not_assessed=["product", "organizational"],
        statement="",
    )
    r["summary"]["counts"] = dict.fromkeys(r["summary"]["counts"], 0)
    r["summary"]["confidence"] = {
        "checks": 0,
        "assessed": 0,
        "observed": 0,
        "self_reported": 0,
        "share_assessed": 0.0,
        "share_observed": 0.0,
        "share_self_reported": 0.0,
    }
    validate_report(r)
    return r


# --- links to MLflow and AWS, the SVG ladder, the summary's why ---


def _with_links(report: dict[str, Any], ui_url: str, console_url: str, every: bool = False) -> dict[str, Any]:
    """The registered models' MLflow UI links (with `every`: every item's) replaced, and an AWS
    endpoint with a console link cited by L2.model-in-production."""
    r = copy.deepcopy(report)
    for item in r["evidence"]:
        if item["signal"] == "registered_model" or (every and "ui_url" in item["attributes"]):
            item["attributes"]["ui_url"] = ui_url
    r["evidence"].append(
        {
            "id": "ev-0123456789ab",
            "collector": "aws",
            "signal": "endpoint",
            "locator": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/churn",
            "subject": "123456789012",
            "provenance": "observed",
            "observed_at": "2026-11-28T11:58:00Z",
            "attributes": {"name": "churn", "console_url": console_url},
            "excerpt": None,
        }
    )
    next(f for f in r["findings"] if f["check_id"] == "L2.model-in-production")["evidence"].append(
        "ev-0123456789ab"
    )
    validate_report(r)
    return r


def test_html_links_mlflow_ui_and_aws_console(report: dict[str, Any]) -> None:
    ui = "http://mlflow.internal:5000/#/models/churn/versions/4"
    console = "https://eu-west-1.console.aws.amazon.com/sagemaker/home?region=eu-west-1#/endpoints/churn"
    doc = parse(render_html(_with_links(report, ui, console)))
    anchors = {a.attrs["href"]: a for a in doc.root.iter("a")}
    assert anchors[ui].text == "models:/churn/3"
    assert anchors[console].text == "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/churn"
    # an evidence line says where its link goes
    labels = [(a.attrs["href"], a.parent.text) for a in doc.root.iter("a")
              if a.attrs["href"] in (ui, console) and a.parent.tag == "p"]
    assert {href for href, _ in labels} == {ui, console}
    assert all(text.endswith("(MLflow UI)" if href == ui else "(AWS console)") for href, text in labels)


def test_html_never_links_unsafe_ui_or_console_urls(report: dict[str, Any]) -> None:
    r = _with_links(report, "javascript:alert(1)", "data:text/html,<b>x</b>", every=True)
    doc = parse(render_html(r))
    for link in hrefs(doc):
        assert link.startswith(("#", "https://", "http://")), link
    codes = [n for n in doc.root.iter("code") if n.text == "models:/churn/3"]
    assert codes and all(a.tag != "a" for c in codes for a in c.ancestors())


def test_html_ladder_svg(doc: TreeBuilder, report: dict[str, Any]) -> None:
    svg = next(doc.root.iter("svg"))
    assert svg.attrs["role"] == "img"
    assert "Maturity ladder" in next(svg.iter("desc")).text
    cells = [g for g in svg.iter("g") if "lc" in (g.attrs.get("class") or "").split()]
    assert len(cells) == 20
    titles = [next(c.iter("title")).text for c in cells]
    assert titles[0].startswith("Product, level 5 (Advanced)")
    # achieved, partly met and insufficient evidence differ by symbol and words, not only colour
    kinds = {(g.attrs["class"].split()[1], next(g.iter("text")).text) for g in cells}
    for kind, text in kinds:
        symbol, words = {
            "lc-achieved": ("✔", "Achieved"),
            "lc-partial": ("◐", "Partly met"),
            "lc-not-achieved": ("✘", "Not met"),
            "lc-insufficient": ("?", "Not assessed"),
            "lc-vacuous": ("○", "No checks"),
            "lc-not-reached": ("·", "Not reached"),
        }[kind]
        assert text == f"{symbol} {words}", (kind, text)
    current = [c for c in cells if "current level" in c.text]
    assert len(current) == 4  # one per dimension


def test_html_summary_says_why(doc: TreeBuilder, report: dict[str, Any]) -> None:
    why = next(p for p in doc.root.iter("p") if "why" in (p.attrs.get("class") or ""))
    assert "The weakest link decides the overall level" in why.text
    first = report["next_steps"][0]
    assert "Confidence:" in why.text and f"First next step: {first['title']}" in why.text
    scope = next(p for p in doc.root.iter("p") if "scope" in (p.attrs.get("class") or ""))
    assert "4 git repositories" in scope.text and "Not configured: gx" in scope.text
    assert "Problems reading: aws" in scope.text


def test_sandbox_run_links_nothing_and_says_so(report: dict[str, Any]) -> None:
    """`sandbox: true`: the same report, its locators as text (marked sandbox locators), never
    links; methodology sources (real pages) stay links; the header and report.md say why."""
    r = copy.deepcopy(report)
    r["run"]["sandbox"] = True
    validate_report(r)
    doc = parse(render_html(r))
    linked = set(hrefs(parse(render_html(report))))
    located = {h for h in linked if h.startswith(GITHUB_URL) or "gitlab" in h or "console.aws" in h}
    assert located  # without `sandbox`, the same report links its evidence
    assert not located & set(hrefs(doc))
    assert not [h for h in hrefs(doc) if not h.startswith("#") and h not in linked]
    html = render_html(r)
    assert "Sandbox run:" in html and 'class="sandbox-locator"' in html
    ci = evidence_by_signal(r, "churn-service", "ci_pipeline")
    assert f'<code class="sandbox-locator" title="sandbox locator">{ci["locator"]}</code>' in html
    assert "Sandbox run:" not in render_html(report)
    assert "**Sandbox run:**" in render_markdown(r) and "Sandbox run" not in render_markdown(report)
    r["run"]["sandbox"] = "yes"
    with pytest.raises(ReportValidationError):
        validate_report(r)


def test_print_leaves_evidence_out_unless_asked(report: dict[str, Any]) -> None:
    """Print CSS hides the evidence lists and per-finding details unless the report was
    rendered with print_evidence (body class); the screen shows everything either way."""
    plain, full = render_html(report), render_html(report, print_evidence=True)
    assert '<body class="print-evidence">' in full and "<body>" in plain
    for html in (plain, full):
        assert html.count('<div class="evidence-block">') == len(report["findings"])
        assert "body:not(.print-evidence) .evidence-block" in html
    assert "mlaudit scan --pdf --print-evidence" in plain and "mlaudit scan --pdf --print-evidence" not in full


def test_the_report_schema_is_a_valid_draft_2020_12_schema() -> None:
    """Checked here, not on every run (`json_report._validator` trusts the shipped schema)."""
    import jsonschema

    from mlaudit.reports.json_report import load_schema

    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_compiled_templates_are_kept_between_runs_and_a_bad_cache_is_no_cache(
        report: dict[str, Any], tmp_path: Path) -> None:
    """report.html's compiled template is kept in mlaudit's cache folder; a later run renders the
    same bytes from it, and a damaged entry or a folder that cannot be used only costs the compile."""
    import subprocess
    import sys

    src = tmp_path / "report.json"
    src.write_text(json.dumps(report))
    script = ("import json, sys\nfrom mlaudit.reports.html import render_html\n"
              "sys.stdout.write(render_html(json.load(open(sys.argv[1]))))\n")

    def render(home: Path) -> str:
        proc = subprocess.run([sys.executable, "-c", script, str(src)], capture_output=True, text=True,
                              env={**os.environ, "HOME": str(home)}, timeout=120)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        return proc.stdout

    home = tmp_path / "home"
    first = render(home)
    folder = home / ".cache" / "mlaudit" / "templates"
    caches = list(folder.glob("__jinja2_*.cache"))
    assert caches and first == render_html(report)
    assert folder.stat().st_mode & 0o777 == 0o700
    stamp = {p: p.stat().st_mtime_ns for p in caches}
    assert render(home) == first
    assert {p: p.stat().st_mtime_ns for p in caches} == stamp  # read, not written again
    for p in caches:  # a damaged entry is compiled again
        p.write_bytes(b"j2\x00garbage")
    assert render(home) == first
    other = tmp_path / "other"
    (other / ".cache" / "mlaudit").mkdir(parents=True)
    (other / ".cache" / "mlaudit" / "templates").write_text("a file where the folder should be")
    assert render(other) == first


def test_report_json_is_written_piece_by_piece(tmp_path: Path, report: dict[str, Any]) -> None:
    """report.json is json.dumps' text, byte for byte, but written as it is encoded: a large
    report never sits in memory whole, let alone as the pieces json.dumps gathers before joining
    them (six times the file's size)."""
    import hashlib
    import io
    import tracemalloc

    from mlaudit.reports import _write_pieces
    from mlaudit.reports.json_report import json_chunks

    big = copy.deepcopy(report)
    item = big["evidence"][0]
    big["evidence"] = [{**item, "id": f"ev-{i:012x}", "locator": f"repo-{i}:src/x.py:{i}@0123456789ab",
                        "attributes": {**item.get("attributes", {}), "n": i, "path": f"src/m{i}.py"}}
                       for i in range(20000)]
    text = json.dumps(big, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    assert render_json(big) == text
    size = len(text.encode("utf-8"))

    class Sink(io.RawIOBase):  # counts and hashes, keeps nothing
        def __init__(self) -> None:
            self.n = 0
            self.h = hashlib.sha256()

        def write(self, b: Any) -> int:
            self.n += len(b)
            self.h.update(b)
            return len(b)

    sink = Sink()
    tracemalloc.start()
    try:
        _write_pieces(sink, json_chunks(big))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sink.n == size and sink.h.hexdigest() == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert peak < size / 4, (peak, size)
