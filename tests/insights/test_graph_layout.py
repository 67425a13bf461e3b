"""The dependency graph's drawing: accessible, laid out so unlinked products
do not stack in one column, filterable, and bounded at 200 products."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from portal.insights import dependencies as deps
from portal.insights.graph_svg import dependency_svg
from tests.factories import ProductFactory, SquadFactory

pytestmark = pytest.mark.django_db


def boxes(svg: str) -> list[tuple[int, int]]:
    """Where each product's box stands (its outlined rectangle)."""
    return [(int(x), int(y)) for x, y in re.findall(r'<rect class="node[^"]*" x="(\d+)" y="(\d+)"', svg)]


def draw(**filters) -> str:  # type: ignore[no-untyped-def]
    return str(dependency_svg(deps.dependency_graph(**filters), link=lambda node: "#"))


@pytest.fixture
def catalogue_of_200():  # type: ignore[no-untyped-def]
    """Ten squads of 20 products: chains of five in each squad, half unlinked."""
    squads = [SquadFactory(slug=f"squad-{index}") for index in range(10)]
    for squad in squads:
        products = [ProductFactory(slug=f"{squad.slug}-p{index}", squad=squad) for index in range(20)]
        for first, second in pairwise(products[:5]):
            second.depends_on.add(first)
        for first, second in pairwise(products[5:10]):
            second.depends_on.add(first)
    return squads


def test_the_graph_is_a_group_of_links_not_an_image_with_links_inside(catalogue_of_200):
    svg = draw()

    assert 'role="img"' not in svg.split(">", 1)[0]
    assert 'role="group"' in svg.split(">", 1)[0]


def test_unlinked_products_stand_in_a_grid_not_one_column(catalogue_of_200):
    svg = draw()

    where = boxes(svg)
    assert len(where) == 200
    columns = {x for x, _ in where}
    assert len(columns) >= 5  # five layers of the chains; the unlinked ones spread over them
    tallest = max(sum(1 for x, _ in where if x == column) for column in columns)
    assert tallest <= 40  # not 100 unlinked products in the first column


def test_200_products_make_a_drawing_of_bounded_size(catalogue_of_200):
    svg = draw()

    width, height = (int(value) for value in re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())
    assert width <= 2000
    assert height <= 4000
    assert len(svg) < 400_000


def test_the_graph_filters_by_squad_and_by_product(catalogue_of_200, client, member):
    squad = catalogue_of_200[0]
    client.force_login(member)

    by_squad = client.get("/insights/graph/", {"squad": squad.slug}).content.decode()
    by_product = client.get("/insights/graph/", {"product": f"{squad.slug}-p2"}).content.decode()
    everything = client.get("/insights/graph/", {"squad": "no-such-squad"}).content.decode()

    assert len(boxes(by_squad)) == 20
    assert len(boxes(by_product)) == 5  # its chain, upstream and downstream
    assert len(boxes(everything)) == 200  # an unknown squad filters nothing out
    assert f'<option value="{squad.slug}" selected>' in by_squad
