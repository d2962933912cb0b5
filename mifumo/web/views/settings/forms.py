"""The settings pages' forms. They check shape; the services decide the rest."""

from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation

from mifumo.delivery.models import ProviderAccount
from mifumo.delivery.providers.base import registered_names
from mifumo.tenancy.models import Role, User
from mifumo.web.provider_accounts import mask

PROVIDER_LABELS = {
    "africastalking": "Africa's Talking",
    "arkesel": "Arkesel",
    "beem": "Beem Africa",
    "smtp": "SMTP (e-mail)",
    "twilio": "Twilio",
}


def _secret(label: str, help_text: str = "") -> forms.CharField:
    # type=password and never rendered back: a secret typed once is not echoed to the page.
    return forms.CharField(
        label=label,
        required=False,
        max_length=500,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )


class SenderIdForm(forms.Form):
    value = forms.CharField(
        label="Sender id",
        max_length=15,
        help_text="Up to 11 letters and digits (SHULE-MBEZI), or a number of up to 15 digits.",
    )
    purpose = forms.CharField(
        label="What it is for",
        max_length=300,
        required=False,
        help_text="Vendors ask for this when they register one.",
    )


class ProviderAccountForm(forms.Form):
    provider = forms.ChoiceField(label="Provider")
    name = forms.CharField(label="Name", max_length=100, help_text="Your name for this account.")
    base_url = forms.CharField(
        label="Base URL",
        max_length=200,
        required=False,
        help_text="Leave blank for the vendor's own. For SMTP: smtp://user@host:587?tls=1",
    )
    api_key = _secret("API key")
    secret_key = _secret("Secret key or password")
    username = forms.CharField(label="Username or account id", max_length=200, required=False)
    sender_id = forms.CharField(
        label="Sender id", max_length=15, required=False, help_text="The vendor's default."
    )
    rate_limit = forms.CharField(
        label="Rate limit",
        max_length=20,
        required=False,
        help_text="Messages per period the vendor allows, e.g. 100/m, 10/s or 5/10s.",
    )
    webhook_secret = _secret("Delivery-report secret", "Leave blank to have one made for you.")
    fallback = forms.ModelChoiceField(
        label="Fall back on",
        queryset=ProviderAccount.objects.none(),
        required=False,
        empty_label="No fallback",
        help_text="Used while this account cannot send.",
    )
    is_default = forms.BooleanField(
        label="Default account for its kind of message (SMS or e-mail)", required=False
    )

    def __init__(self, *args, tenant, account: ProviderAccount | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [
            (name, PROVIDER_LABELS.get(name, name)) for name in registered_names()
        ]
        others = ProviderAccount.objects.filter(tenant=tenant).order_by("name")
        if account is not None:
            others = others.exclude(pk=account.pk)
            for name in ("api_key", "secret_key", "webhook_secret"):
                stored = getattr(account, name)
                self.fields[name].help_text = (
                    f"Stored: {mask(stored)}. Leave blank to keep it." if stored else "Not set."
                )
        self.fields["fallback"].queryset = others


class UserAddForm(forms.Form):
    name = forms.CharField(label="Name", max_length=150)
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    password = forms.CharField(
        label="Password",
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters. Give it to them; they can sign in with it.",
    )
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("email"):
            try:
                user = User(email=data["email"], name=data.get("name", ""))
                password_validation.validate_password(data["password"], user)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return data


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="Where it is used, e.g. the school's website."
    )
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)
