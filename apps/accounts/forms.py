from __future__ import annotations

from django import forms
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.core.validators import RegexValidator


class LoginForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address",
        max_length=254,
        help_text="The address you log in with.",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class NewPasswordForm(SetPasswordForm):
    """Django's form (runs AUTH_PASSWORD_VALIDATORS and lists every reason)."""


class ChangePasswordForm(PasswordChangeForm):
    pass


class TwoFactorCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autofocus": True,
                "inputmode": "text",
                "spellcheck": "false",
                "autocapitalize": "off",
            }
        ),
    )


class TotpEnrolForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=8,
        validators=[RegexValidator(r"^\d{3} ?\d{3}$", "Enter the 6-digit code your app shows.")],
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )
    name = forms.CharField(
        label="Name for this device",
        max_length=64,
        required=False,
        help_text='For example "Work phone". Optional.',
    )

    def clean_code(self) -> str:
        return "".join(self.cleaned_data["code"].split())
