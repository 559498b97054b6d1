"""The Flask application factory: wiring only, so importing the server does nothing."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from hachi.config import Settings
from hachi.library import Library
from hachi.server import auth, errors, idle_trim, security
from hachi.server.context import Services, attach, services
from hachi.server.credentials import Credentials
from hachi.server.login_links import LoginLinks
from hachi.server.routes import albums as routes_albums
from hachi.server.routes import auth as routes_auth
from hachi.server.routes import duplicates as routes_duplicates
from hachi.server.routes import folders as routes_folders
from hachi.server.routes import jobs as routes_jobs
from hachi.server.routes import models as routes_models
from hachi.server.routes import overview as routes_overview
from hachi.server.routes import people as routes_people
from hachi.server.routes import photos as routes_photos
from hachi.server.routes import search as routes_search
from hachi.server.routes import sessions as routes_sessions
from hachi.server.routes import system as routes_system
from hachi.server.routes import ui as routes_ui
from hachi.server.routes import videos as routes_videos
from hachi.server.routing import HachiFlask
from hachi.server.throttle import LoginThrottle

API_PREFIX = "/api"


def _register_blueprints(app: Flask) -> None:
    for module in (
        routes_auth,
        routes_sessions,
        routes_system,
        routes_folders,
        routes_jobs,
        routes_models,
        routes_search,
        routes_overview,
        routes_photos,
        routes_videos,
        routes_people,
        routes_albums,
        routes_duplicates,
    ):
        app.register_blueprint(module.bp, url_prefix=API_PREFIX)


def create_app(
    settings: Settings, library: Library | None = None, *, static_dir: Path | None = None
) -> Flask:
    """An app serving ``library`` (opened from ``settings`` when not given) under /api,
    and the built UI from ``static_dir`` (default: the package's hachi/static/) at /.

    No CORS is configured on purpose: the UI is served from the same origin.
    """
    owns_library = library is None
    if library is None:
        library = Library(settings)
    credentials = Credentials(settings.catalog_path, settings.grid_keys_dir)
    app = HachiFlask(__name__, static_folder=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config[routes_ui.STATIC_DIR_KEY] = static_dir or routes_ui.default_static_dir()
    attach(
        app,
        Services(
            settings=settings,
            library=library,
            credentials=credentials,
            throttle=LoginThrottle(),
            links=LoginLinks(settings.catalog_path),
            owns_library=owns_library,
        ),
    )
    security.install(app, settings, auth.SESSION_COOKIE_NAME)
    auth.install(app, credentials.session_secret())
    errors.install(app)
    idle_trim.install(app)
    _register_blueprints(app)
    app.register_blueprint(routes_ui.bp)
    return app


def close_app(app: Flask) -> None:
    """Close what create_app opened; a library passed in by the caller stays open."""
    state = services(app)
    state.credentials.close()
    state.links.close()
    if state.owns_library:
        state.library.close()
