//! Renders a filled [`Label`] to ZPL II (203 dpi). Text and QR data go through `^FH` hex
//! escapes so that `^`, `~` and `_` in a retailer name cannot break the format; `^CI28` makes
//! the printer read UTF-8.

use crate::code128;
use crate::label::{Element, Label};
use std::fmt::Write;

/// Escapes field data for `^FH_`: the command prefixes and the escape character itself.
fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '^' => out.push_str("_5E"),
            '~' => out.push_str("_7E"),
            '_' => out.push_str("_5F"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "_{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
}

impl Label {
    /// The label as one ZPL format (`^XA … ^XZ`).
    pub fn to_zpl(&self) -> String {
        let mut z = String::with_capacity(1024);
        let _ = writeln!(
            z,
            "^XA^CI28^PW{}^LL{}^LH0,0",
            self.width_dots, self.height_dots
        );
        for e in &self.elements {
            match e {
                Element::Text { x, y, height, text } => {
                    let _ = write!(z, "^FO{x},{y}^A0N,{height},{height}^FH_^FD");
                    escape(&mut z, text);
                    z.push_str("^FS\n");
                }
                Element::Code128 {
                    x,
                    y,
                    height,
                    module,
                    data,
                    gs1,
                } => {
                    // fill() has checked the data; an unplannable code here is skipped
                    // rather than sent as a broken format.
                    if let Ok(plan) = code128::plan(data, *gs1) {
                        let _ = writeln!(
                            z,
                            "^FO{x},{y}^BY{module}^BCN,{height},N,N,N^FD{}^FS",
                            code128::to_zpl_field(&plan)
                        );
                    }
                }
                Element::Qr { x, y, module, data } => {
                    let _ = write!(z, "^FO{x},{y}^BQN,2,{module}^FH_^FDMA,");
                    escape(&mut z, data);
                    z.push_str("^FS\n");
                }
                Element::Box {
                    x,
                    y,
                    width,
                    height,
                    thickness,
                } => {
                    let _ = writeln!(z, "^FO{x},{y}^GB{width},{height},{thickness}^FS");
                }
            }
        }
        z.push_str("^XZ\n");
        z
    }
}

/// A `^BC` / `^BQ` field found in ZPL, for structural checks of what was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZplBarcode {
    /// (FNC1 first = GS1-128, data)
    Code128 {
        gs1: bool,
        data: String,
    },
    Qr {
        data: String,
    },
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_' {
            if let Some(Ok(v)) = b
                .get(i + 1..i + 3)
                .map(|h| u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16))
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads back the barcodes of a ZPL format (as produced by [`Label::to_zpl`]).
pub fn barcodes_in(zpl: &str) -> Vec<ZplBarcode> {
    let mut out = Vec::new();
    let mut kind: Option<&str> = None;
    let mut hex = false;
    for cmd in zpl.split('^').skip(1) {
        if cmd.starts_with("BC") {
            kind = Some("BC");
        } else if cmd.starts_with("BQ") {
            kind = Some("BQ");
        } else if cmd.starts_with("FH") {
            hex = true;
        } else if let Some(fd) = cmd.strip_prefix("FD") {
            let fd = if hex { unescape(fd) } else { fd.to_string() };
            match kind {
                Some("BC") => {
                    if let Some((gs1, data)) = code128::decode_zpl_field(&fd) {
                        out.push(ZplBarcode::Code128 { gs1, data });
                    }
                }
                Some("BQ") => out.push(ZplBarcode::Qr {
                    data: fd.get(3..).unwrap_or("").to_string(),
                }),
                _ => {}
            }
        } else if cmd.starts_with("FS") {
            kind = None;
            hex = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::templates::*;

    #[test]
    fn hub_item_zpl_carries_the_connote_and_qr() {
        let l = hub_item()
            .fill(&hub_item_fields(
                "R-9",
                "1Z5R89390357567127",
                "Acme ^Co_",
                "SKU",
                "B",
                "Resale hold",
                "B-1",
                "t",
                "rh:R-9",
            ))
            .unwrap();
        let z = l.to_zpl();
        assert!(z.starts_with("^XA^CI28^PW812^LL1218"));
        assert!(z.ends_with("^XZ\n"));
        // The retailer's ^ and _ are hex-escaped, never raw.
        assert!(z.contains("^FDAcme _5ECo_5F^FS"));
        assert_eq!(
            barcodes_in(&z),
            vec![
                ZplBarcode::Code128 {
                    gs1: false,
                    data: "1Z5R89390357567127".into()
                },
                ZplBarcode::Qr {
                    data: "rh:R-9".into()
                },
            ]
        );
    }

    #[test]
    fn carton_zpl_is_gs1_128_with_fnc1() {
        let l = carton_sscc()
            .fill(&carton_fields(
                "000123450000000027",
                "Hub",
                "DC",
                "RTV",
                3,
                "t",
            ))
            .unwrap();
        let z = l.to_zpl();
        assert!(z.contains("^BCN,220,N,N,N^FD>;>800000123450000000027^FS"));
        assert_eq!(
            barcodes_in(&z),
            vec![ZplBarcode::Code128 {
                gs1: true,
                data: "00000123450000000027".into()
            }]
        );
    }

    #[test]
    fn reprint_adds_marker() {
        let l = carton_sscc()
            .fill(&carton_fields(
                "000123450000000027",
                "Hub",
                "DC",
                "RTV",
                3,
                "t",
            ))
            .unwrap();
        let z = l.as_reprint("2026-11-23 11:00").to_zpl();
        assert!(z.contains("^FDREPRINT^FS"));
        assert!(z.contains("^FD2026-11-23 11:00^FS"));
    }
}
