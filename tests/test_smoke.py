def test_admin_area_lists_metrics(client_for):
    response = client_for("admin").get("/admin/")
    assert response.status_code == 200
    assert b"count_distinct_user_id_from_project_created_weekly" in response.data


def test_home_page_starts_with_the_doctype(app):
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert response.data.startswith(b"<!doctype html>")


def test_unknown_page_answers_json_404(app):
    response = app.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert response.get_json()["status"] == 404
