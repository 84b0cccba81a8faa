"""Two-factor authentication for the lab's Proxmox: each user's second factors, the realms that can require
them, and the login that asks for them.

What PVE does, read from its sources:

* pve-access-control src/PVE/API2/TFA.pm: ``GET /access/tfa`` lists the users that have second factors,
  with their entries (``type``, ``id``, ``description``, ``created``, ``enable`` when not 1): every user for a
  caller with User.Modify or Sys.Audit on /access/groups, else the caller itself and the members of the
  groups it holds one of them on. ``GET /access/tfa/{userid}`` and ``.../{id}`` read one user's entries.
  Adding (``POST``), changing (``PUT``) and deleting (``DELETE``) entries refuse API tokens (allowtoken 0)
  and make everyone but root@pam confirm with its own password (RPCEnvironment.pm
  reauth_user_for_user_modification, parameter ``password``). When a user's first entry is added its
  user.cfg ``keys`` becomes ``x``; when its last is deleted ``keys`` goes (TFA.pm set_user_tfa_enabled).
  Deleting a user deletes its entries (API2/User.pm delete_user, AccessControl.pm user_remove_tfa).
* proxmox-tfa (src/api/mod.rs, src/api/methods.rs): entry ids are UUIDs, recovery keys are one entry
  with the id ``recovery``; a user whose last entry is deleted is dropped from the list; a ``totp`` entry
  needs the ``otpauth://`` URI and a current code for it (checked one step either side); ``recovery``
  takes no other parameter and answers the keys, once (a second set is refused); ``description`` is
  required for totp and yubico entries.
* pve-access-control src/PVE/API2/Domains.pm and src/PVE/Auth/{Plugin,PVE,PAM}.pm: the realms. ``pve`` and
  ``pam`` always exist (parse_config puts them back when deleted) and take ``comment``, ``default`` and
  ``tfa`` (``type=oath|yubico``, with ``digits``/``step`` or the Yubico server). The index shows ``tfa``
  as the type alone.
* src/PVE/AccessControl.pm authenticate_2nd_new_do and API2/AccessControl.pm create_ticket: a user with any
  second factor gets, for its password, a ticket with ``NeedTFA`` that opens nothing; a second
  ``POST /access/ticket`` with ``tfa-challenge`` (that ticket) and ``password`` = ``totp:<code>`` or
  ``recovery:<key>`` gives the real one (a recovery key works once). In a realm whose ``tfa`` is set, a user
  without any second factor cannot log in ("missing required 2nd keys", answered as 401 authentication
  failure), and an ``oath`` realm takes only TOTP codes and recovery keys.

Not modelled: u2f and webauthn registration (it needs a browser's signed answers; the lab refuses it with
a message saying so) and Yubico's OTP server (a yubico realm's logins fail).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import secrets
import struct
import time
import uuid
from urllib.parse import parse_qs, urlparse

from fakepve.model import PveError
from fakepve.routing import StatefulRoutes, die, split_list

from .permissions import refusal
from .pvecommon import ROOT, is_true

TFA_TYPES = ("totp", "u2f", "webauthn", "recovery", "yubico")
REALM_OPTIONS = ("comment", "default", "tfa")
"""What a ``pve`` or ``pam`` realm takes (Auth/PVE.pm, Auth/PAM.pm options)."""
BUILTIN_REALMS = {
    "pam": {"type": "pam", "comment": "Linux PAM standard authentication"},
    "pve": {"type": "pve", "comment": "Proxmox VE authentication server"},
}
TFA_FORMAT = {"type": None, "id": None, "key": None, "url": None, "digits": (6, 8), "step": (10, None)}
"""Auth/Plugin.pm's pve-tfa-config: its keys, and the range of the integer ones."""
CHALLENGE_SECONDS = 120
RECOVERY_KEYS = 10


