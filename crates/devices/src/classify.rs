//! What a normalised scan is: a known carrier format with a good check digit, a GS1 SSCC, a
//! retailer-configured domestic pattern, an unrecognised but plausible string (still looked
//! up), or a misread (a format recognised by its shape whose check digit fails: "scan again",
//! never a lookup miss). Table-driven: the carrier formats are data below.
//!
//! Shapes and check-digit parameters follow the public dataset `jkeen/tracking_number_data`
//! (couriers/ups.json, usps.json, fedex.json, dhl.json, s10.json).

use crate::checkdigit::CheckScheme;
use crate::scan::Scan;
use regex_lite::Regex;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    Ups,
    Usps,
    Fedex,
    Dhl,
    /// UPU S10 international (Australia Post, NZ Post and every other postal operator).
    UpuS10,
    /// A GS1 SSCC used as a parcel id (FedEx Ground and many 3PLs).
    Gs1,
}

/// The classification of one scan. Serialised with a `kind` tag for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Classification {
    /// A carrier tracking number whose check digit is right.
    Carrier {
        carrier: Carrier,
        format: String,
        connote: String,
        /// S10: the issuing country code.
        detail: Option<String>,
    },
    /// A GS1 SSCC (AI 00) with a good check digit: a consolidation carton or a carrier parcel.
    Sscc { sscc: String },
    /// Matched a retailer-configured domestic pattern (and its check digit, if it has one).
    Retailer { pattern: String, connote: String },
    /// No known shape but plausible: look it up as is.
    Unrecognised { connote: String },
    /// A recognised shape whose check digit fails: a misread. Tell the operator to scan again.
    Misread {
        format: String,
        text: String,
        expected_check: Option<u8>,
    },
    /// Empty or implausible (line noise, a stray key): ignore.
    NotAConnote { text: String },
}

impl Classification {
    /// The string the hub should look up, if any (never for a misread or noise).
    pub fn lookup_key(&self) -> Option<&str> {
        match self {
            Classification::Carrier { connote, .. }
            | Classification::Retailer { connote, .. }
            | Classification::Unrecognised { connote } => Some(connote),
            Classification::Sscc { sscc } => Some(sscc),
            Classification::Misread { .. } | Classification::NotAConnote { .. } => None,
        }
    }

    /// True for the misread signal (distinct sound/colour at the bench).
    pub fn is_misread(&self) -> bool {
        matches!(self, Classification::Misread { .. })
    }
}

/// A retailer-configured domestic connote format (Australia Post eParcel, NZ Post domestic…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RetailerPattern {
    /// Shown to the operator and in audit ("AusPost eParcel").
    pub name: String,
    /// Anchored automatically. May name groups `connote` (what to look up; default the whole
    /// text) and, when `check` is set, `serial` and `check` (one digit).
    pub regex: String,
    pub check: Option<CheckScheme>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("pattern {name:?}: invalid regex: {reason}")]
    BadRegex { name: String, reason: String },
    #[error("pattern {name:?}: a check scheme needs groups named `serial` and `check`")]
    MissingGroups { name: String },
}

/// The station's connote rules: retailer patterns plus how strict to be with digit-only
/// carrier formats.
#[derive(Debug, Clone, Default)]
pub struct ConnoteRules {
    patterns: Vec<(RetailerPattern, Regex)>,
    /// Digit-only carrier shapes (FedEx 12/15, DHL 10/11, USPS 20, bare SSCC) are weak: a
    /// 12-digit string that fails FedEx's check may well be a domestic connote. By default a
    /// failure there is "unrecognised" (still looked up); set this where the hub only ever sees
    /// those carriers to make it a misread.
    pub numeric_failures_are_misreads: bool,
}

