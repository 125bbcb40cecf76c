"""How an invoice looks on paper and on its hosted page: the view (`invoice_view`, pure
formatting with babel), its words per language (`invoice_text`), the PDF (`invoice_pdf`,
fpdf2), and the document they are built from, gathered from the store (`invoice_document`).
Services (the invoice email's attachment) and pages (the hosted page and PDF link) share it.
A credit note's PDF is drawn in the same layout from its own view (`credit_note_view`),
gathered by `credit_note_document`."""
