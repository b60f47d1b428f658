//! Label templates as data: one definition (elements positioned in dots at 203 dpi, with
//! `{field}` placeholders) that is filled into a [`Label`] and rendered to both ZPL
//! ([`Label::to_zpl`]) and PDF ([`crate::pdf`]). The built-in templates are the hub item
//! label, the consolidation carton label (SSCC as GS1-128) and the reprint marking.

use crate::code128::{self, BarcodeError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ts_rs::TS;

/// Printer resolution the positions are given in.
pub const DPI: u32 = 203;

/// One drawable element. Coordinates: dots from the top-left corner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Element {
    /// Scalable font text; `height` is the character cell height in dots.
    Text {
        x: u32,
        y: u32,
        height: u32,
        text: String,
    },
    /// Code 128; with `gs1` the data is a GS1 element string (FNC1 first; GS between
    /// variable-length fields).
    Code128 {
        x: u32,
        y: u32,
        height: u32,
        /// Narrow bar width in dots.
        module: u32,
        data: String,
        gs1: bool,
    },
    /// QR code, error correction M; `module` is the dot size of one module (ZPL magnification).
    Qr {
        x: u32,
        y: u32,
        module: u32,
        data: String,
    },
    /// A box outline (`thickness` = its lines' width); a line is a box whose height or width
    /// equals its thickness.
    Box {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        thickness: u32,
    },
}

/// A template: elements whose text/data may hold `{field}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LabelTemplate {
    pub name: String,
    pub width_dots: u32,
    pub height_dots: u32,
    pub elements: Vec<Element>,
}

