//! Label generation cost per label: ZPL and PDF rendering of each built-in label kind, beside
//! the floor of writing the same bytes to a file (create + write + close). Prints medians and
//! ratios. Aims: ZPL < 100 µs, PDF < 5 ms per label. Run: `cargo bench -p returnhub-devices`.

use returnhub_devices::label::templates::*;
use returnhub_devices::label::Label;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    for _ in 0..runs / 10 + 1 {
        f(); // warm-up
    }
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
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
        .expect("item");
    let carton = carton_sscc()
        .fill(&carton_fields(
            "000123450000000027",
            "Returnhub Sydney",
            "Acme DC",
            "Return to vendor",
            24,
            "2026-11-23",
        ))
        .expect("carton");
    let reprint = item.as_reprint("2026-11-23 11:00");
    let labels: [(&str, &Label); 3] = [
        ("hub item", &item),
        ("carton SSCC", &carton),
        ("reprint", &reprint),
    ];

    let dir = std::env::temp_dir().join(format!("rh-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let path = dir.join("label.out");

    println!("per label, median; floor = std::fs::write of the same bytes");
    println!(
        "{:<12} {:>10} {:>11} {:>7} | {:>10} {:>11} {:>7} | {:>7} {:>7}",
        "label", "ZPL µs", "floor µs", "ratio", "PDF µs", "floor µs", "ratio", "ZPL B", "PDF B"
    );
    for (name, l) in labels {
        let zpl = l.to_zpl();
        let pdf = l.to_pdf();
        let z = median(|| drop(black_box(black_box(l).to_zpl())), 5000);
        let p = median(|| drop(black_box(black_box(l).to_pdf())), 300);
        let zf = median(
            || std::fs::write(&path, black_box(&zpl)).expect("write"),
            2000,
        );
        let pf = median(
            || std::fs::write(&path, black_box(&pdf)).expect("write"),
            2000,
        );
        println!(
            "{:<12} {:>10.1} {:>11.1} {:>7.2} | {:>10.1} {:>11.1} {:>7.2} | {:>7} {:>7}",
            name,
            us(z),
            us(zf),
            us(z) / us(zf),
            us(p),
            us(pf),
            us(p) / us(pf),
            zpl.len(),
            pdf.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
