"""The words on an invoice, its hosted page and a credit note, in each language Kassa writes
invoices in.

Numbers, amounts and dates are not here: babel formats those for the full locale (`de_CH`
groups digits unlike `de`). A locale whose language has no entry gets English words with
its own number and date formats.
"""

# Japanese text uses full-width parentheses on purpose; RUF001 would "fix" them.
# ruff: noqa: RUF001

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class InvoiceText:
    """Fixed words, and templates whose `{placeholders}` take formatted values."""

    invoice: str
    invoice_number: str
    date_of_issue: str
    date_due: str
    date_paid: str
    bill_to: str
    description: str
    quantity: str
    unit_price: str
    amount: str
    subtotal: str
    discount: str
    total_excluding_tax: str
    tax: str
    tax_on: str
    """`{name}`, `{percent}`, `{amount}` (the taxable amount)."""
    tax_included: str
    """`{name}`, `{percent}`."""
    total: str
    applied_balance: str
    amount_due: str
    amount_paid: str
    amount_remaining: str
    page_of: str
    """`{page}`, `{pages}`."""
    due_on: str
    """`{amount}`, `{date}`."""
    due_now: str
    """`{amount}`."""
    paid: str
    paid_on: str
    """`{date}`."""
    void: str
    voided_on: str
    """`{date}`."""
    uncollectible_on: str
    """`{date}`."""
    download_pdf: str
    pay_with_card: str
    card_number: str
    expiry_month: str
    expiry_year: str
    cvc: str
    cardholder: str
    pay: str
    """`{amount}`."""
    missing_card: str
    authentication_failed: str
    test_mode: str
    credit_note: str
    credit_note_number: str
    reason: str
    reason_duplicate: str
    reason_fraudulent: str
    reason_order_change: str
    reason_product_unsatisfactory: str
    credited: str
    """`{amount}`."""
    credited_to_invoice: str
    """The part that lowered what the invoice asks (`pre_payment_amount`)."""
    refunded: str
    credited_to_balance: str
    credited_otherwise: str
    """Out of band: settled outside Kassa."""
    credit_note_voided_on: str
    """`{date}`."""
    void_stamp: str


ENGLISH: Final = InvoiceText(
    invoice="Invoice",
    invoice_number="Invoice number",
    date_of_issue="Date of issue",
    date_due="Date due",
    date_paid="Date paid",
    bill_to="Bill to",
    description="Description",
    quantity="Qty",
    unit_price="Unit price",
    amount="Amount",
    subtotal="Subtotal",
    discount="Discount",
    total_excluding_tax="Total excluding tax",
    tax="Tax",
    tax_on="{name} ({percent} on {amount})",
    tax_included="{name} ({percent} included)",
    total="Total",
    applied_balance="Applied balance",
    amount_due="Amount due",
    amount_paid="Amount paid",
    amount_remaining="Amount remaining",
    page_of="Page {page} of {pages}",
    due_on="{amount} due {date}",
    due_now="{amount} due",
    paid="Paid",
    paid_on="Paid on {date}",
    void="Void",
    voided_on="This invoice was voided on {date}.",
    uncollectible_on="This invoice was marked uncollectible on {date}.",
    download_pdf="Download PDF",
    pay_with_card="Pay with card",
    card_number="Card number",
    expiry_month="Expiry month (MM)",
    expiry_year="Expiry year (YY)",
    cvc="CVC",
    cardholder="Name on card",
    pay="Pay {amount}",
    missing_card="Enter the card number, the expiry month and year, and the CVC.",
    authentication_failed=(
        "The card was not authenticated, so nothing was charged. Try again or use another card."
    ),
    test_mode="Test mode: pay with a test card such as 4242 4242 4242 4242.",
    credit_note="Credit note",
    credit_note_number="Credit note number",
    reason="Reason",
    reason_duplicate="Duplicate",
    reason_fraudulent="Fraudulent",
    reason_order_change="Order change",
    reason_product_unsatisfactory="Product unsatisfactory",
    credited="{amount} credited",
    credited_to_invoice="Reduction of the amount due",
    refunded="Refunded to the original payment method",
    credited_to_balance="Credited to the customer balance",
    credited_otherwise="Credited by other means",
    credit_note_voided_on="This credit note was voided on {date}.",
    void_stamp="VOID",
)

