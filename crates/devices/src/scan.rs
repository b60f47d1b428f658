//! One scan, whatever scanner it came from: the raw bytes kept for audit, and the normalised
//! text the hub looks up. Normalisation is pure: strip garbage and the configured/AIM prefix,
//! the suffix (CR/LF/Tab) and whitespace, read GS1 element strings (FNC1 sent as GS, 0x1D),
//! upper-case.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use ts_rs::TS;

/// ASCII GS: how scanners transmit FNC1 between variable-length GS1 fields.
pub const GS: u8 = 0x1D;

/// The symbology of a scan, from its AIM identifier (or the HID POS report's AIM bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    Code128,
    /// Code 128 with FNC1 in the first position (`]C1`): a GS1 element string.
    Gs1_128,
    Ean13,
    Ean8,
    Code39,
    Interleaved2of5,
    Codabar,
    Pdf417,
    DataMatrix,
    Gs1DataMatrix,
    QrCode,
    Gs1QrCode,
    Gs1DataBar,
    /// No AIM identifier was sent (scanner not configured to send it) or it was not recognised.
    Unknown,
}

impl Symbology {
    /// True for the symbologies whose data is a GS1 element string.
    pub fn is_gs1(self) -> bool {
        matches!(
            self,
            Symbology::Gs1_128
                | Symbology::Gs1DataMatrix
                | Symbology::Gs1QrCode
                | Symbology::Gs1DataBar
        )
    }

    /// Maps an AIM identifier's code letter and modifier (`]C1` → 'C', '1').
    pub fn from_aim(code: char, modifier: char) -> Symbology {
        match (code, modifier) {
            ('C', '1') => Symbology::Gs1_128,
            ('C', _) => Symbology::Code128,
            ('E', '4') => Symbology::Ean8,
            ('E', _) => Symbology::Ean13,
            ('A', _) => Symbology::Code39,
            ('I', _) => Symbology::Interleaved2of5,
            ('F', _) => Symbology::Codabar,
            ('L', _) => Symbology::Pdf417,
            ('d', '2') => Symbology::Gs1DataMatrix,
            ('d', _) => Symbology::DataMatrix,
            ('Q', '3') => Symbology::Gs1QrCode,
            ('Q', _) => Symbology::QrCode,
            ('e', _) => Symbology::Gs1DataBar,
            _ => Symbology::Unknown,
        }
    }
}

/// Where a scan came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanSource {
    KeyboardWedge,
    Serial { port: String },
    HidPos { vendor_id: u16, product_id: u16 },
}

/// One GS1 element: application identifier and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Gs1Element {
    pub ai: String,
    pub value: String,
}

/// A normalised scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Scan {
    /// Exactly the bytes the scanner sent for this code (framing suffix included), for audit.
    pub raw: Vec<u8>,
    /// What the hub looks up: the connote / SSCC, upper-case, no whitespace or control bytes.
    pub text: String,
    pub symbology: Symbology,
    /// The AIM identifier as sent (`"]C1"`), if any.
    pub aim: Option<String>,
    /// The GS1 element string, parsed, when the code was one.
    pub gs1: Vec<Gs1Element>,
    pub source: ScanSource,
    /// Wall-clock receipt time in ms since the Unix epoch (set by the reader).
    #[ts(type = "number")]
    pub received_unix_ms: u64,
}

/// What normalisation extracts from one framed code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    pub text: String,
    pub symbology: Symbology,
    pub aim: Option<String>,
    pub gs1: Vec<Gs1Element>,
}

/// Options a station's configuration gives normalisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NormaliseOptions {
    /// A configured prefix the scanner sends before each code (besides an AIM id), stripped.
    pub prefix: Vec<u8>,
}

impl Scan {
    /// Normalises `raw` and stamps it with the current time.
    pub fn from_raw(raw: Vec<u8>, source: ScanSource, opts: &NormaliseOptions) -> Scan {
        let n = normalise(&raw, opts);
        Scan {
            raw,
            text: n.text,
            symbology: n.symbology,
            aim: n.aim,
            gs1: n.gs1,
            source,
            received_unix_ms: now_ms(),
        }
    }
}

