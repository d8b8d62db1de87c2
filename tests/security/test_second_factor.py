"""Two-factor authentication for money actions: approving and paying a run are refused in the admin without a
verified code (nothing changes, and the refusal says how to go on); staff enrol an authenticator app on their own
page, verify a code at sign-in or on the verify page (which brings them back), and wrong codes are throttled."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.second_factor import SECOND_FACTOR_REQUIRED
from core.two_factor.devices import DEVICE_NAME, NO_DEVICE, WRONG_CODE, base32_secret
from core.two_factor.forms import NOT_A_CODE
from core.two_factor.views import ALREADY_ENROLLED, ENROLLED, REMOVED, VERIFIED
from payouts.demo import DEMO_TOTP_KEY, enrol_demo_second_factor
from payouts.models import PayoutRun
from tests.partnerships.factories import UserFactory
from tests.payouts.test_admin import act_url, ledger_state, lines_state, messages_of, run_state, run_url, submit
from tests.second_factor import current_code, verified_client, wrong_code

pytestmark = pytest.mark.django_db
R = PayoutRun.Status
ENROL_URL, VERIFY_URL = "/admin/two-factor/", "/admin/two-factor/verify/"


def confirmed_device_of(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)


def post(client, url: str, data: dict):
    """Open the page and post to it with its CSRF token, as a browser does."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    return client.post(url, {"csrfmiddlewaretoken": str(page.context["csrf_token"]), **data})


def session_verified_with(client, device) -> bool:
    return client.session.get("otp_device_id") == device.persistent_id


def text_of(response) -> str:
    return html.unescape(response.content.decode())


# --- money actions refuse an unverified session, and say how to go on ----------------------------------

@pytest.mark.parametrize("enrolled", [False, True], ids=["no-app-yet", "app-but-session-unverified"])
def test_approving_without_a_verified_code_is_refused_with_a_way_forward_and_changes_nothing(
        csrf_client, approver, computed_run, enrolled):
    if enrolled:
        confirmed_device_of(approver)
    csrf_client.force_login(approver)
    before = run_state(computed_run), lines_state(computed_run), ledger_state()

    response = submit(csrf_client, act_url(computed_run, "approve"))

    assert response.status_code == 302
    assert response["Location"] == act_url(computed_run, "approve")  # back to the confirmation, not a 403
    [(level, message)] = messages_of(response)
    assert level == "error"
    assert message.startswith(SECOND_FACTOR_REQUIRED.format(action="Approving a run"))
    way_forward = f"{VERIFY_URL if enrolled else ENROL_URL}?next=%2Fadmin%2Fpayouts%2Fpayoutrun%2F{computed_run.pk}"
    assert way_forward in message
    assert (run_state(computed_run), lines_state(computed_run), ledger_state()) == before
    assert computed_run.status == R.COMPUTED


def test_the_confirmation_page_says_beforehand_that_a_code_is_needed(csrf_client, approver, computed_run):
    confirmed_device_of(approver)
    csrf_client.force_login(approver)

    response = csrf_client.get(act_url(computed_run, "approve"))

    assert response.status_code == 200
    [(level, message)] = messages_of(response)
    assert level == "warning"
    assert message.startswith("Approving a run needs a verified code")
    assert "Verify a code now" in text_of(response)


def test_marking_paid_without_a_verified_code_is_refused_and_changes_nothing(csrf_client, approver, approved_run):
    csrf_client.force_login(approver)
    before = run_state(approved_run), lines_state(approved_run), ledger_state()

    response = submit(csrf_client, act_url(approved_run, "pay"), {"reference": "BATCH-2026-08"})

    assert response.status_code == 302
    assert messages_of(response)[0][1].startswith(SECOND_FACTOR_REQUIRED.format(action="Marking a run paid"))
    assert (run_state(approved_run), lines_state(approved_run), ledger_state()) == before
    assert approved_run.status == R.APPROVED


def test_verifying_on_the_verify_page_returns_to_the_action_which_then_approves(csrf_client, approver, computed_run):
    device = confirmed_device_of(approver)
    csrf_client.force_login(approver)
    here = act_url(computed_run, "approve")

    response = post(csrf_client, f"{VERIFY_URL}?next={here}", {"code": current_code(device), "next": here})

    assert response.status_code == 302
    assert response["Location"] == here
    assert session_verified_with(csrf_client, device)
    assert ("success", VERIFIED) in messages_of(response)
    response = submit(csrf_client, here)
    assert response["Location"] == run_url(computed_run)
    computed_run.refresh_from_db()
    assert (computed_run.status, computed_run.approved_by) == (R.APPROVED, approver)


def test_a_verified_session_marks_a_run_paid(csrf_client, approver, approved_run):
    verified_client(csrf_client, approver)

    response = submit(csrf_client, act_url(approved_run, "pay"), {"reference": "BATCH-2026-08"})

    assert response["Location"] == run_url(approved_run)
    approved_run.refresh_from_db()
    assert (approved_run.status, approved_run.paid_by) == (R.PAID, approver)


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_the_verify_page_never_sends_a_person_off_the_site(client, approver, next_url):
    device = confirmed_device_of(approver)
    client.force_login(approver)

    response = post(client, f"{VERIFY_URL}", {"code": current_code(device), "next": next_url})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert session_verified_with(client, device)


