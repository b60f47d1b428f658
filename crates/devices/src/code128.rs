//! Code 128 code-set planning, done once so that ZPL and PDF print the same symbol: the plan is
//! written as ZPL invocation codes (`>;` start C, `>8` FNC1…) for `^BC` and as `barcoders`'
//! set-switch characters (Ć, Ɓ, Ź) to draw the bars in the PDF.

use serde::Serialize;

/// One symbol character of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sym {
    StartB,
    StartC,
    CodeB,
    CodeC,
    Fnc1,
    /// An ASCII character in set B.
    B(u8),
    /// A digit pair 00–99 in set C.
    C(u8),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum BarcodeError {
    #[error("barcode data is empty")]
    Empty,
    /// Control characters (set A) and the ZPL command characters `^ ~ >` are not accepted in
    /// barcode data; connotes and SSCCs never contain them.
    #[error("character {0:?} is not supported in Code 128 data here")]
    Unsupported(char),
    #[error("qr: {0}")]
    Qr(String),
}

fn digit_run(d: &[u8], i: usize) -> usize {
    d[i..].iter().take_while(|b| b.is_ascii_digit()).count()
}

/// Plans `data` (ASCII; GS, 0x1D, means FNC1 as a GS1 separator). With `gs1`, FNC1 leads.
pub fn plan(data: &str, gs1: bool) -> Result<Vec<Sym>, BarcodeError> {
    let d = data.as_bytes();
    if d.is_empty() {
        return Err(BarcodeError::Empty);
    }
    if let Some(&b) = d
        .iter()
        .find(|&&b| !(b == 0x1D || (0x20..0x7F).contains(&b)) || matches!(b, b'^' | b'~' | b'>'))
    {
        return Err(BarcodeError::Unsupported(b as char));
    }
    let mut out = Vec::with_capacity(d.len() + 4);
    let first_run = digit_run(d, 0);
    let mut in_c =
        first_run >= 4 || (first_run >= 2 && first_run == d.len() && first_run.is_multiple_of(2));
    out.push(if in_c { Sym::StartC } else { Sym::StartB });
    if gs1 {
        out.push(Sym::Fnc1);
    }
    let mut i = 0;
    while i < d.len() {
        if d[i] == 0x1D {
            out.push(Sym::Fnc1);
            i += 1;
            continue;
        }
        let run = digit_run(d, i);
        if in_c {
            if run >= 2 {
                out.push(Sym::C((d[i] - b'0') * 10 + (d[i + 1] - b'0')));
                i += 2;
                continue;
            }
            out.push(Sym::CodeB);
            in_c = false;
        }
        // In B: go to C for a long enough digit run (6, or 4 at the end of the data); an odd
        // run spends its first digit in B so that C gets pairs.
        let at_end = i + run == d.len() || d.get(i + run) == Some(&0x1D);
        if run >= 6 || (run >= 4 && at_end) {
            if run % 2 == 1 {
                out.push(Sym::B(d[i]));
                i += 1;
            }
            out.push(Sym::CodeC);
            in_c = true;
            continue;
        }
        out.push(Sym::B(d[i]));
        i += 1;
    }
    Ok(out)
}

/// The plan as `^BC` field data (mode N, invocation codes).
pub fn to_zpl_field(plan: &[Sym]) -> String {
    let mut s = String::with_capacity(plan.len() * 2);
    for sym in plan {
        match *sym {
            Sym::StartB => s.push_str(">:"),
            Sym::StartC => s.push_str(">;"),
            Sym::CodeB => s.push_str(">6"),
            Sym::CodeC => s.push_str(">5"),
            Sym::Fnc1 => s.push_str(">8"),
            Sym::B(c) => s.push(c as char),
            Sym::C(v) => {
                s.push((b'0' + v / 10) as char);
                s.push((b'0' + v % 10) as char);
            }
        }
    }
    s
}

