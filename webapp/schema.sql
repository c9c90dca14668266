-- The demo product's data. Every statement is idempotent: the app applies it on start.

CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0
);

-- A personal namespace per user (owner_id set) and groups (owner_id NULL).
CREATE TABLE IF NOT EXISTS namespaces (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    plan TEXT NOT NULL DEFAULT 'free',
    owner_id INTEGER UNIQUE REFERENCES users (id)
);

CREATE TABLE IF NOT EXISTS memberships (
    namespace_id INTEGER NOT NULL REFERENCES namespaces (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    role TEXT NOT NULL CHECK (role IN ('guest', 'developer', 'maintainer', 'owner')),
    PRIMARY KEY (namespace_id, user_id)
);
CREATE INDEX IF NOT EXISTS memberships_by_user ON memberships (user_id);

CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY,
    namespace_id INTEGER NOT NULL REFERENCES namespaces (id),
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (namespace_id, path)
);

CREATE TABLE IF NOT EXISTS stars (
    user_id INTEGER NOT NULL REFERENCES users (id),
    project_id INTEGER NOT NULL REFERENCES projects (id),
    PRIMARY KEY (user_id, project_id)
);

CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id),
    author_id INTEGER NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS issues_by_project ON issues (project_id, created_at);

-- Signed-in sessions: the session cookie names one; signing out deletes it (see store/sign_ins.py).
CREATE TABLE IF NOT EXISTS sign_ins (
    token TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    started_at INTEGER NOT NULL
);
