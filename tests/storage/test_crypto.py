"""Encryption of confidential values: nothing learnable from a ciphertext's length."""

from __future__ import annotations

import base64
import secrets
import tomllib
from datetime import timedelta
from importlib import resources

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from storage.crypto import Keyring, KeyringError, padded_size
from storage.sealing import appointment_context
from tests.storage.conftest import OPERATOR, make_keyring
from tests.storage.test_store import SLOT, appointment, book, seed


def sample_topics() -> list[str]:
    plan = tomllib.loads(resources.files("bot").joinpath("resources/plan.sample.toml").read_text(encoding="utf-8"))
    return [str(t["id"]) for t in plan["topics"]]


def old_token(keyring: Keyring, plain: str, context: str) -> str:
    """A value as the first version wrote it: unpadded, the context alone as associated data."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(keyring.keys[keyring.current]).encrypt(nonce, plain.encode(), context.encode())
    return f"{keyring.current}:{base64.b64encode(nonce + sealed).decode()}"


def test_every_topic_of_the_sample_plan_gives_the_same_ciphertext_length():
    keyring = make_keyring()
    topics = sample_topics()
    assert len(topics) >= 3 and len({len(t) for t in topics}) > 1  # the plan's ids differ in length
    lengths = {len(keyring.encrypt(t, "appointments.topic:x")) for t in [*topics, "non_precise", ""]}
    assert len(lengths) == 1


def test_phone_numbers_written_either_way_give_the_same_length():
    keyring = make_keyring()
    assert len(keyring.encrypt("+33 6 12 34 56 78", "agents.phone:a")) == len(
        keyring.encrypt("06 12 34 56 78", "agents.phone:a")
    )


@given(st.text(max_size=300), st.text(max_size=300))
def test_texts_in_one_bucket_have_equal_lengths_and_round_trip(first: str, second: str):
    keyring = make_keyring()
    a, b = keyring.encrypt(first, "c"), keyring.encrypt(second, "c")
    assert keyring.decrypt(a, "c") == first and keyring.decrypt(b, "c") == second
    if padded_size(len(first.encode())) == padded_size(len(second.encode())):
        assert len(a) == len(b)
    else:
        assert len(a) != len(b)


def test_messages_of_very_different_sizes_fall_in_few_buckets():
    keyring = make_keyring()
    lengths = {len(keyring.encrypt("x" * n, "c")) for n in range(0, 1000)}
    assert len(lengths) == 3  # 64, 256 and 1024 bytes


def test_old_unpadded_tokens_still_decrypt_and_cannot_be_confused_with_padded_ones():
    keyring = make_keyring()
    token = old_token(keyring, "budget", "appointments.topic:1")
    assert keyring.decrypt(token, "appointments.topic:1") == "budget"
    assert not keyring.is_current(token)
    padded = keyring.encrypt("budget", "appointments.topic:1")
    assert keyring.is_current(padded)
    key_id, _, body = padded.partition(":")
    downgraded = f"{key_id}:{body.partition(':')[2]}"  # the version marker stripped
    with pytest.raises(KeyringError):
        keyring.decrypt(downgraded, "appointments.topic:1")
    with pytest.raises(KeyringError):
        keyring.decrypt(f"{key_id}:9:{body.partition(':')[2]}", "appointments.topic:1")


async def test_rotation_pads_values_left_in_the_first_form_under_the_current_key(store):
    (agent,) = await seed(store, "oid-1")
    appointment_id = await book(store, appointment(agent), message="a few words", topic="budget")
    keyring = store.keyring
    async with store.unit_of_work() as uow:
        await uow.session.execute(
            text("UPDATE appointments SET topic_enc = :t, message_enc = :m WHERE id = :id"),
            {
                "t": old_token(keyring, "budget", appointment_context("topic", appointment_id, agent)),
                "m": old_token(keyring, "a few words", appointment_context("message", appointment_id, agent)),
                "id": appointment_id,
            },
        )
        await uow.commit()
    assert (await store.key_usage())[keyring.current]["unpadded"] == 2
    assert await store.rotate_keys(keyring, grant=OPERATOR) == 2  # same key: only the two old tokens
    usage = await store.key_usage()
    assert set(usage) == {keyring.current} and usage[keyring.current]["unpadded"] == 0
    async with store.unit_of_work() as uow:
        topic, message = (await uow.session.execute(text("SELECT topic_enc, message_enc FROM appointments"))).one()
        assert keyring.is_current(topic) and keyring.is_current(message)
        details = await uow.appointments.details(appointment_id, grant=OPERATOR)
        assert (details.topic_id, details.message) == ("budget", "a few words")


async def test_topic_lengths_are_equal_in_the_database_across_topics(store):
    agents = await seed(store, "oid-1", "oid-2", "oid-3")
    topics = [*sample_topics()[:3]]
    for index, (agent, topic) in enumerate(zip(agents, topics, strict=True)):
        await book(store, appointment(agent, SLOT + timedelta(hours=index)), topic=topic)
    await book(store, appointment(agents[0], SLOT + timedelta(hours=5)), topic=None)
    async with store.unit_of_work() as uow:
        lengths = set((await uow.session.scalars(text("SELECT length(topic_enc) FROM appointments"))).all())
    assert len(lengths) == 1


# The column's context, the longest value its form accepts (in characters), and whether even
# that many 4-byte characters (emoji) stay in the floor's bucket.
FREE_TEXT = {
    "appointments.message": (1000, False),
    "urgent.description": (2000, True),
    "urgent.availability": (200, True),
    "absences.reason": (200, True),
}


@pytest.mark.parametrize("column", sorted(FREE_TEXT))
def test_free_text_of_any_length_its_form_accepts_has_one_ciphertext_length(column: str):
    """Issue 22, finding 7: 60 and 70 bytes, 1 and 500, or the whole box in French look alike."""
    keyring = make_keyring()
    limit, emoji_too = FREE_TEXT[column]
    context = f"{column}:row|agent:someone"
    french = "Je souhaiterais échanger à propos d'une difficulté… " * (limit // 50 + 1)
    texts = ["", "x", "é" * 30, "a" * 60, "a" * 70, "b" * 500, "c" * limit, "é" * limit, french[:limit]]
    lengths = {len(keyring.encrypt(t, context)) for t in texts}
    assert len(lengths) == 1
    assert all(keyring.decrypt(keyring.encrypt(t, context), context) == t for t in texts)
    emoji = len(keyring.encrypt("🙂" * limit, context))
    assert (emoji in lengths) is emoji_too  # a box full of emoji: the next bucket, for the message only


def test_sixty_and_seventy_byte_messages_were_told_apart_by_the_plain_buckets():
    """What finding 7 reported, still true of a context without a floor (ids, topics): the
    floor is what makes free text alike."""
    keyring = make_keyring()
    assert len(keyring.encrypt("a" * 60, "c")) != len(keyring.encrypt("a" * 70, "c"))
    assert len(keyring.encrypt("a" * 60, "appointments.message:r")) == len(
        keyring.encrypt("a" * 70, "appointments.message:r")
    )


async def test_messages_of_different_lengths_are_alike_in_the_database(store):
    (agent,) = await seed(store, "oid-1")
    for index, message in enumerate(["a" * 60, "a" * 70, "x", "y" * 500]):
        await book(store, appointment(agent, SLOT + timedelta(hours=index)), message=message)
    async with store.unit_of_work() as uow:
        lengths = set((await uow.session.scalars(text("SELECT length(message_enc) FROM appointments"))).all())
        notes = set((await uow.session.scalars(text("SELECT length(notes_enc) FROM appointments"))).all())
    assert len(lengths) == 1 and len(notes) == 1
