"""A host app of its own adopting Internal Events: its own members and repositories, nothing from the demo."""

from dataclasses import dataclass, field

from flask import Flask, abort, session

from webapp.internal_events import InternalEvents, current


@dataclass(frozen=True)
class Member:
    id: int
    handle: str
    is_admin: bool = False
    repositories: frozenset = field(default_factory=frozenset)


@dataclass(frozen=True)
class Repository:
    id: int
    namespace_id: int


MEMBERS = {7: Member(7, "ops", is_admin=True), 8: Member(8, "dev", repositories=frozenset({70}))}
REPOSITORIES = {70: Repository(70, 700), 71: Repository(71, 701)}

internal_events = InternalEvents()


@internal_events.user_loader
def signed_in_member():
    return MEMBERS.get(session.get("member"))


@internal_events.project_loader
def visible_repository(member, repository_id):
    visible = member.is_admin or repository_id in member.repositories
    return REPOSITORIES.get(repository_id) if visible else None


@internal_events.namespace_loader
def visible_namespace(member, namespace_id):
    return None  # this host has no namespaces of its own to show


def create_app(config, **flask_options):
    app = Flask(__name__, **flask_options)
    app.config.update(config)
    internal_events.init_app(app)

    @app.post("/sign_in/<int:member_id>")
    def sign_in(member_id):
        session["member"] = member_id
        return "", 204

    @app.post("/opt_out")
    def opt_out():  # no event about this member carries their pseudonym from now on, whichever process sends it
        member = signed_in_member() or abort(401)
        current().privacy.opt_outs.set(member.id, True)
        return "", 204

    return app
