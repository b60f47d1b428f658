//! Returnhub's device layer, free of Tauri: scanners, barcode semantics, labels and printers.
//!
//! * [`scan`]: the normalised [`scan::Scan`] every scanner yields (raw bytes kept for audit),
//!   and the keyboard-wedge normalisation the webview calls ([`scan::normalise_wedge`]).
//! * [`checkdigit`], [`classify`]: carrier formats, GS1 SSCC, retailer patterns; a failed check
//!   digit is [`classify::Classification::Misread`], not a lookup miss.
pub mod checkdigit;
pub mod classify;
pub mod code128;
pub mod devices;
pub mod hidpos;
pub mod label;
pub mod pdf;
pub mod printer;
pub mod scan;
pub mod serial;
pub mod usb;
pub mod zpl;
