"""The ISO 4217 currencies every tenant's books know: code, decimal places, name, symbol.

Tenants add their own (a loyalty point, a crypto asset) and may rename or re-symbol these
(`storage/accounting/currencies.py`); the list itself is fixed data, not rows in each tenant's
database."""

from __future__ import annotations

# code|places|name|symbol (symbol empty: the code is shown)
_TABLE = """
AED|2|UAE Dirham|د.إ
AFN|2|Afghani|؋
ALL|2|Lek|L
AMD|2|Armenian Dram|֏
ANG|2|Netherlands Antillean Guilder|ƒ
AOA|2|Kwanza|Kz
ARS|2|Argentine Peso|$
AUD|2|Australian Dollar|A$
AWG|2|Aruban Florin|ƒ
AZN|2|Azerbaijan Manat|₼
BAM|2|Convertible Mark|KM
BBD|2|Barbados Dollar|$
BDT|2|Taka|৳
BGN|2|Bulgarian Lev|лв
BHD|3|Bahraini Dinar|.د.ب
BIF|0|Burundi Franc|FBu
BMD|2|Bermudian Dollar|$
BND|2|Brunei Dollar|$
BOB|2|Boliviano|Bs.
BRL|2|Brazilian Real|R$
BSD|2|Bahamian Dollar|$
BTN|2|Ngultrum|Nu.
BWP|2|Pula|P
BYN|2|Belarusian Ruble|Br
BZD|2|Belize Dollar|$
CAD|2|Canadian Dollar|CA$
CDF|2|Congolese Franc|FC
CHF|2|Swiss Franc|CHF
CLF|4|Unidad de Fomento|UF
CLP|0|Chilean Peso|$
CNY|2|Yuan Renminbi|¥
COP|2|Colombian Peso|$
CRC|2|Costa Rican Colon|₡
CUP|2|Cuban Peso|$
CVE|2|Cabo Verde Escudo|$
CZK|2|Czech Koruna|Kč
DJF|0|Djibouti Franc|Fdj
DKK|2|Danish Krone|kr
DOP|2|Dominican Peso|RD$
DZD|2|Algerian Dinar|دج
EGP|2|Egyptian Pound|E£
ERN|2|Nakfa|Nfk
ETB|2|Ethiopian Birr|Br
EUR|2|Euro|€
FJD|2|Fiji Dollar|$
FKP|2|Falkland Islands Pound|£
GBP|2|Pound Sterling|£
GEL|2|Lari|₾
GHS|2|Ghana Cedi|₵
GIP|2|Gibraltar Pound|£
GMD|2|Dalasi|D
GNF|0|Guinean Franc|FG
GTQ|2|Quetzal|Q
GYD|2|Guyana Dollar|$
HKD|2|Hong Kong Dollar|HK$
HNL|2|Lempira|L
HTG|2|Gourde|G
HUF|2|Forint|Ft
IDR|2|Rupiah|Rp
ILS|2|New Israeli Sheqel|₪
INR|2|Indian Rupee|₹
IQD|3|Iraqi Dinar|ع.د
IRR|2|Iranian Rial|﷼
ISK|0|Iceland Krona|kr
JMD|2|Jamaican Dollar|J$
JOD|3|Jordanian Dinar|JD
JPY|0|Yen|¥
KES|2|Kenyan Shilling|KSh
KGS|2|Som|с
KHR|2|Riel|៛
KMF|0|Comorian Franc|CF
KPW|2|North Korean Won|₩
KRW|0|Won|₩
KWD|3|Kuwaiti Dinar|KD
KYD|2|Cayman Islands Dollar|$
KZT|2|Tenge|₸
LAK|2|Lao Kip|₭
LBP|2|Lebanese Pound|ل.ل
LKR|2|Sri Lanka Rupee|Rs
LRD|2|Liberian Dollar|$
LSL|2|Loti|L
LYD|3|Libyan Dinar|LD
MAD|2|Moroccan Dirham|DH
MDL|2|Moldovan Leu|L
MGA|2|Malagasy Ariary|Ar
MKD|2|Denar|ден
MMK|2|Kyat|K
MNT|2|Tugrik|₮
MOP|2|Pataca|MOP$
MRU|2|Ouguiya|UM
MUR|2|Mauritius Rupee|₨
MVR|2|Rufiyaa|Rf
MWK|2|Malawi Kwacha|MK
MXN|2|Mexican Peso|MX$
MYR|2|Malaysian Ringgit|RM
MZN|2|Mozambique Metical|MT
NAD|2|Namibia Dollar|$
NGN|2|Naira|₦
NIO|2|Cordoba Oro|C$
NOK|2|Norwegian Krone|kr
NPR|2|Nepalese Rupee|Rs
NZD|2|New Zealand Dollar|NZ$
OMR|3|Rial Omani|ر.ع.
PAB|2|Balboa|B/.
PEN|2|Sol|S/
PGK|2|Kina|K
PHP|2|Philippine Peso|₱
PKR|2|Pakistan Rupee|Rs
PLN|2|Zloty|zł
PYG|0|Guarani|₲
QAR|2|Qatari Rial|ر.ق
RON|2|Romanian Leu|lei
RSD|2|Serbian Dinar|дин
RUB|2|Russian Ruble|₽
RWF|0|Rwanda Franc|FRw
SAR|2|Saudi Riyal|ر.س
SBD|2|Solomon Islands Dollar|$
SCR|2|Seychelles Rupee|₨
SDG|2|Sudanese Pound|£
SEK|2|Swedish Krona|kr
SGD|2|Singapore Dollar|S$
SHP|2|Saint Helena Pound|£
SLE|2|Leone|Le
SOS|2|Somali Shilling|Sh
SRD|2|Surinam Dollar|$
SSP|2|South Sudanese Pound|£
STN|2|Dobra|Db
SVC|2|El Salvador Colon|₡
SYP|2|Syrian Pound|£
SZL|2|Lilangeni|E
THB|2|Baht|฿
TJS|2|Somoni|SM
TMT|2|Turkmenistan New Manat|m
TND|3|Tunisian Dinar|DT
TOP|2|Pa'anga|T$
TRY|2|Turkish Lira|₺
TTD|2|Trinidad and Tobago Dollar|TT$
TWD|2|New Taiwan Dollar|NT$
TZS|2|Tanzanian Shilling|TSh
UAH|2|Hryvnia|₴
UGX|0|Uganda Shilling|USh
USD|2|US Dollar|$
UYI|0|Uruguay Peso en Unidades Indexadas|UYI
UYU|2|Peso Uruguayo|$U
UYW|4|Unidad Previsional|UYW
UZS|2|Uzbekistan Sum|soʻm
VED|2|Bolívar Soberano|Bs.D
VES|2|Bolívar Soberano|Bs.S
VND|0|Dong|₫
VUV|0|Vatu|VT
WST|2|Tala|WS$
XAF|0|CFA Franc BEAC|FCFA
XCD|2|East Caribbean Dollar|EC$
XOF|0|CFA Franc BCEAO|CFA
XPF|0|CFP Franc|₣
YER|2|Yemeni Rial|﷼
ZAR|2|Rand|R
ZMW|2|Zambian Kwacha|ZK
ZWG|2|Zimbabwe Gold|ZiG
"""


def _load() -> dict[str, dict[str, object]]:
    out = {}
    for line in _TABLE.strip().splitlines():
        code, places, name, symbol = line.split("|")
        out[code] = {"code": code, "decimal_places": int(places), "name": name,
                     "symbol": symbol or code}
    return out


CURRENCIES = _load()