/// A filled label: what is printed, and what the store keeps to reprint it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Label {
    pub template: String,
    pub width_dots: u32,
    pub height_dots: u32,
    pub elements: Vec<Element>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum LabelError {
    #[error("template {template:?} needs field {field:?}")]
    MissingField { template: String, field: String },
    #[error("unterminated placeholder in {0:?}")]
    BadPlaceholder(String),
    #[error("barcode: {0}")]
    Barcode(#[from] BarcodeError),
}

fn fill_str(
    template: &str,
    s: &str,
    fields: &BTreeMap<String, String>,
) -> Result<String, LabelError> {
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| LabelError::BadPlaceholder(s.to_string()))?;
        let key = &after[..end];
        let v = fields.get(key).ok_or_else(|| LabelError::MissingField {
            template: template.to_string(),
            field: key.to_string(),
        })?;
        out.push_str(v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl LabelTemplate {
    /// Fills the placeholders and checks that every barcode is encodable, so that a label
    /// that cannot print is refused here rather than at the printer.
    pub fn fill(&self, fields: &BTreeMap<String, String>) -> Result<Label, LabelError> {
        let t = &self.name;
        let elements = self
            .elements
            .iter()
            .map(|e| {
                Ok(match e {
                    Element::Text { x, y, height, text } => Element::Text {
                        x: *x,
                        y: *y,
                        height: *height,
                        text: fill_str(t, text, fields)?,
                    },
                    Element::Code128 {
                        x,
                        y,
                        height,
                        module,
                        data,
                        gs1,
                    } => {
                        let data = fill_str(t, data, fields)?;
                        code128::plan(&data, *gs1)?;
                        Element::Code128 {
                            x: *x,
                            y: *y,
                            height: *height,
                            module: *module,
                            data,
                            gs1: *gs1,
                        }
                    }
                    Element::Qr { x, y, module, data } => {
                        let data = fill_str(t, data, fields)?;
                        if data.is_empty() {
                            return Err(LabelError::Barcode(BarcodeError::Empty));
                        }
                        Element::Qr {
                            x: *x,
                            y: *y,
                            module: *module,
                            data,
                        }
                    }
                    b @ Element::Box { .. } => b.clone(),
                })
            })
            .collect::<Result<Vec<_>, LabelError>>()?;
        Ok(Label {
            template: self.name.clone(),
            width_dots: self.width_dots,
            height_dots: self.height_dots,
            elements,
        })
    }
}

impl Label {
    /// The same label marked as a reprint (a boxed "REPRINT <when>" in the top-right corner),
    /// for a stored label printed again by a supervisor.
    pub fn as_reprint(&self, when: &str) -> Label {
        let mut l = self.clone();
        let x = self.width_dots.saturating_sub(330);
        l.elements.push(Element::Box {
            x,
            y: 10,
            width: 320,
            height: 70,
            thickness: 3,
        });
        l.elements.push(Element::Text {
            x: x + 12,
            y: 18,
            height: 26,
            text: "REPRINT".into(),
        });
        l.elements.push(Element::Text {
            x: x + 12,
            y: 46,
            height: 24,
            text: when.to_string(),
        });
        l
    }

    /// The (gs1, data) of every Code 128 element, and the data of every QR, in order: what a
    /// decoder must read back from the printed label.
    pub fn expected_codes(&self) -> (Vec<(bool, String)>, Vec<String>) {
        let mut c = Vec::new();
        let mut q = Vec::new();
        for e in &self.elements {
            match e {
                Element::Code128 { data, gs1, .. } => c.push((*gs1, data.clone())),
                Element::Qr { data, .. } => q.push(data.clone()),
                _ => {}
            }
        }
        (c, q)
    }
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The built-in templates (4×6 in at 203 dpi: 812 × 1218 dots).
pub mod templates {
    use super::*;

    /// The hub item label. Fields: `return_id`, `connote`, `retailer`, `sku`, `disposition`,
    /// `bin`, `grade`, `processed_at`, `qr` (the QR payload, e.g. a return/item URL or id).
    pub fn hub_item() -> LabelTemplate {
        LabelTemplate {
            name: "hub_item".into(),
            width_dots: 812,
            height_dots: 1218,
            elements: vec![
                Element::Text {
                    x: 40,
                    y: 40,
                    height: 50,
                    text: "{retailer}".into(),
                },
                Element::Text {
                    x: 40,
                    y: 110,
                    height: 32,
                    text: "Return {return_id}".into(),
                },
                Element::Box {
                    x: 30,
                    y: 160,
                    width: 752,
                    height: 4,
                    thickness: 4,
                },
                Element::Text {
                    x: 40,
                    y: 190,
                    height: 30,
                    text: "Connote".into(),
                },
                Element::Code128 {
                    x: 60,
                    y: 230,
                    height: 160,
                    module: 3,
                    data: "{connote}".into(),
                    gs1: false,
                },
                Element::Text {
                    x: 60,
                    y: 400,
                    height: 34,
                    text: "{connote}".into(),
                },
                Element::Box {
                    x: 30,
                    y: 460,
                    width: 752,
                    height: 4,
                    thickness: 4,
                },
                Element::Text {
                    x: 40,
                    y: 490,
                    height: 30,
                    text: "SKU {sku}".into(),
                },
                Element::Text {
                    x: 40,
                    y: 540,
                    height: 30,
                    text: "Grade {grade}".into(),
                },
                Element::Text {
                    x: 40,
                    y: 600,
                    height: 28,
                    text: "Disposition".into(),
                },
                Element::Text {
                    x: 40,
                    y: 640,
                    height: 60,
                    text: "{disposition}".into(),
                },
                Element::Box {
                    x: 30,
                    y: 730,
                    width: 400,
                    height: 200,
                    thickness: 6,
                },
                Element::Text {
                    x: 50,
                    y: 750,
                    height: 30,
                    text: "BIN".into(),
                },
                Element::Text {
                    x: 50,
                    y: 800,
                    height: 100,
                    text: "{bin}".into(),
                },
                Element::Qr {
                    x: 480,
                    y: 730,
                    module: 8,
                    data: "{qr}".into(),
                },
                Element::Text {
                    x: 40,
                    y: 1150,
                    height: 24,
                    text: "Processed {processed_at}".into(),
                },
            ],
        }
    }

    /// The consolidation / outer-carton label. Fields: `sscc` (18 digits, check digit
    /// included), `sscc_hr` (human-readable form, e.g. "(00) 0 0012345 000000002 7"), `hub`,
    /// `destination`, `disposition`, `items`, `packed_at`.
    pub fn carton_sscc() -> LabelTemplate {
        LabelTemplate {
            name: "carton_sscc".into(),
            width_dots: 812,
            height_dots: 1218,
            elements: vec![
                Element::Text {
                    x: 40,
                    y: 40,
                    height: 30,
                    text: "FROM".into(),
                },
                Element::Text {
                    x: 40,
                    y: 80,
                    height: 40,
                    text: "{hub}".into(),
                },
                Element::Text {
                    x: 40,
                    y: 160,
                    height: 30,
                    text: "TO".into(),
                },
                Element::Text {
                    x: 40,
                    y: 200,
                    height: 50,
                    text: "{destination}".into(),
                },
                Element::Box {
                    x: 30,
                    y: 280,
                    width: 752,
                    height: 4,
                    thickness: 4,
                },
                Element::Text {
                    x: 40,
                    y: 310,
                    height: 40,
                    text: "{disposition}".into(),
                },
                Element::Text {
                    x: 40,
                    y: 370,
                    height: 32,
                    text: "Items: {items}".into(),
                },
                Element::Text {
                    x: 40,
                    y: 420,
                    height: 28,
                    text: "Packed {packed_at}".into(),
                },
                Element::Box {
                    x: 30,
                    y: 780,
                    width: 752,
                    height: 4,
                    thickness: 4,
                },
                Element::Text {
                    x: 40,
                    y: 800,
                    height: 28,
                    text: "SSCC".into(),
                },
                Element::Text {
                    x: 100,
                    y: 840,
                    height: 40,
                    text: "{sscc_hr}".into(),
                },
                Element::Code128 {
                    x: 110,
                    y: 900,
                    height: 220,
                    module: 3,
                    data: "00{sscc}".into(),
                    gs1: true,
                },
            ],
        }
    }

    /// A person's badge (4×2 in): their name and role, and the badge code as a Code 128 the
    /// bench's scanner reads at sign-in. Fields: `name`, `role`, `badge`, `hub`.
    pub fn badge() -> LabelTemplate {
        LabelTemplate {
            name: "badge".into(),
            width_dots: 812,
            height_dots: 406,
            elements: vec![
                Element::Text {
                    x: 40,
                    y: 30,
                    height: 50,
                    text: "{name}".into(),
                },
                Element::Text {
                    x: 40,
                    y: 95,
                    height: 28,
                    text: "{role} · {hub}".into(),
                },
                Element::Code128 {
                    x: 60,
                    y: 150,
                    height: 150,
                    module: 3,
                    data: "{badge}".into(),
                    gs1: false,
                },
                Element::Text {
                    x: 60,
                    y: 320,
                    height: 34,
                    text: "{badge}".into(),
                },
            ],
        }
    }

    /// Fields for [`badge`].
    pub fn badge_fields(
        name: &str,
        role: &str,
        badge: &str,
        hub: &str,
    ) -> BTreeMap<String, String> {
        fields(&[
            ("name", name),
            ("role", role),
            ("badge", badge),
            ("hub", hub),
        ])
    }

    /// Fields for [`hub_item`]; a convenience over building the map by hand.
    #[allow(clippy::too_many_arguments)]
    pub fn hub_item_fields(
        return_id: &str,
        connote: &str,
        retailer: &str,
        sku: &str,
        grade: &str,
        disposition: &str,
        bin: &str,
        processed_at: &str,
        qr: &str,
    ) -> BTreeMap<String, String> {
        fields(&[
            ("return_id", return_id),
            ("connote", connote),
            ("retailer", retailer),
            ("sku", sku),
            ("grade", grade),
            ("disposition", disposition),
            ("bin", bin),
            ("processed_at", processed_at),
            ("qr", qr),
        ])
    }

    /// Fields for [`carton_sscc`]; `sscc` must be 18 digits (see
    /// [`crate::checkdigit::sscc_with_check`]); the human-readable form is derived.
    pub fn carton_fields(
        sscc: &str,
        hub: &str,
        destination: &str,
        disposition: &str,
        items: u32,
        packed_at: &str,
    ) -> BTreeMap<String, String> {
        let hr = if sscc.len() == 18 {
            format!(
                "(00) {} {} {} {}",
                &sscc[..1],
                &sscc[1..8],
                &sscc[8..17],
                &sscc[17..]
            )
        } else {
            format!("(00) {sscc}")
        };
        let items = items.to_string();
        fields(&[
            ("sscc", sscc),
            ("sscc_hr", &hr),
            ("hub", hub),
            ("destination", destination),
            ("disposition", disposition),
            ("items", &items),
            ("packed_at", packed_at),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::templates::*;
    use super::*;

    #[test]
    fn fill_replaces_placeholders_and_reports_missing_ones() {
        let t = hub_item();
        let l = t
            .fill(&hub_item_fields(
                "R-1",
                "1Z5R89390357567127",
                "Acme",
                "SKU1",
                "A",
                "Back to stock",
                "B-07",
                "2026-11-23 10:00",
                "rh:R-1",
            ))
            .unwrap();
        assert!(l
            .elements
            .iter()
            .any(|e| matches!(e, Element::Code128 { data, .. } if data == "1Z5R89390357567127")));
        let mut f = hub_item_fields("R-1", "X1", "A", "S", "A", "D", "B", "T", "Q");
        f.remove("bin");
        assert_eq!(
            t.fill(&f),
            Err(LabelError::MissingField {
                template: "hub_item".into(),
                field: "bin".into()
            })
        );
    }

    #[test]
    fn unprintable_barcode_data_is_refused_at_fill_time() {
        let f = hub_item_fields("R-1", "AB^XZ", "A", "S", "A", "D", "B", "T", "Q");
        assert!(matches!(
            hub_item().fill(&f),
            Err(LabelError::Barcode(BarcodeError::Unsupported('^')))
        ));
    }

    #[test]
    fn carton_human_readable_sscc() {
        let f = carton_fields(
            "000123450000000027",
            "Hub 1",
            "Acme DC",
            "Return to vendor",
            12,
            "now",
        );
        assert_eq!(f["sscc_hr"], "(00) 0 0012345 000000002 7");
        let l = carton_sscc().fill(&f).unwrap();
        assert_eq!(
            l.expected_codes().0,
            vec![(true, "00000123450000000027".to_string())]
        );
    }

    #[test]
    fn templates_round_trip_as_json() {
        let t = hub_item();
        let json = serde_json::to_string(&t).unwrap();
        let back: LabelTemplate = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }
}
