-- E-mail and webhook alerts: the same tables and triggers as PostgreSQL's
-- 0015_alerts.sql, in SQLite's terms (lists and samples as JSON text).

CREATE TABLE alert_targets (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT    NOT NULL UNIQUE,
    company            TEXT    NOT NULL DEFAULT '',
    branch             TEXT    NOT NULL DEFAULT '',
    channel            TEXT    NOT NULL CHECK (channel IN ('email', 'webhook')),
    smtp_host          TEXT,
    smtp_port          INTEGER CHECK (smtp_port BETWEEN 1 AND 65535),
    smtp_security      TEXT    CHECK (smtp_security IN ('starttls', 'tls', 'none')),
    sender             TEXT,
    username           TEXT,
    password_ref       TEXT,
    recipients         TEXT    NOT NULL DEFAULT '[]',
    copies             TEXT    NOT NULL DEFAULT '[]',
    webhook_url        TEXT,
    signing_secret_ref TEXT,
    language           TEXT    NOT NULL DEFAULT 'pt' CHECK (language IN ('pt', 'en')),
    enabled            BOOLEAN NOT NULL DEFAULT true,
    updated_at         TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    CONSTRAINT alert_target_channel CHECK (
        (channel = 'email' AND smtp_host IS NOT NULL AND smtp_port IS NOT NULL
             AND smtp_security IS NOT NULL AND sender IS NOT NULL)
        OR (channel = 'webhook' AND webhook_url IS NOT NULL))
);

CREATE TABLE alert_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    reason      TEXT    NOT NULL CHECK (reason IN ('failed', 'blocked', 'dead')),
    company     TEXT    NOT NULL,
    branch      TEXT    NOT NULL,
    uuid        TEXT,
    destination TEXT,
    detail      TEXT,
    happened_at TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+'))
);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    target_id       INTEGER NOT NULL REFERENCES alert_targets (id) ON DELETE CASCADE,
    reason          TEXT    NOT NULL CHECK (reason IN ('failed', 'blocked', 'dead', 'test')),
    company         TEXT    NOT NULL,
    branch          TEXT    NOT NULL,
    window_start    TEXT    NOT NULL,
    events          INTEGER NOT NULL,
    samples         TEXT    NOT NULL DEFAULT '[]',
    status          TEXT    NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    lease_until     TEXT,
    last_error      TEXT,
    created_at      TEXT    NOT NULL DEFAULT (replace(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '.000+', '+')),
    sent_at         TEXT,
    UNIQUE (target_id, reason, company, branch, window_start)
);

CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE status = 'waiting';
CREATE INDEX alerts_list ON alerts (created_at DESC, id DESC);

CREATE TRIGGER outbound_alert AFTER UPDATE OF status ON outbox
    WHEN NEW.kind = 'message' AND NEW.status IN ('failed', 'not_delivered', 'rejected')
         AND OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO alert_events (reason, company, branch, uuid, destination, detail)
    SELECT 'failed', d.company, d.branch, NEW.uuid, d.name, NEW.last_error
      FROM destinations d
     WHERE d.id = NEW.destination_id
       AND (NEW.status = 'rejected' OR NEW.attempts >= d.max_attempts);
END;

CREATE TRIGGER destination_blocked_alert AFTER UPDATE OF blocked ON destinations
    WHEN NEW.blocked AND NOT OLD.blocked
BEGIN
    INSERT INTO alert_events (reason, company, branch, destination, detail)
    VALUES ('blocked', NEW.company, NEW.branch, NEW.name, NEW.blocked_reason);
END;

CREATE TRIGGER dead_letter_alert AFTER INSERT ON dead_letters
BEGIN
    INSERT INTO alert_events (reason, company, branch, uuid, detail)
    SELECT 'dead', COALESCE(i.company, ''), COALESCE(i.branch, ''), NEW.uuid,
           NEW.code || ': ' || NEW.reason
      FROM (SELECT 1) AS one LEFT JOIN inbox i ON i.uuid = NEW.uuid;
END;
