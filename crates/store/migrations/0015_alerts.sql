-- E-mail and webhook alerts (seed 000 §4): who is told (targets per company
-- and branch, '' meaning every one), what happened (events written by
-- triggers in the very transaction of what happened) and the alerts outbox
-- the worker delivers from, one alert per target, reason, company, branch
-- and window. Targets hold references to their secrets (`env:NAME`,
-- `file:/path`), resolved when an alert is sent: never the secrets.

CREATE TABLE alert_targets (
    id                 bigserial   PRIMARY KEY,
    name               text        NOT NULL UNIQUE,
    company            text        NOT NULL DEFAULT '',
    branch             text        NOT NULL DEFAULT '',
    channel            text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    smtp_host          text,
    smtp_port          integer     CHECK (smtp_port BETWEEN 1 AND 65535),
    smtp_security      text        CHECK (smtp_security IN ('starttls', 'tls', 'none')),
    sender             text,
    username           text,
    password_ref       text,
    recipients         text[]      NOT NULL DEFAULT '{}',
    copies             text[]      NOT NULL DEFAULT '{}',
    webhook_url        text,
    signing_secret_ref text,
    language           text        NOT NULL DEFAULT 'pt' CHECK (language IN ('pt', 'en')),
    enabled            boolean     NOT NULL DEFAULT true,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alert_target_channel CHECK (
        (channel = 'email' AND smtp_host IS NOT NULL AND smtp_port IS NOT NULL
             AND smtp_security IS NOT NULL AND sender IS NOT NULL)
        OR (channel = 'webhook' AND webhook_url IS NOT NULL))
);

CREATE TABLE alert_events (
    id          bigserial   PRIMARY KEY,
    reason      text        NOT NULL CHECK (reason IN ('failed', 'blocked', 'dead')),
    company     text        NOT NULL,
    branch      text        NOT NULL,
    uuid        text,
    destination text,
    detail      text,
    happened_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id              bigserial   PRIMARY KEY,
    target_id       bigint      NOT NULL REFERENCES alert_targets (id) ON DELETE CASCADE,
    reason          text        NOT NULL CHECK (reason IN ('failed', 'blocked', 'dead', 'test')),
    company         text        NOT NULL,
    branch          text        NOT NULL,
    window_start    timestamptz NOT NULL,
    events          integer     NOT NULL,
    samples         jsonb       NOT NULL DEFAULT '[]',
    status          text        NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (target_id, reason, company, branch, window_start)
);

CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE status = 'waiting';
CREATE INDEX alerts_list ON alerts (created_at DESC, id DESC);

-- A business message settled for good without reaching its destination:
-- rejected, or failed / not delivered on its last allowed attempt.
CREATE FUNCTION alert_on_outbound() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_events (reason, company, branch, uuid, destination, detail)
    SELECT 'failed', d.company, d.branch, NEW.uuid, d.name, NEW.last_error
      FROM destinations d
     WHERE d.id = NEW.destination_id
       AND (NEW.status = 'rejected' OR NEW.attempts >= d.max_attempts);
    RETURN NULL;
END $$;

CREATE TRIGGER outbound_alert AFTER UPDATE OF status ON outbox FOR EACH ROW
    WHEN (NEW.kind = 'message' AND NEW.status IN ('failed', 'not_delivered', 'rejected')
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION alert_on_outbound();

-- A destination blocked (it refused our credentials).
CREATE FUNCTION alert_on_blocked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_events (reason, company, branch, destination, detail)
    VALUES ('blocked', NEW.company, NEW.branch, NEW.name, NEW.blocked_reason);
    RETURN NULL;
END $$;

CREATE TRIGGER destination_blocked_alert AFTER UPDATE OF blocked ON destinations FOR EACH ROW
    WHEN (NEW.blocked AND NOT OLD.blocked)
    EXECUTE FUNCTION alert_on_blocked();

-- A dead letter recorded (an envelope or a receipt given up on), with the
-- company and branch of its envelope when the inbox knows it.
CREATE FUNCTION alert_on_dead_letter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alert_events (reason, company, branch, uuid, detail)
    SELECT 'dead', COALESCE(i.company, ''), COALESCE(i.branch, ''), NEW.uuid,
           NEW.code || ': ' || NEW.reason
      FROM (SELECT 1) AS one LEFT JOIN inbox i ON i.uuid = NEW.uuid;
    RETURN NULL;
END $$;

CREATE TRIGGER dead_letter_alert AFTER INSERT ON dead_letters FOR EACH ROW
    EXECUTE FUNCTION alert_on_dead_letter();
