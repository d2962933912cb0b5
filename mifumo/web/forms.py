from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation

from mifumo.tenancy.services import default_timezone_for

COUNTRIES = [("TZ", "Tanzania"), ("KE", "Kenya"), ("UG", "Uganda"), ("RW", "Rwanda"),
             ("GH", "Ghana"), ("NG", "Nigeria")]  # fmt: skip


class LoginForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class SignupForm(forms.Form):
    organization = forms.CharField(max_length=200, label="Organisation")
    name = forms.CharField(max_length=150, label="Your name")
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters.",
    )
    country = forms.ChoiceField(choices=COUNTRIES)

    def clean_password(self):
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password

    def clean(self):
        data = super().clean()
        if data.get("country"):
            data["timezone_name"] = default_timezone_for(data["country"])
        return data