def test_the_verify_page_sends_a_person_with_no_app_to_set_one_up(client, approver):
    client.force_login(approver)

    response = client.get(f"{VERIFY_URL}?next=/admin/")

    assert response.status_code == 302
    assert response["Location"] == f"{ENROL_URL}?next=%2Fadmin%2F"
    assert messages_of(response) == [("warning", NO_DEVICE)]


def test_the_two_factor_pages_need_a_signed_in_staff_member(client):
    for url in (ENROL_URL, VERIFY_URL):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    client.force_login(UserFactory(username="brand-person", is_staff=False))
    assert client.get(ENROL_URL).status_code == 302


# --- enrolment -------------------------------------------------------------------------------------------

def start_enrolment(client) -> TOTPDevice:
    response = post(client, ENROL_URL, {"action": "start"})
    assert response.status_code == 302
    return TOTPDevice.objects.get(confirmed=False)


def test_enrolment_shows_the_qr_code_inline_and_the_secret(client, approver):
    client.force_login(approver)
    device = start_enrolment(client)

    page = client.get(ENROL_URL)

    body = page.content.decode()
    assert "<svg" in body  # inline: the CSP allows no image URL but our own
    assert "<img" not in body
    assert base32_secret(device) in body
    assert device.user == approver
    assert not device.confirmed
    assert "Content-Security-Policy" in page.headers


