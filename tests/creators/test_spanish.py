"""Spanish: the catalog is complete and compiles (with babel, no gettext tools needed), the committed .mo is what
it compiles to, and the creator pages render in Spanish with none of the catalog's English sentences left."""

import datetime as dt
import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.utils import timezone

from tests.creators.test_pages import approved_line, invite, partner_of
from tests.partnerships.factories import EnrolmentFactory, ProgramFactory

LOCALE = Path(__file__).resolve().parents[2] / "creators" / "locale" / "es" / "LC_MESSAGES"


def catalog():
    with open(LOCALE / "django.po", "rb") as po:
        return read_po(po)


def test_every_message_is_translated_and_none_is_fuzzy():
    untranslated = [message.id for message in catalog() if message.id and (
        not message.string or (isinstance(message.string, tuple) and not all(message.string))
        or message.fuzzy)]
    assert untranslated == []


def test_the_committed_mo_is_the_compiled_catalog():
    compiled = io.BytesIO()
    write_mo(compiled, catalog())
    fresh = gettext.GNUTranslations(io.BytesIO(compiled.getvalue()))
    with open(LOCALE / "django.mo", "rb") as mo:
        committed = gettext.GNUTranslations(mo)
    assert {k: v for k, v in fresh._catalog.items() if k} == {k: v for k, v in committed._catalog.items() if k}


def test_every_marked_string_of_the_creator_templates_is_in_the_catalog():
    ids = {message.id if isinstance(message.id, str) else message.id[0] for message in catalog() if message.id}
    root = Path(__file__).resolve().parents[2] / "templates" / "creators"
    marked = set()
    for template in root.rglob("*.*"):
        marked |= set(re.findall(r'{% translate "([^"]+)"', template.read_text()))
    assert marked - ids == set()


def english_sentences():
    """The catalog's English texts of two words or more (single words collide with names such as "Brand 3")."""
    for message in catalog():
        text = message.id if isinstance(message.id, str) else message.id[0]
        if text and " " in text and "%(" not in text:
            yield text


@pytest.fixture
def spanish_data(creator):
    partner = partner_of(creator)
    program = ProgramFactory(name="Fondo", min_followers=5000, reapply_cooldown_days=30)
    EnrolmentFactory(partner=partner, program=program, status="rejected",
                     decided_at=timezone.now() - dt.timedelta(days=2), decision_reason="x")
    ProgramFactory(name="Otro")
    invitation = invite(partner)
    invite(partner, expires_in=dt.timedelta(seconds=-1))
    approved_line(partner)
    return invitation


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/creators/programs/", "/creators/invitations/", "/creators/invitations/{pk}/",
                                  "/creators/earnings/", "/creators/profile/", "/creators/notifications/"])
def test_spanish_pages_have_no_english_sentence_left(creator_client, spanish_data, path):
    response = creator_client.get(path.format(pk=spanish_data.pk), HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 200
    assert response["Content-Language"] == "es"
    assert '<html lang="es">' in response.content.decode()  # screen readers read the page as Spanish
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    left = [sentence for sentence in english_sentences() if sentence in text]
    assert left == []
    assert "Portal de creadores" in text
    assert "Cerrar sesión" in text


@pytest.mark.django_db
def test_spanish_programs_page_speaks_spanish(creator_client, spanish_data):
    text = creator_client.get("/creators/programs/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Seguidores" in text
    assert "Edad mínima" in text
    assert "no cumple" in text
    assert "Rechazada" in text
    assert "Puedes volver a solicitarlo a partir del" in text


@pytest.mark.django_db
def test_the_admin_and_brand_pages_stay_english(client, manager):
    client.force_login(manager)
    response = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="es")
    assert "Site administration" in response.content.decode() or "Back-office" in response.content.decode()
    assert "Administración" not in response.content.decode()


@pytest.mark.django_db
def test_money_is_formatted_for_the_locale(creator_client, spanish_data):
    english = creator_client.get(f"/creators/invitations/{spanish_data.pk}/").content.decode()
    spanish = creator_client.get(f"/creators/invitations/{spanish_data.pk}/",
                                 HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "1,500.00 USD" in english
    assert "1.500,00 USD" in spanish
