"""The connector's own key pairs (DESIGN §4): made once, kept private on disk, refused loudly when damaged."""

from __future__ import annotations

import multiprocessing
import os
import re
import stat
from pathlib import Path

import pytest

from connector._identity import ENCRYPTION_FILE, SIGNING_FILE, load_or_create
from connector.errors import ConfigurationError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_made_on_first_call_and_the_same_on_the_second(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "keys")
    second = load_or_create(tmp_path / "keys")

    assert (second.signing_key, second.encryption_key) == (first.signing_key, first.encryption_key)
    assert first.signing_key != first.encryption_key


def test_public_keys_are_32_raw_bytes_in_unpadded_base64url(tmp_path: Path) -> None:
    identity = load_or_create(tmp_path / "keys")

    for key in (identity.signing_key, identity.encryption_key):
        assert len(key) == 43 and "=" not in key and "+" not in key and "/" not in key


def test_key_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    load_or_create(tmp_path / "keys")

    assert mode(tmp_path / "keys") == 0o700
    assert mode(tmp_path / "keys" / SIGNING_FILE) == 0o600
    assert mode(tmp_path / "keys" / ENCRYPTION_FILE) == 0o600
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted([SIGNING_FILE, ENCRYPTION_FILE])


def test_loosened_permissions_are_tightened_again_on_load(tmp_path: Path) -> None:
    load_or_create(tmp_path / "keys")
    (tmp_path / "keys").chmod(0o755)
    (tmp_path / "keys" / SIGNING_FILE).chmod(0o644)

    load_or_create(tmp_path / "keys")

    assert mode(tmp_path / "keys") == 0o700
    assert mode(tmp_path / "keys" / SIGNING_FILE) == 0o600


def test_a_missing_key_is_made_and_the_other_kept(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "keys")
    (tmp_path / "keys" / ENCRYPTION_FILE).unlink()

    again = load_or_create(tmp_path / "keys")

    assert again.signing_key == first.signing_key
    assert again.encryption_key != first.encryption_key


def test_corrupt_key_file_is_a_configuration_error_naming_the_file(tmp_path: Path) -> None:
    load_or_create(tmp_path / "keys")
    damaged = tmp_path / "keys" / SIGNING_FILE
    damaged.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")

    with pytest.raises(ConfigurationError, match=re.escape(str(damaged))):
        load_or_create(tmp_path / "keys")


def test_key_file_holding_the_other_kind_of_key_is_a_configuration_error_naming_the_file(tmp_path: Path) -> None:
    load_or_create(tmp_path / "keys")
    swapped = tmp_path / "keys" / SIGNING_FILE
    swapped.write_bytes((tmp_path / "keys" / ENCRYPTION_FILE).read_bytes())

    with pytest.raises(ConfigurationError, match=re.escape(str(swapped))):
        load_or_create(tmp_path / "keys")


def test_key_saved_over_a_leftover_temporary_file_is_still_owner_only(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    leftover = keys / f"{SIGNING_FILE}.{os.getpid()}.tmp"
    leftover.write_bytes(b"")
    leftover.chmod(0o644)

    load_or_create(keys)

    assert mode(keys / SIGNING_FILE) == 0o600


def _public_keys(directory: Path, start: multiprocessing.synchronize.Barrier,
                 answers: multiprocessing.Queue[tuple[str, str]]) -> None:
    start.wait()
    identity = load_or_create(directory)
    answers.put((identity.signing_key, identity.encryption_key))


def test_workers_starting_at_once_on_a_fresh_data_dir_all_get_the_one_identity_kept_on_disk(tmp_path: Path) -> None:
    forked = multiprocessing.get_context("fork")
    start, answers = forked.Barrier(4), forked.Queue()
    workers = [forked.Process(target=_public_keys, args=(tmp_path / "keys", start, answers)) for _ in range(4)]
    for worker in workers:
        worker.start()
    seen = {answers.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(timeout=30)

    on_disk = load_or_create(tmp_path / "keys")
    assert seen == {(on_disk.signing_key, on_disk.encryption_key)}
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted([SIGNING_FILE, ENCRYPTION_FILE])
