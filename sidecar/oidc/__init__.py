"""The OpenID provider as the sidecar sees it: discovery metadata and the signing keys."""
