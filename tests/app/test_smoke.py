import aiohttp


async def test_bearer_reaches_upstream(sidecar, oidc_provider, echo_upstream):
    tokens = await oidc_provider.login("admin-dex@example.com", "password")
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            sidecar.url + "/admin/x?y=1",
            headers={"Authorization": f"Bearer {tokens.id_token}", "X-Auth-Subject": "evil"},
        ) as response,
    ):
        body = await response.json()
        assert response.status == 200, body
    headers = dict((k.lower(), v) for k, v in body["headers"])
    assert headers["x-auth-subject"] == tokens.claims()["sub"]
    assert "authorization" not in headers
