"""What deploy/serve.py changes in Streamlit's per-rerun messages keeps them as Streamlit builds them (issue 18)."""

from __future__ import annotations

import pytest


@pytest.fixture
def theme_config(monkeypatch):
    """The repository's config.toml with a few theme options of every section set, parsed afresh."""
    from streamlit import config
    from streamlit.runtime import app_session

    monkeypatch.setattr(app_session, "_populate_theme_msg", app_session._populate_theme_msg)  # restored after
    config.get_config_options(force_reparse=True)
    for name, value in (("theme.primaryColor", "#2563eb"), ("theme.light.textColor", "#111111"),
                        ("theme.dark.backgroundColor", "#000000"), ("theme.sidebar.primaryColor", "#ff0000"),
                        ("theme.dark.sidebar.textColor", "#eeeeee")):
        config.set_option(name, value, "test")
    yield config
    config.get_config_options(force_reparse=True)


SECTIONS = ("theme", "theme.light", "theme.dark", "theme.sidebar", "theme.light.sidebar", "theme.dark.sidebar")


def test_cached_theme_sections_equal_streamlits(theme_config):
    from streamlit.proto.NewSession_pb2 import CustomThemeConfig
    from streamlit.runtime import app_session

    from deploy.serve import cache_theme_messages

    cache_theme_messages()
    cached, original = app_session._populate_theme_msg, app_session._populate_theme_msg.__wrapped__
    for _ in range(2):  # the second round comes from the cache
        for section in SECTIONS:
            a, b = CustomThemeConfig(), CustomThemeConfig()
            cached(a, section)
            original(b, section)
            assert a == b, section
    a, b = CustomThemeConfig(), CustomThemeConfig()
    cached(a)
    assert a.primary_color == "#2563eb"


def test_a_reparsed_config_rebuilds_the_cached_sections(theme_config):
    """A configuration parsed again (a new options dict) is read again; a section is not kept from the old one."""
    from streamlit.proto.NewSession_pb2 import CustomThemeConfig
    from streamlit.runtime import app_session

    from deploy.serve import cache_theme_messages

    cache_theme_messages()
    first = CustomThemeConfig()
    app_session._populate_theme_msg(first, "theme.dark")
    assert first.background_color == "#000000"
    theme_config.get_config_options(force_reparse=True)  # config.toml as written: no dark background
    again = CustomThemeConfig()
    app_session._populate_theme_msg(again, "theme.dark")
    reference = CustomThemeConfig()
    app_session._populate_theme_msg.__wrapped__(reference, "theme.dark")
    assert again == reference and again.background_color != "#000000"
