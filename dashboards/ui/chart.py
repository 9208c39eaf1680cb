"""The visitors time series as inline SVG, drawn by pygal (a maintained charting library).

pygal's SVG carries a <script> with its tooltip config and an inline style attribute on
its tooltip group; the page's CSP allows neither, so both are taken out of the element
tree, and its one <style> element gets the page's nonce. The chart has a <title> and the
page shows the same numbers in a table for screen readers.
"""

from __future__ import annotations

from xml.etree import ElementTree

import pygal
from pygal.style import Style

SVG = "{http://www.w3.org/2000/svg}"

CHART_STYLE = Style(
    background="transparent", plot_background="transparent",
    foreground="#334155", foreground_strong="#0f172a", foreground_subtle="#e2e8f0",
    colors=("#4f46e5", "#a5b4fc"), font_family="system-ui, sans-serif",
    label_font_size=11, major_label_font_size=11, legend_font_size=12,
)


def _short(label: str, hourly: bool) -> str:
    return label[11:16] if hourly else label[5:]


def series_svg(labels: list[str], series: list[int], comparison: list[int] | None, *,
               hourly: bool, nonce: str, title: str) -> str:
    """An SVG line chart of `series` (and `comparison`, dashed) over `labels`."""
    chart = pygal.Line(
        js=[], disable_xml_declaration=True, style=CHART_STYLE, height=260, width=900,
        show_legend=comparison is not None, legend_at_bottom=True, fill=True,
        show_dots=len(labels) <= 31, dots_size=2.5, show_minor_x_labels=False,
        x_labels_major_count=8, truncate_label=-1, margin=8, include_x_axis=True,
        explicit_size=False, show_y_guides=True, show_x_guides=False,
        min_scale=2, max_scale=6, no_data_text="", title=None,
    )
    chart.x_labels = [_short(label, hourly) for label in labels]
    chart.add("This period", series)
    if comparison is not None:
        chart.add("Comparison", comparison, stroke_style={"dasharray": "4, 4"}, fill=False)
    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if child.tag in (f"{SVG}script", "script"):
                parent.remove(child)
    for node in tree.iter():
        node.attrib.pop("style", None)
        if node.tag in (f"{SVG}style", "style"):
            node.set("nonce", nonce)
    tree.set("role", "img")
    tree.set("aria-label", title)
    return ElementTree.tostring(tree, encoding="unicode")