/// The keyboard-wedge path: the webview collects the keystrokes (prefix/suffix included) and
/// hands the string here.
pub fn normalise_wedge(input: &str) -> Scan {
    Scan::from_raw(
        input.as_bytes().to_vec(),
        ScanSource::KeyboardWedge,
        &NormaliseOptions::default(),
    )
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn is_noise(b: u8) -> bool {
    // Everything that cannot start a code: control bytes (GS is FNC1 and may legitimately lead
    // a GS1 string on some scanners), space, DEL and non-ASCII line noise.
    (b < 0x20 && b != GS) || b == b' ' || b >= 0x7F
}

/// Normalises one framed code (see the module doc).
pub fn normalise(raw: &[u8], opts: &NormaliseOptions) -> Normalised {
    let mut s = raw;
    // Leading line noise (e.g. 0x00/0xFF when a port opens) and suffix leftovers (the LF of a
    // CRLF framed on CR).
    while let Some((&b, rest)) = s.split_first() {
        if is_noise(b) {
            s = rest;
        } else {
            break;
        }
    }
    if !opts.prefix.is_empty() && s.starts_with(&opts.prefix) {
        s = &s[opts.prefix.len()..];
    }
    while let Some((&b, rest)) = s.split_last() {
        if is_noise(b) {
            s = rest;
        } else {
            break;
        }
    }
    let mut symbology = Symbology::Unknown;
    let mut aim = None;
    if s.len() >= 3 && s[0] == b']' && s[1].is_ascii_alphabetic() && s[2].is_ascii_alphanumeric() {
        symbology = Symbology::from_aim(s[1] as char, s[2] as char);
        aim = Some(String::from_utf8_lossy(&s[..3]).into_owned());
        s = &s[3..];
    }
    // Some scanners send FNC1 as a leading GS instead of an AIM id.
    let leading_gs = s.first() == Some(&GS);
    if leading_gs && symbology == Symbology::Unknown {
        symbology = Symbology::Gs1_128;
    }
    let mut gs1 = Vec::new();
    let mut text = None;
    if symbology.is_gs1() || leading_gs {
        if let Some(elements) = parse_gs1(s) {
            text = Some(gs1_lookup_key(&elements));
            gs1 = elements;
        }
    }
    let text = text.unwrap_or_else(|| clean(s));
    Normalised {
        text,
        symbology,
        aim,
        gs1,
    }
}

/// Keeps printable ASCII minus whitespace, upper-cased.
fn clean(s: &[u8]) -> String {
    s.iter()
        .filter(|b| b.is_ascii_graphic())
        .map(|b| b.to_ascii_uppercase() as char)
        .collect()
}

/// The key the hub looks a GS1 code up by: the SSCC for AI 00; the tracking number after a
/// ship-to postal code (AI 420/421, as on USPS IMpb: the rest of the code, AIs 92–95 are part
/// of the tracking number); otherwise the element string without separators.
fn gs1_lookup_key(elements: &[Gs1Element]) -> String {
    if let Some(e) = elements.iter().find(|e| e.ai == "00") {
        return e.value.clone();
    }
    if let Some(pos) = elements.iter().position(|e| e.ai == "420" || e.ai == "421") {
        if pos + 1 < elements.len() {
            return elements[pos + 1..]
                .iter()
                .map(|e| format!("{}{}", e.ai, e.value))
                .collect::<String>()
                .to_ascii_uppercase();
        }
    }
    elements
        .iter()
        .map(|e| format!("{}{}", e.ai, e.value))
        .collect::<String>()
        .to_ascii_uppercase()
}

/// (AI, fixed length of the value or None for variable, max length). A subset of the GS1
/// General Specifications: what appears on parcels and cartons.
const AIS: &[(&str, Option<usize>, usize)] = &[
    ("00", Some(18), 18),
    ("01", Some(14), 14),
    ("02", Some(14), 14),
    ("10", None, 20),
    ("11", Some(6), 6),
    ("12", Some(6), 6),
    ("13", Some(6), 6),
    ("15", Some(6), 6),
    ("16", Some(6), 6),
    ("17", Some(6), 6),
    ("20", Some(2), 2),
    ("21", None, 20),
    ("22", None, 20),
    ("30", None, 8),
    ("37", None, 8),
    ("400", None, 30),
    ("401", None, 30),
    ("402", Some(17), 17),
    ("403", None, 30),
    ("410", Some(13), 13),
    ("420", None, 20),
    ("421", None, 12),
    ("90", None, 30),
    ("91", None, 90),
    ("92", None, 90),
    ("93", None, 90),
    ("94", None, 90),
    ("95", None, 90),
    ("96", None, 90),
    ("97", None, 90),
    ("98", None, 90),
    ("99", None, 90),
];

/// Parses a GS1 element string (GS as FNC1 separator). `None` when it does not parse (an
/// unknown AI, a short fixed field), so the caller falls back to the plain text.
pub fn parse_gs1(data: &[u8]) -> Option<Vec<Gs1Element>> {
    let mut s = data;
    let mut out = Vec::new();
    loop {
        while s.first() == Some(&GS) {
            s = &s[1..];
        }
        if s.is_empty() {
            break;
        }
        let &(ai, fixed, max) = AIS
            .iter()
            .filter(|(ai, _, _)| s.starts_with(ai.as_bytes()))
            .max_by_key(|(ai, _, _)| ai.len())?;
        s = &s[ai.len()..];
        let end = match fixed {
            Some(n) => {
                if s.len() < n {
                    return None;
                }
                n
            }
            None => s.iter().position(|&b| b == GS).unwrap_or(s.len()),
        };
        if end == 0 || end > max {
            return None;
        }
        let value = &s[..end];
        if !value.iter().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        out.push(Gs1Element {
            ai: ai.to_string(),
            value: String::from_utf8_lossy(value).into_owned(),
        });
        s = &s[end..];
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(raw: &[u8]) -> Normalised {
        normalise(raw, &NormaliseOptions::default())
    }

    #[test]
    fn strips_aim_suffix_whitespace_and_uppercases() {
        let r = n(b"]C0 1z5r89390357567127\r\n");
        assert_eq!(r.text, "1Z5R89390357567127");
        assert_eq!(r.symbology, Symbology::Code128);
        assert_eq!(r.aim.as_deref(), Some("]C0"));
    }

    #[test]
    fn sscc_from_gs1_128() {
        let r = n(b"]C100000123450000000027\r");
        assert_eq!(r.symbology, Symbology::Gs1_128);
        assert_eq!(r.text, "000123450000000027");
        assert_eq!(
            r.gs1,
            vec![Gs1Element {
                ai: "00".into(),
                value: "000123450000000027".into()
            }]
        );
        // A short fixed field is not a GS1 string: the plain text is kept for lookup.
        let r = n(b"]C1000001234\r");
        assert!(r.gs1.is_empty());
        assert_eq!(r.text, "000001234");
    }

    #[test]
    fn gs1_variable_fields_split_on_gs() {
        let r = n(b"]C10109312345678907\x1d10ABC123\x1d21XYZ\r");
        let ais: Vec<_> = r
            .gs1
            .iter()
            .map(|e| (e.ai.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            ais,
            vec![("01", "09312345678907"), ("10", "ABC123"), ("21", "XYZ")]
        );
        assert_eq!(r.text, "010931234567890710ABC12321XYZ");
    }

    #[test]
    fn impb_with_routing_code_yields_tracking_number() {
        let r = n(b"]C142022153\x1d9101026837331000039521\r");
        assert_eq!(r.text, "9101026837331000039521");
    }

    #[test]
    fn leading_garbage_and_configured_prefix() {
        let opts = NormaliseOptions { prefix: vec![0x02] };
        let r = normalise(b"\x00\xff\x02]E09300000000008\r", &opts);
        assert_eq!(r.text, "9300000000008");
        assert_eq!(r.symbology, Symbology::Ean13);
    }

    #[test]
    fn no_aim_leading_gs_is_gs1() {
        let r = n(b"\x1d00001234500000000027\t");
        assert_eq!(r.symbology, Symbology::Gs1_128);
        assert_eq!(r.text, "001234500000000027");
    }

    #[test]
    fn wedge_keeps_raw() {
        let s = normalise_wedge("]Q1rh:ret-1\n");
        assert_eq!(s.raw, b"]Q1rh:ret-1\n");
        assert_eq!(s.text, "RH:RET-1");
        assert_eq!(s.symbology, Symbology::QrCode);
        assert_eq!(s.source, ScanSource::KeyboardWedge);
    }

    #[test]
    fn typescript_declarations_use_number_for_u64() {
        use ts_rs::TS;
        let cfg = ts_rs::Config::new();
        let d = Scan::decl(&cfg);
        assert!(d.contains("received_unix_ms: number"), "{d}");
        let e = crate::serial::ScannerEvent::decl(&cfg);
        assert!(e.contains("bytes: number"), "{e}");
    }

    proptest! {
        #[test]
        fn normalised_text_is_clean(raw in proptest::collection::vec(any::<u8>(), 0..80)) {
            let r = n(&raw);
            prop_assert!(r.text.bytes().all(|b| b.is_ascii_graphic() && !b.is_ascii_lowercase()));
        }

        #[test]
        fn suffix_and_case_do_not_change_text(code in "[a-zA-Z0-9]{4,30}", suffix in "(\r|\n|\t|\r\n)") {
            let a = n(format!("]C0{code}{suffix}").as_bytes());
            prop_assert_eq!(a.text, code.to_ascii_uppercase());
        }
    }
}