GERMAN: Final = InvoiceText(
    invoice="Rechnung",
    invoice_number="Rechnungsnummer",
    date_of_issue="Rechnungsdatum",
    date_due="Fälligkeitsdatum",
    date_paid="Zahlungsdatum",
    bill_to="Rechnung an",
    description="Beschreibung",
    quantity="Menge",
    unit_price="Stückpreis",
    amount="Betrag",
    subtotal="Zwischensumme",
    discount="Rabatt",
    total_excluding_tax="Gesamtbetrag ohne Steuern",
    tax="Steuer",
    tax_on="{name} ({percent} auf {amount})",
    tax_included="{name} ({percent} enthalten)",
    total="Gesamt",
    applied_balance="Verrechnetes Guthaben",
    amount_due="Fälliger Betrag",
    amount_paid="Gezahlter Betrag",
    amount_remaining="Restbetrag",
    page_of="Seite {page} von {pages}",
    due_on="{amount} fällig am {date}",
    due_now="{amount} fällig",
    paid="Bezahlt",
    paid_on="Bezahlt am {date}",
    void="Storniert",
    voided_on="Diese Rechnung wurde am {date} storniert.",
    uncollectible_on="Diese Rechnung wurde am {date} als uneinbringlich markiert.",
    download_pdf="PDF herunterladen",
    pay_with_card="Mit Karte bezahlen",
    card_number="Kartennummer",
    expiry_month="Ablaufmonat (MM)",
    expiry_year="Ablaufjahr (JJ)",
    cvc="Prüfnummer (CVC)",
    cardholder="Name auf der Karte",
    pay="{amount} bezahlen",
    missing_card="Geben Sie Kartennummer, Ablaufmonat und -jahr sowie die Prüfnummer ein.",
    authentication_failed=(
        "Die Karte wurde nicht authentifiziert, daher wurde nichts abgebucht. Versuchen Sie "
        "es erneut oder verwenden Sie eine andere Karte."
    ),
    test_mode="Testmodus: Bezahlen Sie mit einer Testkarte wie 4242 4242 4242 4242.",
    credit_note="Gutschrift",
    credit_note_number="Gutschriftnummer",
    reason="Grund",
    reason_duplicate="Duplikat",
    reason_fraudulent="Betrug",
    reason_order_change="Bestelländerung",
    reason_product_unsatisfactory="Produkt nicht zufriedenstellend",
    credited="{amount} gutgeschrieben",
    credited_to_invoice="Minderung des fälligen Betrags",
    refunded="Auf die ursprüngliche Zahlungsmethode erstattet",
    credited_to_balance="Dem Kundenguthaben gutgeschrieben",
    credited_otherwise="Anderweitig gutgeschrieben",
    credit_note_voided_on="Diese Gutschrift wurde am {date} storniert.",
    void_stamp="STORNIERT",
)

