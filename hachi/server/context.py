"""What a request handler may reach: the app's services, kept on the app, not in globals.

Two apps in one process (tests do this) therefore never share a throttle, a login link
or a library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

from hachi.config import Settings
from hachi.server.credentials import Credentials
from hachi.server.login_links import LoginLinks
from hachi.server.throttle import LoginThrottle

if TYPE_CHECKING:
    from hachi.library import Library

EXTENSION_KEY = "hachi"


@dataclass
class Services:
    settings: Settings
    library: Library
    credentials: Credentials
    throttle: LoginThrottle
    links: LoginLinks
    owns_library: bool = False


def attach(app: Flask, services: Services) -> None:
    app.extensions[EXTENSION_KEY] = services


def services(app: Flask | None = None) -> Services:
    found: Services = (app or current_app).extensions[EXTENSION_KEY]
    return found


def library() -> Library:
    return services().library
