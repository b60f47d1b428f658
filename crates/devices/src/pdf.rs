//! Renders filled [`Label`]s to PDF with `printpdf`: one label per page at its own size (4×6
//! in), or several labels per A4 sheet. Barcodes are drawn as filled vector rectangles at the
//! label's dot grid (no raster images, no image codecs), text in the builtin Helvetica.

use crate::code128;
use crate::label::{Element, Label, DPI};
use printpdf::{
    BuiltinFont, Color, Greyscale, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, TextItem,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How labels are laid out on paper.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sheet {
    /// Each label on its own page of the label's size (a 4×6 label printer driven by CUPS).
    PerLabel,
    /// A4 portrait with `columns` × `rows` labels, scaled down to fit if needed.
    A4 { columns: u32, rows: u32 },
}

const A4_W_PT: f32 = 595.28;
const A4_H_PT: f32 = 841.89;
const A4_MARGIN_PT: f32 = 14.0;

fn dots_to_pt(d: u32) -> f32 {
    d as f32 * 72.0 / DPI as f32
}

/// Maps label dots (top-left origin) to page points (bottom-left origin).
#[derive(Clone, Copy)]
struct Xf {
    ox: f32,
    oy_top: f32,
    s: f32,
}

impl Xf {
    fn rect(&self, x: u32, y: u32, w: u32, h: u32) -> Op {
        let px = self.ox + dots_to_pt(x) * self.s;
        let top = self.oy_top - dots_to_pt(y) * self.s;
        let ph = dots_to_pt(h) * self.s;
        Op::DrawRectangle {
            rectangle: Rect {
                x: Pt(px),
                y: Pt(top - ph),
                width: Pt(dots_to_pt(w) * self.s),
                height: Pt(ph),
                mode: Some(PaintMode::Fill),
                winding_order: None,
            },
        }
    }
}

/// Builtin PDF fonts speak WinAnsi: keep Latin-1, spell common others in it (macron vowels
/// as in "Kōwhai", dashes, arrows, ellipses, quotes), replace the rest with '?'.
fn pdf_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'ā' => out.push('a'),
            'ē' => out.push('e'),
            'ī' => out.push('i'),
            'ō' => out.push('o'),
            'ū' => out.push('u'),
            'Ā' => out.push('A'),
            'Ē' => out.push('E'),
            'Ī' => out.push('I'),
            'Ō' => out.push('O'),
            'Ū' => out.push('U'),
            '–' | '—' | '−' => out.push('-'),
            '→' => out.push_str("->"),
            '←' => out.push_str("<-"),
            '…' => out.push_str("..."),
            '‘' | '’' => out.push('\''),
            '“' | '”' => out.push('"'),
            c if (c as u32) < 0x20 || (c as u32) > 0xFF => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn draw_label(ops: &mut Vec<Op>, label: &Label, xf: Xf) {
    for e in &label.elements {
        match e {
            Element::Text { x, y, height, text } => {
                let size = dots_to_pt(*height) * xf.s;
                // ZPL places the cell's top at y; Helvetica's baseline sits ~0.8 em below it.
                let base_y = xf.oy_top - (dots_to_pt(*y) * xf.s) - size * 0.8;
                ops.push(Op::StartTextSection);
                ops.push(Op::SetFont {
                    font: PdfFontHandle::Builtin(BuiltinFont::Helvetica),
                    size: Pt(size),
                });
                ops.push(Op::SetTextCursor {
                    pos: Point {
                        x: Pt(xf.ox + dots_to_pt(*x) * xf.s),
                        y: Pt(base_y),
                    },
                });
                ops.push(Op::ShowText {
                    items: vec![TextItem::Text(pdf_text(text))],
                });
                ops.push(Op::EndTextSection);
            }
            Element::Code128 {
                x,
                y,
                height,
                module,
                data,
                gs1,
            } => {
                let Ok(m) = code128::plan(data, *gs1).and_then(|p| code128::modules(&p)) else {
                    continue;
                };
                // One rectangle per run of bars: fewer operators, same symbol.
                let mut i = 0;
                while i < m.len() {
                    if m[i] == 1 {
                        let start = i;
                        while i < m.len() && m[i] == 1 {
                            i += 1;
                        }
                        let bx = x + start as u32 * module;
                        ops.push(xf.rect(bx, *y, (i - start) as u32 * module, *height));
                    } else {
                        i += 1;
                    }
                }
            }
            Element::Qr { x, y, module, data } => {
                let Ok(code) = qrcode::QrCode::with_error_correction_level(
                    data.as_bytes(),
                    qrcode::EcLevel::M,
                ) else {
                    continue;
                };
                let w = code.width();
                let colors = code.to_colors();
                for row in 0..w {
                    let mut col = 0;
                    while col < w {
                        if colors[row * w + col] == qrcode::Color::Dark {
                            let start = col;
                            while col < w && colors[row * w + col] == qrcode::Color::Dark {
                                col += 1;
                            }
                            ops.push(xf.rect(
                                x + start as u32 * module,
                                y + row as u32 * module,
                                (col - start) as u32 * module,
                                *module,
                            ));
                        } else {
                            col += 1;
                        }
                    }
                }
            }
            Element::Box {
                x,
                y,
                width,
                height,
                thickness,
            } => {
                let t = (*thickness).min(*width).min(*height).max(1);
                ops.push(xf.rect(*x, *y, *width, t));
                ops.push(xf.rect(*x, y + height - t, *width, t));
                ops.push(xf.rect(*x, *y, t, *height));
                ops.push(xf.rect(x + width - t, *y, t, *height));
            }
        }
    }
}

fn black() -> Op {
    Op::SetFillColor {
        col: Color::Greyscale(Greyscale::new(0.0, None)),
    }
}

/// Renders labels to one PDF document laid out per `sheet`.
pub fn labels_to_pdf(labels: &[Label], sheet: Sheet) -> Vec<u8> {
    let mut doc = PdfDocument::new("Returnhub labels");
    let mut pages = Vec::new();
    match sheet {
        Sheet::PerLabel => {
            for l in labels {
                let w = dots_to_pt(l.width_dots);
                let h = dots_to_pt(l.height_dots);
                let mut ops = vec![black()];
                draw_label(
                    &mut ops,
                    l,
                    Xf {
                        ox: 0.0,
                        oy_top: h,
                        s: 1.0,
                    },
                );
                pages.push(PdfPage::new(Pt(w).into(), Pt(h).into(), ops));
            }
        }
        Sheet::A4 { columns, rows } => {
            let (columns, rows) = (columns.max(1), rows.max(1));
            let per_page = (columns * rows) as usize;
            for chunk in labels.chunks(per_page) {
                let mut ops = vec![black()];
                for (k, l) in chunk.iter().enumerate() {
                    let (lw, lh) = (dots_to_pt(l.width_dots), dots_to_pt(l.height_dots));
                    let cell_w = (A4_W_PT - 2.0 * A4_MARGIN_PT) / columns as f32;
                    let cell_h = (A4_H_PT - 2.0 * A4_MARGIN_PT) / rows as f32;
                    let s = (cell_w / lw).min(cell_h / lh).min(1.0);
                    let (c, r) = (k as u32 % columns, k as u32 / columns);
                    draw_label(
                        &mut ops,
                        l,
                        Xf {
                            ox: A4_MARGIN_PT + c as f32 * cell_w,
                            oy_top: A4_H_PT - A4_MARGIN_PT - r as f32 * cell_h,
                            s,
                        },
                    );
                }
                pages.push(PdfPage::new(Mm(210.0), Mm(297.0), ops));
            }
        }
    }
    let mut warnings = Vec::new();
    doc.with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut warnings)
}

