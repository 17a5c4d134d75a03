-- What parsing an ingested message had to leave unset or keep raw (a Date with an impossible
-- time zone, a header whose decoded text cannot be stored), one sentence each. NULL when
-- there is nothing to say, which is almost always: it costs a bit in the row's null bitmap.
ALTER TABLE email_messages ADD COLUMN parse_warnings text[];