FRENCH: Final = InvoiceText(
    invoice="Facture",
    invoice_number="Numéro de facture",
    date_of_issue="Date d'émission",
    date_due="Date d'échéance",
    date_paid="Date de paiement",
    bill_to="Facturé à",
    description="Description",
    quantity="Qté",
    unit_price="Prix unitaire",
    amount="Montant",
    subtotal="Sous-total",
    discount="Remise",
    total_excluding_tax="Total hors taxes",
    tax="Taxe",
    tax_on="{name} ({percent} sur {amount})",
    tax_included="{name} ({percent} inclus)",
    total="Total",
    applied_balance="Solde appliqué",
    amount_due="Montant dû",
    amount_paid="Montant payé",
    amount_remaining="Montant restant",
    page_of="Page {page} sur {pages}",
    due_on="{amount} à payer avant le {date}",
    due_now="{amount} à payer",
    paid="Payée",
    paid_on="Payée le {date}",
    void="Annulée",
    voided_on="Cette facture a été annulée le {date}.",
    uncollectible_on="Cette facture a été marquée comme irrécouvrable le {date}.",
    download_pdf="Télécharger le PDF",
    pay_with_card="Payer par carte",
    card_number="Numéro de carte",
    expiry_month="Mois d'expiration (MM)",
    expiry_year="Année d'expiration (AA)",
    cvc="Cryptogramme (CVC)",
    cardholder="Nom sur la carte",
    pay="Payer {amount}",
    missing_card=(
        "Saisissez le numéro de carte, le mois et l'année d'expiration et le cryptogramme."
    ),
    authentication_failed=(
        "La carte n'a pas été authentifiée : rien n'a été débité. Réessayez ou utilisez une "
        "autre carte."
    ),
    test_mode="Mode test : payez avec une carte de test comme 4242 4242 4242 4242.",
    credit_note="Avoir",
    credit_note_number="Numéro d'avoir",
    reason="Motif",
    reason_duplicate="Doublon",
    reason_fraudulent="Fraude",
    reason_order_change="Modification de commande",
    reason_product_unsatisfactory="Produit insatisfaisant",
    credited="Avoir de {amount}",
    credited_to_invoice="Réduction du montant dû",
    refunded="Remboursé sur le moyen de paiement d'origine",
    credited_to_balance="Crédité sur le solde du client",
    credited_otherwise="Crédité par un autre moyen",
    credit_note_voided_on="Cet avoir a été annulé le {date}.",
    void_stamp="ANNULÉ",
)

JAPANESE: Final = InvoiceText(
    invoice="請求書",
    invoice_number="請求書番号",
    date_of_issue="発行日",
    date_due="支払期日",
    date_paid="支払日",
    bill_to="請求先",
    description="内容",
    quantity="数量",
    unit_price="単価",
    amount="金額",
    subtotal="小計",
    discount="割引",
    total_excluding_tax="税抜合計",
    tax="税",
    tax_on="{name}（{amount} に対して {percent}）",
    tax_included="{name}（{percent} 込み）",
    total="合計",
    applied_balance="適用済み残高",
    amount_due="請求金額",
    amount_paid="支払済み金額",
    amount_remaining="残額",
    page_of="{page} / {pages} ページ",
    due_on="{amount}（支払期日 {date}）",
    due_now="お支払い金額 {amount}",
    paid="支払い済み",
    paid_on="{date} に支払い済み",
    void="無効",
    voided_on="この請求書は {date} に無効になりました。",
    uncollectible_on="この請求書は {date} に回収不能とされました。",
    download_pdf="PDF をダウンロード",
    pay_with_card="カードで支払う",
    card_number="カード番号",
    expiry_month="有効期限（月）",
    expiry_year="有効期限（年）",
    cvc="セキュリティコード",
    cardholder="カード名義人",
    pay="{amount} を支払う",
    missing_card="カード番号、有効期限（月・年）、セキュリティコードを入力してください。",
    authentication_failed=(
        "カードの認証が完了しなかったため、請求は行われていません。"
        "もう一度お試しいただくか、別のカードをご利用ください。"
    ),
    test_mode="テストモード: 4242 4242 4242 4242 などのテストカードでお支払いください。",
    credit_note="クレジットノート",
    credit_note_number="クレジットノート番号",
    reason="理由",
    reason_duplicate="重複",
    reason_fraudulent="不正利用",
    reason_order_change="注文変更",
    reason_product_unsatisfactory="製品への不満",
    credited="{amount} のクレジット",
    credited_to_invoice="請求金額の減額",
    refunded="元の支払い方法に返金",
    credited_to_balance="顧客残高にクレジット",
    credited_otherwise="その他の方法でクレジット",
    credit_note_voided_on="このクレジットノートは {date} に無効になりました。",
    void_stamp="無効",
)

TEXT_BY_LANGUAGE: Final = MappingProxyType(
    {"en": ENGLISH, "de": GERMAN, "fr": FRENCH, "ja": JAPANESE}
)


def text_for(language: str) -> InvoiceText:
    """The words for a language code (`de`), English for a language without its own."""
    return TEXT_BY_LANGUAGE.get(language, ENGLISH)
