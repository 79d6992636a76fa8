"""`nctool ops` commands of this concern; see nctool.cli.ops."""

from __future__ import annotations

from nctool.cli.ops import ops_app

__all__ = ["ops_app"]
