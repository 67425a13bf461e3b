"""The dependency graph drawn as SVG with a layered layout computed here.

Products stand in columns by dependency depth: what depends on nothing on
the left, each dependent to the right of everything it needs, so arrows
always point left, to what a product needs. Within a column products are
ordered by the average position of their neighbours (two barycentre
sweeps), which keeps most arrows short and uncrossed. Each box is edged in
its squad's colour; failing products are outlined in red, retired ones
dashed; each box links to the product's impact analysis.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import mean

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from portal.insights.charts import squad_colour
from portal.insights.dependencies import Graph, Node

# Wide enough for a product name of 28 characters in the bold 13 px the boxes use.
NODE_WIDTH = 230
NODE_HEIGHT = 46
GAP_X = 90
GAP_Y = 28
PAD = 28
LEGEND_ROW = 22
# Unlinked products stand in a grid at least this wide, under a heading this tall.
ISOLATED_COLUMNS = 4
GRID_HEADING = 40


def _centre(neighbours: list[int], node: Node, position: dict[int, float]) -> float:
    return mean([position[pk] for pk in neighbours if pk in position] or [position[node.product.pk]])


def _connected(node: Node) -> bool:
    return bool(node.depends_on or node.dependents)


def _order_layers(graph: Graph) -> list[list[Node]]:
    layers = [
        sorted(
            [node for node in layer if _connected(node)],
            key=lambda node: (node.product.squad.name, node.product.name),
        )
        for layer in graph.layers()
    ]
    layers = [layer for layer in layers if layer]
    position: dict[int, float] = {}

    def place() -> None:
        for layer in layers:
            for index, node in enumerate(layer):
                position[node.product.pk] = index

    place()
    for _sweep in range(2):
        for layer in layers[1:]:
            layer.sort(key=lambda node: (_centre(node.depends_on, node, position), node.product.name))
            place()
        for layer in reversed(layers[:-1]):
            layer.sort(key=lambda node: (_centre(node.dependents, node, position), node.product.name))
            place()
    return layers


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dependency_svg(graph: Graph, *, link: Callable[[Node], str], highlight: int | None = None) -> SafeString:
    """The whole graph as one accessible SVG."""
    layers = _order_layers(graph)
    # Products linked to nothing would all sit in the first layer, one tall
    # column: they go in a grid of their own below the linked ones instead.
    isolated = sorted(
        (node for node in graph.nodes.values() if not _connected(node)),
        key=lambda node: (node.product.squad.name, node.product.name),
    )
    grid_columns = max(len(layers), ISOLATED_COLUMNS)
    colours = {squad.pk: squad_colour(index) for index, squad in enumerate(graph.squads)}
    tallest = max((len(layer) for layer in layers), default=0)
    columns = max(len(layers), min(grid_columns, len(isolated)), 1)
    width = PAD * 2 + columns * NODE_WIDTH + (columns - 1) * GAP_X
    where: dict[int, tuple[float, float]] = {}
    for column, layer in enumerate(layers):
        for row, node in enumerate(layer):
            where[node.product.pk] = (PAD + column * (NODE_WIDTH + GAP_X), PAD + row * (NODE_HEIGHT + GAP_Y))
    grid_top = PAD + tallest * (NODE_HEIGHT + GAP_Y) + (GRID_HEADING if layers and isolated else 0)
    for index, node in enumerate(isolated):
        row, column = divmod(index, grid_columns)
        where[node.product.pk] = (PAD + column * (NODE_WIDTH + GAP_X), grid_top + row * (NODE_HEIGHT + GAP_Y))
    grid_rows = -(-len(isolated) // grid_columns)
    legend_top = grid_top + grid_rows * (NODE_HEIGHT + GAP_Y) + 10
    height = legend_top + LEGEND_ROW * (len(graph.squads) + 2) + PAD
    parts: list[str] = [
        # A group, not an image: an image's content is presentational, and
        # the boxes inside are links (axe: nested-interactive).
        format_html(
            '<svg class="dependency-graph" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="group" '
            'aria-labelledby="graph-title graph-desc" xmlns="http://www.w3.org/2000/svg">'
            '<title id="graph-title">Dependencies between products and their squads</title>'
            '<desc id="graph-desc">{count} products of {squads} squads in {layers} layers, '
            "{edges} dependencies. Arrows point from a product to what it needs. "
            "The table below lists the same.</desc>"
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head"></path></marker></defs>',
            w=width,
            h=height,
            count=len(graph.nodes),
            squads=len(graph.squads),
            layers=len(layers),
            edges=len(graph.edges),
        )
    ]
    if layers and isolated:
        parts.append(
            format_html(
                '<text class="legend-title" x="{x}" y="{y}">Linked to no other product</text>',
                x=PAD,
                y=grid_top - GRID_HEADING / 2,
            )
        )
    parts.extend(_edge(graph, source, target, where, highlight) for source, target in graph.edges)
    parts.extend(
        _node(node, where[pk], link(node), colours.get(node.product.squad_id, "#333333"), pk == highlight)
        for pk, node in graph.nodes.items()
    )
    parts.extend(_legend(graph, colours, legend_top))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece was escaped by format_html


def _edge_path(start_box: tuple[float, float], end_box: tuple[float, float]) -> str:
    x1, y1 = start_box
    x2, y2 = end_box
    if x1 - x2 > NODE_WIDTH + GAP_X:
        # Across more than one layer: over the boxes in between, through
        # the gap above the rows, from the top of one box to the other's.
        top = min(y1, y2) - GAP_Y * 0.9
        return (
            f"M {x1 + NODE_WIDTH * 0.3:.0f} {y1:.0f} C {x1 + NODE_WIDTH * 0.3:.0f} {top:.0f}, "
            f"{x2 + NODE_WIDTH * 0.7:.0f} {top:.0f}, {x2 + NODE_WIDTH * 0.7:.0f} {y2:.0f}"
        )
    start = (x1, y1 + NODE_HEIGHT / 2)
    end = (x2 + NODE_WIDTH, y2 + NODE_HEIGHT / 2)
    bend = max(30.0, abs(start[0] - end[0]) / 2)
    return (
        f"M {start[0]:.0f} {start[1]:.0f} C {start[0] - bend:.0f} {start[1]:.0f}, "
        f"{end[0] + bend:.0f} {end[1]:.0f}, {end[0]:.0f} {end[1]:.0f}"
    )


def _edge(
    graph: Graph, source: int, target: int, where: dict[int, tuple[float, float]], highlight: int | None
) -> str:
    css = "edge"
    if graph.nodes[target].failing:
        css += " edge-failing"
    if graph.nodes[target].retired:
        css += " edge-retired"
    if highlight in (source, target):
        css += " edge-highlight"
    return format_html(
        '<path class="{css}" d="{path}" marker-end="url(#arrow)"><title>{a} needs {b}</title></path>',
        css=css,
        path=_edge_path(where[source], where[target]),
        a=graph.nodes[source].product.name,
        b=graph.nodes[target].product.name,
    )


def _node(node: Node, box: tuple[float, float], href: str, colour: str, highlighted: bool) -> str:
    x, y = box
    css = "node"
    state = []
    if node.failing:
        css += " node-failing"
        state.append("failing")
    if node.retired:
        css += " node-retired"
        state.append("retired")
    if node.in_cycle:
        state.append("in a cycle")
    if highlighted:
        css += " node-highlight"
    note = f" ({', '.join(state)})" if state else ""
    return format_html(
        '<a href="{href}"><title>{name}, {squad}{note}: depends on {down}, needed by {up}</title>'
        '<rect class="{css}" x="{x}" y="{y}" width="{w}" height="{h}" rx="6" '
        'stroke="{colour}"></rect>'
        '<rect x="{x}" y="{y}" width="6" height="{h}" rx="2" fill="{colour}"></rect>'
        '<text class="node-name" x="{tx}" y="{ty1}">{short}</text>'
        '<text class="node-squad" x="{tx}" y="{ty2}">{squad_short}{note}</text></a>',
        href=href,
        name=node.product.name,
        squad=node.product.squad.name,
        note=note,
        down=len(node.depends_on),
        up=len(node.dependents),
        css=css,
        x=f"{x:.0f}",
        y=f"{y:.0f}",
        w=NODE_WIDTH,
        h=NODE_HEIGHT,
        colour=colour,
        tx=f"{x + 14:.0f}",
        ty1=f"{y + 19:.0f}",
        ty2=f"{y + 36:.0f}",
        short=_short(node.product.name),
        squad_short=_short(node.product.squad.name, 26),
    )


def _legend(graph: Graph, colours: dict[int, str], top: float) -> list[str]:
    parts: list[str] = [
        format_html('<text class="legend-title" x="{x}" y="{y}">Squads</text>', x=PAD, y=top + 14)
    ]
    for index, squad in enumerate(graph.squads):
        y = top + LEGEND_ROW * (index + 1)
        parts.append(
            format_html(
                '<rect x="{x}" y="{y}" width="14" height="14" fill="{colour}"></rect>'
                '<text class="legend" x="{tx}" y="{ty}">{name}</text>',
                x=PAD,
                y=y,
                colour=colours[squad.pk],
                tx=PAD + 22,
                ty=y + 12,
                name=squad.name,
            )
        )
    parts.append(
        format_html(
            '<text class="legend" x="{x}" y="{y}">An arrow points from a product to one it needs: '
            "what it needs stands to its left.</text>",
            x=PAD,
            y=top + LEGEND_ROW * (len(graph.squads) + 1) + 12,
        )
    )
    return parts
