//! Writes the built-in labels as PDF and ZPL into a directory (default: the temp dir), to look
//! at them or feed them to other tools.
use returnhub_devices::label::templates::*;
use returnhub_devices::pdf::{labels_to_pdf, Sheet};

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let item = hub_item()
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
        .expect("item label");
    let carton = carton_sscc()
        .fill(&carton_fields(
            "000123450000000027",
            "Returnhub Sydney",
            "Acme DC Melbourne",
            "Return to vendor",
            24,
            "2026-11-23 10:05",
        ))
        .expect("carton label");
    let reprint = item.as_reprint("2026-11-23 11:00");
    for (name, l) in [("item", &item), ("carton", &carton), ("reprint", &reprint)] {
        std::fs::write(dir.join(format!("{name}.pdf")), l.to_pdf())?;
        std::fs::write(dir.join(format!("{name}.zpl")), l.to_zpl())?;
    }
    std::fs::write(
        dir.join("sheet.pdf"),
        labels_to_pdf(
            &[item, carton, reprint],
            Sheet::A4 {
                columns: 2,
                rows: 2,
            },
        ),
    )?;
    Ok(())
}
