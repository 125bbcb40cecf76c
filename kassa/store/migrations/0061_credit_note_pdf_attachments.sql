-- A credit note's email attaches its PDF by reference (kind `credit_note_pdf`, the note's
-- id), made by the mail worker as an invoice's PDF is: the kinds' check constraint takes
-- it. The table is rebuilt because SQLite cannot change a check constraint; the
-- references stored so far are kept.
CREATE TABLE email_attachment_refs_rebuilt (
    email_id TEXT NOT NULL REFERENCES emails (id),
    ordinal INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('invoice_pdf', 'credit_note_pdf')),
    ref_id TEXT NOT NULL,
    PRIMARY KEY (email_id, ordinal)
);
INSERT INTO email_attachment_refs_rebuilt (email_id, ordinal, filename, content_type, kind, ref_id)
SELECT email_id, ordinal, filename, content_type, kind, ref_id FROM email_attachment_refs;
DROP TABLE email_attachment_refs;
ALTER TABLE email_attachment_refs_rebuilt RENAME TO email_attachment_refs;
