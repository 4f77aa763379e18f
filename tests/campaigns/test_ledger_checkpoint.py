"""Signed checkpoints: a ledger rewritten by someone with the database's credentials is caught.

The attacker edits a row with plain SQL, recomputes every later hash and the
head with the chain's own hash function (``tests.support.tamper``): the chain
alone (``cadencia audit verify``) then passes, ``--checkpoint`` must not.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cadencia.cli import app
from campaigns.ledger.attest import checkpoint_names, make_checkpoint, verify_with_checkpoints
from campaigns.ledger.chain import LedgerEntry, append_now, verify
from campaigns.ledger.checkpoint import CheckpointRefused
from campaigns.ledger.checkpoint_store import CheckpointExists, DirectoryStore
from campaigns.ledger.signing import generate, load_publics
from campaigns.storage.db import make_engine
from tests.support.requests import TUESDAY_10_BOGOTA
from tests.support.tamper import cut_tail, rewrite_row

runner = CliRunner()


def entry(i: int) -> LedgerEntry:
    return LedgerEntry(
        at=TUESDAY_10_BOGOTA + dt.timedelta(minutes=i),
        customer_id=f"C{i % 3}",
        debt_ids=(f"A{i}",),
        channel="sms",
        direction="outbound",
        kind="attempt",
        outcome="delivered",
        idempotency_key=f"k{i}",
    )


def cadencia(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def keys(tmp_path: Path) -> dict[str, str]:
    """A key pair made by `cadencia ledger keygen`, and the checkpoint job's environment."""
    key = tmp_path / "keys" / "checkpoint.pem"
    key.parent.mkdir()
    code, out, err = cadencia({}, "ledger", "keygen", "-o", str(key), "--json")
    assert code == 0, err
    made = json.loads(out)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    return {
        "CADENCIA_CHECKPOINT_KEY_FILE": str(key),
        "CADENCIA_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "CADENCIA_CHECKPOINT_PUBLIC_KEY": "",
        "public_key_file": made["public_key_file"],
        "key_id": made["key_id"],
    }


def job_env(keys: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in keys.items() if k.startswith("CADENCIA_")}


def checkpoint(keys: dict[str, str], db: str) -> dict[str, object]:
    code, out, err = cadencia(job_env(keys), "--db", db, "ledger", "checkpoint", "--json")
    assert code == 0, err
    result: dict[str, object] = json.loads(out)
    return result


def audit(keys: dict[str, str], db: str, path: str) -> tuple[int, str, str]:
    return cadencia(
        {},
        *("--db", db, "audit", "verify", "--checkpoint", path),
        *("--public-key", keys["public_key_file"]),
    )


def test_a_rewritten_row_with_every_hash_and_the_head_recomputed_is_named(
    database_url: str, keys: dict[str, str]
) -> None:
    engine = make_engine(database_url)
    ids = append_now(engine, [entry(i) for i in range(5)], now=TUESDAY_10_BOGOTA)
    checkpoint(keys, database_url)
    ids += append_now(engine, [entry(i) for i in range(5, 9)], now=TUESDAY_10_BOGOTA)
    checkpoint(keys, database_url)
    ids += append_now(engine, [entry(9)], now=TUESDAY_10_BOGOTA)  # not yet checkpointed
    folder = keys["CADENCIA_CHECKPOINT_DIR"]

    code, _, err = audit(keys, database_url, folder)
    assert code == 0, err
    assert "10 events, every link verified; 9 attested by 2 signed checkpoints" in err
    assert "1 appended since" in err

    rewrite_row(engine, ids[6], "failed")
    assert verify(engine).ok  # the chain alone cannot tell: it was recomputed
    code, _, err = audit(keys, database_url, folder)
    assert code == 1
    assert f"ledger BROKEN at event {ids[6]}: row {ids[6]} differs from checkpoint 2" in err
    # The newest checkpoint alone names it too: the row is in its segment.
    code, _, err = audit(keys, database_url, f"{folder}/ledger-checkpoint-000000000002.json")
    assert code == 1 and f"at event {ids[6]}: row {ids[6]} differs" in err

    # The checkpoint job refuses to sign a ledger that no longer extends its last checkpoint.
    code, _, err = cadencia(job_env(keys), "--db", database_url, "ledger", "checkpoint")
    assert code == 1 and f"row {ids[8]}, the last one checkpoint 2 attests" in err
    assert len(checkpoint_names(DirectoryStore(Path(folder)))) == 2
    engine.dispose()


