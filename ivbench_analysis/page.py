"""report.html: one self-contained page of a report (report.Report): the answer first, then each section of
report.layout with its text and table beside its plots (PNG files embedded as data: URLs) and its noise and
SUSPECT notes, the environment last. No script, no font, no URL: readable offline and when mailed; a
Content-Security-Policy forbids anything else. Everything taken from the results folder is escaped (it is
untrusted: a run.json value "<script>" shows as text)."""

import base64
from html import escape

from .load import InputError, warn
from .compare import RATIO_HEADER
from .intervals import FASTER, SLOWER
from .report.figures import HEADER, NOT_RELIABLE, figure_row
from .report.text import TableLine
from .safe_io import read_input, write_output

REPORT_HTML = "report.html"
# A plot larger than this is not one plots.py wrote: it is left out, not embedded.
MAX_PLOT_BYTES = 16 << 20
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 1500px; color: #222; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
.folder { color: #555; margin-top: 0; word-break: break-all; }
.answer { background: #eef4fb; border-left: 5px solid #2a6db0; padding: 0.6em 1.2em; }
.answer h2 { border: none; margin-top: 0.3em; }
.answer ul { margin: 0; padding-left: 1.2em; line-height: 1.5; }
nav { margin: 1em 0; font-size: 0.9em; }
nav a { margin-right: 0.8em; }
.body { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
.text { flex: 1 1 640px; min-width: 0; overflow-x: auto; }
.plots { flex: 1 1 560px; min-width: 0; }
#headline .text, #headline .plots { flex-basis: 100%; }
#headline .plots img { max-width: 1000px; }
.plots img { max-width: 100%; height: auto; display: block; margin-bottom: 0.8em; border: 1px solid #ddd; }
pre { font-size: 12px; line-height: 1.3; margin: 0; }
table { border-collapse: collapse; font-size: 12px; }
table.section { margin: 0.3em 0 0.5em 1.5em; }
table.section.nested { margin-left: 3em; }
td.suspect { color: #c00; font-weight: bold; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
tr.not-reliable td { color: #8a5a00; background: #fff8e6; }
tr.noisy td:first-child::after { content: " (noisy run)"; color: #a00; }
.notes { background: #fff8e6; border-left: 4px solid #d98f00; padding: 0.3em 1em; margin: 0.8em 0; font-size: 0.9em; }
.notes.suspect { background: #fdecec; border-left-color: #c00; }
.noplot { color: #777; font-style: italic; }
"""

SUSPECT_CELL = '<td class="suspect">'
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def esc(value):
    return escape(str(value), quote=True)


def embedded_plot(folder, name):
    """An <img> of a PNG in the folder as a data: URL, or None when it cannot be read or is no PNG."""
    try:
        data = read_input(folder, name, MAX_PLOT_BYTES)
    except InputError as err:
        warn(f"{REPORT_HTML}: plot left out: {err}")
        return None
    if not data.startswith(PNG_MAGIC):
        warn(f"{REPORT_HTML}: plot left out: {name}: not a PNG")
        return None
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="plot" alt="{esc(name)}" title="{esc(name)}" src="data:image/png;base64,{encoded}">'


def figures_table(headline):
    """HEADLINE FIGURES as a table: the same cells as the text report (report.figures.figure_row)."""
    out = ['<table class="figures"><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in HEADER)
           + "</tr></thead><tbody>"]
    for result in headline.results:
        classes = [c for c, on in (("not-reliable", not result.reliable), ("noisy", bool(result.noisy_runs))) if on]
        cells = "".join(f"<td>{esc(cell)}</td>" for cell in figure_row(result))
        out.append(f'<tr data-key="{esc(result.spec.key)}" class="{" ".join(classes)}">{cells}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def without_table(lines, report):
    """HEADLINE FIGURES' text without its table (the page shows it as a table of the same cells)."""
    header = next((i for i, line in enumerate(lines) if line.split()[:2] == HEADER[:2]), None)
    if header is None:
        return lines
    return lines[:header] + lines[header + 1 + len(report.ctx.headline.results):]


def table_html(table):
    """A section's table (report.text.Table) with the cells the text report prints."""
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    rows = "".join("<tr>" + "".join((SUSPECT_CELL if "SUSPECT" in c else "<td>") + f"{esc(c)}</td>" for c in row)
                   + "</tr>" for row in table.rows)
    nested = " nested" if len(table.indent) > 2 else ""
    return f'<table class="section{nested}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def body_html(lines):
    """A section's lines: each table (its lines are report.text.TableLine) as a table, the text between the
    tables as preformatted text."""
    out, text, table = [], [], None
    for line in lines + [None]:
        mine = line.table if isinstance(line, TableLine) else None
        if mine is not None and mine is table:
            continue
        if text and (mine is not None or line is None):
            out.append(f"<pre>{esc(chr(10).join(text))}</pre>")
            text = []
        if mine is not None:
            out.append(table_html(mine))
        elif line is not None:
            text.append(line)
        table = mine
    return "".join(out)


def notes_block(notes):
    if not notes:
        return ""
    suspect = any(n.startswith("SUSPECT") for n in notes)
    items = "".join(f"<li>{esc(n)}</li>" for n in notes)
    return f'<aside class="notes{" suspect" if suspect else ""}"><ul>{items}</ul></aside>'


def section_html(report, item, plots):
    part = item.part
    if part.key == "headline":
        text = without_table(item.lines[3:], report)
        body = figures_table(report.ctx.headline) + body_html(text)
    else:
        body = body_html(item.lines[3:] if item.lines[:1] == [""] else item.lines)
    shown = [plots[name] for name in part.plots if name in plots]
    missing = [name for name in part.plots if name not in plots]
    figure_html = "".join(shown) + "".join(f'<p class="noplot">{esc(n)}: not written</p>' for n in missing)
    heading = item.lines[1] if item.lines[:1] == [""] and len(item.lines) > 1 else part.title
    return (f'<section id="{esc(part.key)}"><h2>{esc(heading)}</h2>{notes_block(item.notes)}'
            f'<div class="body"><div class="text">{body}</div>'
            + (f'<div class="plots">{figure_html}</div>' if part.plots else "") + "</div></section>")


def render(report, title, folder, written=()):
    """The page of a report: written are the PNGs this analysis wrote into folder (only these are shown)."""
    plots = {}
    for name in written:
        tag = embedded_plot(folder, name)
        if tag is not None:
            plots[name] = tag
    ordered = [s for s in report.sections if not s.part.at_end] + [s for s in report.sections if s.part.at_end]
    answer = "".join(f'<li data-topic="{esc(line.topic)}">{esc(line.text)}</li>' for line in report.answer)
    nav = "".join(f'<a href="#{esc(s.part.key)}">{esc(s.part.title)}</a>' for s in ordered)
    unreliable = sum(1 for r in report.ctx.headline.results if not r.reliable)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>", f'<p class="folder">Results folder: {esc(folder.resolve())}</p>',
        f'<section id="answer" class="answer"><h2>Answer</h2><ul>{answer}</ul>'
        f"<p>{unreliable} of {len(report.ctx.headline.results)} headline figures {NOT_RELIABLE}; "
        "the sections below hold every figure the answer quotes.</p></section>",
        f"<nav>{nav}</nav>",
    ] + [section_html(report, s, plots) for s in ordered] + ["</body></html>", ""])


def write_page(folder, report, title, written=()):
    text = render(report, title, folder, written)
    write_output(folder, REPORT_HTML, lambda f: f.write(text.encode("utf-8")))


def render_compare(folders, rows, text):
    """The page of --compare A B: which figures differ measurably (B/A with its interval) first, then every
    ratio as a table and the comparison as printed."""
    verdict = RATIO_HEADER.index("verdict")
    cell = {name: RATIO_HEADER.index(name) for name in ("figure", "B/A", "95%_low", "95%_high")}
    differ = [r for r in rows if r[verdict] in (FASTER, SLOWER)]
    answer = "".join(f'<li data-topic="compare">{esc(r[cell["figure"]])}: B is {esc(r[verdict])}, B/A '
                     f'{esc(r[cell["B/A"]])} (95% {esc(r[cell["95%_low"]])}-{esc(r[cell["95%_high"]])})</li>'
                     for r in differ)
    if not differ:
        answer = f"<li>no figure differs measurably ({len(rows)} compared: every interval of B/A holds 1)</li>"
    head = "".join(f"<th>{esc(h)}</th>" for h in RATIO_HEADER)
    body = "".join(f'<tr class="{"differs" if r[verdict] in (FASTER, SLOWER) else ""}">'
                   + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    title = "ivshmem-bench comparison"
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{esc(title)}</title><style>{STYLE}tr.differs td {{ font-weight: bold; }}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="folder">A = {esc(folders[0])}<br>B = {esc(folders[1])}</p>',
        f'<section id="answer" class="answer"><h2>Answer: figures that differ measurably</h2><ul>{answer}</ul>'
        "</section>",
        f'<section id="ratios"><h2>B/A for each headline figure</h2><table class="ratios"><thead><tr>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table></section>",
        f'<section id="text"><h2>As printed</h2><pre>{esc(text)}</pre></section>',
        "</body></html>", ""])


def write_compare_page(path, folders, rows, text):
    page = render_compare(folders, rows, text)
    write_output(path.parent, path.name, lambda f: f.write(page.encode("utf-8")))