def totp_code(secret: bytes, at: float, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 with HMAC-SHA1: the code for the time step that holds `at`."""
    counter = struct.pack(">Q", int(at // step))
    mac = hmac.new(secret, counter, hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def parse_totp_uri(uri: str) -> dict:
    """The secret (bytes), period and digits of an ``otpauth://totp/...`` URI; ValueError when it is none."""
    parsed = urlparse(uri)
    if parsed.scheme != "otpauth" or parsed.netloc != "totp":
        raise ValueError("not an otpauth://totp/ URI")
    query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
    text = query.get("secret", "").upper()
    if not text:
        raise ValueError("missing secret")
    secret = base64.b32decode(text + "=" * (-len(text) % 8))
    algorithm = query.get("algorithm", "SHA1").upper()
    if algorithm != "SHA1":
        raise ValueError(f"the lab checks SHA1 codes only, not {algorithm}")
    return {"secret": secret, "step": int(query.get("period", 30)), "digits": int(query.get("digits", 6))}


def tfa_format_error(value: str) -> str | None:
    """Why a realm's ``tfa`` value breaks pve-tfa-config, in the words PVE's parameter check gives
    (pve-common JSONSchema.pm parse_property_string and check_prop), or None when it is valid."""
    found: dict[str, str] = {}
    for part in value.split(","):
        key, equals, item = part.partition("=")
        if not equals:
            return "invalid format - value without key, but schema does not define a default key\n"
        if key not in TFA_FORMAT:
            return f"invalid format - invalid key in comma-separated list property: {key}\n"
        if key in found:
            return f"invalid format - duplicate key in comma-separated list property: {key}\n"
        found[key] = item
    problems = []
    if "type" not in found:
        problems.append("tfa.type: property is missing and it is not optional")
    elif found["type"] not in ("yubico", "oath"):
        problems.append(
            f"tfa.type: value '{found['type']}' does not have a value in the enumeration 'yubico, oath'"
        )
    for key in ("digits", "step"):
        if key not in found:
            continue
        low, high = TFA_FORMAT[key] or (None, None)
        if not found[key].lstrip("-").isdigit():
            problems.append(f"tfa.{key}: type check ('integer') failed - got '{found[key]}'")
        elif low is not None and int(found[key]) < low:
            problems.append(f"tfa.{key}: value must have a minimum value of {low}")
        elif high is not None and int(found[key]) > high:
            problems.append(f"tfa.{key}: value must have a maximum value of {high}")
    if problems:
        return "invalid format - format error\n" + "".join(f"{p}\n" for p in problems)
    return None


def totp_uri(secret: bytes, label: str = "lab") -> str:
    """An ``otpauth://`` URI for a secret, as an authenticator app shows it."""
    text = base64.b32encode(secret).decode().rstrip("=")
    return f"otpauth://totp/{label}?secret={text}&period=30&digits=6&algorithm=SHA1"


class LabTfa(StatefulRoutes):
    """Mixin of FakePve (before LabAccess): /access/tfa, /access/domains, and a login that asks for the
    second factor."""

    def _init_tfa(self) -> None:
        # userid -> [{type, id, description, created, enable, totp: {secret, step, digits} | recovery keys}]
        self.lab_tfa: dict[str, list[dict]] = {}
        # realm -> its options (type, comment, default, tfa...)
        self.lab_realms: dict[str, dict] = copy.deepcopy(BUILTIN_REALMS)
        # first-step ticket -> (userid, when it was given)
        self._tfa_challenges: dict[str, tuple[str, float]] = {}

    # ------------------------------------------------------------- routes

    def _routes_lab_tfa(self):
        user = "/access/tfa/{userid}"
        entry = user + "/{id}"
        return [
            ("GET", "/access/tfa", self._lab_tfa_index),
            ("GET", user, self._lab_tfa_user),
            ("POST", user, self._lab_tfa_add),
            ("GET", entry, self._lab_tfa_entry),
            ("PUT", entry, self._lab_tfa_update),
            ("DELETE", entry, self._lab_tfa_delete),
        ]

    def _routes_lab_realms(self):
        one = "/access/domains/{realm}"
        return [
            ("GET", "/access/domains", self._lab_realm_index),
            ("POST", "/access/domains", self._lab_realm_create),
            ("GET", one, self._lab_realm_read),
            ("PUT", one, self._lab_realm_update),
            ("DELETE", one, self._lab_realm_delete),
        ]

    # --------------------------------------------------- from Python (tests)

    def add_tfa(self, userid: str, kind: str = "totp", description: str = "lab", enable: bool = True) -> str:
        """Give a user a second factor from Python, as if it had enrolled one; returns the entry id.

        A ``totp`` entry gets a random secret (``tfa_code(userid)`` gives its current code); ``recovery``
        a set of keys (``lab_tfa[userid]`` holds them).
        """
        if kind not in TFA_TYPES:
            raise ValueError(f"unknown TFA type {kind!r}")
        if kind == "totp":
            entry = self._new_tfa_entry(
                "totp", description, totp={"secret": secrets.token_bytes(20), "step": 30, "digits": 6}
            )
        elif kind == "recovery":
            entry = self._new_recovery_entry()
        else:
            entry = self._new_tfa_entry(kind, description)
        entry["enable"] = 1 if enable or kind == "recovery" else 0
        self._store_tfa(userid, entry)
        return str(entry["id"])

    def tfa_code(self, userid: str) -> str:
        """The current code of the user's first TOTP entry."""
        for entry in self.lab_tfa.get(userid, []):
            if entry["type"] == "totp":
                spec = entry["totp"]
                return totp_code(spec["secret"], time.time(), spec["step"], spec["digits"])
        raise KeyError(f"{userid} has no TOTP entry")

    def set_realm_tfa(self, realm: str, value: str | None) -> None:
        """Set (``type=oath``) or clear (None) a realm's ``tfa`` option from Python."""
        if value is None:
            self.lab_realms[realm].pop("tfa", None)
        else:
            self.lab_realms[realm]["tfa"] = value
        self.state_changed()

    # ------------------------------------------------------------ entries

    @staticmethod
    def _new_tfa_entry(kind: str, description: str, **extra) -> dict:
        entry = {
            "type": kind,
            "id": str(uuid.uuid4()),
            "description": description,
            "created": int(time.time()),
            "enable": 1,
        }
        entry.update(extra)
        return entry

    @staticmethod
    def _new_recovery_entry() -> dict:
        keys = ["-".join(secrets.token_hex(2) for _ in range(4)) for _ in range(RECOVERY_KEYS)]
        return {
            "type": "recovery",
            "id": "recovery",
            "description": "",
            "created": int(time.time()),
            "enable": 1,
            "keys": keys,
        }

    def _store_tfa(self, userid: str, entry: dict) -> None:
        entries = self.lab_tfa.setdefault(userid, [])
        if entry["type"] == "recovery" and any(e["type"] == "recovery" for e in entries):
            raise die("user already has recovery keys")
        entries.append(entry)
        record = self.lab_users.get(userid)
        if record is not None:
            record["keys"] = "x"
        self.state_changed()

    @staticmethod
    def _entry_view(entry: dict) -> dict:
        view = {key: entry[key] for key in ("type", "id", "created")}
        if entry.get("description"):
            view["description"] = entry["description"]
        if not entry.get("enable", 1):
            view["enable"] = 0
        return view

    def _user_entries_view(self, userid: str) -> list[dict]:
        # proxmox-tfa lists recovery first, then totp, webauthn, u2f and yubico entries.
        order = {"recovery": 0, "totp": 1, "webauthn": 2, "u2f": 3, "yubico": 4}
        entries = sorted(self.lab_tfa.get(userid, []), key=lambda e: order[e["type"]])
        return [self._entry_view(e) for e in entries]

    def _may_see_tfa(self, user: str) -> set[str] | None:
        """None when the caller sees every user's entries, else the users it may see (TFA.pm list_tfa)."""
        privs = ("User.Modify", "Sys.Audit")
        if any(self.allowed(user, "/access/groups", p) for p in privs):
            return None
        groups = [
            g for g in self.lab_groups if any(self.allowed(user, f"/access/groups/{g}", p) for p in privs)
        ]
        return {user.partition("!")[0]} | {m for g in groups for m in self.group_members(g)}

    async def _lab_tfa_index(self, v, user):
        visible = self._may_see_tfa(user)
        return [
            {"userid": userid, "entries": self._user_entries_view(userid)}
            for userid in sorted(self.lab_tfa)
            if self.lab_tfa[userid] and (visible is None or userid in visible)
        ]

    async def _lab_tfa_user(self, v, user):
        return self._user_entries_view(v["userid"])

    def _find_entry(self, userid: str, ident: str) -> dict | None:
        return next((e for e in self.lab_tfa.get(userid, []) if e["id"] == ident), None)

    async def _lab_tfa_entry(self, v, user):
        entry = self._find_entry(v["userid"], v["id"])
        if entry is None:
            raise PveError(404, "No such tfa entry '{}'".format(v["id"]))
        return self._entry_view(entry)

    def _reauth(self, user: str, values: dict) -> str:
        """RPCEnvironment.pm reauth_user_for_user_modification, behind TFA.pm's allowtoken 0."""
        if "!" in user:
            raise refusal("API token not allowed")
        userid = values["userid"]
        self._check_user_exist(userid, noerr=False)
        if userid == ROOT and user != ROOT:
            raise refusal()
        if user != ROOT:
            self._confirm_own_password(user, values.get("password"), "password")
        return userid

    async def _lab_tfa_add(self, v, user):
        userid = self._reauth(user, v)
        kind = v["type"]
        extra = {key: v.get(key) for key in ("totp", "value", "challenge")}
        description = v.get("description")
        if kind == "recovery":
            if any(extra.values()):
                raise die("generating recovery tokens does not allow additional parameters")
            entry = self._new_recovery_entry()
            self._store_tfa(userid, entry)
            return {"id": "recovery", "recovery": list(entry["keys"])}
        if kind == "totp":
            if extra["challenge"] is not None:
                raise die("'challenge' parameter is invalid for 'totp' entries")
            if description is None:
                raise die("'description' is required for new entries")
            if extra["totp"] is None or extra["value"] is None:
                raise die("'totp' type requires both 'totp' and 'value' parameters")
            try:
                spec = parse_totp_uri(extra["totp"])
            except (ValueError, TypeError) as exc:
                raise die(f"failed to parse TOTP URI: {exc}") from None
            if not self._totp_matches(spec, str(extra["value"])):
                raise die("failed to verify TOTP challenge")
            entry = self._new_tfa_entry("totp", description, totp=spec)
            self._store_tfa(userid, entry)
            return {"id": entry["id"]}
        if kind == "yubico":
            realm = userid.rpartition("@")[2]
            if not self.lab_realms.get(realm, {}).get("tfa"):
                raise die(f"no yubico otp configuration available for realm {realm}")
            raise die("realm is not setup for Yubico OTP")
        raise die(f"tenctl-lab does not model {kind} registration (it needs a browser's signed answers)")

    @staticmethod
    def _totp_matches(spec: dict, code: str) -> bool:
        now = time.time()
        return any(
            hmac.compare_digest(
                totp_code(spec["secret"], now + skew * spec["step"], spec["step"], spec["digits"]), code
            )
            for skew in (-1, 0, 1)
        )

    async def _lab_tfa_update(self, v, user):
        userid = self._reauth(user, v)
        entry = self._find_entry(userid, v["id"])
        if entry is None or entry["type"] == "recovery":
            raise die("no such entry")
        if v.get("description") is not None:
            entry["description"] = v["description"]
        if v.get("enable") is not None:
            entry["enable"] = 1 if is_true(v["enable"]) else 0
        self.state_changed()

    async def _lab_tfa_delete(self, v, user):
        userid = self._reauth(user, v)
        entries = self.lab_tfa.get(userid, [])
        entry = self._find_entry(userid, v["id"])
        if entry is None:
            raise die("no such entry")  # pve-rs api_delete_tfa
        entries.remove(entry)
        if not entries:
            self.lab_tfa.pop(userid, None)
            record = self.lab_users.get(userid)
            if record is not None:
                record.pop("keys", None)
        self.state_changed()

    async def _lab_user_delete(self, v, user):
        await super()._lab_user_delete(v, user)
        self.lab_tfa.pop(v["userid"], None)
        self.state_changed()

    # ------------------------------------------------------------- realms

    async def _lab_realm_index(self, v, user):
        out = []
        for realm, options in sorted(self.lab_realms.items()):
            entry = {"realm": realm, "type": options["type"]}
            if options.get("comment"):
                entry["comment"] = options["comment"]
            if options.get("default"):
                entry["default"] = 1
            tfa = self._realm_tfa(realm)
            if tfa:
                entry["tfa"] = tfa["type"]
            out.append(entry)
        return out

    def _realm_tfa(self, realm: str) -> dict | None:
        """A realm's ``tfa`` option as a dict (Auth/Plugin.pm parse_tfa_config), None when unset."""
        text = self.lab_realms.get(realm, {}).get("tfa")
        if not text:
            return None
        return dict(part.partition("=")[::2] for part in split_list(str(text).replace(",", " ")))

    def _realm(self, realm: str, what: str) -> dict:
        if realm not in self.lab_realms:
            if what:
                raise die(f"{what}: domain '{realm}' does not exist")
            raise die(f"domain '{realm}' does not exist")
        return self.lab_realms[realm]

    async def _lab_realm_read(self, v, user):
        return {**self._realm(v["realm"], ""), "digest": self._realms_digest()}

    def _realms_digest(self) -> str:
        text = repr(sorted((k, sorted(o.items())) for k, o in self.lab_realms.items()))
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    def _check_realm_options(self, kind: str, values: dict, fail: str) -> dict:
        """SectionConfig.pm check_value for the options a builtin realm type takes."""
        given = {
            k: val for k, val in values.items() if k not in ("realm", "type", "delete", "digest", "password")
        }
        if given.get("tfa") is not None:
            # fakepve does not know the pve-tfa-config format: the schema check PVE makes, here.
            problem = tfa_format_error(str(given["tfa"]))
            if problem:
                raise PveError(400, "Parameter verification failed.", {"tfa": problem})
        if kind in ("pve", "pam"):
            for key in sorted(given):
                if key not in REALM_OPTIONS:
                    raise die(f"{fail}: unexpected property '{key}'")
        return given

    async def _lab_realm_update(self, v, user):
        fail = "update auth server failed"
        options = self._realm(v["realm"], fail)
        if v.get("digest") and v["digest"] != self._realms_digest():
            raise die(f"{fail}: detected modified configuration - file changed by other user? Try again.")
        given = self._check_realm_options(options["type"], v, fail)
        if not v.get("delete") and not given and v.get("password") is None:
            raise die(f"{fail}: no options specified")
        for key in split_list(v.get("delete")):
            options.pop(key, None)
        if given.get("default") is not None and is_true(given["default"]):
            for other in self.lab_realms.values():
                other.pop("default", None)
        options.update(given)
        self.state_changed()

    async def _lab_realm_create(self, v, user):
        fail = "add auth server failed"
        realm, kind = v["realm"], v["type"]
        if realm in self.lab_realms:
            raise die(f"{fail}: domain '{realm}' already exists")
        if realm in BUILTIN_REALMS:
            raise die(f"{fail}: unable to use reserved name '{realm}'")
        if kind in BUILTIN_REALMS:
            raise die(f"{fail}: unable to create builtin type '{kind}'")
        given = self._check_realm_options(kind, v, fail)
        if given.get("default") is not None and is_true(given["default"]):
            for other in self.lab_realms.values():
                other.pop("default", None)
        self.lab_realms[realm] = {"type": kind, **given}
        self.state_changed()

    async def _lab_realm_delete(self, v, user):
        realm = v["realm"]
        self._realm(realm, "delete auth server failed")
        del self.lab_realms[realm]
        if realm in BUILTIN_REALMS:
            # Auth/Plugin.pm parse_config puts pve and pam back, with their type and comment only.
            self.lab_realms[realm] = copy.deepcopy(BUILTIN_REALMS[realm])
        self.state_changed()

    # -------------------------------------------------------------- login

    async def _ticket(self, request):
        """POST /access/ticket: the password, then (for a user with second factors) the second factor."""
        from fakepve.routing import ok
        from fakepve.server import params  # late: fakepve.server imports the areas

        p = await params(request)
        username = str(p.get("username", ""))
        if "@" not in username:
            username += "@pam"
        challenge = p.get("tfa-challenge")
        if challenge is None:
            if not self.check_password(username, p.get("password", "")):
                raise PveError(401, "authentication failure")
            if self.lab_tfa.get(username):
                ticket = f"PVE:{username}:{int(time.time()):08X}::!tfa!{secrets.token_hex(24)}"
                self._tfa_challenges[ticket] = (username, time.time())
                return ok(
                    {
                        "ticket": ticket,
                        "username": username,
                        "NeedTFA": 1,
                        "CSRFPreventionToken": secrets.token_hex(8),
                    }
                )
            if self._realm_tfa(username.rpartition("@")[2]):
                raise PveError(401, "authentication failure")  # missing required 2nd keys
        elif not self._second_factor(username, str(challenge), str(p.get("password", ""))):
            raise PveError(401, "authentication failure")
        ticket, csrf = self.issue_ticket(username)
        return ok({"ticket": ticket, "CSRFPreventionToken": csrf, "username": username, "cap": {}})

    def _second_factor(self, username: str, challenge: str, response: str) -> bool:
        """A TOTP code or a recovery key for a first-step ticket of this user (each ticket is used once)."""
        issued = self._tfa_challenges.pop(challenge, None)
        if issued is None or issued[0] != username or issued[1] + CHALLENGE_SECONDS < time.time():
            return False
        kind, _, value = response.partition(":")
        tfa = self._realm_tfa(username.rpartition("@")[2])
        if (
            tfa is not None
            and kind != "recovery"
            and kind != {"oath": "totp"}.get(tfa.get("type"), tfa.get("type"))
        ):
            return False  # "realm requires <type> authentication"
        for entry in self.lab_tfa.get(username, []):
            if not entry.get("enable", 1):
                continue
            if kind == "totp" and entry["type"] == "totp" and self._totp_matches(entry["totp"], value):
                return True
            if kind == "recovery" and entry["type"] == "recovery" and value in entry["keys"]:
                entry["keys"].remove(value)
                self.state_changed()
                return True
        return False

    # -------------------------------------------------------------- state

    def tfa_state(self) -> dict:
        """Second factors (TOTP secrets as base32) and realms, as JSON-ready data."""
        entries = {}
        for userid, items in self.lab_tfa.items():
            entries[userid] = []
            for item in items:
                item = copy.deepcopy(item)
                if "totp" in item:
                    item["totp"] = dict(
                        item["totp"], secret=base64.b32encode(item["totp"]["secret"]).decode()
                    )
                entries[userid].append(item)
        return {"entries": entries, "realms": copy.deepcopy(self.lab_realms)}

    def load_tfa_state(self, state: dict) -> None:
        for userid, items in state.get("entries", {}).items():
            restored = []
            for item in items:
                item = copy.deepcopy(item)
                if "totp" in item:
                    item["totp"] = dict(item["totp"], secret=base64.b32decode(item["totp"]["secret"]))
                restored.append(item)
            self.lab_tfa[userid] = restored
        realms = state.get("realms")
        if realms:
            self.lab_realms = copy.deepcopy(realms)
            for name, options in BUILTIN_REALMS.items():
                self.lab_realms.setdefault(name, copy.deepcopy(options))
