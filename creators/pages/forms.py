from django import forms
from django.utils.translation import gettext_lazy as _

from partnerships.models import INVITATION_MESSAGE_MAX, Category


class ClaimForm(forms.Form):
    password1 = forms.CharField(label=_("Password"), strip=False, max_length=128, widget=forms.PasswordInput)
    password2 = forms.CharField(label=_("Password again"), strip=False, max_length=128, widget=forms.PasswordInput)

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        return data


class AnswerForm(forms.Form):
    answer = forms.ChoiceField(choices=[("accept", _("Accept")), ("decline", _("Decline"))])
    message = forms.CharField(required=False, max_length=INVITATION_MESSAGE_MAX,
                              widget=forms.Textarea(attrs={"rows": 3}))


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=120, label=_("Public name"))
    categories = forms.ModelMultipleChoiceField(queryset=Category.objects.all(), required=False,
                                                label=_("Categories"))
    opted_into_brand_deals = forms.BooleanField(required=False, label=_("Brands may find me and invite me"))
    contact_email = forms.EmailField(required=False, label=_("Contact e-mail (not shown to brands)"))


class PreferencesForm(forms.Form):
    application_decided = forms.BooleanField(required=False, label=_("A program decided my application"))
    invitation_received = forms.BooleanField(required=False, label=_("A brand invited me"))
    invitation_answered = forms.BooleanField(required=False, label=_("A creator answered my brand's invitation"))
    statements = forms.BooleanField(required=False, label=_("A statement is ready or a payment was sent"))
    language = forms.ChoiceField(choices=[("", _("English (default)")), ("es", "Español")], required=False,
                                 label=_("Language of the e-mails"))
