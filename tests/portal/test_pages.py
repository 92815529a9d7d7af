"""The site frame: every page has a header, navigation and footer."""

import gzip
import re

import pytest


@pytest.mark.django_db
def test_home_page_has_site_frame(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<header class="site-header">' in html
    assert 'aria-label="Main"' in html
    assert "<footer" in html
    assert '<a class="skip-link" href="#main">' in html


@pytest.mark.django_db
def test_the_frames_links_lead_to_their_pages(client, django_user_model):
    frame = {"/", "/api/docs/", "/api/schema/", "/healthz", "/accounts/login/?next=/search/"}
    html = client.get("/search/").content.decode()
    assert frame <= set(re.findall(r'href="(/[^"#]*)"', html))
    client.force_login(django_user_model.objects.create_user("frame-reader", password="x" * 16))
    html = client.get("/search/").content.decode()
    signed_in = {"/accounts/password_change/", "/me/"}
    assert signed_in <= set(re.findall(r'href="(/[^"#]*)"', html))
    assert 'action="/accounts/logout/"' in html
    for href in frame | signed_in:
        assert client.get(href).status_code == 200, href


@pytest.mark.django_db
def test_api_docs_are_served_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn." not in html and "unpkg" not in html
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.django_db
def test_login_page_names_the_portal_not_the_host(client):
    html = client.get("/accounts/login/").content.decode()
    assert "<title>Log in — 287(g) Research Portal</title>" in html
    assert "</span> 287(g) Research Portal</a>" in html
    assert "testserver" not in html


@pytest.mark.django_db
def test_api_root_lists_the_collections(client):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    links = response.json()
    assert links["agencies"] == "http://testserver/api/v1/agencies/"
    assert links["documents"] == "http://testserver/api/v1/documents/"
    assert links["search"] == "http://testserver/api/v1/search/"
    for name, url in links.items():
        if name != "stats":  # stats answer 404 until an ICE list is imported
            assert client.get(url.removeprefix("http://testserver")).status_code == 200


@pytest.mark.django_db
def test_unknown_address_gets_a_page_in_the_site_frame(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert '<html lang="en">' in html and '<a class="skip-link" href="#main">' in html
    assert "<h1>Page not found</h1>" in html and "<code>/no/such/page/</code>" in html


@pytest.mark.django_db
def test_pages_are_compressed_for_browsers_that_accept_it(client):
    response = client.get("/", headers={"accept-encoding": "gzip, deflate, br"})
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert b"<!doctype html>" in gzip.decompress(response.content)
    assert "Content-Encoding" not in client.get("/").headers
