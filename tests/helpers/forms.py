"""Form submissions of the admin pages, as a browser would post them."""


def form_data(csrf_token: str, **fields) -> dict:
    """A valid Add OneRoster Sync submission, with `fields` overriding."""
    data = {
        "csrf_token": csrf_token,
        "sis_vendor": "other",
        "name": "Demo District",
        "endpoint_url": "https://sis.example.org/ims/oneroster/v1p1",
        "token_url": "",
        "client_id": "client-abc",
        "client_secret": "top-secret-value-123",
        "sync_classes": "y",
        "relationship_type": "",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}
