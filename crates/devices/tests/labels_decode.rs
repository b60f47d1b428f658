//! Every label kind rendered to PDF, rasterised with `pdftoppm` (poppler-utils) and decoded
//! with `zbarimg` (zbar-tools): the decoded values must equal the connote / SSCC / QR payload
//! with the right symbology, and the SSCC must carry the GS1 (FNC1-first, `]C1`) modifier.
//! The ZPL of the same labels is always checked structurally (its `^BC`/`^BQ` field data
//! decodes to the same values; both renderings come from one Code 128 plan, see `code128.rs`)
//! and, with `--features zpl-render`, rendered offline by the `labelize` crate and decoded by
//! zbarimg like the PDF.
//!
//! These tests need `pdftoppm`, `pdfinfo` and `zbarimg` on PATH and fail (not skip) without
//! them: `apt-get install poppler-utils zbar-tools`.

use returnhub_devices::label::templates::*;
use returnhub_devices::label::Label;
use returnhub_devices::pdf::{labels_to_pdf, Sheet};
use returnhub_devices::zpl::{barcodes_in, ZplBarcode};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rh-decode-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} ({e}): apt-get install poppler-utils zbar-tools")
    });
    assert!(
        out.status.success() || out.status.code() == Some(4),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (symbology, GS1 modifier, data) for every symbol zbarimg finds on the pages of `pdf`.
fn decode_pdf(pdf: &[u8], dir: &Path) -> Vec<(String, bool, String)> {
    let f = dir.join("label.pdf");
    std::fs::write(&f, pdf).unwrap();
    run(Command::new("pdftoppm")
        .args(["-r", "300", "-gray", "-png"])
        .arg(&f)
        .arg(dir.join("page")));
    decode_pngs(dir)
}

/// Decodes every PNG in `dir` with zbarimg.
fn decode_pngs(dir: &Path) -> Vec<(String, bool, String)> {
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "no rendered pages");
    let xml = run(Command::new("zbarimg")
        .args(["--xml", "--nodbus", "-q"])
        .args(&pages));
    // <symbol type='CODE-128' quality='..' orientation='UP' modifiers='GS1'><data><![CDATA[..]]></data></symbol>
    let mut out = Vec::new();
    for sym in xml.split("<symbol ").skip(1) {
        let ty = sym
            .split("type='")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .unwrap_or("")
            .to_string();
        let head = sym.split('>').next().unwrap_or("");
        let gs1 = head.contains("modifiers='GS1'") || head.contains("GS1");
        let data = sym
            .split("<![CDATA[")
            .nth(1)
            .and_then(|s| s.split("]]>").next())
            .unwrap_or("")
            .to_string();
        out.push((ty, gs1, data));
    }
    out.sort();
    out
}

fn pdf_pages(pdf: &[u8], dir: &Path) -> u32 {
    let f = dir.join("count.pdf");
    std::fs::write(&f, pdf).unwrap();
    let info = run(Command::new("pdfinfo").arg(&f));
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:").map(|n| n.trim().parse().unwrap()))
        .expect("pdfinfo Pages")
}

fn item() -> Label {
    hub_item()
        .fill(&hub_item_fields(
            "R-1001",
            "1Z5R89390357567127",
            "Acme Apparel",
            "TSHIRT-M-BLU",
            "A",
            "Back to stock",
            "B-07",
            "2026-11-23 10:00",
            "https://hub.example/r/R-1001/1",
        ))
        .unwrap()
}

fn carton() -> Label {
    carton_sscc()
        .fill(&carton_fields(
            "000123450000000027",
            "Returnhub Sydney",
            "Acme DC",
            "Return to vendor",
            24,
            "2026-11-23",
        ))
        .unwrap()
}

fn s(ty: &str, gs1: bool, data: &str) -> (String, bool, String) {
    (ty.to_string(), gs1, data.to_string())
}

