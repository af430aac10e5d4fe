-- Each destination names the de/para namespace of the system behind it (codes
-- going out are translated back to that system's values where a mapping
-- exists) and the list style it wants: the schemas' plain arrays, or the
-- wrapped lists of Protheus traffic.
ALTER TABLE destinations
    ADD COLUMN namespace  text,
    ADD COLUMN list_style text NOT NULL DEFAULT 'plain' CHECK (list_style IN ('plain', 'wrapped'));

-- When several external values map to one code of ours, the one written last
-- goes out (the clock, not the transaction's start: an import writes many).
ALTER TABLE mappings ADD COLUMN written_at timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE INDEX mappings_reverse ON mappings (namespace, entity, internal, written_at DESC);
