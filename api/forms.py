from django import forms

from api.tokens import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What it is for, e.g. nightly export")
    days = forms.IntegerField(min_value=1, max_value=MAX_TOKEN_DAYS, initial=DEFAULT_TOKEN_DAYS, label="Expires in (days)")
