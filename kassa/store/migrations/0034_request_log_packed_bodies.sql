-- Long response bodies in the request log, zstd-compressed (kassa/store/log_bodies.py): a
-- row keeps its body either as text in `response_body` or packed here, never both. Rows
-- written before keep their text.
ALTER TABLE request_log ADD COLUMN response_zstd {{BYTES}};