def test_an_edit_before_the_first_checkpoint_given_is_named_from_the_whole_directory(
    database_url: str, keys: dict[str, str]
) -> None:
    engine = make_engine(database_url)
    ids = append_now(engine, [entry(i) for i in range(4)], now=TUESDAY_10_BOGOTA)
    checkpoint(keys, database_url)
    append_now(engine, [entry(i) for i in range(4, 6)], now=TUESDAY_10_BOGOTA)
    checkpoint(keys, database_url)
    rewrite_row(engine, ids[1], "failed")
    folder = keys["CADENCIA_CHECKPOINT_DIR"]
    code, _, err = audit(keys, database_url, folder)
    assert code == 1 and f"at event {ids[1]}: row {ids[1]} differs from checkpoint 1" in err
    # The second checkpoint alone proves the change (its starting head's hash) without naming it.
    code, _, err = audit(keys, database_url, f"{folder}/ledger-checkpoint-000000000002.json")
    assert code == 1 and f"at event {ids[3]}: row {ids[3]}, where checkpoint 2 starts" in err
    engine.dispose()


def test_a_cut_tail_with_a_rewritten_head_is_named(database_url: str, keys: dict[str, str]) -> None:
    engine = make_engine(database_url)
    ids = append_now(engine, [entry(i) for i in range(6)], now=TUESDAY_10_BOGOTA)
    checkpoint(keys, database_url)
    cut_tail(engine, ids[4])
    assert verify(engine).ok  # the head was moved back with the rows
    code, _, err = audit(keys, database_url, keys["CADENCIA_CHECKPOINT_DIR"])
    assert code == 1
    assert f"ledger BROKEN at event {ids[4]}: row {ids[4]} and every row after it" in err
    assert "the tail was cut" in err
    engine.dispose()


def test_a_deleted_middle_row_with_the_chain_recomputed_is_named(
    database_url: str, keys: dict[str, str]
) -> None:
    engine = make_engine(database_url)
    ids = append_now(engine, [entry(i) for i in range(6)], now=TUESDAY_10_BOGOTA)
    checkpoint(keys, database_url)
    from tests.support.tamper import ledger_opened, rehash_everything

    with ledger_opened(engine) as conn:
        conn.exec_driver_sql(f"DELETE FROM contact_events WHERE id = {ids[2]}")
        rehash_everything(conn)
    code, _, err = audit(keys, database_url, keys["CADENCIA_CHECKPOINT_DIR"])
    assert code == 1 and f"at event {ids[2]}: row {ids[2]} is missing" in err
    engine.dispose()


