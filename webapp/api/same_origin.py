"""Refusing cross-site requests to the usage-data API.

`navigator.sendBeacon` cannot add a CSRF header, so the browser's own headers
decide: `Sec-Fetch-Site` (all current browsers) must be `same-origin`, and
`Origin`, when sent, must be this site. A request with neither must carry the
page's CSRF token. SameSite=Lax cookies already stop most cross-site posts;
this also stops sibling subdomains, which count as same-site.
"""


def cross_site_problem(headers, own_origin):
    """Why this request must be refused as cross-site (unless it has the CSRF token), or None."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return f"cross-site request refused (Sec-Fetch-Site: {site[:40]})"
    origin = headers.get("Origin")
    if origin is not None and origin != own_origin:
        return f"cross-origin request refused (Origin: {origin[:100]})"
    if site is None and origin is None:
        return "request has no Origin or Sec-Fetch-Site header: send one of them, or the page's X-CSRF-Token"
    return None
