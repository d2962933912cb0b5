import pytest


@pytest.mark.django_db
def test_it_reports_healthy_when_database_broker_and_redis_answer(anon):
    response = anon.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_it_answers_503_when_the_broker_is_unreachable(anon, settings, tmp_path):
    settings.CELERY_BROKER_URL = f"redis+socket://{tmp_path / 'nobody.sock'}"
    response = anon.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_it_answers_503_when_the_shared_redis_is_unreachable(anon, unreachable_redis):
    response = anon.get("/healthz")
    assert response.status_code == 503
    assert response.json()["redis"].startswith("error")


def test_it_refuses_methods_other_than_get(anon, db):
    assert anon.post("/healthz").status_code == 405
