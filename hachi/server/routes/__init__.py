"""The REST API's blueprints, one module per resource; ``hachi.server.app`` registers them."""
