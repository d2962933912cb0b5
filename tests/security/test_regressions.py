"""Bugs the suite found, pinned where a fuzzer's random draw might not find them again."""

from __future__ import annotations

import pytest

from tests.factories import client_for
from tests.security.world import operations

pytestmark = pytest.mark.django_db

DATE_TIME_FILTERS = [
    (op.path, param["name"])
    for op in operations()
    if op.method == "get"
    for param in op.spec.get("parameters", [])
    if param["in"] == "query" and param.get("schema", {}).get("format") == "date-time"
]


def test_there_are_date_time_filters_to_check():
    assert len(DATE_TIME_FILTERS) >= 8


@pytest.mark.parametrize(("path", "name"), DATE_TIME_FILTERS)
def test_an_offset_postgresql_cannot_store_is_read_as_utc(world, path, name):
    # +17:54 is a valid ISO 8601 offset that PostgreSQL refuses (past ±15:59): it was a 500.
    response = client_for(world.alice).get(path, {name: "0072-04-16T17:32:17+17:54"})

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("path", "name"), DATE_TIME_FILTERS)
def test_a_time_that_does_not_exist_in_utc_is_a_400(world, path, name):
    response = client_for(world.alice).get(path, {name: "0001-01-01T00:00:00+10:00"})

    assert response.status_code == 400, response.content
    assert name in response.json()["details"]