impl ConnoteRules {
    pub fn new(patterns: Vec<RetailerPattern>) -> Result<Self, PatternError> {
        let mut compiled = Vec::new();
        for p in patterns {
            let re =
                Regex::new(&format!("^(?:{})$", p.regex)).map_err(|e| PatternError::BadRegex {
                    name: p.name.clone(),
                    reason: e.to_string(),
                })?;
            if p.check.is_some() {
                let names: Vec<_> = re.capture_names().flatten().collect();
                if !names.contains(&"serial") || !names.contains(&"check") {
                    return Err(PatternError::MissingGroups { name: p.name });
                }
            }
            compiled.push((p, re));
        }
        Ok(ConnoteRules {
            patterns: compiled,
            numeric_failures_are_misreads: false,
        })
    }

    /// Classifies a normalised scan.
    pub fn classify_scan(&self, scan: &Scan) -> Classification {
        if let Some(e) = scan.gs1.iter().find(|e| e.ai == "00") {
            return classify_sscc(&e.value);
        }
        self.classify(&scan.text)
    }

    /// Classifies normalised text (see the module doc for the order of the checks).
    pub fn classify(&self, text: &str) -> Classification {
        if text.len() < 4 || text.len() > 60 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Classification::NotAConnote {
                text: text.to_string(),
            };
        }
        for (p, re) in &self.patterns {
            if let Some(c) = re.captures(text) {
                let connote = c.name("connote").map_or(text, |m| m.as_str()).to_string();
                if let Some(scheme) = &p.check {
                    let serial = c.name("serial").map_or("", |m| m.as_str());
                    let check = c.name("check").map_or("", |m| m.as_str());
                    let ok = check.len() == 1
                        && scheme.verify(serial, check.chars().next().unwrap_or(' '));
                    if !ok {
                        return Classification::Misread {
                            format: p.name.clone(),
                            text: text.to_string(),
                            expected_check: scheme.compute(serial),
                        };
                    }
                }
                return Classification::Retailer {
                    pattern: p.name.clone(),
                    connote,
                };
            }
        }
        let mut first_strong_failure = None;
        let mut first_weak_failure = None;
        for f in formats() {
            let Some(c) = f.re.captures(text) else {
                continue;
            };
            if let Some(country) = c.name("country") {
                if !S10_COUNTRIES.split(' ').any(|cc| cc == country.as_str()) {
                    continue;
                }
            }
            let serial = format!("{}{}", f.def.check_prefix, &c["serial"]);
            let check = c["check"].chars().next().unwrap_or(' ');
            let connote = c.name("connote").map_or(text, |m| m.as_str()).to_string();
            if f.scheme.verify(&serial, check) {
                if f.def.carrier == Carrier::Gs1 {
                    return Classification::Sscc { sscc: connote };
                }
                return Classification::Carrier {
                    carrier: f.def.carrier,
                    format: f.def.name.to_string(),
                    connote,
                    detail: c.name("country").map(|m| m.as_str().to_string()),
                };
            }
            let failure = Classification::Misread {
                format: f.def.name.to_string(),
                text: text.to_string(),
                expected_check: f.scheme.compute(&serial),
            };
            if f.def.strong {
                first_strong_failure.get_or_insert(failure);
            } else {
                first_weak_failure.get_or_insert(failure);
            }
        }
        if let Some(f) = first_strong_failure {
            return f;
        }
        if self.numeric_failures_are_misreads {
            if let Some(f) = first_weak_failure {
                return f;
            }
        }
        Classification::Unrecognised {
            connote: text.to_string(),
        }
    }
}

/// An SSCC (18 digits) read from AI 00: good check digit or misread.
pub fn classify_sscc(sscc: &str) -> Classification {
    let ok = sscc.len() == 18
        && CheckScheme::Gs1Mod10.verify(&sscc[..17], sscc.chars().last().unwrap_or(' '));
    if ok {
        Classification::Sscc {
            sscc: sscc.to_string(),
        }
    } else {
        Classification::Misread {
            format: "GS1 SSCC".to_string(),
            text: sscc.to_string(),
            expected_check: sscc.get(..17).and_then(crate::checkdigit::gs1_mod10),
        }
    }
}