/// The plan as `barcoders` input.
fn to_barcoders(plan: &[Sym]) -> String {
    let mut s = String::with_capacity(plan.len() * 2);
    for sym in plan {
        match *sym {
            Sym::StartB | Sym::CodeB => s.push('Ɓ'),
            Sym::StartC | Sym::CodeC => s.push('Ć'),
            Sym::Fnc1 => s.push('Ź'),
            Sym::B(c) => s.push(c as char),
            Sym::C(v) => {
                s.push((b'0' + v / 10) as char);
                s.push((b'0' + v % 10) as char);
            }
        }
    }
    s
}

/// The bar/space modules (1 = bar) of the planned symbol, check character and stop included,
/// quiet zones not included.
pub fn modules(plan: &[Sym]) -> Result<Vec<u8>, BarcodeError> {
    let code = barcoders::sym::code128::Code128::new(to_barcoders(plan))
        .map_err(|e| BarcodeError::Unsupported(e.to_string().chars().next().unwrap_or('?')))?;
    Ok(code.encode())
}

/// Decodes `^BC` mode-N field data back to (FNC1-leading?, data with GS for inner FNC1s).
/// Used to check the ZPL structurally, and by tests.
pub fn decode_zpl_field(fd: &str) -> Option<(bool, String)> {
    let b = fd.as_bytes();
    let mut i = 0;
    let mut out = String::new();
    let mut in_c = false;
    let mut lead_fnc1 = false;
    let mut first = true;
    while i < b.len() {
        if b[i] == b'>' {
            let code = *b.get(i + 1)?;
            i += 2;
            match code {
                b':' => in_c = false,
                b';' => in_c = true,
                b'6' => in_c = false,
                b'5' => in_c = true,
                b'8' => {
                    if out.is_empty() && !lead_fnc1 {
                        lead_fnc1 = true;
                    } else {
                        out.push('\u{1d}');
                    }
                }
                _ => return None,
            }
            first = false;
            continue;
        }
        if first {
            // No start code: ZPL starts in B.
            first = false;
        }
        if in_c {
            let pair = b.get(i..i + 2)?;
            if !pair.iter().all(u8::is_ascii_digit) {
                return None;
            }
            out.push_str(std::str::from_utf8(pair).ok()?);
            i += 2;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    Some((lead_fnc1, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sscc_is_all_set_c_after_fnc1() {
        let p = plan("00000123450000000027", true).unwrap();
        assert_eq!(p[0], Sym::StartC);
        assert_eq!(p[1], Sym::Fnc1);
        assert_eq!(p.len(), 12);
        assert_eq!(to_zpl_field(&p), ">;>800000123450000000027");
    }

    #[test]
    fn mixed_connote_switches_sets() {
        let p = plan("1Z5R89390357567127", false).unwrap();
        assert_eq!(p[0], Sym::StartB);
        assert!(p.contains(&Sym::CodeC));
        assert_eq!(
            decode_zpl_field(&to_zpl_field(&p)),
            Some((false, "1Z5R89390357567127".into()))
        );
    }

    #[test]
    fn rejects_zpl_command_characters() {
        assert_eq!(plan("AB^FS", false), Err(BarcodeError::Unsupported('^')));
        assert_eq!(plan("", false), Err(BarcodeError::Empty));
        assert_eq!(
            plan("A\u{7}", false),
            Err(BarcodeError::Unsupported('\u{7}'))
        );
    }

    #[test]
    fn modules_have_code128_structure() {
        let p = plan("RB123456785GB", false).unwrap();
        let m = modules(&p).unwrap();
        // Every symbol character is 11 modules; the stop pattern 13 (2 of them termination).
        assert_eq!(m.len(), (p.len() + 1) * 11 + 13);
        assert_eq!(&m[m.len() - 13..], &[1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1]);
    }

    proptest! {
        #[test]
        fn zpl_field_round_trips(data in "[A-Z0-9a-z -]{1,30}", gs1 in any::<bool>()) {
            let p = plan(&data, gs1).unwrap();
            prop_assert_eq!(decode_zpl_field(&to_zpl_field(&p)), Some((gs1, data.clone())));
            prop_assert!(modules(&p).is_ok());
        }
    }
}
