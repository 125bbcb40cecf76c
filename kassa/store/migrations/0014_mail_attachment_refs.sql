-- Attachments declared by reference: what an email's attachment is made from (an
-- invoice's PDF: kind `invoice_pdf`, the invoice's id), stored with the email in the
-- transaction that queues it. The mail worker makes the bytes when it sends or captures the
-- email, from the invoice as stored then, and keeps them in `email_attachments` under the
-- same ordinal; the reference stays, as the record of what they were made from.
CREATE TABLE email_attachment_refs (
    email_id TEXT NOT NULL REFERENCES emails (id),
    ordinal INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('invoice_pdf')),
    ref_id TEXT NOT NULL,
    PRIMARY KEY (email_id, ordinal)
);
