"""auth-sidecar: an OIDC authentication sidecar for services behind Kong and Dex."""

__version__ = "0.1.0"