#[test]
fn hub_item_label_pdf_decodes_to_connote_and_qr() {
    let dir = tmpdir("item");
    let got = decode_pdf(&item().to_pdf(), &dir);
    assert_eq!(
        got,
        vec![
            s("CODE-128", false, "1Z5R89390357567127"),
            s("QR-Code", false, "https://hub.example/r/R-1001/1")
        ]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn carton_label_pdf_decodes_to_gs1_128_sscc() {
    let dir = tmpdir("carton");
    let got = decode_pdf(&carton().to_pdf(), &dir);
    // zbar reports the AI 00 element string and flags FNC1-in-first-position as GS1 (]C1).
    assert_eq!(got, vec![s("CODE-128", true, "00000123450000000027")]);
    let _ = std::fs::remove_dir_all(dir);
}

/// A person's badge label: what the sign-in screen's scanner reads is the badge code itself.
#[test]
fn badge_label_pdf_decodes_to_the_badge() {
    let dir = tmpdir("badge");
    let label = badge()
        .fill(&badge_fields(
            "Mere Tāne",
            "admin",
            "AD-9001",
            "Wellington returns hub",
        ))
        .unwrap();
    assert_eq!(
        decode_pdf(&label.to_pdf(), &dir),
        vec![s("CODE-128", false, "AD-9001")]
    );
    let zpl = label.to_zpl();
    assert!(zpl.contains("AD-9001"), "{zpl}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn reprint_label_pdf_still_decodes() {
    let dir = tmpdir("reprint");
    let got = decode_pdf(&item().as_reprint("2026-11-23 11:00").to_pdf(), &dir);
    assert_eq!(
        got,
        vec![
            s("CODE-128", false, "1Z5R89390357567127"),
            s("QR-Code", false, "https://hub.example/r/R-1001/1")
        ]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn other_connote_shapes_decode() {
    // Set C runs, odd digit runs, S10 letters: the Code 128 planner's branches on paper.
    let dir = tmpdir("shapes");
    let connotes = [
        "RB123456785GB",
        "9400111201080805483016",
        "ABC1234567",
        "1234567",
    ];
    let labels: Vec<Label> = connotes
        .iter()
        .map(|c| {
            hub_item()
                .fill(&hub_item_fields("R", c, "A", "S", "A", "D", "B", "T", "Q"))
                .unwrap()
        })
        .collect();
    let got = decode_pdf(&labels_to_pdf(&labels, Sheet::PerLabel), &dir);
    let mut codes: Vec<_> = got
        .into_iter()
        .filter(|(t, _, _)| t == "CODE-128")
        .map(|(_, _, d)| d)
        .collect();
    codes.sort();
    let mut want: Vec<String> = connotes.iter().map(|c| c.to_string()).collect();
    want.sort();
    assert_eq!(codes, want);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a4_sheet_holds_four_labels_per_page_and_all_decode() {
    // Distinct codes per label: zbar merges identical symbols found in one image.
    let dir = tmpdir("a4");
    let sscc = |n: u32| {
        returnhub_devices::checkdigit::sscc_with_check(&format!("00012345{n:09}")).unwrap()
    };
    let item_with = |c: &str| {
        hub_item()
            .fill(&hub_item_fields(
                "R",
                c,
                "A",
                "S",
                "A",
                "D",
                "B",
                "T",
                &format!("q:{c}"),
            ))
            .unwrap()
    };
    let carton_with = |s: &str| {
        carton_sscc()
            .fill(&carton_fields(s, "H", "D", "RTV", 1, "t"))
            .unwrap()
    };
    let labels = vec![
        item_with("1Z5R89390357567127"),
        carton_with(&sscc(1)),
        item_with("RB123456785GB").as_reprint("r"),
        carton_with(&sscc(2)),
        item_with("986578788855"),
    ];
    let pdf = labels_to_pdf(
        &labels,
        Sheet::A4 {
            columns: 2,
            rows: 2,
        },
    );
    assert_eq!(pdf_pages(&pdf, &dir), 2);
    let got = decode_pdf(&pdf, &dir);
    let mut want = vec![
        s("CODE-128", false, "1Z5R89390357567127"),
        s("CODE-128", false, "RB123456785GB"),
        s("CODE-128", false, "986578788855"),
        s("CODE-128", true, &format!("00{}", sscc(1))),
        s("CODE-128", true, &format!("00{}", sscc(2))),
        s("QR-Code", false, "q:1Z5R89390357567127"),
        s("QR-Code", false, "q:RB123456785GB"),
        s("QR-Code", false, "q:986578788855"),
    ];
    want.sort();
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn zpl_field_data_matches_what_the_pdf_decodes() {
    assert_eq!(
        barcodes_in(&item().to_zpl()),
        vec![
            ZplBarcode::Code128 {
                gs1: false,
                data: "1Z5R89390357567127".into()
            },
            ZplBarcode::Qr {
                data: "https://hub.example/r/R-1001/1".into()
            },
        ]
    );
    assert_eq!(
        barcodes_in(&carton().to_zpl()),
        vec![ZplBarcode::Code128 {
            gs1: true,
            data: "00000123450000000027".into()
        }]
    );
    let z = carton().to_zpl();
    assert!(
        z.contains("^FD>;>800000123450000000027^FS"),
        "GS1-128: start C, FNC1, AI 00 + SSCC"
    );
}

#[cfg(feature = "zpl-render")]
#[test]
fn zpl_rendered_offline_decodes_like_the_pdf() {
    for (name, label, want) in [
        (
            "item",
            item(),
            vec![
                s("CODE-128", false, "1Z5R89390357567127"),
                s("QR-Code", false, "https://hub.example/r/R-1001/1"),
            ],
        ),
        (
            "carton",
            carton(),
            vec![s("CODE-128", true, "00000123450000000027")],
        ),
        (
            "reprint",
            item().as_reprint("2026-11-23 11:00"),
            vec![
                s("CODE-128", false, "1Z5R89390357567127"),
                s("QR-Code", false, "https://hub.example/r/R-1001/1"),
            ],
        ),
    ] {
        let dir = tmpdir(&format!("zpl-{name}"));
        let opts = labelize::RenderOptions {
            width_mm: Some(101.6),
            height_mm: Some(152.4),
            dpmm: 8,
            ..Default::default()
        };
        let png = labelize::render_png(label.to_zpl().as_bytes(), opts)
            .expect("labelize renders our ZPL");
        std::fs::write(dir.join("zpl.png"), png.bytes).unwrap();
        assert_eq!(decode_pngs(&dir), want, "{name}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
