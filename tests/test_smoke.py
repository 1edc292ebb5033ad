from django.conf import settings


def test_settings_load_with_development_defaults():
    assert settings.SECRET_KEY
