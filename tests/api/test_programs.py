"""Programs through the API."""

from tests.api.conftest import assert_error


def test_programs_are_listed_with_money_as_strings(world, api):
    response = api(world.staff).get("/api/v1/programs")
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 1
    program = body["items"][0]
    assert program["id"] == world.program.id
    assert program["max_request"] == "1000.00" and program["min_request"] == "10.00"
    assert program["max_ratio"] == "0.5000"
    assert program["district_deadline"] == world.program.district_deadline.isoformat()


def test_one_program_and_a_missing_one(world, api):
    client = api(world.city)
    assert client.get(f"/api/v1/programs/{world.program.id}").get_json()["title"] == (
        world.program.title
    )
    assert_error(client.get("/api/v1/programs/999999"), 404, "not_found")


def test_programs_need_a_token(world, api):
    assert_error(api(None).get("/api/v1/programs"), 401, "unauthorized")
