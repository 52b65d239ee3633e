"""STOCKMIRROR_ACCOUNTS: the accounts file is read and checked with clear messages."""

from __future__ import annotations

import json

import pytest

from app.config import ConfigError, Settings

ACME = {
    "id": "acme-nz",
    "webhook_secrets": ["s-acme-1", "s-acme-2"],
    "starshipit_api_key": "k-acme",
    "starshipit_subscription_key": "sub-acme",
    "rate_limit": 20,
}
BETA = {"id": "beta", "webhook_secrets": ["s-beta"]}


def settings_with(tmp_path, accounts, **env):
    path = tmp_path / "accounts.json"
    path.write_text(accounts if isinstance(accounts, str) else json.dumps(accounts))
    base = {"STOCKMIRROR_INSTANCE_PATH": str(tmp_path), "STOCKMIRROR_ACCOUNTS": str(path)}
    return Settings.from_env(base | env)


def test_the_accounts_file_gives_each_account_its_secrets_keys_and_rate(tmp_path):
    settings = settings_with(tmp_path, [ACME, BETA], STARSHIPIT_RATE_LIMIT="3")

    acme, beta = settings.accounts
    assert settings.multi_account
    assert (acme.id, acme.webhook_secrets, acme.rate_limit) == (
        "acme-nz",
        ("s-acme-1", "s-acme-2"),
        20.0,
    )
    assert acme.api_configured and not beta.api_configured
    assert beta.rate_limit == 3.0  # STARSHIPIT_RATE_LIMIT is the default
    assert settings.account("beta") is beta
    with pytest.raises(LookupError, match="unknown account 'nope'"):
        settings.account("nope")
    assert "s-acme-1" not in repr(acme) and "k-acme" not in repr(settings.accounts)


def test_without_the_file_the_single_account_variables_make_account_default(tmp_path):
    settings = Settings.from_env(
        {
            "STOCKMIRROR_INSTANCE_PATH": str(tmp_path),
            "STOCKMIRROR_WEBHOOK_SECRETS": "a,b",
            "STARSHIPIT_API_KEY": "k",
            "STARSHIPIT_SUBSCRIPTION_KEY": "s",
        }
    )
    [default] = settings.accounts
    assert not settings.multi_account
    assert (default.id, default.webhook_secrets, default.api_configured) == (
        "default",
        ("a", "b"),
        True,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "a JSON list with at least one account"),
        ('{"id": "x"}', "a JSON list with at least one account"),
        (["acme"], "account #1 must be a JSON object"),
        ([{"webhook_secrets": ["s"]}], 'account #1 needs an "id"'),
        ([{"id": " x", "webhook_secrets": ["s"]}], "has spaces or control characters"),
        ([{"id": "x"}], '"webhook_secrets" must be a list of non-empty strings'),
        ([{"id": "x", "webhook_secrets": [""]}], '"webhook_secrets" must be a list'),
        ([{"id": "x", "webhook_secrets": ["s"], "rate_limit": 0}], '"rate_limit" must be'),
        ([{"id": "x", "webhook_secrets": ["s"], "rate_limit": "9"}], '"rate_limit" must be'),
        ([{"id": "x", "webhook_secrets": ["s"], "starshipit_api_key": 5}], "must be a string"),
        ([{"id": "x", "webhook_secrets": ["s"], "webhook_secret": "s"}], "unknown field(s)"),
        ([BETA, BETA], "account id 'beta' appears twice"),
        ([BETA, {"id": "c", "webhook_secrets": ["s-beta"]}], "share a webhook secret"),
    ],
)
def test_a_bad_accounts_file_stops_with_a_message_naming_what_is_wrong(tmp_path, content, message):
    with pytest.raises(ConfigError) as error:
        settings_with(tmp_path, content)
    assert "STOCKMIRROR_ACCOUNTS" in str(error.value)
    assert message in str(error.value)
    assert "s-beta" not in str(error.value)


def test_a_missing_accounts_file_is_a_config_error(tmp_path):
    env = {"STOCKMIRROR_INSTANCE_PATH": str(tmp_path), "STOCKMIRROR_ACCOUNTS": "/nope.json"}
    with pytest.raises(ConfigError, match="cannot read the file"):
        Settings.from_env(env)
