"""Tax id types, the format each value must have, and the country it belongs to.

One table (`FORMATS`): a named pattern per common type, after the examples in Stripe's
customer tax id guide (docs.stripe.com/billing/customer/tax-ids) and the national formats
behind them (VIES for EU VAT numbers). A value is checked with separators (spaces, dots,
hyphens, slashes) removed and letters upper-cased, so `DE 123 456 789` and `12-3456789`
pass as Stripe lets them; the value is stored as sent. Types Stripe knows but the table does
not describe are accepted with any value and take their country from the type's prefix
(`ad_nrt` -> AD), as every type but the EU's names its country so.

Verification follows Stripe's test mode: only EU VAT, UK VAT and Australian ABNs are
verified, and a value whose digits end in a magic run is verified (`000000000`), not
(`111111111`), or stays pending (`222222222`). Other values of those types stay pending
(Kassa asks no registry); every other type's verification is `unavailable`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kassa.errors import InvalidRequest

VALUE_CHARS_MAX: Final = 64
"""The longest value taken (the longest formats, with separators, are about 25)."""
_SEPARATORS: Final = re.compile(r"[\s.\-/]")


@dataclass(frozen=True)
class TaxIdFormat:
    pattern: re.Pattern[str]
    """What the compacted value (no separators, upper-cased) must match in full."""
    country: str | None
    """The tax id's country; None where the value's prefix says it (EU VAT)."""


def _format(pattern: str, country: str | None) -> TaxIdFormat:
    return TaxIdFormat(re.compile(pattern), country)


EU_VAT_NATIONAL: Final[dict[str, str]] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}|\d{11}",  # Stripe's example is HU12345678912
    "IE": r"\d[0-9A-Z+*]\d{5}[A-W][A-I]?",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
}
"""EU VAT numbers by prefix (VIES formats); XI is Northern Ireland's, under the EU scheme."""
EU_VAT_COUNTRY_OF_PREFIX: Final = {"EL": "GR", "XI": "GB"}
"""Prefixes that are not the ISO country code: Greece's VAT prefix is EL."""

FORMATS: Final[dict[str, TaxIdFormat]] = {
    "ae_trn": _format(r"\d{15}", "AE"),
    "au_abn": _format(r"\d{11}", "AU"),
    "au_arn": _format(r"\d{12}", "AU"),
    "br_cnpj": _format(r"\d{14}", "BR"),
    "br_cpf": _format(r"\d{11}", "BR"),
    "ca_bn": _format(r"\d{9}", "CA"),
    "ca_gst_hst": _format(r"\d{9}RT\d{4}", "CA"),
    "ca_qst": _format(r"\d{10}TQ\d{4}", "CA"),
    "ch_uid": _format(r"CHE\d{9}", "CH"),
    "ch_vat": _format(r"CHE\d{9}(MWST|TVA|IVA)", "CH"),
    "cl_tin": _format(r"\d{7,8}[0-9K]", "CL"),
    "de_stn": _format(r"\d{10,11}", "DE"),
    "es_cif": _format(r"[A-Z]\d{8}", "ES"),
    "eu_oss_vat": _format(r"EU\d{9}", None),
    "eu_vat": _format("|".join(f"{p}({n})" for p, n in EU_VAT_NATIONAL.items()), None),
    "gb_vat": _format(r"GB(\d{9}|\d{12}|GD\d{3}|HA\d{3})", "GB"),
    "hk_br": _format(r"\d{8}", "HK"),
    "id_npwp": _format(r"\d{15,16}", "ID"),
    "il_vat": _format(r"\d{9}", "IL"),
    "in_gst": _format(r"\d{2}[A-Z]{5}\d{4}[A-Z][0-9A-Z]Z[0-9A-Z]", "IN"),
    "jp_cn": _format(r"\d{13}", "JP"),
    "jp_rn": _format(r"\d{5}", "JP"),
    "jp_trn": _format(r"T\d{13}", "JP"),
    "kr_brn": _format(r"\d{10}", "KR"),
    "mx_rfc": _format(r"[A-Z&Ñ]{3,4}\d{6}[A-Z0-9]{3}", "MX"),
    "my_sst": _format(r"[A-Z]\d{2}\d{4}\d{8}", "MY"),
    "no_vat": _format(r"\d{9}MVA", "NO"),
    "nz_gst": _format(r"\d{8,9}", "NZ"),
    "ru_inn": _format(r"\d{10}|\d{12}", "RU"),
    "ru_kpp": _format(r"\d{9}", "RU"),
    "sa_vat": _format(r"\d{15}", "SA"),
    "sg_gst": _format(r"M\d{8}[0-9A-Z]", "SG"),
    "sg_uen": _format(r"\d{8,9}[A-Z]|[TSR]\d{2}[A-Z]{2}\d{4}[A-Z]", "SG"),
    "th_vat": _format(r"\d{13}", "TH"),
    "tw_vat": _format(r"\d{8}", "TW"),
    "us_ein": _format(r"\d{9}", "US"),
    "za_vat": _format(r"4\d{9}", "ZA"),
}