#[cfg(test)]
mod text_tests {
    #[test]
    fn text_the_builtin_fonts_lack_is_spelled_in_latin_1() {
        assert_eq!(
            super::pdf_text("Kōwhai: Received → processed, 1–8 h… café"),
            "Kowhai: Received -> processed, 1-8 h... café"
        );
        assert_eq!(super::pdf_text("日本\u{7}"), "???");
    }
}

impl Label {
    /// This label alone, as a PDF page of its own size.
    pub fn to_pdf(&self) -> Vec<u8> {
        labels_to_pdf(std::slice::from_ref(self), Sheet::PerLabel)
    }
}

#[cfg(test)]
mod tests {
    use crate::label::templates::*;

    #[test]
    fn pdf_is_a_complete_document() {
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
        let one = l.to_pdf();
        assert!(one.starts_with(b"%PDF-"));
        assert!(one.windows(5).any(|w| w == b"%%EOF"));
        // Page counts and the barcodes themselves are checked by tests/labels_decode.rs
        // (pdfinfo, pdftoppm, zbarimg).
    }
}

/// A titled block of lines in a printed report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSection {
    pub title: String,
    /// Lines of fixed-width text (tables arrive already aligned).
    pub lines: Vec<String>,
}

/// A text report on A4 portrait pages: `title` on top, each section's title in bold and its
/// lines in Courier (so aligned tables stay aligned), continued on new pages as needed.
pub fn report_to_pdf(title: &str, sections: &[ReportSection]) -> Vec<u8> {
    const MARGIN: f32 = 40.0;
    const BODY: f32 = 8.5;
    const HEADING: f32 = 12.0;
    let text = |ops: &mut Vec<Op>, font: BuiltinFont, size: f32, y: f32, s: &str| {
        ops.push(Op::StartTextSection);
        ops.push(Op::SetFont {
            font: PdfFontHandle::Builtin(font),
            size: Pt(size),
        });
        ops.push(Op::SetTextCursor {
            pos: Point {
                x: Pt(MARGIN),
                y: Pt(y),
            },
        });
        ops.push(Op::ShowText {
            items: vec![TextItem::Text(pdf_text(s))],
        });
        ops.push(Op::EndTextSection);
    };
    let mut pages = Vec::new();
    let mut ops = vec![black()];
    let mut y = A4_H_PT - MARGIN - 16.0;
    text(&mut ops, BuiltinFont::HelveticaBold, 16.0, y, title);
    y -= 16.0;
    for section in sections {
        // A heading never sits alone at the foot of a page.
        if y - HEADING * 3.0 < MARGIN {
            pages.push(PdfPage::new(Mm(210.0), Mm(297.0), std::mem::take(&mut ops)));
            ops.push(black());
            y = A4_H_PT - MARGIN;
        }
        y -= HEADING * 1.6;
        text(
            &mut ops,
            BuiltinFont::HelveticaBold,
            HEADING,
            y,
            &section.title,
        );
        y -= HEADING * 0.6;
        for line in &section.lines {
            if y - BODY * 1.3 < MARGIN {
                pages.push(PdfPage::new(Mm(210.0), Mm(297.0), std::mem::take(&mut ops)));
                ops.push(black());
                y = A4_H_PT - MARGIN;
            }
            y -= BODY * 1.3;
            text(&mut ops, BuiltinFont::Courier, BODY, y, line);
        }
    }
    pages.push(PdfPage::new(Mm(210.0), Mm(297.0), ops));
    let mut warnings = Vec::new();
    PdfDocument::new(title)
        .with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut warnings)
}