struct FormatDef {
    carrier: Carrier,
    name: &'static str,
    /// Anchored; groups `serial`, `check`, optional `connote` and `country`.
    regex: &'static str,
    scheme: fn() -> CheckScheme,
    /// Prepended to the serial before computing (USPS 20-digit numbers are checked as "91…").
    check_prefix: &'static str,
    /// The shape alone identifies the carrier, so a failed check is a misread.
    strong: bool,
}

fn gs1() -> CheckScheme {
    CheckScheme::Gs1Mod10
}

/// FedEx's 34-digit and Ground GSN barcodes: weights 1,7,3 over the 13-digit serial, mod 11
/// then mod 10.
fn fedex_34() -> CheckScheme {
    CheckScheme::SumProductMod {
        weights: vec![1, 7, 3, 1, 7, 3, 1, 7, 3, 1, 7, 3, 1],
        m1: 11,
        m2: 10,
    }
}

/// The carrier formats, most specific first.
const FORMATS: &[FormatDef] = &[
    FormatDef {
        carrier: Carrier::Ups,
        name: "UPS 1Z",
        regex: r"^1Z(?P<serial>[A-Z0-9]{15})(?P<check>[0-9])$",
        scheme: || CheckScheme::Mod10 { odds: 1, evens: 2 },
        check_prefix: "",
        strong: true,
    },
    FormatDef {
        carrier: Carrier::UpuS10,
        name: "UPU S10",
        regex: r"^[A-Z]{2}(?P<serial>[0-9]{8})(?P<check>[0-9])(?P<country>[A-Z]{2})$",
        scheme: || CheckScheme::S10,
        check_prefix: "",
        strong: true,
    },
    FormatDef {
        carrier: Carrier::Usps,
        name: "USPS IMpb",
        regex: r"^(?:420[0-9]{5}(?:[0-9]{4})?)?(?P<connote>(?P<serial>9[1-5](?:[0-9]{19}|[0-9]{23}))(?P<check>[0-9]))$",
        scheme: gs1,
        check_prefix: "",
        strong: true,
    },
    FormatDef {
        carrier: Carrier::Gs1,
        name: "GS1 SSCC (00)",
        regex: r"^00(?P<connote>(?P<serial>[0-9]{17})(?P<check>[0-9]))$",
        scheme: gs1,
        check_prefix: "",
        strong: false,
    },
    FormatDef {
        carrier: Carrier::Fedex,
        name: "FedEx Express 34",
        regex: r"^100[0-9]{17}(?P<serial>[0-9]{13})(?P<check>[0-9])$",
        scheme: fedex_34,
        check_prefix: "",
        strong: true,
    },
    FormatDef {
        carrier: Carrier::Fedex,
        name: "FedEx Ground GSN",
        regex: r"^96[0-9]{18}(?P<serial>[0-9]{13})(?P<check>[0-9])$",
        scheme: fedex_34,
        check_prefix: "",
        strong: true,
    },
    FormatDef {
        carrier: Carrier::Fedex,
        name: "FedEx Ground 96",
        regex: r"^96[0-9]{5}(?P<serial>[0-9]{14})(?P<check>[0-9])$",
        scheme: gs1,
        check_prefix: "",
        strong: false,
    },
    FormatDef {
        carrier: Carrier::Usps,
        name: "USPS 20",
        regex: r"^(?P<serial>[0-9]{19})(?P<check>[0-9])$",
        scheme: gs1,
        check_prefix: "",
        strong: false,
    },
    FormatDef {
        carrier: Carrier::Usps,
        name: "USPS 20 (91)",
        regex: r"^(?P<serial>[0-9]{19})(?P<check>[0-9])$",
        scheme: gs1,
        check_prefix: "91",
        strong: false,
    },
    FormatDef {
        carrier: Carrier::Fedex,
        name: "FedEx SmartPost",
        regex: r"^(?P<serial>[0-9]{19})(?P<check>[0-9])$",
        scheme: gs1,
        check_prefix: "92",
        strong: false,
    },
    FormatDef {
        carrier: Carrier::Gs1,
        name: "GS1 SSCC",
        regex: r"^(?P<serial>[0-9]{17})(?P<check>[0-9])$",
        scheme: gs1,
        check_prefix: "",
        strong: false,
    },
    FormatDef {
        carrier: Carrier::Fedex,
        name: "FedEx Ground 15",
        regex: r"^(?P<serial>[0-9]{14})(?P<check>[0-9])$",
        scheme: gs1,
        check_prefix: "",
        strong: false,
    },
    FormatDef {
        carrier: Carrier::Fedex,
        name: "FedEx Express 12",
        regex: r"^(?P<serial>[0-9]{11})(?P<check>[0-9])$",
        scheme: || CheckScheme::SumProductMod {
            weights: vec![3, 1, 7, 3, 1, 7, 3, 1, 7, 3, 1],
            m1: 11,
            m2: 10,
        },
        check_prefix: "",
        strong: false,
    },
    FormatDef {
        carrier: Carrier::Dhl,
        name: "DHL Express",
        regex: r"^(?P<serial>[0-9]{9,10})(?P<check>[0-9])$",
        scheme: || CheckScheme::Mod7,
        check_prefix: "",
        strong: false,
    },
];

