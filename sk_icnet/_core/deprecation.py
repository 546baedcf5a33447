"""Modules kept at an old import path for one deprecation cycle, as scikit-learn does.

A module that moved keeps a file at its old path whose names are served by a module
``__getattr__`` (PEP 562): each use of an old name gives the object from its new home and a
``FutureWarning`` that says when the old path goes and what to import instead. Importing
the old module alone warns about nothing; the first name taken from it does.

>>> import types, warnings
>>> new = types.ModuleType("pkg.new")
>>> new.thing = object()
>>> __getattr__, __dir__ = moved_module("pkg.old", {"thing": new})
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     assert __getattr__("thing") is new.thing
>>> print(caught[0].message)
pkg.old is deprecated since 0.5 and will be removed in 0.6; import thing from pkg.new
"""

from __future__ import annotations

import warnings

__all__ = ["SINCE", "REMOVED_IN", "moved_module"]

#: the release that deprecated the 0.3 import paths, and the one that removes them
SINCE, REMOVED_IN = "0.5", "0.6"


def moved_module(old, homes):
    """The ``__getattr__`` and ``__dir__`` of the module kept at the old path ``old``.

    Parameters
    ----------
    old : str
        The old module's name (its ``__name__``).
    homes : dict of str to module
        Each name the old module served -> the module it is taken from now. A home
        whose dotted name has a private part (``pkg.sub._room``) is no public home:
        the warning then says that the name is internal and has no public replacement.

    Returns
    -------
    __getattr__, __dir__ : callable
        To bind at the old module's top level.
    """
    def __getattr__(name):
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(_message(old, name, home.__name__), FutureWarning, stacklevel=2)
        return getattr(home, name)

    def __dir__():
        return sorted(homes)

    return __getattr__, __dir__


def _message(old, name, home):
    where = f"{old} is deprecated since {SINCE} and will be removed in {REMOVED_IN}"
    if any(part.startswith("_") for part in home.split(".")):
        return (f"{where}; {name} is internal to {home.split('._')[0]} and has no public "
                "replacement")
    return f"{where}; import {name} from {home}"
