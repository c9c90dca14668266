def test_admin_area_sums_up_the_metrics_and_links_the_dictionary(client_for):
    response = client_for("admin").get("/admin/")
    assert response.status_code == 200
    assert b'id="events-tracked-7d"' in response.data and b'href="/admin/metrics/dictionary"' in response.data


def test_home_page_starts_with_the_doctype(app):
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert response.data.startswith(b"<!doctype html>")


def test_unknown_page_answers_json_404(app):
    response = app.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert response.get_json()["status"] == 404
