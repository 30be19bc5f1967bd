from django import forms

from imports.models import ImportSession


class LaunchImportForm(forms.Form):
    import_type = forms.ChoiceField(
        label="What to import",
        choices=ImportSession.Type.choices,
        initial=ImportSession.Type.FULL,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Unknown import type %(value)s: pick one of the listed types."},
    )
