-- Uploaded files (`POST /v1/files`: PDFs, images, spreadsheets) are bytes, not text: a
-- file's contents become a bytes column. The table is rebuilt because SQLite cannot change
-- a column's type; the report CSVs stored so far are kept as their UTF-8 bytes.
CREATE TABLE file_contents_rebuilt (
    file_id TEXT NOT NULL PRIMARY KEY REFERENCES files (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    contents {{BYTES}} NOT NULL
);
INSERT INTO file_contents_rebuilt (file_id, account_id, content_type, size_bytes, contents)
SELECT file_id, account_id, content_type, size_bytes, {{UTF8_BYTES:contents}}
FROM file_contents;
DROP TABLE file_contents;
ALTER TABLE file_contents_rebuilt RENAME TO file_contents;