def test_enrolment_refuses_a_wrong_code_and_confirms_with_the_right_one(client, approver):
    client.force_login(approver)
    device = start_enrolment(client)

    refused = post(client, ENROL_URL, {"action": "confirm", "code": wrong_code(device)})
    garbage = post(client, ENROL_URL, {"action": "confirm", "code": "12ab56"})

    assert refused.status_code == garbage.status_code == 200
    assert refused.context["form"].errors == {"code": [WRONG_CODE]}
    assert garbage.context["form"].errors == {"code": [NOT_A_CODE]}
    device.refresh_from_db()
    assert not device.confirmed
    assert not session_verified_with(client, device)

    device.throttling_failure_count = 0  # the wrong code's throttle (tested below) is not this test's business
    device.save()
    response = post(client, f"{ENROL_URL}?next=/admin/", {"action": "confirm", "code": current_code(device),
                                                          "next": "/admin/"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert ("success", ENROLLED) in messages_of(response)
    device.refresh_from_db()
    assert device.confirmed
    assert session_verified_with(client, device)


def test_a_second_setup_is_refused_while_an_app_is_enrolled(client, approver):
    device = confirmed_device_of(approver)
    client.force_login(approver)

    response = post(client, ENROL_URL, {"action": "start"})

    assert ("error", ALREADY_ENROLLED) in messages_of(response)
    assert list(TOTPDevice.objects.filter(user=approver)) == [device]


def test_replacing_the_app_needs_a_current_code_and_the_new_one_takes_over_once_confirmed(client, approver):
    old = confirmed_device_of(approver)
    client.force_login(approver)

    refused = post(client, ENROL_URL, {"action": "replace", "code": wrong_code(old)})

    assert refused.context["form"].errors == {"code": [WRONG_CODE]}
    assert list(TOTPDevice.objects.filter(user=approver)) == [old]

    old.throttling_failure_count = 0
    old.save()
    post(client, ENROL_URL, {"action": "replace", "code": current_code(old)})
    new = TOTPDevice.objects.get(user=approver, confirmed=False)
    assert TOTPDevice.objects.filter(pk=old.pk, confirmed=True).exists()  # still works until the new one is confirmed

    post(client, ENROL_URL, {"action": "confirm", "code": current_code(new)})

    assert list(TOTPDevice.objects.filter(user=approver).values_list("pk", "confirmed")) == [(new.pk, True)]
    assert session_verified_with(client, new)


def test_removing_the_app_needs_a_current_code(client, approver):
    device = confirmed_device_of(approver)
    client.force_login(approver)

    post(client, ENROL_URL, {"action": "remove", "code": wrong_code(device)})
    assert TOTPDevice.objects.filter(user=approver).count() == 1

    device.throttling_failure_count = 0
    device.save()
    response = post(client, ENROL_URL, {"action": "remove", "code": current_code(device)})

    assert ("success", REMOVED) in messages_of(response)
    assert not TOTPDevice.objects.filter(user=approver).exists()


def test_the_user_tools_link_to_the_two_factor_page(client, approver):
    client.force_login(approver)
    assert f'<a href="{ENROL_URL}" id="two-factor-link">Two-factor</a>' in client.get("/admin/").content.decode()


# --- sign-in with a code -----------------------------------------------------------------------------------

def sign_in(client, username: str, password: str = "pw", code: str = ""):
    return client.post(reverse("admin:login"), {"username": username, "password": password, "otp_token": code})


def test_signing_in_with_the_code_verifies_the_session(client, approver):
    device = confirmed_device_of(approver)

    response = sign_in(client, "approver", code=current_code(device))

    assert response.status_code == 302
    assert session_verified_with(client, device)


def test_signing_in_without_a_code_signs_in_unverified(client, approver):
    confirmed_device_of(approver)

    response = sign_in(client, "approver")

    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    assert "otp_device_id" not in client.session


@pytest.mark.parametrize("case", ["wrong code", "no app"])
def test_a_wrong_code_or_a_code_without_an_app_refuses_the_sign_in(client, approver, case):
    device = confirmed_device_of(approver) if case == "wrong code" else None

    response = sign_in(client, "approver", code=wrong_code(device) if device else "123456")

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [WRONG_CODE if device else NO_DEVICE]
    assert "_auth_user_id" not in client.session


def test_the_login_page_offers_the_code_field(client):
    body = client.get(reverse("admin:login")).content.decode()
    assert 'name="otp_token"' in body
    assert "Authenticator code" in body


def test_a_wrong_password_is_refused_before_any_code_is_checked(client, approver):
    device = confirmed_device_of(approver)

    response = sign_in(client, "approver", password="wrong", code=current_code(device))

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    device.refresh_from_db()
    assert device.last_t == -1  # the code was not spent


# --- throttling --------------------------------------------------------------------------------------------

def let_the_lock_pass(device) -> None:
    """Move the last failure back by the lock's length (2^(n-1) seconds after n wrong codes), as if one waited."""
    device.refresh_from_db()
    device.throttling_failure_timestamp -= dt.timedelta(seconds=2 ** (device.throttling_failure_count - 1) + 1)
    device.save(update_fields=["throttling_failure_timestamp"])


def test_a_run_of_wrong_codes_locks_further_tries_even_the_right_one_for_a_while(client, approver):
    device = confirmed_device_of(approver)
    client.force_login(approver)
    first = post(client, VERIFY_URL, {"code": wrong_code(device)})
    assert first.context["form"].errors == {"code": [WRONG_CODE]}
    straight_after = post(client, VERIFY_URL, {"code": wrong_code(device)})  # locked for 1 s: not even checked
    assert straight_after.context["form"].errors["code"][0].startswith("Too many wrong codes in a row (1)")
    for _ in range(2):  # a guesser who waits out each lock: every wrong code counts and doubles the wait
        let_the_lock_pass(device)
        post(client, VERIFY_URL, {"code": wrong_code(device)})

    response = post(client, VERIFY_URL, {"code": current_code(device)})

    assert response.status_code == 200
    [error] = response.context["form"].errors["code"]
    assert error.startswith("Too many wrong codes in a row (3): codes are refused until ")
    assert not session_verified_with(client, device)
    device.refresh_from_db()
    assert device.throttling_failure_count == 3
    assert device.last_t == -1  # the right code was not even checked

    sign_in_refused = sign_in(client.__class__(), "approver", code=current_code(device))
    assert "Too many wrong codes in a row (3)" in sign_in_refused.context["form"].non_field_errors()[0]

    # The lock lasts 2^(3-1) = 4 seconds; once it is over, the right code is accepted and the count resets.
    let_the_lock_pass(device)
    response = post(client, VERIFY_URL, {"code": current_code(device)})
    assert response.status_code == 302
    assert session_verified_with(client, device)
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_throttling_is_on(settings):
    assert settings.OTP_TOTP_THROTTLE_FACTOR >= 1
    assert TOTPDevice(throttling_failure_count=1).throttling_enabled


def test_a_code_is_accepted_once(client, approver):
    device = confirmed_device_of(approver)
    client.force_login(approver)
    code = current_code(device)
    post(client, VERIFY_URL, {"code": code})

    again = post(client, VERIFY_URL, {"code": code})

    assert again.context["form"].errors == {"code": [WRONG_CODE]}


# --- the demo and the code printer ---------------------------------------------------------------------------

def test_totp_code_refuses_unless_debug(settings, approver):
    settings.DEBUG = False
    confirmed_device_of(approver)
    with pytest.raises(CommandError, match="runs only with DEBUG on"):
        call_command("totp_code", "approver")


def test_totp_code_prints_the_current_code_in_debug(settings, approver, capsys):
    settings.DEBUG = True
    device = confirmed_device_of(approver)

    call_command("totp_code", "approver")

    assert capsys.readouterr().out.strip() == current_code(device)


def test_the_demo_enrols_finance_with_the_printed_secret(db):
    finance = UserFactory(username="finance", groups=["Finance approvers"])

    lines = enrol_demo_second_factor()
    enrol_demo_second_factor()  # the demo run again: still one device

    device = TOTPDevice.objects.get(user=finance)
    assert (device.key, device.confirmed) == (DEMO_TOTP_KEY, True)
    printed = "\n".join(lines)
    assert base32_secret(device) in printed
    assert device.config_url in printed
    assert device.config_url.startswith("otpauth://totp/Creator%20Partnerships%3Afinance?secret=")
    assert "DEBUG=true python manage.py totp_code finance" in printed