def test_a_checkpoint_with_a_bad_signature_or_an_unknown_key_is_refused(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    from campaigns.storage.db import migrate

    migrate(db)
    engine = make_engine(db)
    append_now(engine, [entry(i) for i in range(3)], now=TUESDAY_10_BOGOTA)
    checkpoint(keys, db)
    original = Path(keys["CADENCIA_CHECKPOINT_DIR"]) / "ledger-checkpoint-000000000001.json"
    doc = json.loads(original.read_text())

    forged = tmp_path / "forged"
    forged.mkdir()
    doc["body"]["events"] = 2  # what a rewrite of the head would want the checkpoint to say
    (forged / original.name).write_text(json.dumps(doc))
    code, _, err = audit(keys, db, str(forged))
    assert code == 1 and "the signature does not verify" in err and "REFUSED" in err

    other = tmp_path / "other.pem"
    assert cadencia({}, "ledger", "keygen", "-o", str(other))[0] == 0
    code, _, err = cadencia(
        {},
        *("--db", db, "audit", "verify", "--checkpoint", str(original)),
        *("--public-key", str(other) + ".pub"),
    )
    assert code == 1 and f"signed by key {keys['key_id']}, which is not among" in err
    engine.dispose()


def test_a_missing_checkpoint_breaks_the_checkpoints_own_chain(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    from campaigns.storage.db import migrate

    migrate(db)
    engine = make_engine(db)
    for i in range(3):
        append_now(engine, [entry(i)], now=TUESDAY_10_BOGOTA)
        checkpoint(keys, db)
    copy = tmp_path / "copy"
    shutil.copytree(keys["CADENCIA_CHECKPOINT_DIR"], copy)
    (copy / "ledger-checkpoint-000000000002.json").chmod(0o644)
    (copy / "ledger-checkpoint-000000000002.json").unlink()
    code, _, err = audit(keys, db, str(copy))
    assert code == 1 and "checkpoint 3 does not follow checkpoint 1" in err
    (copy / "ledger-checkpoint-000000000001.json").chmod(0o644)
    (copy / "ledger-checkpoint-000000000001.json").unlink()
    code, _, err = audit(keys, db, str(copy))
    assert code == 1 and "checkpoints 1 to 2 are missing" in err
    engine.dispose()


def test_checkpoint_files_are_write_once_and_read_only(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "store")
    where = store.put("ledger-checkpoint-000000000001.json", b"first")
    mode = stat.S_IMODE(os.stat(where).st_mode)
    assert mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0
    with pytest.raises(CheckpointExists, match="write-once"):
        store.put("ledger-checkpoint-000000000001.json", b"second")
    assert Path(where).read_bytes() == b"first"
    assert os.listdir(tmp_path / "store") == ["ledger-checkpoint-000000000001.json"]
    with pytest.raises(ValueError, match="not a checkpoint name"):
        store.put("../escape.json", b"x")


def test_a_second_job_for_the_same_checkpoint_writes_nothing(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    from campaigns.settings import Settings
    from campaigns.storage.db import migrate

    migrate(db)
    engine = make_engine(db)
    settings = Settings.load(job_env(keys), database_url=db)
    store, signer = settings.checkpoint_store(), settings.checkpoint_signer()
    append_now(engine, [entry(0)], now=TUESDAY_10_BOGOTA)
    first = make_checkpoint(engine, store, signer, now=TUESDAY_10_BOGOTA)

    class Late(DirectoryStore):
        """A store in which another job's checkpoint 2 lands between the read and the write."""

        def names(self) -> list[str]:
            return [first.source.rsplit("/", 1)[-1]]

    late = Late(Path(keys["CADENCIA_CHECKPOINT_DIR"]))
    make_checkpoint(engine, store, signer, now=TUESDAY_10_BOGOTA)
    with pytest.raises(CheckpointExists):
        make_checkpoint(engine, late, signer, now=TUESDAY_10_BOGOTA)
    engine.dispose()


def test_checkpoints_verify_with_the_old_key_after_a_rotation(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    from campaigns.storage.db import migrate

    migrate(db)
    engine = make_engine(db)
    append_now(engine, [entry(0)], now=TUESDAY_10_BOGOTA)
    checkpoint(keys, db)
    new_signer, new_public = generate(tmp_path / "new.pem")
    old_public = Path(keys["public_key_file"]).read_text().strip()
    both = f"{old_public},{new_public.read_text().strip()}"
    store = DirectoryStore(Path(keys["CADENCIA_CHECKPOINT_DIR"]))
    append_now(engine, [entry(1)], now=TUESDAY_10_BOGOTA)
    publics = load_publics(both, "test")
    made = make_checkpoint(engine, store, new_signer, now=TUESDAY_10_BOGOTA, publics=publics)
    assert made.key_id == new_signer.key_id
    report = verify_with_checkpoints(engine, store, checkpoint_names(store), publics)
    assert report.ok and report.attested == 2
    cut_tail(engine, 2)  # and the new key's job still refuses a ledger that was cut
    with pytest.raises(CheckpointRefused, match="is behind checkpoint 2"):
        make_checkpoint(engine, store, new_signer, now=TUESDAY_10_BOGOTA, publics=publics)
    engine.dispose()


def test_checkpoint_size_per_row_is_eight_bytes_of_prefix(
    tmp_path: Path, keys: dict[str, str]
) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    from campaigns.storage.db import migrate

    migrate(db)
    engine = make_engine(db)
    append_now(engine, [entry(i) for i in range(1000)], now=TUESDAY_10_BOGOTA)
    checkpoint(keys, db)
    path = Path(keys["CADENCIA_CHECKPOINT_DIR"]) / "ledger-checkpoint-000000000001.json"
    segment = json.loads(path.read_text())["body"]["segment"]
    assert segment["ids"] == [[1, 1000]]
    assert len(base64.b64decode(segment["hashes"])) == 8 * 1000
    assert path.stat().st_size < 8 * 1000 * 4 / 3 + 1000
    engine.dispose()
