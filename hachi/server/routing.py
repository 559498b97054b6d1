"""Which methods a URL answers, decided per route template rather than per matching rule.

Werkzeug unions the methods of every rule that matches a path, so ``/api/people/recluster``
(POST) would also advertise the GET and PATCH of ``/api/people/<person_id>``, and a PATCH
there would reach the person route and fail as "not an id". Hachi's answer is the one its
OpenAPI document gives: a fixed path owns its methods; a wrong method there is a 405.
"""

from __future__ import annotations

from typing import NoReturn

from flask import Flask, Request, Response, current_app, request
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.routing import Rule


def methods_at(app: Flask, template: str) -> set[str]:
    """Every method of the rules written exactly as ``template`` (GET and POST may be two)."""
    return {
        method
        for rule in app.url_map.iter_rules()
        if rule.rule == template
        for method in rule.methods or ()
    }


def refuse_fixed_path() -> None:
    """In a route with a path parameter: if the request's path is a fixed route of its own
    (the parameter caught its last segment only because the method did not fit), 405."""
    fixed = methods_at(current_app, request.path)
    if fixed:
        raise MethodNotAllowed(valid_methods=sorted(fixed))


class HachiFlask(Flask):
    """Flask, with OPTIONS and 405 answering the methods of one route template only."""

    def raise_routing_exception(self, request: Request) -> NoReturn:
        if isinstance(request.routing_exception, MethodNotAllowed):
            fixed = methods_at(self, request.path)
            if fixed:
                raise MethodNotAllowed(valid_methods=sorted(fixed))
        super().raise_routing_exception(request)

    def make_default_options_response(self) -> Response:
        response = self.response_class()
        rule: Rule | None = request.url_rule
        if rule is not None:
            response.allow.update(methods_at(self, rule.rule))
        return response
