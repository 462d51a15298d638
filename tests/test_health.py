"""``/healthz`` reports the database and Redis, and 503 when either is down."""


def test_healthz_reports_database_and_redis_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["redis"]["status"] == "ok"


def test_healthz_is_503_when_redis_is_down(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["redis"]["status"] == "down"
    assert body["database"]["status"] == "ok"


def test_healthz_is_503_when_database_is_down(make_app, redis_url):
    app = make_app(DATABASE_URL="postgresql://127.0.0.1:1/nothing")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["status"] == "down"
    assert body["redis"]["status"] == "ok"


def test_unknown_route_answers_in_the_error_shape(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert error["message"]