TYPES: Final = (
    "ad_nrt", "ae_trn", "al_tin", "am_tin", "ao_tin", "ar_cuit", "au_abn", "au_acn", "au_arn",
    "au_wpn", "aw_tin", "az_tin", "ba_tin", "bb_tin", "bd_bin", "bf_ifu", "bg_uic", "bh_vat",
    "bj_ifu", "bo_tin", "br_cnpj", "br_cpf", "bs_tin", "bw_vat", "by_tin", "ca_bn",
    "ca_gst_hst", "ca_pst_bc", "ca_pst_mb", "ca_pst_sk", "ca_qst", "cd_nif", "ch_uid",
    "ch_vat", "ci_vat", "cl_tin", "cm_niu", "cn_tin", "co_nit", "cr_tin", "cv_nif", "cz_dic",
    "de_stn", "do_rcn", "ec_ruc", "eg_tin", "es_cif", "et_tin", "eu_oss_vat", "eu_vat",
    "fo_vat", "fr_siren", "fr_siret", "fr_spi", "gb_vat", "ge_vat", "gh_tin", "gi_tin",
    "gn_nif", "hk_br", "hr_oib", "hu_tin", "ic_nif", "id_npwp", "il_vat", "in_gst", "is_kt",
    "is_vat", "it_cf", "jp_cn", "jp_rn", "jp_trn", "ke_pin", "kg_tin", "kh_tin", "kr_brn",
    "kz_bin", "la_tin", "li_uid", "li_vat", "lk_vat", "ma_vat", "md_cf", "md_vat", "me_pib",
    "mk_vat", "mr_nif", "mu_vat", "mx_rfc", "my_frp", "my_itn", "my_sst", "mz_nuit", "ng_tin",
    "no_vat", "no_voec", "np_pan", "nz_bn", "nz_gst", "om_vat", "pe_ruc", "ph_tin", "pl_nip",
    "pt_nif", "py_ruc", "ro_tin", "rs_pib", "ru_inn", "ru_kpp", "sa_vat", "sg_gst", "sg_uen",
    "si_tin", "sm_coe", "sn_ninea", "sr_fin", "sv_nit", "th_vat", "tj_tin", "tr_tin", "tt_bir",
    "tt_vat", "tw_vat", "tz_vat", "ua_vat", "ug_tin", "us_ein", "uy_ruc", "uz_tin", "uz_vat",
    "ve_rif", "vn_tin", "za_vat", "zm_tin", "zw_tin",
)  # fmt: skip
"""Every type stripe-python 16 names (`TaxId.type`), but the legacy `unknown`."""

VERIFIED_TYPES: Final = frozenset({"au_abn", "eu_vat", "gb_vat"})
MAGIC_VERIFICATION: Final = (
    ("000000000", "verified"),
    ("111111111", "unverified"),
    ("222222222", "pending"),
)
"""Stripe's test-mode values: the status a value whose digits end so is given."""


def compact(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def country_of(tax_id_type: str, value: str) -> str | None:
    """The country of a value already checked against its type's format."""
    known = FORMATS.get(tax_id_type)
    if known is not None and known.country is not None:
        return known.country
    if tax_id_type == "eu_vat":
        prefix = compact(value)[:2]
        return EU_VAT_COUNTRY_OF_PREFIX.get(prefix, prefix)
    if tax_id_type == "eu_oss_vat":
        return None
    return tax_id_type.partition("_")[0].upper()


def check_value(tax_id_type: str, value: str) -> None:
    """A 400 `tax_id_invalid` naming `value` unless it has its type's format."""
    known = FORMATS.get(tax_id_type)
    if not value.strip() or len(value) > VALUE_CHARS_MAX:
        raise _invalid(tax_id_type)
    if known is not None and known.pattern.fullmatch(compact(value)) is None:
        raise _invalid(tax_id_type)


def _invalid(tax_id_type: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for {tax_id_type}.", param="value", code="tax_id_invalid")


def verification_status(tax_id_type: str, value: str) -> str:
    if tax_id_type not in VERIFIED_TYPES:
        return "unavailable"
    digits = re.sub(r"\D", "", value)
    for suffix, status in MAGIC_VERIFICATION:
        if digits.endswith(suffix):
            return status
    return "pending"
