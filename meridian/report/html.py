"""Small HTML building blocks for the report: escaped text, tables, figures, sections, the page.

Plain strings, no template engine: the page is static, self-describing and opens from disk.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2430; margin: 0;
       background: #f6f7f9; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin-top: 38px;
     border-bottom: 2px solid #e3e6eb; padding-bottom: 4px; } h3 { font-size: 17px; margin-top: 26px; }
h4 { font-size: 15px; margin: 20px 0 6px; }
.sub { color: #5b6472; margin: 0 0 18px; }
nav a { margin-right: 14px; }
table { border-collapse: collapse; margin: 10px 0 16px; font-size: 13px; }
th, td { border: 1px solid #dde1e7; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f5; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.ok { color: #137333; font-weight: 600; } .failed { color: #b3261e; font-weight: 600; }
.missing, .skipped { color: #8a5a00; font-weight: 600; }
.na { background: #fff7e0; border-left: 4px solid #e0a800; padding: 8px 12px; margin: 10px 0; }
figure { margin: 14px 0 22px; } figure img { max-width: 100%; border: 1px solid #e3e6eb; }
figcaption { font-size: 13px; color: #3c4450; margin-top: 4px; }
code, pre { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: #f3f4f6; padding: 8px 10px; overflow-x: auto; white-space: pre-wrap; }
.cmd { background: #f3f4f6; padding: 1px 5px; border-radius: 3px; }
"""


@dataclass(frozen=True)
class FigureRef:
    src: str  # path relative to index.html
    caption: str
    command: str  # the command that reproduces it


def text(value: object) -> str:
    return escape(str(value))


def code(command: str) -> str:
    return f'<code class="cmd">{text(command)}</code>'


def link(href: str, label: str) -> str:
    return f'<a href="{escape(href, quote=True)}">{text(label)}</a>'


def not_available(reason: str) -> str:
    return f'<p class="na not-available"><strong>not available:</strong> {text(reason)}</p>'


def warning(reason: str) -> str:
    """A step failed but left an artifact: show what it wrote, saying it may be incomplete."""
    return (f'<p class="na step-warning"><strong>note:</strong> {text(reason)}; '
            "what it wrote is shown below and may be incomplete</p>")


def figure(ref: FigureRef) -> str:
    reproduce = f"<br>Reproduce: {code(ref.command)}" if ref.command else ""
    return (f'<figure><img src="{escape(ref.src, quote=True)}" alt="{escape(ref.caption, quote=True)}">'
            f"<figcaption>{text(ref.caption)}{reproduce}</figcaption></figure>")


_NUMBER = re.compile(r"[-+]?(\d[\d,]*)?\.?\d+(e[-+]?\d+)?( s)?")


def _is_number(cell: str) -> bool:
    return bool(_NUMBER.fullmatch(cell.strip()))


def table(headers: list[str], rows: list[list[str]], css_class: str = "") -> str:
    """`rows` hold already-escaped cell HTML; headers are escaped here. Numeric columns align right."""
    numeric = [bool(rows) and all(_is_number(r[i]) or r[i] in ("", "—") for r in rows if i < len(r))
               and any(i < len(r) and _is_number(r[i]) for r in rows) for i in range(len(headers))]
    cls = [' class="num"' if n else "" for n in numeric]
    head = "".join(f"<th{cls[i]}>{text(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls[i] if i < len(cls) else ''}>{cell}</td>"
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    cls = f' class="{escape(css_class, quote=True)}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def status(value: str) -> str:
    if value in ("ok", "failed", "missing", "skipped"):
        css = value
    elif value == "passed":
        css = "ok"
    elif value == "unknown":
        css = "missing"
    else:
        css = "failed"
    return f'<span class="{css}">{text(value)}</span>'


def section(anchor: str, heading: str, body: str) -> str:
    return f'<section id="{escape(anchor, quote=True)}"><h2>{text(heading)}</h2>{body}</section>'


def page(title: str, subtitle: str, nav: list[tuple[str, str]], body: str) -> str:
    links = "".join(f'<a href="#{escape(a, quote=True)}">{text(label)}</a>' for a, label in nav)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{text(title)}</title>"
            f"<style>{CSS}</style></head><body><main><h1>{text(title)}</h1>"
            f"<p class=\"sub\">{subtitle}</p><nav>{links}</nav>{body}</main></body></html>\n")
