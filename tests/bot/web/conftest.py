"""The web edge's fixtures: a local OpenID issuer of Bot Framework tokens and the app over HTTP."""

from tests.helpers.bot_http import bot_framework, harness, issuer

__all__ = ["bot_framework", "harness", "issuer"]
