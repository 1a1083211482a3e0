-- Event log entries by seq: subscribers resume their event stream after the last event they
-- saw (`Last-Event-ID`), and the audit log pages with a seq cursor.
CREATE INDEX events_by_seq ON events (seq);
