"""core.encrypted.decrypt_many gives, value by value, what the encrypted field's to_python gives: for its tokens,
for everything that is not one of its tokens (forged, damaged, another key's, plain text, None) and under key
rotation. No database."""

import base64
import hmac
import os

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.test import override_settings
from encrypted_fields.fields import EncryptedCharField

from core.encrypted import decrypt_many
from payouts.models import Payee


def field_with_keys(*salts: str) -> EncryptedCharField:
    with override_settings(SALT_KEY=list(salts)):
        field = EncryptedCharField(max_length=140)
        field.f  # noqa: B018 - derive the keys (cached on the field) under these settings
    return field


def forged(field: EncryptedCharField, plaintext_padded: bytes) -> str:
    """A token with a valid HMAC under the field's key whose plaintext is `plaintext_padded` as it stands: only the
    padding can be wrong in it."""
    key = base64.urlsafe_b64decode(field.keys[0])
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(key[16:]), modes.CBC(iv)).encryptor()
    body = b"\x80" + b"\x00" * 8 + iv + encryptor.update(plaintext_padded) + encryptor.finalize()
    return base64.urlsafe_b64encode(body + hmac.digest(key[:16], body, "sha256")).decode()


def flip(token: str, position: int) -> str:
    data = bytearray(base64.urlsafe_b64decode(token))
    data[position] ^= 0x01
    return base64.urlsafe_b64encode(bytes(data)).decode()


def test_the_fields_tokens_of_every_length_read_back_as_the_field_reads_them():
    field = Payee._meta.get_field("account_holder")
    plain = ["", "a", "Ünal Öztürk", "x" * 15, "y" * 16, "z" * 17, "名前" * 20, "NL91ABNA0417164300", "é" * 70]
    tokens = [field.get_prep_value(text) for text in plain if text]
    values = [*tokens, None, "plain text kept", "", 12345]
    result = decrypt_many(field, values)
    assert result == [field.to_python(value) for value in values]
    assert result[:len(tokens)] == [text for text in plain if text]


def test_damaged_forged_and_foreign_tokens_are_the_fields_result_never_a_guess():
    field = Payee._meta.get_field("iban")
    token = field.get_prep_value("DE89370400440532013000")
    values = [
        flip(token, 0),  # version byte
        flip(token, 30),  # ciphertext: the HMAC no longer matches
        flip(token, -1),  # the tag itself
        token[:-8],  # cut short
        token.rstrip("=") + "AAAAAAAA",  # longer
        "gAAAA" + "!" * 40,  # not base64 at all
        Fernet(Fernet.generate_key()).encrypt(b"someone else's").decode(),  # another key
        forged(field, b"A" * 15 + b"\x00"),  # a valid tag over a padding of 0
        forged(field, b"A" * 14 + b"\x02\x03"),  # a valid tag over a padding that does not repeat
        forged(field, b"A" * 16),  # padding byte 65, longer than a block
        forged(field, b"A" * 13 + b"\x03\x03\x03"),  # the one well-formed forgery: a valid token
    ]
    expected = [field.to_python(value) for value in values]
    assert decrypt_many(field, values) == expected
    assert expected[:-1] == values[:-1]  # the field keeps what it cannot decrypt
    assert expected[-1] == "A" * 13
    # Base64 read as Fernet reads it (not strictly): what follows the padding is ignored, as by the field.
    assert decrypt_many(field, [token + "AAAA"]) == [field.to_python(token + "AAAA")] == ["DE89370400440532013000"]


def test_a_token_of_a_rotated_out_key_is_decrypted_by_the_fields_fallback():
    old = field_with_keys("old-key")
    rotated = field_with_keys("new-key", "old-key")
    values = [old.get_prep_value("Anna Schmidt"), rotated.get_prep_value("Ben Carter"), old.get_prep_value("Cleo")]
    assert decrypt_many(rotated, values) == ["Anna Schmidt", "Ben Carter", "Cleo"]
    assert decrypt_many(old, values) == [old.to_python(value) for value in values]  # the new key's token kept
    assert decrypt_many(old, values)[1] == values[1]


def test_a_token_whose_plaintext_is_not_utf8_fails_as_the_field_fails():
    field = Payee._meta.get_field("account_holder")
    token = field.f.encrypt(b"\xff\xfe broken").decode()
    with pytest.raises(UnicodeDecodeError):
        field.to_python(token)
    with pytest.raises(UnicodeDecodeError):
        decrypt_many(field, [field.get_prep_value("ok"), token])


def test_while_a_form_cleans_nothing_is_decrypted_as_with_the_field():
    field = field_with_keys("form-key")
    token = field.get_prep_value("Anna")
    field._already_decrypted = True
    try:
        assert decrypt_many(field, [token]) == [field.to_python(token)] == [token]
    finally:
        del field._already_decrypted
    assert decrypt_many(field, [token]) == ["Anna"]


def test_a_large_column_of_tokens_is_decrypted_in_one_pass():
    field = Payee._meta.get_field("account_holder")
    plain = [f"Payee {n} " + "ü" * (n % 37) for n in range(3000)]
    assert decrypt_many(field, [field.get_prep_value(text) for text in plain]) == plain