/// UPU member country codes that issue S10 ids (from the dataset's s10.json courier table).
const S10_COUNTRIES: &str = "AE AF AG AL AM AO AR AT AU AZ BA BB BD BE BF BG BH BI BJ BN BO BR BS BT BW BY BZ CA CD CF CG CH CI CL CM CN CO CR CU CV CY CZ DE DJ DK DM DO DZ EC EE EG ER ES ET FI FJ FR GA GB GD GE GH GM GN GQ GR GT GW GY HK HN HR HT HU ID IE IL IN IQ IR IS IT JM JO JP KE KG KH KI KM KN KP KR KW KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MG MK ML MM MN MR MT MU MV MW MX MY MZ NA NE NG NI NL NO NP NR NZ OM PA PE PG PH PK PL PT PY QA RO RS RU RW SA SB SC SD SE SG SI SK SL SM SN SO SR SS ST SV SY SZ TD TG TH TJ TL TM TN TO TR TT TV TZ UA UG US UY UZ VA VC VE VN VU WS YE ZA ZM ZW";

struct Compiled {
    def: &'static FormatDef,
    re: Regex,
    scheme: CheckScheme,
}

fn formats() -> &'static [Compiled] {
    static C: OnceLock<Vec<Compiled>> = OnceLock::new();
    C.get_or_init(|| {
        FORMATS
            .iter()
            .map(|def| Compiled {
                def,
                // The table is static and covered by tests: a bad regex is a programming error.
                re: Regex::new(def.regex).expect("carrier format regex"),
                scheme: (def.scheme)(),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{normalise_wedge, NormaliseOptions};
    use proptest::prelude::*;

    // Test numbers from jkeen/tracking_number_data (couriers/*.json, "test_numbers"), spaces
    // removed as our normalisation does.
    const VALID: &[(&str, Carrier)] = &[
        ("1Z5R89390357567127", Carrier::Ups),
        ("1Z879E930346834440", Carrier::Ups),
        ("1Z410E7W0392751591", Carrier::Ups),
        ("1Z8V92A70367203024", Carrier::Ups),
        ("03071790000523483741", Carrier::Usps),
        ("71123456789123456787", Carrier::Usps),
        ("71969010756003077385", Carrier::Usps),
        ("9101026837331000039521", Carrier::Usps),
        ("42022153910102683733100003952 1", Carrier::Usps),
        ("9505511069605048600624", Carrier::Usps),
        ("9101123456789000000013", Carrier::Usps),
        ("92748931507708513018050063", Carrier::Usps),
        ("9400111201080805483016", Carrier::Usps),
        ("9361289878700317633795", Carrier::Usps),
        ("9405803699300124287899", Carrier::Usps),
        ("4201002334249200190132607600833457", Carrier::Usps),
        ("4201028200009261290113185417468510", Carrier::Usps),
        ("986578788855", Carrier::Fedex),
        ("477179081230", Carrier::Fedex),
        ("799531274483", Carrier::Fedex),
        ("790535312317", Carrier::Fedex),
        ("974367662710", Carrier::Fedex),
        ("1001921334250001000300779017972697", Carrier::Fedex),
        ("1001921380360001000300639585804382", Carrier::Fedex),
        ("1001901781990001000300617767839437", Carrier::Fedex),
        ("1002297871540001000300790695517286", Carrier::Fedex),
        ("9261292700768711948021", Carrier::Usps), // SmartPost IMpb: also a valid USPS IMpb
        ("61299998820821171811", Carrier::Fedex),
        ("041441760228964", Carrier::Fedex),
        ("568283610012000", Carrier::Fedex),
        ("568283610012734", Carrier::Fedex),
        ("9611020987654312345672", Carrier::Fedex),
        ("9622001900000000000000776632517510", Carrier::Fedex),
        ("9622001560000000000000794808390594", Carrier::Fedex),
        ("9632001560123456789900794808390594", Carrier::Fedex),
        ("3318810025", Carrier::Dhl),
        ("73891051146", Carrier::Dhl),
        ("8487135506", Carrier::Dhl),
        ("1099255990", Carrier::Dhl),
        ("3821724944", Carrier::Dhl),
        ("RB123456785GB", Carrier::UpuS10),
        ("RB123456785US", Carrier::UpuS10),
        ("RB123456785CV", Carrier::UpuS10),
        ("RB123456785CF", Carrier::UpuS10),
    ];

    #[test]
    fn dataset_valid_numbers_classify_as_their_carrier() {
        let rules = ConnoteRules::default();
        for (raw, carrier) in VALID {
            let text = normalise_wedge(raw).text;
            match rules.classify(&text) {
                Classification::Carrier { carrier: c, .. } => assert_eq!(c, *carrier, "{raw}"),
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn dataset_invalid_strong_numbers_are_misreads() {
        let rules = ConnoteRules::default();
        for raw in [
            "1Z1111111111111111",
            "RB123456786US",
            "9200000000000000000000",
            "1001901781990001000300617767839438",
            "9622001560001234567100794808390595",
            "4201028200009261290113185417468511",
        ] {
            assert!(
                rules.classify(raw).is_misread(),
                "{raw}: {:?}",
                rules.classify(raw)
            );
            assert_eq!(rules.classify(raw).lookup_key(), None);
        }
    }

    #[test]
    fn dataset_invalid_weak_numbers_are_unrecognised_unless_strict() {
        let mut rules = ConnoteRules::default();
        for raw in [
            "996578788855",
            "3318810010",
            "3318810034",
            "568283610012732",
        ] {
            assert_eq!(
                rules.classify(raw),
                Classification::Unrecognised {
                    connote: raw.into()
                }
            );
        }
        rules.numeric_failures_are_misreads = true;
        for raw in ["996578788855", "3318810010", "568283610012732"] {
            assert!(rules.classify(raw).is_misread(), "{raw}");
        }
    }

    #[test]
    fn non_shapes_are_unrecognised_or_noise() {
        let rules = ConnoteRules::default();
        // Not a UPS shape (2Z), S10 with an unknown country: no format claims them.
        for raw in ["2Z5R89390357567127", "RB123456785XX", "ABC-12345"] {
            assert_eq!(
                rules.classify(raw),
                Classification::Unrecognised {
                    connote: raw.into()
                }
            );
        }
        assert!(matches!(
            rules.classify(""),
            Classification::NotAConnote { .. }
        ));
        assert!(matches!(
            rules.classify("AB"),
            Classification::NotAConnote { .. }
        ));
    }

    #[test]
    fn sscc_via_gs1_ai00() {
        let rules = ConnoteRules::default();
        let s = crate::scan::Scan::from_raw(
            b"]C100000123450000000027\r".to_vec(),
            crate::scan::ScanSource::KeyboardWedge,
            &NormaliseOptions::default(),
        );
        assert_eq!(
            rules.classify_scan(&s),
            Classification::Sscc {
                sscc: "000123450000000027".into()
            }
        );
        let bad = crate::scan::normalise_wedge("]C100000123450000000028\r");
        assert!(rules.classify_scan(&bad).is_misread());
        // The 20-digit "00" form without an AIM id is still an SSCC.
        assert_eq!(
            rules.classify("00000123450000000027"),
            Classification::Sscc {
                sscc: "000123450000000027".into()
            }
        );
    }

    #[test]
    fn retailer_patterns_with_and_without_check() {
        let rules = ConnoteRules::new(vec![
            // An AusPost-eParcel-like article id: 3 letters + 7 digits + check (Luhn here).
            RetailerPattern {
                name: "Domestic A".into(),
                regex: r"(?P<connote>[A-Z]{3}(?P<serial>[0-9]{7})(?P<check>[0-9]))".into(),
                check: Some(CheckScheme::Luhn),
            },
            RetailerPattern {
                name: "NZ like".into(),
                regex: r"NZ[0-9]{10}".into(),
                check: None,
            },
        ])
        .unwrap();
        let serial = "1234567";
        let c = crate::checkdigit::luhn(serial).unwrap();
        let good = format!("ABC{serial}{c}");
        let bad = format!("ABC{serial}{}", (c + 1) % 10);
        assert_eq!(
            rules.classify(&good),
            Classification::Retailer {
                pattern: "Domestic A".into(),
                connote: good.clone()
            }
        );
        assert!(rules.classify(&bad).is_misread());
        assert_eq!(
            rules.classify("NZ0123456789"),
            Classification::Retailer {
                pattern: "NZ like".into(),
                connote: "NZ0123456789".into()
            }
        );
        // Anchored: a longer string does not match.
        assert!(matches!(
            rules.classify("NZ01234567890"),
            Classification::Unrecognised { .. }
        ));
    }

    #[test]
    fn bad_patterns_are_rejected() {
        assert!(matches!(
            ConnoteRules::new(vec![RetailerPattern {
                name: "x".into(),
                regex: "(".into(),
                check: None
            }]),
            Err(PatternError::BadRegex { .. })
        ));
        assert!(matches!(
            ConnoteRules::new(vec![RetailerPattern {
                name: "x".into(),
                regex: "[0-9]+".into(),
                check: Some(CheckScheme::Luhn)
            }]),
            Err(PatternError::MissingGroups { .. })
        ));
    }

    proptest! {
        // Any UPS serial with its computed check digit is valid; any other digit is a misread.
        #[test]
        fn ups_roundtrip(serial in "[A-Z0-9]{15}", wrong in 1u8..10) {
            let rules = ConnoteRules::default();
            let c = crate::checkdigit::mod10(&serial, 1, 2).unwrap();
            let good = format!("1Z{serial}{c}");
            let is_ups = matches!(rules.classify(&good), Classification::Carrier { carrier: Carrier::Ups, .. });
            prop_assert!(is_ups);
            let bad = format!("1Z{serial}{}", (c + wrong) % 10);
            prop_assert!(rules.classify(&bad).is_misread());
        }

        #[test]
        fn s10_roundtrip(serial in "[0-9]{8}", svc in "[A-Z]{2}", cc in "(AU|NZ|GB|US)") {
            let rules = ConnoteRules::default();
            let c = crate::checkdigit::s10(&serial).unwrap();
            let good = format!("{svc}{serial}{c}{cc}");
            let is_s10 = matches!(rules.classify(&good), Classification::Carrier { carrier: Carrier::UpuS10, .. });
            prop_assert!(is_s10);
        }

        #[test]
        fn sscc_roundtrip(data in "[0-9]{17}", wrong in 1u8..10) {
            let full = crate::checkdigit::sscc_with_check(&data).unwrap();
            prop_assert_eq!(classify_sscc(&full), Classification::Sscc { sscc: full.clone() });
            let c = full.as_bytes()[17] - b'0';
            let bad = format!("{data}{}", (c + wrong) % 10);
            prop_assert!(classify_sscc(&bad).is_misread());
        }

        #[test]
        fn classify_never_panics(s in "\\PC{0,70}") {
            let _ = ConnoteRules::default().classify(&s);
        }
    }
}
