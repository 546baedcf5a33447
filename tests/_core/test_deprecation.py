"""A module kept at an old path: its names warn, name the removal release and the new home."""

import types

import pytest

from sk_icnet._core.deprecation import REMOVED_IN, SINCE, moved_module


def _homes():
    public, private = types.ModuleType("pkg.new"), types.ModuleType("pkg.new._room")
    public.thing, private.helper = object(), object()
    return public, private, {"thing": public, "helper": private}


def test_a_moved_name_warns_and_gives_the_object_of_its_new_home():
    public, _, homes = _homes()
    getattr_, dir_ = moved_module("pkg.old", homes)
    with pytest.warns(FutureWarning, match=rf"^pkg\.old is deprecated since {SINCE} and will be "
                                           rf"removed in {REMOVED_IN}; import thing from pkg\.new$"):
        assert getattr_("thing") is public.thing
    assert dir_() == ["helper", "thing"]


def test_a_name_whose_home_is_private_says_it_has_no_public_replacement():
    _, private, homes = _homes()
    getattr_, _ = moved_module("pkg.old", homes)
    with pytest.warns(FutureWarning, match="helper is internal to pkg.new and has no public "
                                           "replacement$"):
        assert getattr_("helper") is private.helper


def test_an_unknown_name_is_an_attribute_error_without_a_warning(recwarn):
    getattr_, _ = moved_module("pkg.old", _homes()[2])
    with pytest.raises(AttributeError, match="module 'pkg.old' has no attribute 'other'"):
        getattr_("other")
    assert not recwarn.list
