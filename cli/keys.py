"""`globalops keys ...`: the Ed25519 keys approvers sign approvals with (docs/rollouts.md)."""

from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.errors import fail
from cli.options import KEY_ENV
from config.paths import state_dir

# Imported by the commands that use them, so `--help` and the other commands do not load every
# workflow and activity module (tests/unit/test_cli_imports.py).
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from contracts.approvals import SignedApproval

keys_app = typer.Typer(
    help="Keys that sign approvals: the private key stays in its file; policies list the public key.",
    no_args_is_help=True,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
ByOpt = Annotated[
    str, typer.Option("--by", envvar="GLOBALOPS_USER", help="Who approves (recorded; default: your login).")
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        envvar=KEY_ENV,
        help="Your private key file (globalops keys create): what you approve is signed with it.",
    ),
]


def default_key_path(name: str) -> Path:
    """Where `keys create` keeps NAME's private key: $GLOBALOPS_HOME/keys/NAME.key."""
    return state_dir() / "keys" / f"{name}.key"


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="The approver's name (as given to --by).")],
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where to write the private key (default: $GLOBALOPS_HOME/keys/NAME.key)."
        ),
    ] = None,
) -> None:
    """Make an Ed25519 key pair: the private key goes to a file only you can read (mode 0600), the
    public key is printed as the lines to add under policies' approvals.approvers."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cli.console import out
    from contracts.approvals import public_key_text

    if not NAME_PATTERN.match(name):
        fail(f"--name: '{name}' is not a name (letters, digits and . _ @ -, e.g. bob)")
    path = out_file or default_key_path(name)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fail(f"--out: {path} already exists: a key is never overwritten (choose another --out)")
    except OSError as exc:
        fail(f"--out: cannot write {path}: {exc.strerror}")
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(path, 0o600)  # whatever the umask
    out.print(f"private key written to {path} (mode 0600): keep it there, share it with no one", markup=False)
    out.print("add to your policies under approvals.approvers:", highlight=False, markup=False)
    out.print(
        f"  - name: {name}\n    public_key: {public_key_text(key)}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def load_private_key(path: Path, option: str) -> Ed25519PrivateKey:
    """The approver's private key from `path`; one line naming `option` if it cannot be used."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"{option}: cannot read {path}: {exc.strerror}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        fail(f"{option}: {path} is not an unencrypted private key made by globalops keys create")
    if not isinstance(key, Ed25519PrivateKey):
        fail(f"{option}: {path} is not an Ed25519 key (make one with globalops keys create)")
    return key


def signing_key(approver: str, key_file: Path | None) -> Ed25519PrivateKey | None:
    """The key to sign with: --key (or GLOBALOPS_APPROVER_KEY), else $GLOBALOPS_HOME/keys/APPROVER.key
    if it exists; None: no key, the approval goes unsigned."""
    if key_file is None and default_key_path(approver).is_file():
        key_file = default_key_path(approver)
    return load_private_key(key_file, "--key") if key_file is not None else None


def signed_approval(key: Ed25519PrivateKey, approver: str, workflow_id: str, step: str) -> SignedApproval:
    """`approver`'s approval of `step` of `workflow_id`, signed now with a fresh nonce.

    Only the signature leaves this machine, never the key."""
    from contracts.approvals import SignedApproval, sign

    approval = SignedApproval(
        approver=approver,
        workflow_id=workflow_id,
        step=step,
        signed_at=datetime.now(UTC),
        nonce=secrets.token_hex(16),
    )
    return sign(key, approval)
