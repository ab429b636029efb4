"""The playground's web server (Flask), bound to 127.0.0.1: the page, and a small JSON API that
the page calls. The server holds one session and does all the maths; the page only draws.

    GET  /                 the page
    POST /api/config       {settings}: a new data set and network; the state, with the points
    GET  /api/state        the state (add ?full=1 for the points and settings)
    POST /api/step         {"n": k}: k training steps (1 to 200); the state (409 and a message
                           when training diverges: the step that did is undone)
    GET  /api/backward     the last step's batch: each parameter's gradient, the explanation
    GET  /explore          that backward pass as ``cr.viz.explore``'s page

A bad request gets status 400 and {"error": "what was wrong"}; the server keeps running.
"""

from __future__ import annotations

import threading

from .model import MAX_STEPS_PER_REQUEST, Config, ConfigError, Diverged, Session

INSTALL = "the playground needs Flask: pip install 'chainrule[playground]'"


def _flask():
    try:
        import flask
    except ImportError as e:
        raise ImportError(INSTALL) from e
    return flask


def create_app(config: dict | None = None):
    """The Flask app, with a session made from ``config`` (settings, as ``/api/config`` takes
    them; default: the circle data set, two hidden layers of 4 and 2 tanh units)."""
    flask = _flask()
    from .page import PAGE
    app = flask.Flask("chainrule.playground")
    lock = threading.Lock()
    holder = {"session": Session(Config.parse(config or {}))}

    def bad(message, status=400):
        return flask.jsonify(error=message), status

    @app.errorhandler(Exception)
    def failed(e):  # an unexpected error: said on the page, the server keeps running
        code = getattr(e, "code", 500)
        if not isinstance(code, int):
            code = 500
        name = getattr(e, "name", type(e).__name__)
        return bad(f"{name}: {getattr(e, 'description', None) or e}", code)

    @app.get("/")
    def page():
        return flask.Response(PAGE, mimetype="text/html")

    @app.get("/favicon.ico")
    def favicon():
        return flask.Response(status=204)

    @app.post("/api/config")
    def configure():
        given = flask.request.get_json(silent=True)
        if given is None:
            return bad("the settings must be sent as a JSON object")
        try:
            session = Session(Config.parse(given))
        except ConfigError as e:
            return bad(str(e))
        with lock:
            holder["session"] = session
            return flask.jsonify(session.state(full=True))

    @app.get("/api/state")
    def state():
        with lock:
            return flask.jsonify(holder["session"].state(full=bool(flask.request.args.get("full"))))

    @app.post("/api/step")
    def step():
        given = flask.request.get_json(silent=True) or {}
        n = given.get("n", 1) if isinstance(given, dict) else None
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STEPS_PER_REQUEST:
            return bad(f"n: the number of steps must be a whole number from 1 to "
                       f"{MAX_STEPS_PER_REQUEST}, got {n!r}")
        with lock:
            session = holder["session"]
            try:
                session.step(n)
            except Diverged as e:  # the session keeps the weights before that step
                return bad(str(e), 409)
            return flask.jsonify(session.state())

    @app.get("/api/backward")
    def backward():
        with lock:
            out = holder["session"].last_backward()
        if out is None:
            return bad("no step yet: train at least one step to see its backward pass", 409)
        return flask.jsonify(out)

    @app.get("/explore")
    def explore():
        with lock:
            page = holder["session"].explore_page()
        if page is None:
            return flask.Response("No step yet: train at least one step in the playground, then "
                                  "open this page again.", status=409, mimetype="text/plain")
        return flask.Response(page, mimetype="text/html")

    app.config["session_holder"] = holder
    return app


def make_server(port: int = 8000, host: str = "127.0.0.1", config: dict | None = None):
    """A threaded server of the app on ``host:port`` (port 0: a free one); ``server.port`` is
    the port it got, ``serve_forever()`` runs it, ``shutdown()`` stops it."""
    _flask()
    import logging
    from werkzeug.serving import make_server as werkzeug_server
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not one line per request
    if port:  # werkzeug would print its own message and exit: say it as chainrule does
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            try:
                probe.bind((host, port))
            except OSError as e:
                raise OSError(e.errno, f"cannot listen on {host}:{port}: {e.strerror}; choose "
                                       f"another --port (0: a free one)") from None
    server = werkzeug_server(host, port, create_app(config), threaded=True)
    server.port = server.server_port
    server.url = f"http://{host}:{server.port}/"
    return server


def serve(port: int = 8000, host: str = "127.0.0.1", open_browser: bool = False) -> None:
    """Run the playground until Ctrl-C, printing its URL."""
    server = make_server(port, host)
    print(f"chainrule playground: {server.url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        import webbrowser
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
