"""Staff's second factor: enrolling an authenticator app (a django-otp TOTP device) on their own page, verifying a
code at admin sign-in or later (step-up), and the admin's presentation of a refused money action.

- ``devices``: finding a person's device, checking a code against it (with django-otp's throttling), the QR code.
- ``forms``: the admin's sign-in form with an optional "Authenticator code", and the code form of the pages.
- ``views`` / ``urls``: /admin/two-factor/ (enrol, replace, remove) and /admin/two-factor/verify/ (step-up).
- ``refusal``: turns core.second_factor.SecondFactorRequired into an admin error message with a link to verify or
  enrol, and a redirect back (see core.second_factor's docstring).
"""
