"""``chainrule playground``: a local web page in the spirit of TensorFlow Playground, where
chainrule trains a small network on 2-D data and, paused on any step, shows that batch's backward
pass: each weight's gradient on its line, and the chain rule step by step.

The maths runs in Python (``model``); Flask serves the page (``app``), bound to 127.0.0.1.
Needs ``pip install 'chainrule[playground]'``.
"""

from .app import create_app, make_server, serve
from .model import Config, ConfigError, Diverged, Session

__all__ = ["create_app", "make_server", "serve", "Config", "ConfigError", "Diverged", "Session"]
